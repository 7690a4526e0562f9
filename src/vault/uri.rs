//! otpauth:// URIs (the Key Uri Format that Google Authenticator defined), in and out.

use super::secret::{SecretBytes, SecretError};
use super::{Algorithm, EntryParams, ParamError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

/// Characters left as they are in a label or parameter: RFC 3986 unreserved, plus `@` (e-mail
/// account names read better, and every parser accepts it).
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Why a URI was refused; never quotes the URI (it holds the secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    /// Not a URI at all.
    #[error("not a valid otpauth URI ({0})")]
    Malformed(String),
    /// Another scheme than otpauth.
    #[error("not an otpauth:// URI (the scheme is '{0}')")]
    Scheme(String),
    /// An HOTP (counter-based) entry.
    #[error("otpauth://hotp: HOTP is not supported yet (counter-based codes); only otpauth://totp")]
    Hotp,
    /// Another type than totp/hotp.
    #[error("unknown otpauth type '{0}'; expected otpauth://totp/...")]
    Type(String),
    /// The secret parameter is missing.
    #[error("the URI has no secret= parameter")]
    NoSecret,
    /// The secret parameter is not base32.
    #[error("secret= parameter: {0}")]
    Secret(#[from] SecretError),
    /// A parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A parameter appears twice.
    #[error("the parameter '{0}' appears more than once")]
    Duplicate(String),
}

/// Parse an otpauth://totp URI into entry parameters.
pub fn parse(uri: &str) -> Result<EntryParams, UriError> {
    let uri = uri.trim();
    let url = url::Url::parse(uri).map_err(|e| UriError::Malformed(e.to_string()))?;
    if !url.scheme().eq_ignore_ascii_case("otpauth") {
        return Err(UriError::Scheme(url.scheme().chars().take(20).collect()));
    }
    match url.host_str().map(|h| h.to_ascii_lowercase()).as_deref() {
        Some("totp") => {}
        Some("hotp") => return Err(UriError::Hotp),
        Some(other) => return Err(UriError::Type(other.chars().take(20).collect())),
        None => return Err(UriError::Malformed("no type after otpauth://".into())),
    }

    let label_raw = url.path().trim_start_matches('/');
    // Split on the first ':' of the still-encoded label (also accepting an encoded %3A), then
    // decode each half once.
    let (issuer_raw, account_raw) = match label_raw.find(':') {
        Some(i) => (Some(&label_raw[..i]), &label_raw[i + 1..]),
        None => match label_raw.to_ascii_lowercase().find("%3a") {
            Some(i) => (Some(&label_raw[..i]), &label_raw[i + 3..]),
            None => (None, label_raw),
        },
    };
    let decode = |s: &str, what: &str| -> Result<String, UriError> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.trim().to_string())
            .map_err(|_| UriError::Malformed(format!("the {what} is not UTF-8")))
    };
    let label_issuer = issuer_raw
        .map(|s| decode(s, "issuer"))
        .transpose()?
        .filter(|s| !s.is_empty());
    let account = Some(decode(account_raw, "account name")?).filter(|s| !s.is_empty());

    let mut secret: Option<Zeroizing<String>> = None;
    let mut issuer = None;
    let mut algorithm = None;
    let mut digits = None;
    let mut period = None;
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url.query_pairs() {
        let key = k.to_ascii_lowercase();
        if matches!(
            key.as_str(),
            "secret" | "issuer" | "algorithm" | "digits" | "period"
        ) && !seen.insert(key.clone())
        {
            return Err(UriError::Duplicate(key));
        }
        match key.as_str() {
            "secret" => secret = Some(Zeroizing::new(v.into_owned())),
            "issuer" => issuer = Some(v.trim().to_string()).filter(|s| !s.is_empty()),
            "algorithm" => algorithm = Some(Algorithm::parse(&v)?),
            "digits" => {
                digits = Some(
                    v.parse::<u8>()
                        .map_err(|_| ParamError::Digits(v.chars().take(10).collect()))?,
                )
            }
            "period" => {
                period = Some(
                    v.parse::<u64>()
                        .map_err(|_| ParamError::Period(v.chars().take(20).collect()))?,
                )
            }
            // image=, color= and the like are presentation hints for apps.
            _ => {}
        }
    }
    let secret = SecretBytes::from_base32(secret.as_deref().ok_or(UriError::NoSecret)?)?;
    let params = EntryParams {
        // The issuer parameter wins over the label prefix, as Google Authenticator does.
        issuer: issuer.or(label_issuer),
        account,
        algorithm: algorithm.unwrap_or(Algorithm::Sha1),
        digits: digits.unwrap_or(6),
        period: period.unwrap_or(30),
        secret,
    };
    params.validate()?;
    Ok(params)
}

/// Format an otpauth://totp URI; `label` is used when the entry has no account name.
pub fn format(params: &EntryParams, fallback_account: &str) -> Zeroizing<String> {
    let enc = |s: &str| utf8_percent_encode(s, LABEL).to_string();
    let account = params.account.as_deref().unwrap_or(fallback_account);
    let label = match &params.issuer {
        Some(i) => format!("{}:{}", enc(i), enc(account)),
        None => enc(account),
    };
    let mut s = Zeroizing::new(format!(
        "otpauth://totp/{label}?secret={}",
        &*params.secret.to_base32()
    ));
    if let Some(i) = &params.issuer {
        s.push_str(&format!("&issuer={}", enc(i)));
    }
    s.push_str(&format!(
        "&algorithm={}&digits={}&period={}",
        params.algorithm.name(),
        params.digits,
        params.period
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typical_uris() {
        let p = parse("otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=JBSWY3DPEHPK3PXP&issuer=Amazon%20Web%20Services").unwrap();
        assert_eq!(p.issuer.as_deref(), Some("Amazon Web Services"));
        assert_eq!(p.account.as_deref(), Some("alice@123456789012"));
        assert_eq!((p.algorithm, p.digits, p.period), (Algorithm::Sha1, 6, 30));
        let p = parse(
            "otpauth://totp/ACME%3Abob?secret=jbswy3dpehpk3pxp&algorithm=sha256&digits=8&period=60",
        )
        .unwrap();
        assert_eq!(p.issuer.as_deref(), Some("ACME"));
        assert_eq!(p.account.as_deref(), Some("bob"));
        assert_eq!(
            (p.algorithm, p.digits, p.period),
            (Algorithm::Sha256, 8, 60)
        );
        let p = parse("otpauth://totp/justme?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!((p.issuer, p.account.as_deref()), (None, Some("justme")));
    }

    #[test]
    fn refuses_bad_uris_without_echoing_them() {
        use UriError::*;
        assert_eq!(
            parse("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1"),
            Err(Hotp)
        );
        assert!(matches!(
            parse("https://totp/x?secret=JBSWY3DPEHPK3PXP"),
            Err(Scheme(_))
        ));
        assert!(matches!(
            parse("otpauth://xotp/x?secret=JBSWY3DPEHPK3PXP"),
            Err(Type(_))
        ));
        assert_eq!(parse("otpauth://totp/x?issuer=a"), Err(NoSecret));
        assert!(
            matches!(parse("not a uri SECRETVALUE"), Err(Malformed(m)) if !m.contains("SECRETVALUE"))
        );
        assert!(matches!(
            parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PX1"),
            Err(Secret(_))
        ));
        assert!(matches!(
            parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5"),
            Err(Param(ParamError::Algorithm(_)))
        ));
        assert!(matches!(
            parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9"),
            Err(Param(ParamError::Digits(_)))
        ));
        assert!(matches!(
            parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5"),
            Err(Param(ParamError::Digits(_)))
        ));
        assert!(matches!(
            parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0"),
            Err(Param(ParamError::Period(_)))
        ));
        assert!(matches!(
            parse("otpauth://totp/x?secret=A&secret=B"),
            Err(Duplicate(_))
        ));
    }

    #[test]
    fn refuses_terminal_escapes_and_nul_in_issuer_and_account() {
        let p = parse("otpauth://totp/%1B%5D0;title%07:acct?secret=JBSWY3DPEHPK3PXP");
        assert_eq!(p, Err(UriError::Param(ParamError::Controls("issuer"))));
        let p = parse("otpauth://totp/Ex:a%00b?secret=JBSWY3DPEHPK3PXP");
        assert_eq!(p, Err(UriError::Param(ParamError::Controls("account"))));
        let p = parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&issuer=%E2%80%AEevil");
        assert_eq!(p, Err(UriError::Param(ParamError::Controls("issuer"))));
        assert!(parse("otpauth://totp/Ex%20%C3%BC:b?secret=JBSWY3DPEHPK3PXP").is_ok());
    }

    #[test]
    fn round_trips() {
        let p = parse("otpauth://totp/My%20Co:a%2Bb@x.org?secret=JBSWY3DPEHPK3PXP&issuer=My%20Co&algorithm=SHA512&digits=7&period=45").unwrap();
        let s = format(&p, "fallback");
        let q = parse(&s).unwrap();
        assert_eq!(p, q);
        assert!(
            s.starts_with(
                "otpauth://totp/My%20Co:a%2Bb@x.org?secret=JBSWY3DPEHPK3PXP&issuer=My%20Co"
            ),
            "{}",
            &*s
        );
    }
}
