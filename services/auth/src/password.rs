//! Password policy and argon2id hashing (blocking work, run off the async threads).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::settings::Argon2Settings;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password, in characters (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Why a password was refused, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Too short.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Too long.
    #[error("the password must have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// The e-mail, or a password of one repeated character.
    #[error("the password is too easy to guess (it repeats one character or contains the e-mail)")]
    Guessable,
}

/// Checks the policy: 10 to 128 characters, not one repeated character, not containing the e-mail's local part.
pub fn check_policy(password: &str, email: &str) -> Result<(), PasswordPolicyError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooLong);
    }
    let mut distinct = password.chars().collect::<Vec<_>>();
    distinct.sort_unstable();
    distinct.dedup();
    let local = email.split('@').next().unwrap_or_default();
    if distinct.len() < 3 || (local.len() >= 4 && password.to_lowercase().contains(local)) {
        return Err(PasswordPolicyError::Guessable);
    }
    Ok(())
}

/// Hashing failed (a bug or bad parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// argon2id with the configured cost; also verifies hashes made with other parameters (they are in the hash).
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when the e-mail is unknown, so that an unknown e-mail and a
    /// wrong password cost the same time.
    decoy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher (and its decoy hash) from the settings.
    pub fn new(settings: Argon2Settings) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        let mut passwords = Self {
            params,
            decoy: String::new(),
        };
        let random = SaltString::generate(&mut OsRng);
        passwords.decoy = passwords.hash_now(random.as_str())?;
        Ok(passwords)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Hashes a password (PHC string) on the blocking pool.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_now(&password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it checks the decoy and answers false, in
    /// about the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| this.decoy.clone());
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            this.argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
                && known
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn the_policy_names_what_is_wrong() {
        assert_eq!(check_policy("short", "a@b.c"), Err(PasswordPolicyError::TooShort));
        assert_eq!(
            check_policy(&"x".repeat(129), "a@b.c"),
            Err(PasswordPolicyError::TooLong)
        );
        assert_eq!(
            check_policy("aaaaaaaaaaaa", "a@b.c"),
            Err(PasswordPolicyError::Guessable)
        );
        assert_eq!(
            check_policy("Maria.silva.2026", "maria.silva@example.com"),
            Err(PasswordPolicyError::Guessable)
        );
        assert_eq!(check_policy("correct horse battery", "maria@example.com"), Ok(()));
        // Characters, not bytes: ten accented letters pass.
        assert_eq!(check_policy("ãéíõúçàâêô", "x@y.z"), Ok(()));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = cheap();
        let first = passwords.hash("correct horse battery".into()).await.unwrap();
        let second = passwords.hash("correct horse battery".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{first}");
        assert_ne!(first, second, "salted");
        assert!(
            passwords
                .verify("correct horse battery".into(), Some(first.clone()))
                .await
        );
        assert!(!passwords.verify("wrong horse battery".into(), Some(first)).await);
        assert!(!passwords.verify("anything at all".into(), None).await);
    }
}
