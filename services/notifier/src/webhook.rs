//! Webhook secrets and signatures (where webhooks may go: `fiapx_http::egress`).
//!
//! Every delivery carries `X-Fiapx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
//! receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant time and
//! rejects old timestamps (replays); see docs/notifications.md for a verification example.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signature header.
pub const SIGNATURE_HEADER: &str = "X-Fiapx-Signature";
/// Event type header (`video.failed`, `video.completed`).
pub const EVENT_HEADER: &str = "X-Fiapx-Event";
/// Delivery id header (the same on every retry: receivers de-duplicate on it).
pub const DELIVERY_HEADER: &str = "X-Fiapx-Delivery";

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
