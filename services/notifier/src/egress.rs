//! The webhook client's DNS resolver: only public addresses are connected to, whatever a host name resolves to
//! when a delivery is made. The address rules themselves are `fiapx_http::egress` (shared with the upload
//! side, which checks callback URLs).

use std::net::SocketAddr;

use fiapx_http::egress::is_allowed;
use tracing::debug;

/// Why a webhook host name gave no address to connect to. The texts name no host: they go to the delivery log.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name did not resolve (no such name, DNS unavailable).
    #[error("the webhook host name could not be resolved")]
    Lookup(#[source] std::io::Error),
    /// Every address of the name is loopback, private, link-local or otherwise not public.
    #[error("the webhook host resolves only to non-public addresses")]
    NotPublic,
}

/// The webhook client's DNS resolver: the system resolver (`getaddrinfo`, through tokio), keeping only the
/// addresses [`is_allowed`]. Because the client connects only to what this returns, a name cannot lead a
/// delivery inside, whatever it resolves to at the time (DNS rebinding included).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    allow_loopback: bool,
}

impl PublicResolver {
    /// A resolver that also keeps loopback addresses when `allow_loopback` (`allow_insecure_webhooks`).
    pub const fn new(allow_loopback: bool) -> Self {
        Self { allow_loopback }
    }

    /// The allowed addresses of `host` (port 0: the client sets the URL's), or why there are none.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(ResolveError::Lookup)?
            .collect();
        if all.is_empty() {
            return Err(ResolveError::Lookup(std::io::Error::other("no addresses")));
        }
        let kept: Vec<SocketAddr> = all
            .iter()
            .copied()
            .filter(|addr| is_allowed(addr.ip(), self.allow_loopback))
            .collect();
        if kept.len() < all.len() {
            debug!(
                addresses.dropped = all.len() - kept.len(),
                addresses.kept = kept.len(),
                "webhook host has non-public addresses; not connecting to them"
            );
        }
        if kept.is_empty() {
            return Err(ResolveError::NotPublic);
        }
        Ok(kept)
    }
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = *self;
        Box::pin(async move {
            let addrs = resolver.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver's refusal inside a failed request, if that is why it failed.
pub(crate) fn resolve_error(error: &reqwest::Error) -> Option<&ResolveError> {
    let mut source = std::error::Error::source(error);
    while let Some(error) = source {
        if let Some(refusal) = error.downcast_ref::<ResolveError>() {
            return Some(refusal);
        }
        source = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[tokio::test]
    async fn the_resolver_drops_loopback_unless_allowed() {
        // `localhost` comes from /etc/hosts (or the resolver's own synthesis): no DNS server is asked.
        let refused = PublicResolver::new(false).lookup("localhost").await;
        assert!(matches!(refused, Err(ResolveError::NotPublic)), "{refused:?}");
        assert_eq!(
            ResolveError::NotPublic.to_string(),
            "the webhook host resolves only to non-public addresses"
        );
        let allowed = PublicResolver::new(true).lookup("localhost").await.unwrap();
        assert!(!allowed.is_empty());
        assert!(allowed.iter().all(|addr| addr.ip().is_loopback()), "{allowed:?}");
        // Literals resolve without any lookup, and the same rule applies.
        for literal in ["10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1"] {
            let refused = PublicResolver::new(true).lookup(literal).await;
            assert!(matches!(refused, Err(ResolveError::NotPublic)), "{literal}");
        }
        let public = PublicResolver::new(false).lookup("8.8.8.8").await.unwrap();
        assert_eq!(public, [SocketAddr::from(([8, 8, 8, 8], 0))]);
    }
}
