//! API client secrets: generated from the OS's random source, stored only as
//! argon2id hashes, compared in constant time by argon2's verifier.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, SaltString};

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

/// A new console password: 15 random bytes in lowercase base32, 24
/// letters and digits, easy to type from a printout.
///
/// # Errors
/// When the OS has no randomness to give.
pub fn new_password() -> Result<String, SecretError> {
    let mut buffer = [0u8; 15];
    getrandom::fill(&mut buffer).map_err(|_| SecretError)?;
    Ok(ets_core::totp::base32(&buffer).to_ascii_lowercase())
}

/// A new TOTP secret ([`ets_core::totp::SECRET_BYTES`] random bytes).
///
/// # Errors
/// When the OS has no randomness to give.
pub fn new_totp_secret() -> Result<Vec<u8>, SecretError> {
    let mut buffer = vec![0u8; ets_core::totp::SECRET_BYTES];
    getrandom::fill(&mut buffer).map_err(|_| SecretError)?;
    Ok(buffer)
}

fn random_hex(bytes: usize) -> Result<String, SecretError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|_| SecretError)?;
    Ok(hex::encode(buffer))
}

/// How many threads compute argon2 (each takes about 19 MiB while it runs,
/// and its allocator keeps that block for the next): the memory a burst of
/// token requests can take is bounded by these threads, however many
/// requests arrive. Before, any of tokio's blocking threads ran a hash, and
/// each kept its own 19 MiB: 40 requests at once left the node at 600 MB.
pub const HASHING_THREADS: usize = 2;

/// How many computations may wait for a thread; more are refused
/// ([`HashingError::Busy`]) after waiting [`HASHING_WAIT`] for room.
pub const HASHING_QUEUE: usize = 64;

/// How long a computation waits for room in the queue before it is refused.
pub const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

type HashJob = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, started on first use.
fn hashing_queue() -> &'static std::sync::mpsc::SyncSender<HashJob> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::SyncSender<HashJob>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<HashJob>(HASHING_QUEUE);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..HASHING_THREADS {
            let receiver = std::sync::Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let queue = receiver
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            queue.recv()
                        };
                        let Ok(job) = job else { return };
                        // A panic fails its own request (its answer is
                        // dropped), never the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        sender
    })
}

/// Why a hashing computation gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// The queue stayed full: the node is busy hashing (answer 503).
    #[error("the node is busy verifying secrets")]
    Busy,
    /// The computation panicked.
    #[error("a hashing computation failed")]
    Failed,
}

impl From<HashingError> for crate::problem::Problem {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::Busy => Self::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The node is busy verifying secrets; retry in a second.",
            )
            .with_retry_after(1),
            HashingError::Failed => Self::internal(&error),
        }
    }
}

/// Runs an argon2 computation on one of the [`HASHING_THREADS`] threads,
/// waiting its turn in a queue of [`HASHING_QUEUE`].
///
/// # Errors
/// [`HashingError::Busy`] when the queue stays full for [`HASHING_WAIT`];
/// [`HashingError::Failed`] when the computation panicked.
pub async fn run_hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashingError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let mut job: HashJob = Box::new(move || {
        let _ = answer.send(work());
    });
    let queue = hashing_queue();
    let deadline = tokio::time::Instant::now() + HASHING_WAIT;
    loop {
        match queue.try_send(job) {
            Ok(()) => break,
            Err(std::sync::mpsc::TrySendError::Full(back)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(HashingError::Busy);
                }
                job = back;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(HashingError::Failed);
            }
        }
    }
    answered.await.map_err(|_| HashingError::Failed)
}

/// The argon2id PHC string of a secret, with a fresh random salt.
///
/// # Errors
/// When the OS has no randomness to give or hashing fails.
pub fn hash_secret(secret: &str) -> Result<String, SecretError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| SecretError)?;
    let encoded_salt = SaltString::encode_b64(&salt).map_err(|_| SecretError)?;
    let params = argon2::Params::default();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(secret.as_bytes(), &salt, &mut out, blocks)
    })
    .map_err(|_| SecretError)?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(|_| SecretError)?,
        salt: Some(encoded_salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(|_| SecretError)?),
    };
    Ok(hash.to_string())
}

/// Runs `hash` in this thread's argon2 block of at least `needed` blocks.
///
/// argon2 works in a block of memory as large as the hash's `m` (19 MiB by
/// default). Each thread keeps its block for its next hash instead of
/// allocating one per call (the allocator kept each of those: every secret
/// made left 19 MiB behind): on the [`HASHING_THREADS`] that run it, the
/// memory hashing takes is fixed, however many requests come.
fn with_blocks<T>(needed: usize, hash: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < needed {
            blocks.resize(needed, argon2::Block::default());
        }
        hash(&mut blocks[..])
    })
}

/// Whether `secret` matches the stored hash (argon2's PHC string), compared
/// in constant time, in this thread's block ([`with_blocks`]).
#[must_use]
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored_hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks_needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = with_blocks(blocks_needed, |blocks| {
        argon2.hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, blocks)
    });
    computed.is_ok()
        && argon2::password_hash::Output::new(&out).is_ok_and(|output| output == expected)
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
        // The stock verifier reads it as the PHC string argon2 itself makes,
        // with argon2's default parameters.
        let parsed = PasswordHash::new(&hash).expect("a PHC string");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            argon2::password_hash::PasswordVerifier::verify_password(
                &Argon2::default(),
                secret.as_bytes(),
                &parsed
            )
            .is_ok()
        );
        // And a hash argon2 made itself verifies here.
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let stock = argon2::password_hash::PasswordHasher::hash_password(
            &Argon2::default(),
            secret.as_bytes(),
            &salt,
        )
        .expect("hash")
        .to_string();
        assert!(verify_secret(&secret, &stock));
    }

    #[test]
    fn client_ids_and_secrets_are_fresh_each_time() {
        assert_ne!(new_client_id().expect("id"), new_client_id().expect("id"));
        assert_eq!(new_secret().expect("secret").len(), 64);
    }
}
