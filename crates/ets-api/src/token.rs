//! Access tokens and the ledger's signing key.
//!
//! `POST /v1/auth/token` exchanges client credentials for a short-lived JWT
//! signed with Ed25519 (`alg: EdDSA`). The same key signs audit checkpoints
//! (the text `ets-ledger checkpoint {seq} {head_hash}`), and its public half
//! is published at `/.well-known/jwks.json` under a `kid` derived from the
//! public key itself, so every node holding the same key publishes the same
//! `kid` and accepts the same tokens.
//!
//! Keys rotate: a [`KeyRing`] holds every key installed so far, oldest
//! first; the newest signs, and all are published and accepted, so a token
//! of an earlier key works until it expires and its checkpoints verify.
//!
//! Verification pins the algorithm to `EdDSA`, requires the `kid` of a known
//! key, and checks signature, `exp`, `nbf`, issuer and audience. Revocation of
//! the credential behind a token is the caller's business.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ets_core::Role;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// The reason [`Tokens::verify`] gives for a `kid` it does not know: the
/// caller may read the keys again (another node may have rotated them).
pub const UNKNOWN_KID: &str = "unknown kid";

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What can go wrong with keys and tokens.
///
/// Every [`TokenError::Invalid`] is answered 401 alike; the reason is for
/// logs only and never contains the token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The key material is not a usable Ed25519 key.
    #[error("bad signing key: {0}")]
    Key(&'static str),
    /// A token could not be produced.
    #[error("cannot issue token: {0}")]
    Issue(&'static str),
    /// A token (or a signature) did not verify.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// The ledger's Ed25519 key: signs access tokens and audit checkpoints.
pub struct SigningKey {
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`TokenError::Key`] when the system random source fails.
    pub fn generate() -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| TokenError::Key("key generation failed"))?;
        Self::from_pkcs8(document.as_ref())
    }

    /// A key from its PKCS#8 DER encoding (as stored by [`Self::pkcs8`], or a
    /// v1 document without the public key, as `openssl genpkey` writes).
    ///
    /// # Errors
    /// [`TokenError::Key`] when the document is not an Ed25519 PKCS#8 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| TokenError::Key("not an Ed25519 PKCS#8 document"))?;
        let kid = kid_of(pair.public_key().as_ref());
        Ok(Self {
            pkcs8: der.to_vec(),
            pair,
            kid,
        })
    }

    /// The PKCS#8 DER encoding, to keep the key (secret: store it as such).
    #[must_use]
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id: the first 16 hex characters of the SHA-256 of the public
    /// key, so the same key always has the same id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as a JWK (`kty: OKP`, `crv: Ed25519`).
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// The base64url (unpadded) Ed25519 signature of `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.sign(message).as_ref())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn kid_of(public_key: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, public_key);
    let mut kid = hex::encode(hash.as_ref());
    kid.truncate(16);
    kid
}

/// The text an audit checkpoint signature covers:
/// `ets-ledger checkpoint {seq} {head_hash}` ([`ets_core::audit`]).
#[must_use]
pub fn checkpoint_message(seq: i64, head_hash: &str) -> String {
    ets_core::audit::checkpoint_message(seq, head_hash)
}

/// Every signing key installed so far, oldest first: the newest signs, all
/// are published and verify.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// A ring of these keys, oldest first.
    ///
    /// # Errors
    /// [`TokenError::Key`] when there is none.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, TokenError> {
        if keys.is_empty() {
            return Err(TokenError::Key("no signing key"));
        }
        Ok(Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        })
    }

    /// A ring of one key.
    #[must_use]
    pub fn single(key: SigningKey) -> Self {
        Self {
            keys: vec![Arc::new(key)],
        }
    }

    /// The key that signs: the newest.
    ///
    /// # Panics
    /// Never: a ring has at least one key.
    #[must_use]
    pub fn signing(&self) -> &Arc<SigningKey> {
        self.keys.last().expect("a ring has a key")
    }

    /// The key with this id, current or earlier.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|key| key.kid() == kid)
    }

    /// The published key set, `{"keys": [...]}`, newest first.
    #[must_use]
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().rev().map(|key| key.public_jwk()).collect();
        json!({ "keys": keys })
    }
}

/// Checks a base64url (unpadded) Ed25519 `signature` of `message` against a
/// raw 32-byte public key (the JWK's decoded `x`).
///
/// # Errors
/// [`TokenError::Invalid`] when the signature is malformed or does not match.
pub fn verify_signature(
    public_key: &[u8],
    message: &[u8],
    signature: &str,
) -> Result<(), TokenError> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Invalid("signature is not base64url"))?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, &signature)
        .map_err(|_| TokenError::Invalid("signature"))
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the API client id.
    pub sub: String,
    /// The credential's role.
    pub role: Role,
    /// The participant an enterprise credential is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<Uuid>,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Token id: a fresh UUID v4.
    pub jti: String,
}

/// How tokens are issued and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss` written and required.
    pub issuer: String,
    /// `aud` written and required.
    pub audience: String,
    /// Lifetime of an access token.
    pub ttl: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: "ets-ledger".to_owned(),
            audience: "ets-ledger-api".to_owned(),
            ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The compact JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// What it says.
    pub claims: Claims,
}

/// Issues and verifies access tokens; cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<Inner>,
}

struct Inner {
    config: TokenConfig,
    keys: RwLock<Arc<Keys>>,
    validation: Validation,
    /// Tokens whose signature, algorithm, key, issuer and audience this node
    /// has checked, with their claims. A token is an exact string, so the
    /// same one again needs only the time checks; the signature check was a
    /// fifth of the server's time under load.
    verified: Mutex<HashMap<String, Claims>>,
}

/// The keys in force on this node, and when they were read.
struct Keys {
    ring: KeyRing,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    loaded_at: Option<DateTime<Utc>>,
}

impl Keys {
    fn new(ring: KeyRing, loaded_at: Option<DateTime<Utc>>) -> Self {
        let encoding = EncodingKey::from_ed_der(ring.signing().pkcs8());
        let decoding = ring
            .keys
            .iter()
            .map(|key| {
                (
                    key.kid().to_owned(),
                    DecodingKey::from_ed_der(key.public_key()),
                )
            })
            .collect();
        Self {
            ring,
            encoding,
            decoding,
            loaded_at,
        }
    }
}

/// Tokens remembered as verified; past this the memory starts afresh.
const VERIFIED_TOKENS: usize = 4096;

impl Tokens {
    /// Tokens issued and verified with `signing` under `config`.
    #[must_use]
    pub fn new(config: TokenConfig, signing: SigningKey) -> Self {
        Self::with_ring(config, KeyRing::single(signing), None)
    }

    /// Tokens issued with the ring's newest key and verified with any of
    /// its keys; `loaded_at` is when the ring was read (none: never re-read).
    #[must_use]
    pub fn with_ring(config: TokenConfig, ring: KeyRing, loaded_at: Option<DateTime<Utc>>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_SECS;
        // Expiry and not-before are checked in `verify` against the time
        // passed in (the server's clock), not against the library's own.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            inner: Arc::new(Inner {
                config,
                keys: RwLock::new(Arc::new(Keys::new(ring, loaded_at))),
                validation,
                verified: Mutex::default(),
            }),
        }
    }

    fn keys(&self) -> Arc<Keys> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts a ring read at `loaded_at` in force: its newest key signs from
    /// now on. Tokens already verified stay verified until they expire.
    pub fn install(&self, ring: KeyRing, loaded_at: DateTime<Utc>) {
        let keys = Arc::new(Keys::new(ring, Some(loaded_at)));
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
    }

    /// When the keys in force were read (none for keys given, not read).
    #[must_use]
    pub fn keys_loaded_at(&self) -> Option<DateTime<Utc>> {
        self.keys().loaded_at
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claims>> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A token for `client_id`, valid from `now` for the configured ttl.
    ///
    /// # Errors
    /// [`TokenError::Issue`] when the expiry overflows or signing fails.
    pub fn issue(
        &self,
        client_id: &str,
        role: Role,
        participant_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Issued, TokenError> {
        let inner = &*self.inner;
        let expires_in = inner.config.ttl.as_secs();
        let iat = now.timestamp();
        let exp = i64::try_from(expires_in)
            .ok()
            .and_then(|ttl| iat.checked_add(ttl))
            .ok_or(TokenError::Issue("expiry out of range"))?;
        let claims = Claims {
            iss: inner.config.issuer.clone(),
            aud: inner.config.audience.clone(),
            sub: client_id.to_owned(),
            role,
            participant_id,
            exp,
            iat,
            nbf: iat,
            jti: Uuid::new_v4().to_string(),
        };
        let keys = self.keys();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.ring.signing().kid().to_owned());
        let access_token = jsonwebtoken::encode(&header, &claims, &keys.encoding)
            .map_err(|_| TokenError::Issue("signing failed"))?;
        Ok(Issued {
            access_token,
            expires_in,
            claims,
        })
    }

    /// The claims of a valid token, checked against the current system time.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for anything but an `EdDSA` token with a known
    /// `kid`, a good signature, `exp`/`nbf` within [`LEEWAY_SECS`] of now,
    /// and exactly the configured issuer and audience.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let remembered = self.verified().get(token).cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.verify_whole(token)?;
                let mut verified = self.verified();
                if verified.len() >= VERIFIED_TOKENS {
                    verified.clear();
                }
                verified.insert(token.to_owned(), claims.clone());
                claims
            }
        };
        // Expiry and not-before, against the time passed in, on every request.
        let now = now.timestamp();
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
        if claims.exp < now - leeway {
            self.verified().remove(token);
            return Err(TokenError::Invalid("expired"));
        }
        if claims.nbf > now + leeway {
            return Err(TokenError::Invalid("not yet valid"));
        }
        Ok(claims)
    }

    /// [`Tokens::verify`] from scratch: header, signature and every claim.
    fn verify_whole(&self, token: &str) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid("too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("algorithm"));
        }
        let keys = self.keys();
        let decoding = match header.kid.as_deref() {
            Some(kid) => keys
                .decoding
                .get(kid)
                .ok_or(TokenError::Invalid(UNKNOWN_KID))?,
            None => return Err(TokenError::Invalid("missing kid")),
        };
        jsonwebtoken::decode::<Claims>(token, decoding, &inner.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(reason(e.kind())))
    }

    /// The published key set: `{"keys": [jwk, …]}`, every key in force,
    /// newest first.
    #[must_use]
    pub fn jwks(&self) -> Value {
        self.keys().ring.jwks()
    }

    /// The key tokens and checkpoints are signed with now.
    #[must_use]
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.keys().ring.signing().clone()
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("config", &self.inner.config)
            .field("kid", &self.signing_key().kid())
            .finish_non_exhaustive()
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "issuer",
        ErrorKind::InvalidAudience => "audience",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "algorithm",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        ErrorKind::Json(_) => "claims",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    /// The instant these tests issue and verify at.
    fn t0() -> DateTime<Utc> {
        "2026-11-30T08:00:00Z".parse().expect("time")
    }

    fn tokens() -> Tokens {
        Tokens::new(
            TokenConfig::default(),
            SigningKey::generate().expect("generate key"),
        )
    }

    fn issue_now(tokens: &Tokens) -> Issued {
        tokens
            .issue("client-1", Role::Enterprise, Some(Uuid::nil()), t0())
            .expect("issue")
    }

    fn header_with_kid(alg: Algorithm, kid: &str) -> Header {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        header
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn assert_invalid(result: &Result<Claims, TokenError>) {
        assert!(
            matches!(result, Err(TokenError::Invalid(_))),
            "expected Invalid, got {result:?}"
        );
    }

    #[test]
    fn a_remembered_token_is_still_checked_against_the_clock() {
        let tokens = tokens();
        let issued = tokens
            .issue("client-1", Role::Enterprise, Some(Uuid::nil()), t0())
            .expect("issue");
        assert!(tokens.verify(&issued.access_token, t0()).is_ok());
        assert!(tokens.verified().contains_key(&issued.access_token));
        // The clock moves past its lifetime and the leeway.
        let lifetime = TimeDelta::seconds(i64::try_from(issued.expires_in).expect("lifetime"));
        let leeway = TimeDelta::seconds(i64::try_from(LEEWAY_SECS).expect("leeway"));
        let later = t0() + lifetime + leeway + TimeDelta::seconds(1);
        assert!(matches!(
            tokens.verify(&issued.access_token, later),
            Err(TokenError::Invalid("expired"))
        ));
        assert!(!tokens.verified().contains_key(&issued.access_token));
        // A token that differs in one character is verified from scratch.
        let mut tampered = issued.access_token.clone();
        let last = tampered.pop();
        tampered.push(if last == Some('A') { 'B' } else { 'A' });
        assert_invalid(&tokens.verify(&tampered, t0()));
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let tokens = tokens();
        let participant = Uuid::new_v4();
        let now = t0();
        let issued = tokens
            .issue("client-1", Role::Enterprise, Some(participant), now)
            .expect("issue");
        assert_eq!(issued.expires_in, 900);
        let claims = tokens.verify(&issued.access_token, t0()).expect("verify");
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.sub, "client-1");
        assert_eq!(claims.role, Role::Enterprise);
        assert_eq!(claims.participant_id, Some(participant));
        assert_eq!(claims.iss, "ets-ledger");
        assert_eq!(claims.aud, "ets-ledger-api");
        assert_eq!(claims.iat, now.timestamp());
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.exp, claims.iat + 900);
        let jti = Uuid::parse_str(&claims.jti).expect("jti is a uuid");
        assert_eq!(jti.get_version_num(), 4);

        let header = jsonwebtoken::decode_header(&issued.access_token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(tokens.signing_key().kid()));
    }

    #[test]
    fn a_token_without_participant_omits_it_and_still_verifies() {
        let tokens = tokens();
        let issued = tokens
            .issue("admin-1", Role::Admin, None, t0())
            .expect("issue");
        let payload = issued.access_token.split('.').nth(1).expect("payload part");
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        assert!(payload.get("participant_id").is_none());
        assert_eq!(payload["role"], "admin");
        let claims = tokens.verify(&issued.access_token, t0()).expect("verify");
        assert_eq!(claims.participant_id, None);
    }

    #[test]
    fn a_key_round_trips_through_pkcs8_keeps_its_kid_and_still_verifies_old_tokens() {
        let key = SigningKey::generate().expect("generate");
        let kid = key.kid().to_owned();
        let der = key.pkcs8().to_vec();
        let before = Tokens::new(TokenConfig::default(), key);
        let issued = issue_now(&before);

        let restored = SigningKey::from_pkcs8(&der).expect("from pkcs8");
        assert_eq!(restored.kid(), kid);
        assert_eq!(kid.len(), 16);
        let after = Tokens::new(TokenConfig::default(), restored);
        assert_eq!(
            after.verify(&issued.access_token, t0()).expect("verify"),
            issued.claims
        );
    }

    #[test]
    fn garbage_key_material_is_a_key_error() {
        assert!(matches!(
            SigningKey::from_pkcs8(b"not a key"),
            Err(TokenError::Key(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = SigningKey::generate().expect("generate");
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid()));
        assert!(!shown.contains(&hex::encode(key.pkcs8())));
        assert!(!shown.contains("pkcs8"));
        let tokens = Tokens::new(TokenConfig::default(), key);
        assert!(!format!("{tokens:?}").contains("pkcs8"));
    }

    #[test]
    fn a_token_signed_by_another_key_under_our_kid_is_invalid() {
        let tokens = tokens();
        let claims = issue_now(&tokens).claims;
        let other = SigningKey::generate().expect("generate");
        let forged = jsonwebtoken::encode(
            &header_with_kid(Algorithm::EdDSA, tokens.signing_key().kid()),
            &claims,
            &EncodingKey::from_ed_der(other.pkcs8()),
        )
        .expect("encode");
        assert_eq!(
            tokens.verify(&forged, t0()),
            Err(TokenError::Invalid("signature"))
        );
    }

    #[test]
    fn a_token_with_a_tampered_payload_is_invalid() {
        let tokens = tokens();
        let issued = issue_now(&tokens);
        let parts: Vec<&str> = issued.access_token.split('.').collect();
        let mut claims = serde_json::to_value(&issued.claims).expect("claims");
        claims["role"] = json!("admin");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_invalid(&tokens.verify(&tampered, t0()));
    }

    #[test]
    fn an_alg_none_token_is_invalid() {
        let tokens = tokens();
        let claims = serde_json::to_value(issue_now(&tokens).claims).expect("claims");
        let header = json!({"alg": "none", "typ": "JWT", "kid": tokens.signing_key().kid()});
        let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
        assert_invalid(&tokens.verify(&unsigned, t0()));
        // Even with the real signature glued on.
        let real = issue_now(&tokens).access_token;
        let signature = real.rsplit('.').next().expect("signature");
        assert_invalid(&tokens.verify(&format!("{unsigned}{signature}"), t0()));
    }

    #[test]
    fn an_hs256_token_signed_with_the_public_key_bytes_is_invalid() {
        let tokens = tokens();
        let claims = issue_now(&tokens).claims;
        let key = tokens.signing_key();
        let kid = key.kid();
        for secret in [
            tokens.signing_key().public_key().to_vec(),
            URL_SAFE_NO_PAD
                .encode(tokens.signing_key().public_key())
                .into_bytes(),
        ] {
            let confused = jsonwebtoken::encode(
                &header_with_kid(Algorithm::HS256, kid),
                &claims,
                &EncodingKey::from_secret(&secret),
            )
            .expect("encode");
            assert_eq!(
                tokens.verify(&confused, t0()),
                Err(TokenError::Invalid("algorithm"))
            );
        }
    }

    #[test]
    fn an_rs256_header_on_an_eddsa_signature_is_invalid() {
        let tokens = tokens();
        let issued = issue_now(&tokens);
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": tokens.signing_key().kid()});
        let mut parts = issued.access_token.splitn(2, '.');
        let _ = parts.next();
        let rest = parts.next().expect("rest");
        assert_invalid(&tokens.verify(&format!("{}.{rest}", b64(&header)), t0()));
    }

    #[test]
    fn an_expired_token_is_invalid() {
        let tokens = tokens();
        let issued = tokens
            .issue("client-1", Role::Finance, None, t0() - TimeDelta::hours(1))
            .expect("issue");
        assert_eq!(
            tokens.verify(&issued.access_token, t0()),
            Err(TokenError::Invalid("expired"))
        );
    }

    #[test]
    fn a_token_not_yet_valid_is_invalid() {
        let tokens = tokens();
        let issued = tokens
            .issue("client-1", Role::Finance, None, t0() + TimeDelta::hours(1))
            .expect("issue");
        assert_eq!(
            tokens.verify(&issued.access_token, t0()),
            Err(TokenError::Invalid("not yet valid"))
        );
    }

    #[test]
    fn a_token_within_the_leeway_is_still_valid() {
        let tokens = tokens();
        let issued = tokens
            .issue(
                "client-1",
                Role::Finance,
                None,
                t0() + TimeDelta::seconds(2),
            )
            .expect("issue");
        assert!(tokens.verify(&issued.access_token, t0()).is_ok());
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_invalid() {
        let der = SigningKey::generate().expect("generate").pkcs8().to_vec();
        let ours = Tokens::new(
            TokenConfig::default(),
            SigningKey::from_pkcs8(&der).expect("key"),
        );
        let other_audience = Tokens::new(
            TokenConfig {
                audience: "someone-else".to_owned(),
                ..TokenConfig::default()
            },
            SigningKey::from_pkcs8(&der).expect("key"),
        );
        let other_issuer = Tokens::new(
            TokenConfig {
                issuer: "someone-else".to_owned(),
                ..TokenConfig::default()
            },
            SigningKey::from_pkcs8(&der).expect("key"),
        );
        assert_eq!(
            ours.verify(&issue_now(&other_audience).access_token, t0()),
            Err(TokenError::Invalid("audience"))
        );
        assert_eq!(
            ours.verify(&issue_now(&other_issuer).access_token, t0()),
            Err(TokenError::Invalid("issuer"))
        );
    }

    #[test]
    fn a_token_with_an_unknown_or_missing_kid_is_invalid() {
        let tokens = tokens();
        let claims = issue_now(&tokens).claims;
        let encoding = EncodingKey::from_ed_der(tokens.signing_key().pkcs8());
        let unknown = jsonwebtoken::encode(
            &header_with_kid(Algorithm::EdDSA, "0123456789abcdef"),
            &claims,
            &encoding,
        )
        .expect("encode");
        assert_eq!(
            tokens.verify(&unknown, t0()),
            Err(TokenError::Invalid("unknown kid"))
        );
        let missing = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &encoding)
            .expect("encode");
        assert_eq!(
            tokens.verify(&missing, t0()),
            Err(TokenError::Invalid("missing kid"))
        );
    }

    #[test]
    fn a_token_missing_a_required_claim_is_invalid() {
        let tokens = tokens();
        let encoding = EncodingKey::from_ed_der(tokens.signing_key().pkcs8());
        let header = header_with_kid(Algorithm::EdDSA, tokens.signing_key().kid());
        let full = serde_json::to_value(issue_now(&tokens).claims).expect("claims");
        for claim in ["exp", "nbf", "iat", "iss", "aud", "sub", "role", "jti"] {
            let mut partial = full.clone();
            partial.as_object_mut().expect("object").remove(claim);
            let token = jsonwebtoken::encode(&header, &partial, &encoding).expect("encode");
            assert_invalid(&tokens.verify(&token, t0()));
        }
    }

    #[test]
    fn garbage_is_invalid() {
        let tokens = tokens();
        for garbage in [
            "",
            "garbage",
            "a.b.c",
            "a.b.c.d",
            "..",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_invalid(&tokens.verify(garbage, t0()));
        }
    }

    #[test]
    fn the_jwks_has_one_okp_key_with_the_kid() {
        let tokens = tokens();
        let jwks = tokens.jwks();
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], tokens.signing_key().kid());
        let x = URL_SAFE_NO_PAD
            .decode(key["x"].as_str().expect("x"))
            .expect("x is base64url");
        assert_eq!(x, tokens.signing_key().public_key());
        assert_eq!(x.len(), 32);
        assert!(key.get("d").is_none());
    }

    #[test]
    fn sign_produces_a_signature_ring_accepts_for_that_message_only() {
        let key = SigningKey::generate().expect("generate");
        let message = checkpoint_message(42, "abcdef");
        assert_eq!(message, "ets-ledger checkpoint 42 abcdef");
        let signature = key.sign(message.as_bytes());
        let raw = URL_SAFE_NO_PAD.decode(&signature).expect("base64url");
        let public = UnparsedPublicKey::new(&ED25519, key.public_key());
        assert!(public.verify(message.as_bytes(), &raw).is_ok());
        assert!(
            public
                .verify(b"ets-ledger checkpoint 43 abcdef", &raw)
                .is_err()
        );

        assert!(verify_signature(key.public_key(), message.as_bytes(), &signature).is_ok());
        assert!(verify_signature(key.public_key(), b"other", &signature).is_err());
        assert!(verify_signature(key.public_key(), message.as_bytes(), "!!").is_err());
    }
}
