//! What the store answers to reads.

use chrono::{DateTime, Utc};
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

/// Renders holdings at their instruments' scales (`scale` per row, `None`
/// for CNY or an unknown instrument, which get 2), lists CNY always (zero when
/// the participant never had cash), and sorts by instrument code.
pub(crate) fn finish_holdings(rows: Vec<(Holding, Option<u32>)>) -> Vec<Holding> {
    let mut holdings: Vec<Holding> = rows
        .into_iter()
        .map(|(mut h, scale)| {
            let scale = scale.unwrap_or(2);
            for value in [&mut h.balance, &mut h.held, &mut h.available] {
                value.rescale(scale);
            }
            h
        })
        .collect();
    if !holdings
        .iter()
        .any(|h| h.instrument.as_str() == ets_core::instrument::CNY)
    {
        holdings.push(Holding {
            instrument: InstrumentCode::cny(),
            balance: Decimal::new(0, 2),
            held: Decimal::new(0, 2),
            available: Decimal::new(0, 2),
        });
    }
    holdings.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    holdings
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

/// A credential as a list shows it: never its secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialListing {
    /// Public id.
    pub client_id: String,
    /// Human name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Bound participant of an enterprise credential.
    pub participant_id: Option<Uuid>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A stored signing key (secret: the PKCS#8 document is the private key).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// 1 for the first key, one more for each rotation; the greatest signs.
    pub generation: i64,
    /// Its id in JWT headers, checkpoints and the JWKS.
    pub kid: String,
    /// The Ed25519 private key as PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// When it was installed.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("generation", &self.generation)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// One balance movement in a participant's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// When it was committed.
    pub at: DateTime<Utc>,
    /// The ledger transaction's kind (`allocation.created`, `cash.deposit`, …).
    pub kind: String,
    /// Which instrument.
    pub instrument: InstrumentCode,
    /// Signed change of the balance.
    pub quantity: Decimal,
    /// Balance after it.
    pub balance_after: Decimal,
    /// The transaction's reference, or its id when it has none.
    pub reference: String,
    /// The account's version after it (with `at` and `instrument`, the cursor).
    pub version: i64,
}

/// Where a page of history ends: the last item's `(at, instrument, version)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// The last item's time.
    pub at: DateTime<Utc>,
    /// The last item's instrument.
    pub instrument: String,
    /// The last item's account version.
    pub version: i64,
}

/// Which orders to list, oldest first (ids are time-ordered UUIDv7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this participant's.
    pub participant: Option<Uuid>,
    /// Only this instrument's.
    pub instrument: Option<InstrumentCode>,
    /// Only in this status (`open`, `partially_filled`, `filled`, `cancelled`).
    pub status: Option<String>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Which negotiated trades to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProposalFilter {
    /// Only those this participant sells or is offered.
    pub participant: Option<Uuid>,
    /// Only in this status.
    pub status: Option<String>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Which trades to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeFilter {
    /// Only trades this participant bought or sold in.
    pub participant: Option<Uuid>,
    /// Only this instrument's.
    pub instrument: Option<InstrumentCode>,
    /// Only this method (`order_book`, `negotiated`, `auction`).
    pub method: Option<String>,
    /// Executed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Executed before.
    pub to: Option<DateTime<Utc>>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// One price level of the book: the open quantity of all orders at a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookLevel {
    /// The price.
    pub price: Decimal,
    /// Σ open quantity at it.
    pub quantity: Decimal,
}

/// The aggregated, anonymous book of one instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// Buy levels, best (highest) first.
    pub bids: Vec<BookLevel>,
    /// Sell levels, best (lowest) first.
    pub asks: Vec<BookLevel>,
}

impl Book {
    /// Builds the book from (side, price, open quantity) rows of resting
    /// orders: levels summed, best first, at most `depth` per side.
    pub(crate) fn from_orders(
        rows: impl IntoIterator<Item = (ets_core::matching::Side, Decimal, Decimal)>,
        depth: usize,
    ) -> Self {
        use std::collections::BTreeMap;
        let mut bids: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let mut asks: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        for (side, price, quantity) in rows {
            let levels = match side {
                ets_core::matching::Side::Buy => &mut bids,
                ets_core::matching::Side::Sell => &mut asks,
            };
            *levels.entry(price.normalize()).or_default() += quantity;
        }
        let level = |(price, quantity): (Decimal, Decimal)| BookLevel { price, quantity };
        Self {
            bids: bids.into_iter().rev().take(depth).map(level).collect(),
            asks: asks.into_iter().take(depth).map(level).collect(),
        }
    }
}

impl From<AccountState> for ets_core::Account {
    fn from(state: AccountState) -> Self {
        Self {
            key: state.key,
            balance: state.balance,
            held: state.held,
            version: state.version,
        }
    }
}

/// Which invoices to list, oldest first (by id: ids are UUIDv7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    /// Only this participant's.
    pub participant: Option<Uuid>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

/// Which of the registry's records (allocations, reclamations, pledges) to
/// list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryFilter {
    /// Only this participant's.
    pub participant: Option<Uuid>,
    /// Only this instrument's.
    pub instrument: Option<InstrumentCode>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}
