//! API client secrets: generated from the OS's random source, stored only as
//! argon2id hashes, compared in constant time by argon2's verifier.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A new client id: `ets_` and 16 random hex digits.
///
/// # Errors
/// When the OS has no randomness to give.
pub fn new_client_id() -> Result<String, SecretError> {
    Ok(format!("ets_{}", random_hex(8)?))
}

/// A new client secret: 32 random bytes as 64 hex digits.
///
/// # Errors
/// When the OS has no randomness to give.
pub fn new_secret() -> Result<String, SecretError> {
    random_hex(32)
}

fn random_hex(bytes: usize) -> Result<String, SecretError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|_| SecretError)?;
    Ok(hex::encode(buffer))
}

/// How many argon2 computations (each takes about 19 MiB for a moment) run at
/// once on this node; the rest wait their turn. Bounds the memory a burst of
/// token requests can take.
pub const CONCURRENT_HASHES: usize = 4;

static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);

/// Runs an argon2 computation on a blocking thread, at most
/// [`CONCURRENT_HASHES`] at a time.
///
/// # Errors
/// When the blocking task fails (it panicked).
pub async fn run_hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed, so acquiring cannot fail.
    let _permit = HASHING.acquire().await.ok();
    tokio::task::spawn_blocking(work).await
}

/// The argon2id PHC string of a secret, with a fresh random salt.
///
/// # Errors
/// When the OS has no randomness to give or hashing fails.
pub fn hash_secret(secret: &str) -> Result<String, SecretError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| SecretError)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| SecretError)?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|_| SecretError)?;
    Ok(hash.to_string())
}

/// Whether `secret` matches the stored hash.
#[must_use]
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok()
    })
}

/// Hashing failed (no randomness, or argon2 refused its input).
#[derive(Debug, thiserror::Error)]
#[error("could not make or hash a secret (no randomness?)")]
pub struct SecretError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_hash_and_nothing_else_does() {
        let secret = new_secret().expect("random");
        let hash = hash_secret(&secret).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret("wrong", &hash));
        assert!(!verify_secret(&secret, "not a hash"));
    }

    #[test]
    fn client_ids_and_secrets_are_fresh_each_time() {
        assert_ne!(new_client_id().expect("id"), new_client_id().expect("id"));
        assert_eq!(new_secret().expect("secret").len(), 64);
    }
}
