//! Browser-facing URLs from configuration: a page's login URL (`UI_AUTH_URL` on inference) and
//! the page origins a service answers CORS for (`CORS_ALLOWED_ORIGINS` on auth). Both end up
//! in response headers (a content security policy, `Access-Control-Allow-Origin`), so they are
//! parsed by the `url` crate and then held to characters no header or policy can be split on.

/// A checked `http(s)://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl {
    /// The URL without a trailing slash, e.g. `http://127.0.0.1:8001/auth`.
    pub base: String,
    /// Its origin (scheme, host and port), e.g. `http://127.0.0.1:8001`.
    pub origin: String,
}

/// Parses `text` as an http(s) URL with a host and no credentials, query or fragment, whose
/// path holds only letters, digits and `/ . - _ ~`.
pub fn web_url(text: &str) -> Result<WebUrl, String> {
    let refuse = |why: &str| Err(format!("{text:?}: {why}"));
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("whitespace or control characters");
    }
    let url = match url::Url::parse(text) {
        Ok(url) => url,
        Err(e) => return refuse(&format!("not a URL ({e}); expected http(s)://host[:port]")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("the scheme must be http or https");
    }
    match url.host() {
        None => return refuse("no host"),
        // The URL standard allows `;`, `'`, `*` and more in a domain: a policy or header
        // could be split on them.
        Some(url::Host::Domain(domain))
            if !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) =>
        {
            return refuse("the host may hold letters, digits, '.' and '-' only");
        }
        Some(_) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("credentials do not belong in it");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("a query or fragment does not belong in it");
    }
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | '~');
    if !url.path().chars().all(path_char) {
        return refuse("the path may hold letters, digits and / . - _ ~ only");
    }
    let origin = url.origin().ascii_serialization();
    let base = format!("{origin}{}", url.path().trim_end_matches('/'));
    Ok(WebUrl { base, origin })
}

/// A checked page origin, `http(s)://host[:port]`: only [`web_origin`] makes one, so it is
/// always safe in a response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a page origin: a [`web_url`] without a path.
pub fn web_origin(text: &str) -> Result<WebOrigin, String> {
    let url = web_url(text)?;
    if url.base != url.origin {
        return Err(format!("{text:?}: an origin has no path"));
    }
    Ok(WebOrigin(url.origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_origin() {
        let url = web_url("http://127.0.0.1:8001/").unwrap();
        assert_eq!(url.base, "http://127.0.0.1:8001");
        assert_eq!(url.origin, "http://127.0.0.1:8001");
        let url = web_url("https://Auth.Example.org:443/api/auth/").unwrap();
        assert_eq!(url.base, "https://auth.example.org/api/auth");
        assert_eq!(url.origin, "https://auth.example.org");
        assert_eq!(
            web_url("http://[::1]:8001").unwrap().origin,
            "http://[::1]:8001"
        );
        assert_eq!(
            web_origin("http://localhost:8002/").unwrap().as_str(),
            "http://localhost:8002"
        );
    }

    #[test]
    fn anything_that_could_split_a_header_or_a_policy_is_refused() {
        for bad in [
            "",
            "127.0.0.1:8001",
            "ftp://host",
            "javascript:alert(1)",
            "http://",
            "http://host;script-src *",
            "http://host;x",
            "http://host'x",
            "http://*.example.org",
            "http://host,other",
            "http://host 'unsafe-inline'",
            "http://host/\r\nx: y",
            "http://host/a;b",
            "http://host/a'b",
            "http://user@host",
            "http://user:pw@host",
            "http://host/a?b",
            "http://host/#x",
            "http://::1:8001",
            "http://a:b:c",
            "http://host:99999",
        ] {
            assert!(
                web_url(bad).is_err(),
                "{bad:?} accepted: {:?}",
                web_url(bad)
            );
        }
        assert!(web_origin("http://host/path").is_err());
    }
}
