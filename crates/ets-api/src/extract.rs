//! Extractors: the caller behind a bearer token, JSON bodies and query
//! strings whose every failure becomes a problem+json answer, and
//! [`Creating`], everything a creating request brings in one extractor.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ets_core::Role;
use ets_engine::IdempotencyKey;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppState;
use crate::dto::{INVALID_DECIMAL, SCALE_EXCEEDED};
use crate::problem::Problem;
use crate::token::{TokenError, UNKNOWN_KID};

/// Who is calling: verified from the bearer token, credential not revoked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The credential's client id.
    pub client_id: String,
    /// Its role.
    pub role: Role,
    /// The participant of an enterprise credential.
    pub participant_id: Option<Uuid>,
}

impl Caller {
    /// The journal's actor for this caller.
    #[must_use]
    pub fn actor(&self) -> ets_core::Actor {
        ets_core::Actor {
            client_id: self.client_id.clone(),
            role: self.role.as_str().to_owned(),
        }
    }

    /// 403 unless the caller has one of these roles.
    ///
    /// # Errors
    /// `forbidden`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }

    /// Whether the caller may see this participant's own data: staff roles
    /// see every participant, an enterprise only its own. Another
    /// participant's object is answered 404, as if it did not exist.
    ///
    /// # Errors
    /// `not_found` for an enterprise reaching another participant.
    pub fn may_see(&self, participant: Uuid, what: &str) -> Result<(), Problem> {
        match self.role {
            Role::Enterprise if self.participant_id != Some(participant) => {
                Err(Problem::not_found(what))
            }
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(Problem::unauthorized)?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(Problem::unauthorized)?;
        crate::auth::refresh_keys(state, false).await;
        let mut verified = state.tokens.verify(token, state.store.now());
        if verified == Err(TokenError::Invalid(UNKNOWN_KID)) {
            // Another node may have rotated the keys since this one read them.
            crate::auth::refresh_keys(state, true).await;
            verified = state.tokens.verify(token, state.store.now());
        }
        let claims = verified.map_err(|error| {
            tracing::info!(reason = %error, "token refused");
            Problem::unauthorized()
        })?;
        if !state
            .credentials
            .is_active(&state.store, &claims.sub)
            .await?
        {
            tracing::info!(client_id = %claims.sub, "token of a revoked or unknown credential");
            return Err(Problem::unauthorized());
        }
        Ok(Self {
            client_id: claims.sub,
            role: claims.role,
            participant_id: claims.participant_id,
        })
    }
}

/// A JSON body: malformed JSON is 400 `malformed_json`; a body of the wrong
/// shape (unknown or missing fields, wrong types) is 422 `invalid_body`; a
/// JSON number where a decimal string belongs is 422 `invalid_decimal`; over
/// the size limit is 413. Keeps the raw bytes for the idempotency fingerprint.
#[derive(Debug)]
pub struct Body<T> {
    /// The parsed body.
    pub value: T,
    /// The bytes as received.
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as application/json.",
            ));
        }
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::payload_too_large()
                } else {
                    Problem::unreadable_body()
                }
            })?;
        let value = serde_json::from_slice(&raw).map_err(|error| {
            use serde_json::error::Category;
            let message = error.to_string();
            match error.classify() {
                Category::Syntax | Category::Eof | Category::Io => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("The body is not JSON: {message}"),
                ),
                Category::Data if message.contains(INVALID_DECIMAL) => Problem::unprocessable(
                    "invalid_decimal",
                    message.replace(INVALID_DECIMAL, "").trim().to_owned(),
                ),
                Category::Data if message.contains(SCALE_EXCEEDED) => Problem::unprocessable(
                    "scale_exceeded",
                    message.replace(SCALE_EXCEEDED, "").trim().to_owned(),
                ),
                Category::Data => Problem::unprocessable("invalid_body", message),
            }
        })?;
        if crate::text::json_has_forbidden(&raw) {
            return Err(crate::text::invalid_text("body"));
        }
        Ok(Self { value, raw })
    }
}

/// Whether a `Content-Type` is JSON: `application/json`, or a `+json` type
/// of `application/`, with any parameters (`; charset=utf-8`), in any case.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.len() > "+json".len() && subtype.ends_with("+json"))
}

/// A creating request (a POST that submits one command): the caller, its
/// `Idempotency-Key` with the request's fingerprint, whatever `P` takes from
/// the path (nothing by default), and the parsed body.
///
/// The parts are taken in the order the handlers took them one by one, so
/// that when several are wrong the same problem answers: the caller (401),
/// the key (422 `invalid_idempotency_key`), the path, then the body (415,
/// 413, 400 `malformed_json`, 422 `invalid_body`/`invalid_decimal`). The
/// role is the handler's to check, after all of these.
#[derive(Debug)]
pub struct Creating<T, P = ()> {
    /// Who is calling.
    pub caller: Caller,
    /// The `Idempotency-Key`, scoped to the caller's client id, with the
    /// fingerprint of method, path and raw body.
    pub key: Option<IdempotencyKey>,
    /// What `P` extracted from the path.
    pub path: P,
    /// The parsed body.
    pub body: T,
}

impl<T, P> FromRequest<AppState> for Creating<T, P>
where
    T: DeserializeOwned,
    P: FromRequestParts<AppState> + Send,
    P::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let IdempotencyHeader(key) = IdempotencyHeader::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = P::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let method = parts.method.clone();
        let uri = parts.uri.clone();
        let Body { value, raw } = Body::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let key = key.map(|key| IdempotencyKey {
            scope: caller.client_id.clone(),
            fingerprint: fingerprint(method.as_str(), uri.path(), &raw),
            key,
        });
        Ok(Self {
            caller,
            key,
            path,
            body: value,
        })
    }
}

/// Query parameters; any that do not parse are 422 `invalid_query`.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| Problem::unprocessable("invalid_query", rejection.body_text()))
    }
}

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone)]
pub struct IdempotencyHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Problem::unprocessable(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-255 visible ASCII characters.",
                )
            })?;
        Ok(Self(Some(key.to_owned())))
    }
}

/// SHA-256 of what makes two requests "the same": method, path and body.
#[must_use]
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// The client's address, when the server was started with connection info:
/// the peer's, or, when the peer is a trusted proxy
/// ([`AppState::trusted_proxies`]), the one it forwarded
/// ([`client_address`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        Ok(Self(peer.map(|peer| {
            client_address(peer, &forwarded, &state.trusted_proxies)
        })))
    }
}

/// The address a request comes from: the peer's, unless the peer is one of
/// the `trusted` proxies; then the right-most address of `X-Forwarded-For`
/// (its headers in order, each a comma-separated list) that is not a trusted
/// proxy itself. An address a client wrote further left is never believed,
/// and a peer that is not trusted cannot name another address at all.
#[must_use]
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded: &[&str],
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.iter().rev().flat_map(|header| header.rsplit(',')) {
        let Ok(address) = hop.trim().parse::<std::net::IpAddr>() else {
            // An address we cannot read ends what we may believe.
            return client;
        };
        client = address;
        if !trusted.contains(&address) {
            return address;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::client_address;

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn only_a_trusted_peer_names_the_client_and_only_the_right_most_hop_counts() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // Not trusted: its header is nobody's word.
        assert_eq!(
            client_address(ip("192.0.2.1"), &["203.0.113.7"], &trusted),
            ip("192.0.2.1")
        );
        // Trusted: the right-most address that is not a proxy of ours.
        assert_eq!(
            client_address(proxy, &["203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(proxy, &["198.51.100.1, 203.0.113.7, 10.0.0.2"], &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(proxy, &["198.51.100.1", "203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        // No header, or one we cannot read: the last address we could.
        assert_eq!(client_address(proxy, &[], &trusted), proxy);
        assert_eq!(
            client_address(proxy, &["junk, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(proxy, &["2001:db8::1"], &trusted),
            ip("2001:db8::1")
        );
    }
}
