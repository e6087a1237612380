//! Webhook URLs, secrets and signatures.
//!
//! Every delivery carries `X-Fiapx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
//! receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant time and
//! rejects old timestamps (replays); see docs/notifications.md for a verification example.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::egress;

/// Signature header.
pub const SIGNATURE_HEADER: &str = "X-Fiapx-Signature";
/// Event type header (`video.failed`, `video.completed`).
pub const EVENT_HEADER: &str = "X-Fiapx-Event";
/// Delivery id header (the same on every retry: receivers de-duplicate on it).
pub const DELIVERY_HEADER: &str = "X-Fiapx-Delivery";

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("not a valid URL")]
    Invalid,
    /// Not https (and not an allowed loopback http URL).
    #[error("webhook URLs must use https")]
    NotHttps,
    /// User name or password in the URL.
    #[error("webhook URLs must not carry credentials")]
    Credentials,
    /// The host is an address that is not public (loopback, private, link-local, reserved...) or a name that
    /// stands for one (`localhost`, a name without a dot, `.local`, `.internal`, `.home.arpa`).
    #[error(
        "webhook URLs must point to a public internet host, not a loopback, private, link-local or reserved address"
    )]
    NotPublic,
}

/// Checks a webhook URL: `https://` only, or `http://` to a loopback host when `allow_insecure`; and a host that
/// is public: an IP literal must be [`egress::is_public`] (loopback too when `allow_insecure`), and names that
/// can only be internal are refused. Names that resolve to internal addresses are stopped at delivery, by
/// [`egress::PublicResolver`].
pub fn check_url(raw: &str, allow_insecure: bool) -> Result<url::Url, UrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlError::Invalid)?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::Invalid);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure && is_loopback(&url) => {}
        _ => return Err(UrlError::NotHttps),
    }
    let public = match url.host() {
        Some(url::Host::Ipv4(ip)) => egress::is_allowed(ip.into(), allow_insecure),
        Some(url::Host::Ipv6(ip)) => egress::is_allowed(ip.into(), allow_insecure),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if is_loopback_name(&name) {
                allow_insecure
            } else {
                !is_internal_name(&name)
            }
        }
        None => false,
    };
    if public { Ok(url) } else { Err(UrlError::NotPublic) }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            is_loopback_name(&domain.trim_end_matches('.').to_ascii_lowercase())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => egress::is_loopback(ip.into()),
        None => false,
    }
}

/// `localhost` and its subdomains, which resolve to loopback (RFC 6761 §6.3). `name` is lowercase.
fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Names that can only be resolved inside a network: without a dot (resolved through the search domains, as
/// `nats` or `postgres` in a cluster), multicast DNS `.local` (RFC 6762), `.home.arpa` (RFC 8375), `.internal`
/// (set aside by ICANN for private use; `metadata.google.internal`), `.localdomain`. `name` is lowercase.
fn is_internal_name(name: &str) -> bool {
    !name.contains('.')
        || [".local", ".home.arpa", ".internal", ".localdomain"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// A new signing secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Fiapx-Signature` value.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Verifies a `X-Fiapx-Signature` value (receivers do this; the tests and docs use it): the HMAC matches in
/// constant time and the timestamp is within `tolerance_secs` of `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    signatures.iter().any(|candidate| {
        let Ok(candidate) = hex::decode(candidate) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&candidate).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_allowed_loopback_http() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert_eq!(
            check_url("http://example.com/hook", true),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            check_url("http://127.0.0.1:9/hook", false),
            Err(UrlError::NotHttps)
        );
        assert!(check_url("http://127.0.0.1:9/hook", true).is_ok());
        assert!(check_url("http://localhost:9/hook", true).is_ok());
        assert!(check_url("http://[::1]:9/hook", true).is_ok());
        assert_eq!(check_url("ftp://example.com", true), Err(UrlError::NotHttps));
        assert_eq!(check_url("nope", true), Err(UrlError::Invalid));
        assert_eq!(
            check_url("https://u:p@example.com/", false),
            Err(UrlError::Credentials)
        );
    }

    #[test]
    fn hosts_that_are_not_public_are_refused() {
        let refused = [
            "https://10.0.0.1/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/x",
            "https://127.0.0.1/x",
            "https://0.0.0.0/x",
            "https://255.255.255.255/x",
            "https://224.0.0.1/x",
            "https://192.0.2.1/x",
            "https://198.18.0.1/x",
            "https://240.0.0.1/x",
            "https://[::1]/x",
            "https://[::]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::ffff:169.254.169.254]/x",
            "https://[64:ff9b::a00:1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[ff02::1]/x",
            "https://[2001:db8::1]/x",
            // Other spellings of 127.0.0.1 that the URL parser normalises (WHATWG host parsing).
            "https://2130706433/x",
            "https://0x7f.0.0.1/x",
            "https://0177.0.0.1/x",
            "https://127.1/x",
            "https://localhost/x",
            "https://LOCALHOST./x",
            "https://api.localhost/x",
            "https://metadata/computeMetadata/v1/",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://printer.local/x",
            "https://router.home.arpa/x",
            "https://box.localdomain/x",
        ];
        for url in refused {
            assert_eq!(check_url(url, false), Err(UrlError::NotPublic), "{url}");
        }
        for url in [
            "https://8.8.8.8/x",
            "https://[2606:4700:4700::1111]/x",
            "https://[::ffff:8.8.8.8]/x",
            "https://hooks.example.com./x",
            "https://localhost.example.com/x",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn allowing_insecure_webhooks_allows_loopback_and_nothing_else() {
        for url in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://localhost/x",
            "http://localhost:9/x",
            "http://api.localhost:9/x",
            "http://[::ffff:127.0.0.1]:9/x",
        ] {
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        for url in [
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest",
            "https://[fd00::1]/x",
            "https://0.0.0.0/x",
            "https://metadata/x",
        ] {
            assert_eq!(check_url(url, true), Err(UrlError::NotPublic), "{url}");
        }
        assert_eq!(check_url("http://10.0.0.1/x", true), Err(UrlError::NotHttps));
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_one_does_not() {
        let header = signature_header("whsec_x", 1_700_000_000, b"{\"a\":1}");
        assert!(verify("whsec_x", &header, b"{\"a\":1}", 1_700_000_100, 300));
        assert!(
            !verify("whsec_x", &header, b"{\"a\":2}", 1_700_000_100, 300),
            "body changed"
        );
        assert!(
            !verify("whsec_y", &header, b"{\"a\":1}", 1_700_000_100, 300),
            "other secret"
        );
        assert!(
            !verify("whsec_x", &header, b"{\"a\":1}", 1_700_001_000, 300),
            "too old"
        );
        assert!(!verify("whsec_x", "v1=00", b"", 0, 300), "no timestamp");
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") from RFC 4231-style published vectors
        // is f7bc83f4...; here the message is "<t>.<body>" so check the framing with a known split.
        let body = b"quick brown fox jumps over the lazy dog";
        let direct = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"The quick brown fox jumps over the lazy dog");
            hex::encode(mac.finalize().into_bytes())
        };
        assert_eq!(
            direct,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        // "<t>.<body>" with t = 1 is "1." + body.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1.");
        mac.update(body);
        assert_eq!(sign("key", 1, body), hex::encode(mac.finalize().into_bytes()));
        let secret = new_secret().unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
        assert_ne!(secret, new_secret().unwrap());
    }
}
