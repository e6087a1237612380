//! Where FIAP X may send requests on a user's behalf (webhooks, per-upload callbacks): only to globally
//! routable addresses, so that a user cannot make the notifier call something inside our network (SSRF: the
//! cloud metadata service, PostgreSQL, NATS, an admin port).
//!
//! One classification, [`is_public`], is used three times: by [`check_url`] on IP literals when a webhook is
//! registered or an upload names a callback URL (and by the notifier's sender on IP literals before each try,
//! since the HTTP client does not resolve those), and by the notifier's `PublicResolver`, the webhook client's
//! DNS resolver, on every address a host name resolves to when a delivery connects (names that point inside,
//! DNS rebinding). Loopback is let through only when insecure webhooks are allowed (tests, `make run`);
//! nothing else that is not public ever is.
//!
//! Std's `IpAddr::is_global` is unstable, and the small crates that copy it are unmaintained and judge
//! IPv4-mapped IPv6 addresses as not global rather than by their IPv4 part, hence this hand-written table (after
//! the IANA special-purpose address registries, RFC 6890).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 ranges that are not public, with the RFC that sets each aside.
const NOT_PUBLIC_V4: [([u8; 4], u32); 15] = [
    // "This network", including the unspecified 0.0.0.0 (RFC 791, RFC 1122 §3.2.1.3).
    ([0, 0, 0, 0], 8),
    // Private (RFC 1918).
    ([10, 0, 0, 0], 8),
    // Shared address space, carrier-grade NAT (RFC 6598).
    ([100, 64, 0, 0], 10),
    // Loopback (RFC 1122 §3.2.1.3).
    ([127, 0, 0, 0], 8),
    // Link-local, including the cloud metadata service 169.254.169.254 (RFC 3927).
    ([169, 254, 0, 0], 16),
    // Private (RFC 1918).
    ([172, 16, 0, 0], 12),
    // IETF protocol assignments (RFC 6890 §2.1); its few anycast exceptions are no webhook receivers.
    ([192, 0, 0, 0], 24),
    // Documentation, TEST-NET-1 (RFC 5737).
    ([192, 0, 2, 0], 24),
    // The former 6to4 relay anycast (RFC 7526).
    ([192, 88, 99, 0], 24),
    // Private (RFC 1918).
    ([192, 168, 0, 0], 16),
    // Benchmarking (RFC 2544).
    ([198, 18, 0, 0], 15),
    // Documentation, TEST-NET-2 (RFC 5737).
    ([198, 51, 100, 0], 24),
    // Documentation, TEST-NET-3 (RFC 5737).
    ([203, 0, 113, 0], 24),
    // Multicast (RFC 5771).
    ([224, 0, 0, 0], 4),
    // Reserved (RFC 1112 §4), including the limited broadcast 255.255.255.255 (RFC 919).
    ([240, 0, 0, 0], 4),
];

/// IPv6 ranges inside global unicast 2000::/3 that are not public (everything outside 2000::/3 is not public,
/// apart from the forms that embed an IPv4 address, judged by it).
const NOT_PUBLIC_V6: [([u16; 8], u32); 3] = [
    // IETF protocol assignments, including Teredo 2001::/32 (RFC 2928, RFC 4380).
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    // Documentation (RFC 3849).
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    // Documentation (RFC 9637).
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
];

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The IPv4 address an IPv6 address stands for, for the forms that carry one: packets to them reach (or are
/// translated to) that IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    let low = Ipv4Addr::from((u32::from(g) << 16) | u32::from(h));
    match [a, b, c, d, e, f] {
        // IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2).
        [0, 0, 0, 0, 0, 0xffff] => Some(low),
        // IPv4-compatible ::/96 (deprecated, RFC 4291 §2.5.5.1); this also covers :: and ::1, which become
        // 0.0.0.0 and 0.0.0.1, both in "this network".
        [0, 0, 0, 0, 0, 0] => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0] => Some(low),
        // 6to4 2002::/16 (RFC 3056): the IPv4 address is in bits 16 to 48.
        _ if a == 0x2002 => Some(Ipv4Addr::from((u32::from(b) << 16) | u32::from(c))),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NOT_PUBLIC_V4.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    // Only global unicast 2000::/3 (RFC 4291 §2.4) is routable on the internet: this leaves out unique-local
    // fc00::/7 (RFC 4193), link-local fe80::/10 and multicast ff00::/8 (RFC 4291), site-local fec0::/10 (RFC 3879),
    // discard-only 100::/64 (RFC 6666), local-use NAT64 64:ff9b:1::/48 (RFC 8215) and SRv6 5f00::/16 (RFC 9602).
    in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)
        && !NOT_PUBLIC_V6.iter().any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

/// Whether `ip` is a globally routable unicast address: one a webhook may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

/// The address of a URL whose host is an IP literal (`None` for a name).
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8, ::1, or 127.x in IPv4-mapped form).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether a webhook may be sent to `ip`: a public address, or loopback when `allow_loopback`.
pub fn is_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && is_loopback(ip))
}

/// Why a webhook or callback URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("not a valid URL")]
    Invalid,
    /// Not https (and not an allowed loopback http URL).
    #[error("the URL must use https")]
    NotHttps,
    /// User name or password in the URL.
    #[error("the URL must not carry credentials")]
    Credentials,
    /// The host is an address that is not public (loopback, private, link-local, reserved...) or a name that
    /// stands for one (`localhost`, a name without a dot, `.local`, `.internal`, `.home.arpa`).
    #[error(
        "the URL must point to a public internet host, not a loopback, private, link-local or reserved address"
    )]
    NotPublic,
}

/// Checks a URL FIAP X will call (a webhook, an upload's callback): `https://` only, or `http://` to a loopback host when `allow_insecure`; and a host that
/// is public: an IP literal must be [`is_public`] (loopback too when `allow_insecure`), and names that
/// can only be internal are refused. Names that resolve to internal addresses are stopped at delivery, by
/// [`PublicResolver`].
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
        "http" if allow_insecure && is_loopback_host(&url) => {}
        _ => return Err(UrlError::NotHttps),
    }
    let public = match url.host() {
        Some(url::Host::Ipv4(ip)) => is_allowed(ip.into(), allow_insecure),
        Some(url::Host::Ipv6(ip)) => is_allowed(ip.into(), allow_insecure),
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

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            is_loopback_name(&domain.trim_end_matches('.').to_ascii_lowercase())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => is_loopback(ip.into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of every boundary, and the special addresses by name.
    #[test]
    fn public_and_not_public_addresses() {
        let table: &[(&str, bool)] = &[
            // 0.0.0.0/8
            ("0.0.0.0", false),
            ("0.255.255.255", false),
            ("1.0.0.0", true),
            ("1.1.1.1", true),
            ("8.8.8.8", true),
            // 10/8
            ("9.255.255.255", true),
            ("10.0.0.0", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            // 100.64/10
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            // 127/8
            ("126.255.255.255", true),
            ("127.0.0.0", false),
            ("127.0.0.1", false),
            ("127.255.255.255", false),
            ("128.0.0.0", true),
            // 169.254/16
            ("169.253.255.255", true),
            ("169.254.0.0", false),
            ("169.254.169.254", false),
            ("169.254.255.255", false),
            ("169.255.0.0", true),
            // 172.16/12
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            // 192.0.0/24, 192.0.2/24
            ("191.255.255.255", true),
            ("192.0.0.0", false),
            ("192.0.0.255", false),
            ("192.0.1.0", true),
            ("192.0.1.255", true),
            ("192.0.2.0", false),
            ("192.0.2.255", false),
            ("192.0.3.0", true),
            // 192.88.99/24
            ("192.88.98.255", true),
            ("192.88.99.0", false),
            ("192.88.99.255", false),
            ("192.88.100.0", true),
            // 192.168/16
            ("192.167.255.255", true),
            ("192.168.0.0", false),
            ("192.168.255.255", false),
            ("192.169.0.0", true),
            // 198.18/15
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            // 198.51.100/24
            ("198.51.99.255", true),
            ("198.51.100.0", false),
            ("198.51.100.255", false),
            ("198.51.101.0", true),
            // 203.0.113/24
            ("203.0.112.255", true),
            ("203.0.113.0", false),
            ("203.0.113.255", false),
            ("203.0.114.0", true),
            // 224/4 multicast, 240/4 reserved, broadcast
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("239.255.255.255", false),
            ("240.0.0.0", false),
            ("255.255.255.254", false),
            ("255.255.255.255", false),
            // IPv6: unspecified, loopback, IPv4-compatible ::/96
            ("::", false),
            ("::1", false),
            ("::2", false),
            ("::8.8.8.8", true),
            ("::10.0.0.1", false),
            ("::1:0:0:0", false),
            // IPv4-mapped ::ffff:0:0/96, judged by the IPv4 part
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
            ("::fffe:808:808", false),
            ("::1:ffff:808:808", false),
            // NAT64 64:ff9b::/96, likewise; local-use 64:ff9b:1::/48 not public
            ("64:ff9b::8.8.8.8", true),
            ("64:ff9b::127.0.0.1", false),
            ("64:ff9b::10.0.0.1", false),
            ("64:ff9b::1:0:0", false),
            ("64:ff9b:1::8.8.8.8", false),
            // discard-only 100::/64
            ("100::", false),
            ("100::1", false),
            // global unicast 2000::/3 and its exceptions
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2000::", true),
            ("2001::", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::", true),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            ("2001:4860:4860::8888", true),
            ("2606:4700:4700::1111", true),
            // 6to4 2002::/16, judged by the embedded IPv4 address
            ("2002:808:808::1", true),
            ("2002:a00:1::1", false),
            ("2002:7f00:1::1", false),
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("3fff::", false),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("3fff:1000::", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::", false),
            ("5f00::1", false),
            // unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fc00::", false),
            ("fd12:3456::1", false),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fe80::", false),
            ("fe80::1", false),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fec0::1", false),
            ("ff00::", false),
            ("ff02::1", false),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ];
        for (text, public) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(is_public(ip), *public, "{text}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_when_asked_and_nothing_else_private_is() {
        for text in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(is_allowed(ip, true), "{text}");
            assert!(!is_allowed(ip, false), "{text}");
        }
        for text in [
            "10.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "fe80::1",
            "fc00::1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(!is_allowed(ip, true), "{text}");
        }
        assert!(is_allowed("8.8.8.8".parse().unwrap(), false));
    }

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
}
