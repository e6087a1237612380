//! Revocations shared by every replica through a NATS KV bucket, checked locally on every request.
//!
//! Keys: `token.<hex revocation id>` (one biscuit block), `session.<uuid>` (a refresh-token family and every access
//! token minted in it), `user.<uuid>` (a disabled user). The value is the unix time until which the revocation
//! matters (the expiry of the longest-lived token it can hit); the bucket's `max_age` drops entries once no token
//! they could stop is alive any more. Each process watches the bucket and keeps the set in memory, so a check
//! costs no network round trip; a revocation reaches other replicas within the watch's latency (milliseconds),
//! and the replica that wrote it sees it at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The revocation bucket could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// Creating or opening the bucket failed.
    #[error("cannot open the revocation bucket {bucket}: {message}")]
    Bucket {
        /// Bucket name.
        bucket: String,
        /// Server error.
        message: String,
    },
    /// Writing a revocation failed.
    #[error("cannot record a revocation: {0}")]
    Put(String),
}

/// What a revocation key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked<'a> {
    /// One token block, by its hex revocation id.
    Token(&'a str),
    /// A session (refresh-token family).
    Session(uuid::Uuid),
    /// Every token of a user.
    User(uuid::Uuid),
}

impl Revoked<'_> {
    fn key(self) -> String {
        match self {
            Self::Token(id) => format!("token.{id}"),
            Self::Session(id) => format!("session.{id}"),
            Self::User(id) => format!("user.{id}"),
        }
    }
}

/// One revocation: it holds until `until` (unix seconds); with `issued_before`, only for tokens minted before
/// that second. Stored in the bucket as `<until>` or `<until> <issued_before>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    until: u64,
    issued_before: Option<u64>,
}

impl Entry {
    /// A stored value; an unreadable one revokes everything, forever (fail closed).
    fn parse(value: &[u8]) -> Self {
        let text = std::str::from_utf8(value).unwrap_or("");
        let mut numbers = text.split(' ').map(|part| part.parse::<u64>());
        match (numbers.next(), numbers.next(), numbers.next()) {
            (Some(Ok(until)), None, None) => Self {
                until,
                issued_before: None,
            },
            (Some(Ok(until)), Some(Ok(before)), None) => Self {
                until,
                issued_before: Some(before),
            },
            _ => Self {
                until: u64::MAX,
                issued_before: None,
            },
        }
    }

    fn render(self) -> String {
        match self.issued_before {
            None => self.until.to_string(),
            Some(before) => format!("{} {before}", self.until),
        }
    }

    fn covers(self, issued: u64, now: u64) -> bool {
        self.until >= now && self.issued_before.is_none_or(|before| issued < before)
    }

    /// Whether memory may drop it at `now`: `keep` seconds past its end, when no verifier's leeway (which the
    /// bucket's `max_age`, and so `keep`, includes) can ask about it any more.
    const fn forgettable(self, now: u64, keep: u64) -> bool {
        self.until.saturating_add(keep) < now
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The in-memory revocation set, fed by the KV bucket (or empty, for tests without NATS).
#[derive(Clone, Default)]
pub struct Revocations {
    set: Arc<RwLock<HashMap<String, Entry>>>,
    store: Option<kv::Store>,
    /// Seconds an entry stays in memory past its `until`: the bucket's `max_age`, as long as the bucket itself
    /// may keep it.
    keep_secs: u64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field(
                "entries",
                &self.set.read().map(|set| set.len()).unwrap_or_default(),
            )
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    unix_secs(SystemTime::now())
}

impl Revocations {
    /// Opens (creating if needed) the bucket, loads every live revocation, then keeps following it until
    /// `shutdown`. Entries live for `max_age`: the longest token lifetime plus the verifiers' clock-skew leeway (a
    /// token is accepted up to a leeway past its expiry, and its revocation must still be there).
    pub async fn watch(
        js: &jetstream::Context,
        bucket: &str,
        max_age: Duration,
        replicas: usize,
        shutdown: CancellationToken,
    ) -> Result<Self, RevocationError> {
        let bucket_error = |message: String| RevocationError::Bucket {
            bucket: bucket.to_owned(),
            message,
        };
        let store = js
            .create_or_update_key_value(kv::Config {
                bucket: bucket.to_owned(),
                description: "Revoked tokens, sessions and users (FIAP X auth)".into(),
                history: 1,
                max_age,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| bucket_error(e.to_string()))?;
        let revocations = Self {
            set: Arc::default(),
            store: Some(store.clone()),
            keep_secs: max_age.as_secs(),
        };
        let mut stream = js
            .get_stream(format!("KV_{bucket}"))
            .await
            .map_err(|e| bucket_error(e.to_string()))?;
        let stored = stream
            .info()
            .await
            .map_err(|e| bucket_error(e.to_string()))?
            .state
            .messages;
        let mut watch = store
            .watch_with_history(">")
            .await
            .map_err(|e| bucket_error(e.to_string()))?;
        if stored > 0 {
            // Catch up before answering any request: the history ends at the entry with delta 0.
            let caught_up = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(entry) = watch.next().await {
                    let Ok(entry) = entry else { break };
                    let last = entry.delta == 0;
                    revocations.apply(&entry);
                    if last {
                        break;
                    }
                }
            })
            .await;
            if caught_up.is_err() {
                return Err(bucket_error("timed out loading revocations".into()));
            }
        }
        info!(
            kv.bucket = bucket,
            revocations = revocations.len(),
            "revocations loaded"
        );
        let follower = revocations.clone();
        tokio::spawn(async move { follower.follow(watch, shutdown).await });
        Ok(revocations)
    }

    /// Keeps applying updates; re-watches (with history) after an error until `shutdown`.
    async fn follow(self, mut watch: kv::Watch, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                entry = watch.next() => match entry {
                    Some(Ok(entry)) => self.apply(&entry),
                    other => {
                        if let Some(Err(error)) = other {
                            warn!(error = %error, "revocation watch failed; watching again");
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let Some(store) = &self.store else { return };
                        match store.watch_with_history(">").await {
                            Ok(again) => watch = again,
                            Err(error) => warn!(error = %error, "revocation watch cannot restart yet"),
                        }
                    }
                }
            }
        }
    }

    fn apply(&self, entry: &kv::Entry) {
        let Ok(mut set) = self.set.write() else { return };
        match entry.operation {
            kv::Operation::Put => {
                set.insert(entry.key.clone(), Entry::parse(&entry.value));
                metrics::counter!("fiapx_revocations_seen_total").increment(1);
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                set.remove(&entry.key);
            }
        }
        if set.len() % 1024 == 0 {
            let now = unix_now();
            set.retain(|_, entry| !entry.forgettable(now, self.keep_secs));
        }
    }

    /// How many revocations are held in memory.
    pub fn len(&self) -> usize {
        self.set.read().map(|set| set.len()).unwrap_or_default()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `what` is revoked, at the instant `at`, for a token minted at `issued`. A verifier with a
    /// clock-skew leeway asks at the instant it judges the token at (now less the leeway), so a revocation lasts
    /// as long as a token it covers is accepted.
    pub fn is_revoked(&self, what: Revoked<'_>, issued: SystemTime, at: SystemTime) -> bool {
        let (issued, now) = (unix_secs(issued), unix_secs(at));
        self.set
            .read()
            .map(|set| {
                set.get(&what.key())
                    .is_some_and(|entry| entry.covers(issued, now))
            })
            .unwrap_or(true)
    }

    /// Records a revocation that matters until `until`: in the bucket (every replica) and here (at once).
    pub async fn revoke(&self, what: Revoked<'_>, until: SystemTime) -> Result<(), RevocationError> {
        self.put(
            what,
            Entry {
                until: unix_secs(until),
                issued_before: None,
            },
        )
        .await
    }

    /// Revokes, until `until`, only the tokens of `what` minted before `issued_before`: a re-enabled account keeps
    /// its old tokens and shares revoked while new sign-ins work.
    pub async fn revoke_issued_before(
        &self,
        what: Revoked<'_>,
        issued_before: SystemTime,
        until: SystemTime,
    ) -> Result<(), RevocationError> {
        self.put(
            what,
            Entry {
                until: unix_secs(until),
                issued_before: Some(unix_secs(issued_before)),
            },
        )
        .await
    }

    async fn put(&self, what: Revoked<'_>, entry: Entry) -> Result<(), RevocationError> {
        if let Some(store) = &self.store {
            store
                .put(what.key(), entry.render().into())
                .await
                .map_err(|e| RevocationError::Put(e.to_string()))?;
        }
        if let Ok(mut set) = self.set.write() {
            set.insert(what.key(), entry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_unreadable_ones_revoke_everything() {
        for entry in [
            Entry {
                until: 10,
                issued_before: None,
            },
            Entry {
                until: 10,
                issued_before: Some(5),
            },
        ] {
            assert_eq!(Entry::parse(entry.render().as_bytes()), entry);
        }
        for garbage in [&b""[..], b"x", b"1 2 3", b"\xff"] {
            assert_eq!(
                Entry::parse(garbage),
                Entry {
                    until: u64::MAX,
                    issued_before: None
                }
            );
        }
    }

    #[test]
    fn an_issued_before_entry_covers_only_older_tokens_until_it_ends() {
        let entry = Entry {
            until: 100,
            issued_before: Some(50),
        };
        assert!(entry.covers(49, 60));
        assert!(!entry.covers(50, 60), "minted at or after the cut-off");
        assert!(!entry.covers(49, 101), "ended");
        let all = Entry {
            until: 100,
            issued_before: None,
        };
        assert!(all.covers(99, 60) && all.covers(0, 100));
    }

    #[test]
    fn memory_keeps_an_entry_past_its_end_for_as_long_as_the_bucket_may() {
        let entry = Entry {
            until: 100,
            issued_before: None,
        };
        assert!(!entry.forgettable(100, 0) && entry.forgettable(101, 0));
        assert!(!entry.forgettable(130, 30), "a 30 s leeway still asks at 130");
        assert!(entry.forgettable(131, 30));
        assert!(
            !Entry::parse(b"x").forgettable(u64::MAX, 30),
            "unreadable: forever"
        );
    }
}
