//! Caps on long requests held at once (uploads, live streams) per user and per client address.
//!
//! A rate limit counts requests over time; a cap counts the requests still running. Each admitted request holds a
//! [`CapPermit`] for as long as it runs (the upload's body is read, the live stream is open) and gives its place
//! back when the permit is dropped, whatever way the request ends. Over a cap the answer is 429 `rate_limited`
//! with `Retry-After`, and nothing of the request was done.
//!
//! The counts are per process (per replica), like the login rate limits: a load balancer that spreads one client
//! over N replicas lets it hold N times the cap. The client address is the peer's address as the server sees it;
//! a proxy in front of FIAP X makes all its clients one address, so raise `per_client` there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use fiapx_domain::UserId;

use crate::ApiError;

/// How many requests of one kind may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSettings {
    /// At most this many at once by one user (every session of the account together); 0 = no cap per user.
    pub per_user: u32,
    /// At most this many at once from one client address (every account together); 0 = no cap per address.
    pub per_client: u32,
    /// The `Retry-After` (seconds) of the 429 over a cap.
    pub retry_after_secs: u64,
}

/// Who holds places under a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    User(UserId),
    Client(IpAddr),
}

/// One cap, shared by every request of its kind in this process (clone the `Arc`).
#[derive(Debug)]
pub struct ConcurrencyCap {
    /// What is capped, for the 429's message and the metric's label (`uploads`, `live streams`).
    what: &'static str,
    settings: CapSettings,
    held: Mutex<HashMap<Holder, u32>>,
}

/// A place under a [`ConcurrencyCap`], given back when dropped.
#[derive(Debug)]
#[must_use = "the place is given back when the permit is dropped"]
pub struct CapPermit {
    cap: Arc<ConcurrencyCap>,
    holders: Vec<Holder>,
}

impl ConcurrencyCap {
    /// A cap on `what` (a plural noun: "uploads", "live streams").
    pub fn new(what: &'static str, settings: CapSettings) -> Arc<Self> {
        Arc::new(Self {
            what,
            settings,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one request by `user` from `client` (the peer's address, when the listener knows it), or 429
    /// `rate_limited` when either already holds its cap.
    pub fn acquire(self: &Arc<Self>, user: UserId, client: Option<IpAddr>) -> Result<CapPermit, ApiError> {
        self.acquire_for(Some(user), client)
    }

    /// [`Self::acquire`] for a caller that may be no user (a share link's holder): then only its address counts.
    pub fn acquire_for(
        self: &Arc<Self>,
        user: Option<UserId>,
        client: Option<IpAddr>,
    ) -> Result<CapPermit, ApiError> {
        let mut holders = Vec::with_capacity(2);
        if let Some(user) = user.filter(|_| self.settings.per_user > 0) {
            holders.push((Holder::User(user), self.settings.per_user, "this account"));
        }
        if let Some(client) = client.filter(|_| self.settings.per_client > 0) {
            holders.push((Holder::Client(client), self.settings.per_client, "this address"));
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        for &(holder, cap, whose) in &holders {
            if held.get(&holder).copied().unwrap_or(0) >= cap {
                metrics::counter!("fiapx_http_cap_refusals_total", "what" => self.what).increment(1);
                return Err(
                    ApiError::rate_limited(self.settings.retry_after_secs).with_message(format!(
                        "too many {} at once from {whose} (at most {cap}): retry when one has ended",
                        self.what
                    )),
                );
            }
        }
        for &(holder, ..) in &holders {
            *held.entry(holder).or_insert(0) += 1;
        }
        Ok(CapPermit {
            cap: Arc::clone(self),
            holders: holders.into_iter().map(|(holder, ..)| holder).collect(),
        })
    }

    /// Places held now by `user` (for tests and diagnostics).
    pub fn held_by(&self, user: UserId) -> u32 {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&Holder::User(user)).copied().unwrap_or(0)
    }
}

impl CapPermit {
    /// `stream`, holding this place for as long as the stream lives (a live stream's place).
    pub fn hold_over<S: futures::Stream>(self, stream: S) -> impl futures::Stream<Item = S::Item> {
        use futures::StreamExt as _;
        stream.map(move |item| {
            let _place = &self;
            item
        })
    }
}

impl Drop for CapPermit {
    fn drop(&mut self) {
        let mut held = self.cap.held.lock().unwrap_or_else(PoisonError::into_inner);
        for holder in &self.holders {
            if let Some(count) = held.get_mut(holder) {
                *count -= 1;
                if *count == 0 {
                    // Bounded memory: only holders with a request running have an entry.
                    held.remove(holder);
                }
            }
        }
    }
}

/// The peer's IP address as the listener saw it (`None` for a listener without one, such as a test client).
pub fn client_address(request: &poem::Request) -> Option<IpAddr> {
    request
        .remote_addr()
        .as_socket_addr()
        .map(std::net::SocketAddr::ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const SETTINGS: CapSettings = CapSettings {
        per_user: 2,
        per_client: 3,
        retry_after_secs: 7,
    };

    fn user() -> UserId {
        UserId::from_uuid(uuid::Uuid::now_v7())
    }

    #[test]
    fn a_user_over_its_cap_gets_429_with_retry_after_and_a_place_comes_back_on_drop() {
        let cap = ConcurrencyCap::new("uploads", SETTINGS);
        let maria = user();
        let first = cap.acquire(maria, None).unwrap();
        let _second = cap.acquire(maria, None).unwrap();
        let refused = cap.acquire(maria, None).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::RateLimited);
        assert_eq!(refused.retry_after_secs(), Some(7));
        assert!(refused.message().contains("uploads"), "{}", refused.message());
        assert!(
            refused.message().contains("this account"),
            "{}",
            refused.message()
        );
        // Another user is not affected.
        let _other = cap.acquire(user(), None).unwrap();
        drop(first);
        assert_eq!(cap.held_by(maria), 1);
        let _again = cap.acquire(maria, None).unwrap();
    }

    #[test]
    fn one_address_is_capped_across_accounts_and_a_refusal_takes_no_place() {
        let cap = ConcurrencyCap::new("live streams", SETTINGS);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let permits: Vec<_> = (0..3)
            .map(|_| cap.acquire(user(), Some(address)).unwrap())
            .collect();
        let late = user();
        let refused = cap.acquire(late, Some(address)).unwrap_err();
        assert!(
            refused.message().contains("this address"),
            "{}",
            refused.message()
        );
        // The refused request left nothing behind for its user.
        assert_eq!(cap.held_by(late), 0);
        // Another address is not affected.
        let _elsewhere = cap.acquire(late, Some("192.0.2.8".parse().unwrap())).unwrap();
        drop(permits);
        // Only the permit still held (its user and its address) has entries left.
        assert_eq!(cap.held.lock().unwrap().len(), 2);
        let _back = cap.acquire(user(), Some(address)).unwrap();
    }

    #[test]
    fn zero_is_no_cap() {
        let cap = ConcurrencyCap::new(
            "uploads",
            CapSettings {
                per_user: 0,
                per_client: 0,
                retry_after_secs: 1,
            },
        );
        let maria = user();
        let address: IpAddr = "192.0.2.9".parse().unwrap();
        let permits: Vec<_> = (0..100)
            .map(|_| cap.acquire(maria, Some(address)).unwrap())
            .collect();
        assert_eq!(permits.len(), 100);
        assert_eq!(cap.held_by(maria), 0, "nothing is counted without a cap");
    }
}
