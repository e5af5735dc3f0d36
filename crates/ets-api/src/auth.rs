//! Tokens: exchanging client credentials for a JWT, the public keys, the
//! signing key's bootstrap, and the per-node revocation cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ets_engine::{Command, CommandError, NewSigningKey};
use ets_store::{Store, StoreError};

use crate::AppState;
use crate::body::TokenBody;
use crate::dto::TokenRequest;
use crate::extract::{Body, PeerAddress};
use crate::problem::Problem;
use crate::secret::verify_secret;
use crate::token::{KeyRing, SigningKey};

/// How long a node trusts what it read about a credential. A revoked
/// credential's tokens stop working on every node within this (well under 5 s).
pub const CREDENTIAL_CACHE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Failed token requests allowed per client id, and per address, per window.
pub const TOKEN_FAILURES_PER_CLIENT: u32 = 5;
/// Failed token requests allowed per address per window.
pub const TOKEN_FAILURES_PER_ADDRESS: u32 = 20;
/// The failure-counting window.
pub const TOKEN_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// What this node knows about credentials' revocation, for at most
/// [`CREDENTIAL_CACHE_TTL`]. The database stays the authority.
#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (bool, DateTime<Utc>)>>,
}

impl CredentialCache {
    /// Whether the credential exists and is not revoked.
    ///
    /// # Errors
    /// 500 when the database fails.
    pub async fn is_active(&self, store: &Store, client_id: &str) -> Result<bool, Problem> {
        let now = store.now();
        if let Some((active, fetched)) = self.lock().get(client_id).copied()
            && now - fetched < CREDENTIAL_CACHE_TTL
        {
            return Ok(active);
        }
        let active = store
            .credential(client_id)
            .await?
            .is_some_and(|c| !c.revoked);
        let mut entries = self.lock();
        if entries.len() > 100_000 {
            entries.retain(|_, (_, fetched)| now - *fetched < CREDENTIAL_CACHE_TTL);
        }
        entries.insert(client_id.to_owned(), (active, now));
        Ok(active)
    }

    /// Forgets a credential (this node revoked it: no need to wait).
    pub fn forget(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, DateTime<Utc>)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a node signs with the keys it read before it reads them again:
/// after `ets-ledger key rotate`, every node signs with the new key within
/// this (by the store's clock, which tests move).
pub const KEY_REFRESH: TimeDelta = TimeDelta::seconds(2);

/// A token with a kid this node does not know makes it read the keys again
/// (another node may have rotated them), at most this often.
pub const KEY_RELOAD_AT_MOST_EVERY: TimeDelta = TimeDelta::milliseconds(100);

/// Makes sure the database holds the signing key this node is to start
/// with, and reads every stored key. With a configured key, that key is
/// installed (journaled `signing_key.rotated`) unless it was stored before;
/// without one, a first key is made on an empty database (if another node
/// stores one first, that one). From then on the database decides: the
/// newest stored key signs.
///
/// # Errors
/// When the database fails or a stored key is not a valid Ed25519 key.
pub async fn install_keys(
    store: &Store,
    configured: Option<SigningKey>,
) -> Result<KeyRing, KeyError> {
    match configured {
        Some(key) => {
            let stored = store.signing_keys().await?;
            if !stored.iter().any(|k| k.kid == key.kid()) {
                let command = Command::RotateSigningKey(new_signing_key(&key));
                submit_key(store, command).await?;
            }
        }
        None => {
            if store.signing_key().await?.is_none() {
                let key = SigningKey::generate()?;
                let command = Command::CreateSigningKey(new_signing_key(&key));
                submit_key(store, command).await?;
            }
        }
    }
    load_key_ring(store).await
}

/// Stores a key; one stored meanwhile by another node (the same kid, or a
/// first key) is as good.
async fn submit_key(store: &Store, command: Command) -> Result<(), KeyError> {
    match store.execute(ets_core::Actor::system(), command).await {
        Ok(_) | Err(StoreError::Command(CommandError::SigningKeyExists)) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

fn new_signing_key(key: &SigningKey) -> NewSigningKey {
    NewSigningKey {
        kid: key.kid().to_owned(),
        pkcs8: key.pkcs8().to_vec(),
        public_key: key.public_key().to_vec(),
    }
}

/// Every stored key, oldest first: the ring a node signs and verifies with.
///
/// # Errors
/// When the database fails, no key is stored, or one is not Ed25519.
pub async fn load_key_ring(store: &Store) -> Result<KeyRing, KeyError> {
    let keys = store
        .signing_keys()
        .await?
        .iter()
        .map(|stored| SigningKey::from_pkcs8(&stored.pkcs8))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(KeyError::Missing);
    }
    Ok(KeyRing::new(keys)?)
}

/// The key that signs now, installing one first as [`install_keys`] does.
///
/// # Errors
/// As [`install_keys`].
pub async fn load_signing_key(
    store: &Store,
    configured: Option<SigningKey>,
) -> Result<SigningKey, KeyError> {
    install_keys(store, configured).await?;
    let pkcs8 = store.signing_key().await?.ok_or(KeyError::Missing)?;
    Ok(SigningKey::from_pkcs8(&pkcs8)?)
}

/// `ets-ledger key rotate`: a new key, stored and journaled
/// (`signing_key.rotated`) by `actor`; every node signs with it within
/// [`KEY_REFRESH`]. Returns the new key's kid.
///
/// # Errors
/// When the random source or the database fails.
pub async fn rotate_signing_key(store: &Store, actor: ets_core::Actor) -> Result<String, KeyError> {
    let key = SigningKey::generate()?;
    let command = Command::RotateSigningKey(new_signing_key(&key));
    store.execute(actor, command).await?;
    Ok(key.kid().to_owned())
}

/// Reads the keys again if those in force were read [`KEY_REFRESH`] ago or
/// more (`unknown_kid`: [`KEY_RELOAD_AT_MOST_EVERY`] ago or more). Keys
/// given rather than read are never re-read. A failed read is logged and
/// the keys in force stay: it is tried again on the next request.
pub async fn refresh_keys(state: &AppState, unknown_kid: bool) {
    let Some(loaded_at) = state.tokens.keys_loaded_at() else {
        return;
    };
    let now = state.store.now();
    let age = now - loaded_at;
    let due = if unknown_kid {
        age >= KEY_RELOAD_AT_MOST_EVERY
    } else {
        age >= KEY_REFRESH
    };
    if !due {
        return;
    }
    match load_key_ring(&state.store).await {
        Ok(ring) => {
            let kid = ring.signing().kid().to_owned();
            state.tokens.install(ring, now);
            tracing::debug!(%kid, "signing keys read again");
        }
        Err(error) => tracing::warn!(error = %error, "cannot read the signing keys again"),
    }
}

/// Why the signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key material is not a valid Ed25519 PKCS#8 key.
    #[error(transparent)]
    Key(#[from] crate::token::TokenError),
    /// No key is stored (another node stored one that then vanished).
    #[error("no signing key is stored")]
    Missing,
}

/// `POST /v1/auth/token`: client credentials for a short-lived JWT. Failed
/// attempts are limited per client id and per address (429 + Retry-After).
pub(crate) async fn token(
    State(state): State<AppState>,
    PeerAddress(peer): PeerAddress,
    Body { value: request, .. }: Body<TokenRequest>,
) -> Result<Response, Problem> {
    let now = Instant::now();
    let address = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    // Failures count per client id *from one address*, so nobody can lock a
    // client out by failing on its behalf from elsewhere.
    let client_key = format!("{}@{address}", request.client_id);
    let credential = state.store.credential(&request.client_id).await?;
    // Each attempt is counted as a failure before the hash, in one step with
    // the check, so racing attempts cannot all pass the limit; a success is
    // forgiven. Every client id, known or not, is limited per client and
    // address (so nobody locks a client out from elsewhere, and the limit
    // does not tell which ids exist). Unknown ids are also limited per
    // address; a known id's failures are counted there but never checked, so
    // others failing from its address do not lock its owner out.
    let mut limits = vec![(&state.limits.by_client, client_key.as_str())];
    if credential.is_none() {
        limits.push((&state.limits.by_address, address.as_str()));
    }
    for (limiter, key) in limits {
        if let Err(retry_after) = limiter.reserve(key, now) {
            state.metrics.login_refused();
            return Ok(too_many(retry_after));
        }
    }
    // Unknown and revoked clients cost the same argon2 verification as a wrong
    // secret, so the answer's timing does not tell which client ids exist.
    let stored_hash = credential
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |c| c.secret_hash.clone());
    let secret = request.client_secret.clone();
    let matches =
        match crate::secret::run_hashing(move || verify_secret(&secret, &stored_hash)).await {
            Ok(matches) => matches,
            Err(error) => return Err(error.into()),
        };
    let credential = match credential {
        Some(c) if !c.revoked && matches => c,
        _ => {
            if credential.is_some() {
                state.limits.by_address.record_failure(&address, now);
            }
            state.metrics.login_refused();
            tracing::info!(client_id = ?request.client_id, "token refused: bad credentials");
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Unknown client, wrong secret, or revoked credential.",
            ));
        }
    };
    state.limits.by_client.reset(&client_key);
    refresh_keys(&state, false).await;
    let issued = state
        .tokens
        .issue(
            &credential.client_id,
            credential.role,
            credential.participant_id,
            state.store.now(),
        )
        .map_err(|e| Problem::internal(&e))?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(TokenBody::from(issued)),
    )
        .into_response())
}

/// An argon2id hash of a random secret nobody knows, made once: what an
/// unknown client's secret is verified against.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        // An empty hash would answer at once and tell unknown ids apart:
        // without randomness the node cannot serve logins at all.
        crate::secret::new_secret()
            .and_then(|secret| crate::secret::hash_secret(&secret))
            .expect("the OS gives randomness for the made-up hash")
    })
}

fn too_many(retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs().max(1);
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("Too many failed attempts; retry in {seconds} s."),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    refresh_keys(&state, false).await;
    Json(state.tokens.jwks())
}
