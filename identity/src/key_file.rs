//! Where the root key comes from: a hex string in the settings, or a key file (written by `fiapx keys generate`).
//!
//! Also the one home of key files in general ([`read_key_file`], [`write_key_file`]): the notifier's secrets key
//! is read and written the same way, with the same refusal of a file others may read.

use std::path::Path;

use biscuit_auth::PublicKey;
use secrecy::{ExposeSecret as _, SecretString};

use crate::token::{KeyError, RootKey, public_key_from_hex};

/// Where a process finds the root key: the configured private key (hex or file) and/or public key (hex).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySource<'a> {
    /// The root private key in hex.
    pub private_key: Option<&'a SecretString>,
    /// A file holding the root private key in hex.
    pub private_key_file: Option<&'a Path>,
    /// The root public key in hex.
    pub public_key: Option<&'a str>,
}

/// A key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The key file cannot be read.
    #[error("cannot read the key file {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file can be read or written by other users than its owner: the key may be known to others.
    #[error("the key file {path} is open to other users (mode {mode:o}): run `chmod 600 {path}`")]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

/// The root key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// Neither `auth.private_key` nor `auth.private_key_file` (nor `auth.public_key`, for verifiers) is set.
    #[error(
        "no root key configured: set auth.private_key_file (create one with `fiapx keys generate`) or auth.public_key"
    )]
    Missing,
    /// The key file cannot be used.
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// The key is not valid hex Ed25519.
    #[error(transparent)]
    Invalid(#[from] KeyError),
    /// The public key does not match the private key.
    #[error("auth.public_key does not match the private key")]
    Mismatch,
}

impl KeySource<'_> {
    /// The private root key, when configured (the auth service needs it to mint).
    pub fn root_key(&self) -> Result<Option<RootKey>, KeyLoadError> {
        let hex = match (self.private_key, self.private_key_file) {
            (Some(key), _) => key.expose_secret().to_owned(),
            (None, Some(path)) => read_key_file(path)?,
            (None, None) => return Ok(None),
        };
        let root = RootKey::from_private_hex(&hex)?;
        if let Some(public) = self.public_key
            && public_key_from_hex(public)? != root.public()
        {
            return Err(KeyLoadError::Mismatch);
        }
        Ok(Some(root))
    }

    /// The public root key: configured, or derived from the private one.
    pub fn public_key(&self) -> Result<PublicKey, KeyLoadError> {
        if let Some(root) = self.root_key()? {
            return Ok(root.public());
        }
        match self.public_key {
            Some(public) => Ok(public_key_from_hex(public)?),
            None => Err(KeyLoadError::Missing),
        }
    }
}

/// Reads a key file, refusing one that others than its owner may read or write (as ssh does with a private
/// key): a key anyone on the machine can read is known to anyone (a signing key signs tokens for anyone, a sealing
/// key opens every sealed secret). In Kubernetes, mount the secret with `defaultMode: 0400`.
pub fn read_key_file(path: &Path) -> Result<String, KeyFileError> {
    let unreadable = |source| KeyFileError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map_err(unreadable)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    std::fs::read_to_string(path).map_err(unreadable)
}

/// Writes `contents` and a newline to a new file at `path` (its directory is made when missing), readable by its
/// owner only; refuses to overwrite.
pub fn write_key_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")
}

/// Writes a new private key (hex) to `path`, readable by its owner only; refuses to overwrite. Returns the key.
pub fn generate_key_file(path: &Path) -> std::io::Result<RootKey> {
    let root = RootKey::generate();
    write_key_file(path, &root.private_hex())?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_file_loads_back_and_is_private() {
        let dir = std::env::temp_dir().join(format!("fiapx-keys-{}", uuid::Uuid::now_v7()));
        let path = dir.join("root.key");
        let root = generate_key_file(&path).unwrap();
        assert!(generate_key_file(&path).is_err(), "never overwrites");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let settings = KeySource {
            private_key_file: Some(&path),
            ..KeySource::default()
        };
        let loaded = settings.root_key().unwrap().unwrap();
        assert_eq!(loaded.public(), root.public());
        assert_eq!(settings.public_key().unwrap(), root.public());
        let public = root.public().to_bytes_hex();
        let verifier_only = KeySource {
            public_key: Some(&public),
            ..KeySource::default()
        };
        assert!(verifier_only.root_key().unwrap().is_none());
        assert_eq!(verifier_only.public_key().unwrap(), root.public());
        assert!(matches!(
            KeySource::default().public_key(),
            Err(KeyLoadError::Missing)
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for mode in [0o644, 0o640, 0o604, 0o660] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                let error = settings.root_key().unwrap_err();
                assert!(
                    matches!(error, KeyLoadError::File(KeyFileError::Exposed { mode: m, .. }) if m == mode),
                    "{error}"
                );
                assert!(error.to_string().contains("chmod 600"), "{error}");
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
            assert_eq!(
                settings.root_key().unwrap().unwrap().public(),
                root.public(),
                "read-only by its owner"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
