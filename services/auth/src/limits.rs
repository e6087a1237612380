//! Login and registration rate limits, keyed by e-mail and by client address (GCRA, `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::settings::LimitSettings;

/// The limiters of one process.
pub struct Limits {
    login_email: DefaultKeyedRateLimiter<String>,
    login_client: DefaultKeyedRateLimiter<IpAddr>,
    register_client: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

fn quota(attempts: u32, window_secs: u64) -> Quota {
    let attempts = NonZeroU32::new(attempts.max(1)).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(window_secs.max(1)) / attempts.get();
    Quota::with_period(period.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(attempts)
}

impl Limits {
    /// Limiters for the given settings.
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            login_email: RateLimiter::keyed(quota(
                settings.login_attempts_per_email,
                settings.login_window_secs,
            )),
            login_client: RateLimiter::keyed(quota(
                settings.login_attempts_per_client,
                settings.login_window_secs,
            )),
            register_client: RateLimiter::keyed(quota(
                settings.register_attempts_per_client,
                settings.register_window_secs,
            )),
            clock: DefaultClock::default(),
        }
    }

    fn wait<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), u64> {
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }

    /// One login attempt for `email` from `client`; `Err(retry_after_secs)` when over a limit.
    pub fn login(&self, email: &str, client: Option<IpAddr>) -> Result<(), u64> {
        if let Some(client) = client {
            self.wait(&self.login_client, &client)?;
        }
        self.wait(&self.login_email, &email.to_owned())
    }

    /// One registration from `client`.
    pub fn register(&self, client: Option<IpAddr>) -> Result<(), u64> {
        match client {
            Some(client) => self.wait(&self.register_client, &client),
            None => Ok(()),
        }
    }

    /// Forgets keys whose limits have fully refilled (bounded memory under many distinct keys).
    pub fn shrink(&self) {
        self.login_email.retain_recent();
        self.login_client.retain_recent();
        self.register_client.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_email_and_client_has_its_own_budget() {
        let limits = Limits::new(LimitSettings {
            login_attempts_per_email: 2,
            login_attempts_per_client: 3,
            login_window_secs: 60,
            register_attempts_per_client: 1,
            register_window_secs: 60,
        });
        let client = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(limits.login("a@x.io", client).is_ok());
        assert!(limits.login("a@x.io", client).is_ok());
        let retry = limits.login("a@x.io", client).unwrap_err();
        assert!((1..=30).contains(&retry), "{retry}");
        // The client has used 3 of 3 by now (the refused attempt counted against it too).
        assert!(limits.login("b@x.io", client).is_err());
        assert!(limits.login("b@x.io", Some(IpAddr::from([127, 0, 0, 2]))).is_ok());
        assert!(limits.register(client).is_ok());
        assert!(limits.register(client).is_err());
    }
}
