//! Small operational commands for containers: key generation and health checks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use artifact_store::atomic;
use auth_tokens::Jwks;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// The private key (PEM, PKCS#8, mode 0600); kept if it exists.
    #[arg(long, env = "AUTH_SIGNING_KEY_FILE")]
    pub out: PathBuf,
    /// Where the public key set (JWKS) goes; default: next to the key, `.jwks.json`.
    #[arg(long)]
    pub jwks: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// e.g. http://127.0.0.1:8002/health/ready
    pub url: String,
    #[arg(long, default_value_t = 3)]
    pub timeout_seconds: u64,
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let existed = args.out.is_file();
    let key = auth::load_or_create_signing_key(&args.out)?;
    let jwks = args
        .jwks
        .clone()
        .unwrap_or_else(|| args.out.with_extension("jwks.json"));
    atomic::write_file(&jwks, Jwks::of(&[&key]).to_json().to_string().as_bytes())
        .with_context(|| format!("cannot write {}", jwks.display()))?;
    println!(
        "{} signing key {} (kid {}); public keys in {}",
        if existed { "kept the" } else { "created the" },
        args.out.display(),
        key.kid(),
        jwks.display()
    );
    Ok(())
}

pub fn healthcheck(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(args.timeout_seconds))
        .build()?;
    let answer = client
        .get(&args.url)
        .send()
        .with_context(|| format!("{} does not answer", args.url))?;
    if !answer.status().is_success() {
        bail!("{} answered {}", args.url, answer.status());
    }
    Ok(())
}
