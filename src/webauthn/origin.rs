//! Whose request it is: the caller's origin and the relying party id it may use (WebAuthn L3
//! §5.1.3 steps 6–8 and §5.1.4.1 steps 6–8; HTML's "is a registrable domain suffix of or is
//! equal to"), with the public suffix list of the `psl` crate.

use url::{Host, Url};

use super::WebAuthnError;

/// The origin a ceremony runs for, as the client checked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerOrigin {
    /// The serialized origin (`https://example.com`, `http://localhost:8080`).
    pub serialized: String,
    /// Its effective domain (the host, a valid domain).
    pub effective_domain: String,
}

/// Reads the caller's origin: an https origin, or http on `localhost` (and `*.localhost`), whose
/// host is a domain (WebAuthn refuses IP addresses: they are no valid domain).
pub fn parse_origin(origin: &str) -> Result<CallerOrigin, WebAuthnError> {
    let url = Url::parse(origin).map_err(|e| {
        WebAuthnError::security(format!(
            "origin {origin:?} is not a URL ({e}); give one like https://example.com"
        ))
    })?;
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_owned(),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
            return Err(WebAuthnError::security(format!(
                "origin {origin:?}: an IP address is not a valid domain, and WebAuthn needs one \
                 (use a host name, or http://localhost)"
            )));
        }
        None => {
            return Err(WebAuthnError::security(format!(
                "origin {origin:?} has no host (an opaque origin cannot use WebAuthn)"
            )));
        }
    };
    let localhost = host == "localhost" || host.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if localhost => {}
        other => {
            return Err(WebAuthnError::security(format!(
                "origin {origin:?}: scheme {other:?} is not a secure context; use https \
                 (http only on localhost)"
            )));
        }
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(WebAuthnError::security(format!(
            "{origin:?} is a URL, not an origin: drop the path, query and fragment"
        )));
    }
    Ok(CallerOrigin {
        serialized: url.origin().ascii_serialization(),
        effective_domain: host,
    })
}

/// HTML's "is a registrable domain suffix of or is equal to": whether `rp_id` may be used by a
/// page whose effective domain is `host`.
pub fn is_registrable_suffix_or_equal(rp_id: &str, host: &str) -> bool {
    // rp_id must be a valid domain string, parsed (lowercase, IDNA) as the URL parser does.
    let suffix = match Host::parse(rp_id) {
        Ok(Host::Domain(d)) => d,
        _ => return false,
    };
    if suffix != rp_id {
        // Not in canonical form: a browser compares the parsed host, but the RP would hash the
        // string it sent, so refuse rather than sign something else.
        return false;
    }
    if suffix == host {
        return true;
    }
    // Both must be domains (an IP host equals its suffix or nothing).
    if !matches!(Host::parse(host), Ok(Host::Domain(_))) {
        return false;
    }
    if !host.ends_with(&format!(".{suffix}")) {
        return false;
    }
    // The suffix must not be a public suffix, nor inside host's public suffix.
    let Some(host_public) = psl::suffix(host.as_bytes()) else {
        return false;
    };
    let host_public = String::from_utf8_lossy(host_public.as_bytes()).into_owned();
    let suffix_public = psl::suffix(suffix.as_bytes())
        .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
        .unwrap_or_default();
    if suffix == suffix_public {
        return false;
    }
    if host_public == suffix || host_public.ends_with(&format!(".{suffix}")) {
        return false;
    }
    true
}

/// The relying party id of a ceremony: `rp_id` if given and allowed for `origin`, else the
/// origin's effective domain (SecurityError otherwise).
pub fn rp_id_for(origin: &CallerOrigin, rp_id: Option<&str>) -> Result<String, WebAuthnError> {
    match rp_id {
        None => Ok(origin.effective_domain.clone()),
        Some(id) if is_registrable_suffix_or_equal(id, &origin.effective_domain) => {
            Ok(id.to_owned())
        }
        Some(id) => Err(WebAuthnError::security(format!(
            "the relying party id {id:?} is not a registrable domain suffix of, nor equal to, \
             the origin's domain {:?}: use an rp id the origin {} may claim",
            origin.effective_domain, origin.serialized
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_suffixes_are_allowed_and_public_suffixes_refused() {
        let ok = |rp, host| is_registrable_suffix_or_equal(rp, host);
        assert!(ok("example.com", "example.com"));
        assert!(ok("example.com", "login.example.com"));
        assert!(ok("login.example.com", "a.login.example.com"));
        assert!(ok("example.co.uk", "www.example.co.uk"));
        assert!(ok("localhost", "localhost"));
        // Not a suffix, or a suffix only by characters.
        assert!(!ok("example.com", "example.org"));
        assert!(!ok("ample.com", "example.com"));
        assert!(!ok("login.example.com", "example.com"));
        // Public suffixes (ICANN and private sections), and suffixes inside one.
        assert!(!ok("com", "example.com"));
        assert!(!ok("co.uk", "example.co.uk"));
        assert!(!ok("github.io", "alice.github.io"));
        assert!(ok("alice.github.io", "alice.github.io"));
        assert!(ok("alice.github.io", "www.alice.github.io"));
        // Unknown top-level domains are their own public suffix (the "*" rule).
        assert!(!ok("test", "foo.test"));
        assert!(ok("foo.test", "a.foo.test"));
        // Not a valid domain string, or not in canonical form.
        assert!(!ok("", "example.com"));
        assert!(!ok("exa mple.com", "example.com"));
        assert!(!ok("EXAMPLE.com", "example.com"));
        // IP addresses: never a suffix of anything.
        assert!(!ok("0.0.1", "127.0.0.1"));
        assert!(!ok("127.0.0.1", "127.0.0.1"));
    }

    #[test]
    fn origins_must_be_secure_contexts_with_a_domain() {
        let o = parse_origin("https://Login.Example.com:8443").unwrap();
        assert_eq!(o.serialized, "https://login.example.com:8443");
        assert_eq!(o.effective_domain, "login.example.com");
        let o = parse_origin("https://example.com/").unwrap();
        assert_eq!(o.serialized, "https://example.com");
        assert_eq!(
            parse_origin("http://localhost:3000").unwrap().serialized,
            "http://localhost:3000"
        );
        assert!(parse_origin("http://app.localhost").is_ok());
        for bad in [
            "http://example.com",
            "https://127.0.0.1",
            "https://[::1]",
            "file:///tmp/x",
            "example.com",
            "https://example.com/login",
            "data:text/plain,x",
        ] {
            let e = parse_origin(bad).unwrap_err();
            assert_eq!(e.name(), "SecurityError", "{bad}");
        }
        let o = parse_origin("https://www.example.com").unwrap();
        assert_eq!(rp_id_for(&o, None).unwrap(), "www.example.com");
        assert_eq!(rp_id_for(&o, Some("example.com")).unwrap(), "example.com");
        assert_eq!(
            rp_id_for(&o, Some("evil.com")).unwrap_err().name(),
            "SecurityError"
        );
    }
}
