use auth_tokens::TokenAudience;

/// Who issues access tokens and whom they are for: auth signs with these claims, inference
/// requires them (one place for both services' `JWT_ISSUER` and `JWT_AUDIENCE`).
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// The `iss` claim of access tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = auth_tokens::DEFAULT_ISSUER)]
    pub issuer: String,
    /// The `aud` claim of access tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = auth_tokens::DEFAULT_AUDIENCE)]
    pub audience: String,
}

impl Default for TokenArgs {
    fn default() -> Self {
        let TokenAudience { issuer, audience } = TokenAudience::default();
        Self { issuer, audience }
    }
}

impl TokenArgs {
    pub fn audience(&self) -> TokenAudience {
        TokenAudience {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
        }
    }
}
