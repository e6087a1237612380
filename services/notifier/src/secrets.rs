//! Signing secrets sealed at rest: every webhook's secret and every account's callback secret is stored in
//! PostgreSQL sealed with XChaCha20-Poly1305 under a 256-bit key from the configuration
//! (`notifier.secrets_key_file` or `notifier.secrets_key`), and opened only to sign a delivery.
//!
//! The stored form is `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`: `v1` names the format (the
//! cipher, a random 24-byte nonce, the associated data below), the key id (16 hex digits of a SHA-256 of the key,
//! which tells nothing of the key) names the key that sealed it, so that keys can be rotated: the previous keys
//! (`notifier.secrets_previous_key_files`) still open what they sealed, and [`seal_stored`] seals it again with
//! the current key. The associated data is the row's identity (`webhook:<id>` or `callback:<user id>`) and the key
//! id: a sealed value copied to another row does not open.
//!
//! Rows written in plain text before sealing existed (`whsec_...`, never starting with `sealed:`) still sign
//! deliveries; [`seal_stored`] (run when the notifier starts) and the sender (on the first delivery that reads
//! one) replace them with the sealed form, each with a compare-and-set on the old value.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use fiapx_identity::KeyFileError;
use sea_orm::DbErr;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};
use uuid::Uuid;

use crate::settings::NotifierSettings;
use crate::store::{Deliveries, Store};

/// What every sealed value starts with.
const SEALED: &str = "sealed:";
/// The format sealed values are written in.
const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;

/// The secrets key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsKeyError {
    /// Neither `notifier.secrets_key_file` nor `notifier.secrets_key` is set.
    #[error(
        "no secrets key configured: set notifier.secrets_key_file (create one with `fiapx keys generate-secrets-key \
         --out FILE`) or notifier.secrets_key; it seals webhook and callback signing secrets in the database"
    )]
    Missing,
    /// A key file cannot be used (unreadable, or open to other users).
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// The key is not 64 hex digits.
    #[error("{setting} is not a 256-bit key in hex (64 hex digits)")]
    Invalid {
        /// The setting (and file) it came from.
        setting: String,
    },
}

/// A stored secret that cannot be opened. Names no secret and no key, only key ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed with a key this process does not have.
    #[error(
        "the secret was sealed with key {key_id}, which is not configured (notifier.secrets_key_file, \
         notifier.secrets_previous_key_files)"
    )]
    UnknownKey {
        /// The key id the stored value names.
        key_id: String,
    },
    /// The key is known but the value does not open: altered, or moved from another row.
    #[error("the sealed secret does not open with key {key_id}: it was altered or belongs to another row")]
    Corrupt {
        /// The key id the stored value names.
        key_id: String,
    },
    /// Starts with `sealed:` but is not a `v1` value.
    #[error("the stored secret is sealed in an unknown format")]
    Malformed,
}

/// Sealing failed (no randomness from the operating system).
#[derive(Debug, thiserror::Error)]
#[error("cannot seal the secret: {0}")]
pub struct SealError(String);

/// A stored secret, opened.
#[derive(Debug)]
pub struct Opened {
    /// The secret itself (for signing only; `Debug` does not show it).
    pub secret: SecretString,
    /// Whether the stored form should be replaced: plain text, or sealed with a previous key.
    pub stale: bool,
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn from_hex(hex_key: &str, setting: &str) -> Result<Self, SecretsKeyError> {
        let invalid = || SecretsKeyError::Invalid {
            setting: setting.to_owned(),
        };
        let bytes = hex::decode(hex_key.trim()).map_err(|_| invalid())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"fiapx notifier secrets key id\0")
            .chain_update(bytes)
            .finalize();
        Self {
            id: hex::encode(&digest[..8]),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }
}

/// The keys that seal and open signing secrets: the current one seals (and opens), previous ones only open.
/// `Debug` shows key ids, never keys.
#[derive(Clone)]
pub struct Keyring {
    current: Arc<Key>,
    previous: Arc<[Key]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The associated data of a sealed value: the format, the key and the row.
fn associated_data(key_id: &str, whose: Deliveries) -> String {
    match whose {
        Deliveries::Webhook(id) => format!("fiapx-notifier-secret:{VERSION}:{key_id}:webhook:{id}"),
        Deliveries::Callbacks(owner) => format!("fiapx-notifier-secret:{VERSION}:{key_id}:callback:{owner}"),
    }
}

impl Keyring {
    /// The keys the settings name: `secrets_key` (hex) or else `secrets_key_file`, and
    /// `secrets_previous_key_files`. Key files others may read are refused.
    pub fn from_settings(settings: &NotifierSettings) -> Result<Self, SecretsKeyError> {
        let current = match (&settings.secrets_key, &settings.secrets_key_file) {
            (Some(key), _) => Key::from_hex(key.expose_secret(), "notifier.secrets_key")?,
            (None, Some(path)) => key_from_file(path, "notifier.secrets_key_file")?,
            (None, None) => return Err(SecretsKeyError::Missing),
        };
        let previous = settings
            .secrets_previous_key_files
            .iter()
            .map(|path| key_from_file(path, "notifier.secrets_previous_key_files"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            current: Arc::new(current),
            previous: previous.into(),
        })
    }

    /// The current key's id (as written in what it seals).
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// What every value sealed with the current key starts with.
    fn current_prefix(&self) -> String {
        format!("{SEALED}{VERSION}:{}:", self.current.id)
    }

    /// `secret` sealed with the current key for the row of `whose`.
    pub fn seal(&self, whose: Deliveries, secret: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError(e.to_string()))?;
        let aad = associated_data(&self.current.id, whose);
        let sealed = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError("the cipher refused the input".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!(
            "{}{}",
            self.current_prefix(),
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens the stored secret of `whose` (sealed with a known key, or plain text from before sealing).
    pub fn open(&self, whose: Deliveries, stored: &str) -> Result<Opened, OpenError> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(Opened {
                secret: SecretString::from(stored),
                stale: true,
            });
        };
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(key_id), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Malformed);
        };
        let (key, stale) = if key_id == self.current.id {
            (&*self.current, false)
        } else {
            let key = self
                .previous
                .iter()
                .find(|k| k.id == key_id)
                .ok_or_else(|| OpenError::UnknownKey {
                    key_id: key_id.to_owned(),
                })?;
            (key, true)
        };
        let blob = URL_SAFE_NO_PAD.decode(blob).map_err(|_| OpenError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let aad = associated_data(key_id, whose);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Corrupt {
                key_id: key_id.to_owned(),
            })?;
        let secret = String::from_utf8(plain).map_err(|_| OpenError::Corrupt {
            key_id: key_id.to_owned(),
        })?;
        Ok(Opened {
            secret: SecretString::from(secret),
            stale,
        })
    }
}

fn key_from_file(path: &Path, setting: &str) -> Result<Key, SecretsKeyError> {
    let hex_key = fiapx_identity::read_key_file(path)?;
    Key::from_hex(&hex_key, &format!("{setting} ({})", path.display()))
}

/// Writes a new secrets key (64 hex digits, mode 0600) to `path`; refuses to overwrite. Returns its key id.
pub fn generate_key_file(path: &Path) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    fiapx_identity::write_key_file(path, &hex::encode(bytes))?;
    Ok(Key::from_bytes(&bytes).id)
}

/// What [`seal_stored`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Secrets found in plain text or sealed with a previous key, now sealed with the current key.
    pub sealed: u64,
    /// Secrets that do not open with any configured key (left as they are).
    pub unreadable: u64,
}

/// Seals with the current key every stored secret that is not: plain-text rows from before sealing and rows
/// sealed with a previous key. Each row is replaced only if it still holds what was read (a secret replaced
/// meanwhile is left alone). Idempotent; safe to run from several processes at once.
pub async fn seal_stored(store: &Store, keyring: &Keyring) -> Result<SealReport, DbErr> {
    let prefix = keyring.current_prefix();
    let mut report = SealReport::default();
    for kind in [
        Deliveries::Webhook(Uuid::nil()),
        Deliveries::Callbacks(Uuid::nil()),
    ] {
        let mut after = Uuid::nil();
        loop {
            let rows = store.secrets_not_sealed_with(kind, &prefix, after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in rows {
                let whose = match kind {
                    Deliveries::Webhook(_) => Deliveries::Webhook(row.id),
                    Deliveries::Callbacks(_) => Deliveries::Callbacks(row.id),
                };
                if reseal(store, keyring, whose, &row.secret).await? {
                    report.sealed += 1;
                } else {
                    report.unreadable += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Replaces the stale stored secret of `whose` with its sealed form; false if it does not open (logged).
pub(crate) async fn reseal(
    store: &Store,
    keyring: &Keyring,
    whose: Deliveries,
    stored: &str,
) -> Result<bool, DbErr> {
    let opened = match keyring.open(whose, stored) {
        Ok(opened) => opened,
        Err(error) => {
            warn!(%error, row = %row_name(whose), "a stored signing secret does not open");
            return Ok(false);
        }
    };
    let sealed = match keyring.seal(whose, opened.secret.expose_secret()) {
        Ok(sealed) => sealed,
        Err(error) => {
            warn!(%error, row = %row_name(whose), "cannot seal a stored signing secret");
            return Ok(false);
        }
    };
    if store.replace_stored_secret(whose, stored, &sealed).await? {
        info!(row = %row_name(whose), key.id = keyring.key_id(), "signing secret sealed with the current key");
    }
    Ok(true)
}

/// `webhook <id>` or `callback secret of <user id>`, for logs.
fn row_name(whose: Deliveries) -> String {
    match whose {
        Deliveries::Webhook(id) => format!("webhook {id}"),
        Deliveries::Callbacks(owner) => format!("callback secret of {owner}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(key: [u8; 32], previous: &[[u8; 32]]) -> Keyring {
        Keyring {
            current: Arc::new(Key::from_bytes(&key)),
            previous: previous.iter().map(Key::from_bytes).collect::<Vec<_>>().into(),
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_and_key() {
        let ring = keyring([1; 32], &[]);
        let hook = Deliveries::Webhook(Uuid::now_v7());
        let sealed = ring.seal(hook, "whsec_abc").unwrap();
        assert!(
            sealed.starts_with(&format!("sealed:v1:{}:", ring.key_id())),
            "{sealed}"
        );
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(
            sealed,
            ring.seal(hook, "whsec_abc").unwrap(),
            "a fresh nonce each time"
        );
        let opened = ring.open(hook, &sealed).unwrap();
        assert_eq!(opened.secret.expose_secret(), "whsec_abc");
        assert!(!opened.stale);
        assert!(!format!("{opened:?} {ring:?}").contains("whsec_abc"));

        let other_row = Deliveries::Webhook(Uuid::now_v7());
        assert!(matches!(
            ring.open(other_row, &sealed),
            Err(OpenError::Corrupt { .. })
        ));
        let same_id_other_table = match hook {
            Deliveries::Webhook(id) => Deliveries::Callbacks(id),
            Deliveries::Callbacks(_) => unreachable!(),
        };
        assert!(matches!(
            ring.open(same_id_other_table, &sealed),
            Err(OpenError::Corrupt { .. })
        ));
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(ring.open(hook, std::str::from_utf8(&flipped).unwrap()).is_err());
        assert_eq!(
            ring.open(hook, "sealed:v2:x:y").unwrap_err(),
            OpenError::Malformed
        );

        let stranger = keyring([2; 32], &[]);
        let error = stranger.open(hook, &sealed).unwrap_err();
        assert_eq!(
            error,
            OpenError::UnknownKey {
                key_id: ring.key_id().to_owned()
            }
        );
        assert!(error.to_string().contains("notifier.secrets_key_file"), "{error}");
    }

    #[test]
    fn plain_text_and_previous_keys_open_as_stale() {
        let old = keyring([3; 32], &[]);
        let hook = Deliveries::Callbacks(Uuid::now_v7());
        let sealed_by_old = old.seal(hook, "whsec_old").unwrap();
        let rotated = keyring([4; 32], &[[3; 32]]);
        let opened = rotated.open(hook, &sealed_by_old).unwrap();
        assert_eq!(opened.secret.expose_secret(), "whsec_old");
        assert!(opened.stale, "sealed with a previous key");
        let plain = rotated.open(hook, "whsec_legacy").unwrap();
        assert_eq!(plain.secret.expose_secret(), "whsec_legacy");
        assert!(plain.stale, "plain text");
    }

    #[test]
    fn keys_load_from_hex_and_from_private_files_only() {
        let dir = tempfile_dir();
        let path = dir.join("secrets.key");
        let id = generate_key_file(&path).unwrap();
        assert!(generate_key_file(&path).is_err(), "never overwrites");
        let settings = NotifierSettings {
            secrets_key_file: Some(path.clone()),
            ..NotifierSettings::default()
        };
        assert_eq!(Keyring::from_settings(&settings).unwrap().key_id(), id);
        let hex_key = std::fs::read_to_string(&path).unwrap();
        let inline = NotifierSettings {
            secrets_key: Some(hex_key.trim().to_owned().into()),
            ..NotifierSettings::default()
        };
        assert_eq!(Keyring::from_settings(&inline).unwrap().key_id(), id);
        let missing = Keyring::from_settings(&NotifierSettings::default()).unwrap_err();
        assert!(matches!(missing, SecretsKeyError::Missing));
        assert!(
            missing.to_string().contains("notifier.secrets_key_file"),
            "{missing}"
        );
        let short = NotifierSettings {
            secrets_key: Some("abcd".to_owned().into()),
            ..NotifierSettings::default()
        };
        let error = Keyring::from_settings(&short).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("notifier.secrets_key is not a 256-bit key"),
            "{error}"
        );
        assert!(!error.to_string().contains("abcd"), "the key is never shown");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = Keyring::from_settings(&settings).unwrap_err();
            assert!(
                matches!(
                    error,
                    SecretsKeyError::File(KeyFileError::Exposed { mode: 0o644, .. })
                ),
                "{error}"
            );
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("fiapx-secrets-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
