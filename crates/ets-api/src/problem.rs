//! RFC 9457 problem details: every error the API answers, with a stable
//! snake_case `code`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: `application/problem+json` with `type`, `title`,
/// `status`, `detail` and `code`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    code: &'static str,
    /// Seconds to wait before retrying (`Retry-After`), if the answer says.
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The human-readable detail.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// A problem with this status, code and human-readable detail.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://ets-ledger.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            retry_after: None,
        }
    }

    /// The same problem telling the client to retry after `seconds`.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

impl Problem {
    /// 401: no valid token.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid bearer token is required.",
        )
    }

    /// 403: the caller's role may not do this.
    #[must_use]
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role may not do this.",
        )
    }

    /// 404: no such object (or not the caller's to see).
    #[must_use]
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        )
    }

    /// 413: a body over [`crate::MAX_BODY_BYTES`].
    #[must_use]
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is larger than 1 MiB.",
        )
    }

    /// 400: a body broken off before its end.
    #[must_use]
    pub fn unreadable_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "The body could not be read.",
        )
    }

    /// 503 `commit_unconfirmed`: a write may or may not have been applied;
    /// `cause` says who did not answer.
    #[must_use]
    pub fn commit_unconfirmed(cause: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "commit_unconfirmed",
            format!(
                "{cause} Retry with the same Idempotency-Key; without one, read the result \
                 before sending it again."
            ),
        )
    }

    /// 422 with a code and detail about the request.
    #[must_use]
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 500: logged with its cause; the client learns nothing of it.
    #[must_use]
    pub fn internal(error: &dyn std::error::Error) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The server failed; the request changed nothing. It is logged with this request's id.",
        )
    }
}

impl From<ets_core::LedgerError> for Problem {
    fn from(error: ets_core::LedgerError) -> Self {
        Self::unprocessable(error.code(), error.to_string())
    }
}

impl From<ets_engine::CommandError> for Problem {
    fn from(error: ets_engine::CommandError) -> Self {
        use ets_engine::CommandError as E;
        // Another participant's object is answered as if it did not exist.
        match error {
            E::UnknownOrder => return Self::not_found("order"),
            E::UnknownProposal => return Self::not_found("negotiated trade"),
            E::UnknownAuction => return Self::not_found("auction"),
            E::UnknownPledge => return Self::not_found("pledge"),
            E::UnknownInvoice => return Self::not_found("invoice"),
            _ => {}
        }
        let status = match &error {
            E::DuplicateCreditCode
            | E::DuplicateParticipant
            | E::DuplicateInstrument
            | E::DuplicateCredential => StatusCode::CONFLICT,
            E::UnknownCredential => StatusCode::NOT_FOUND,
            E::OrderNotOpen
            | E::ProposalNotOpen
            | E::ProposalExpired
            | E::AuctionClosed
            | E::PledgeReleased => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, error.code(), error.to_string())
    }
}

impl From<ets_store::StoreError> for Problem {
    fn from(error: ets_store::StoreError) -> Self {
        match error {
            ets_store::StoreError::Command(reason) => reason.into(),
            ets_store::StoreError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "The server is shutting down; retry on another node.",
            ),
            ets_store::StoreError::Overloaded => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "The node's write queue stayed full; retry in a second.",
            )
            .with_retry_after(1),
            ets_store::StoreError::Unconfirmed => Self::commit_unconfirmed(
                "The database did not confirm whether this request was committed.",
            ),
            other => Self::internal(&other),
        }
    }
}
