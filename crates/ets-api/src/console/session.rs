//! Who is at the console: the `ets_session` cookie names a session kept in
//! the database under the cookie's SHA-256 (the cookie itself is never
//! stored), open while [`ets_engine::people::session_open`] says so by the
//! store's clock. Forms carry a CSRF token derived from the cookie, which a
//! page of another site can neither read (HttpOnly) nor compute.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use ets_core::Role;
use sha2::{Digest, Sha256};

use super::lang::Lang;
use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "ets_session";
/// The language cookie's name.
pub(crate) const LANG_COOKIE: &str = "ets_lang";

/// A person with an open session, and the page's language.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) login: String,
    pub(crate) name: String,
    pub(crate) role: Role,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    /// The SHA-256 of the cookie, as the session is stored.
    pub(crate) token_hash: String,
    pub(crate) lang: Lang,
}

impl Person {
    /// The person as the API's handlers see a caller: the journal's actor
    /// is `person:LOGIN` with their role (SPEC §9).
    pub(crate) fn caller(&self) -> crate::extract::Caller {
        crate::extract::Caller {
            client_id: format!("person:{}", self.login),
            role: self.role,
            participant_id: None,
        }
    }
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The page's language: `?lang=` first, then the cookie, then Chinese.
pub(crate) fn language(parts: &Parts) -> Lang {
    let asked = parts.uri.query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "lang")
            .and_then(|(_, value)| Lang::parse(value))
    });
    asked
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or(Lang::Zh)
}

/// The `Set-Cookie` that remembers the language chosen by `?lang=`, if one was.
pub(crate) fn remember_language(parts_query: Option<&str>) -> Option<String> {
    let lang = parts_query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "lang")
        .and_then(|(_, value)| Lang::parse(value))?;
    Some(format!(
        "{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000",
        lang.key()
    ))
}

/// Hex SHA-256 of a session cookie, as stored.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of the session whose cookie is `token`.
pub(crate) fn csrf_of(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ets-ledger console csrf\n");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether the request came over TLS to a trusted proxy in front of us:
/// then the session cookie is `Secure`.
pub(crate) fn over_tls(parts: &Parts, state: &AppState) -> bool {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    peer.is_some_and(|peer| state.trusted_proxies.contains(&peer))
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// No open session: to the login page.
#[derive(Debug)]
pub(crate) struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/console/login").into_response()
    }
}

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let lang = language(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(SignInFirst.into_response());
        };
        let hash = token_hash(token);
        let store = &state.store;
        let session = store
            .console_session(&hash)
            .await
            .map_err(|error| crate::problem::Problem::from(error).into_response())?;
        let now = store.now();
        let Some(session) = session.filter(|s| {
            !s.ended && ets_engine::people::session_open(s.created_at, s.last_seen_at, now)
        }) else {
            return Err(SignInFirst.into_response());
        };
        store
            .touch_session(&hash, now)
            .await
            .map_err(|error| crate::problem::Problem::from(error).into_response())?;
        Ok(Self {
            login: session.login,
            name: session.name,
            role: session.role,
            csrf: csrf_of(token),
            token_hash: hash,
            lang,
        })
    }
}
