//! What the store answers to reads.

use ets_core::{AccountKey, InstrumentCode, Role};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One row of a participant's holdings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// The instrument's code (`CNY` for cash).
    pub instrument: InstrumentCode,
    /// Sum of postings.
    pub balance: Decimal,
    /// Under open holds.
    pub held: Decimal,
    /// balance − held.
    pub available: Decimal,
}

/// An account's state at some instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Which account.
    pub key: AccountKey,
    /// Sum of postings.
    pub balance: Decimal,
    /// Under open holds.
    pub held: Decimal,
    /// Postings applied.
    pub version: i64,
}

/// A stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Public id.
    pub client_id: String,
    /// Human name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Bound participant of an enterprise credential.
    pub participant_id: Option<Uuid>,
    /// argon2id PHC string.
    pub secret_hash: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// Holdings always list CNY (zero when the participant never had cash), sorted
/// by instrument code.
pub(crate) fn with_cny(mut holdings: Vec<Holding>) -> Vec<Holding> {
    if !holdings
        .iter()
        .any(|h| h.instrument.as_str() == ets_core::instrument::CNY)
    {
        holdings.push(Holding {
            instrument: InstrumentCode::cny(),
            balance: Decimal::ZERO,
            held: Decimal::ZERO,
            available: Decimal::ZERO,
        });
    }
    holdings.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    holdings
}
