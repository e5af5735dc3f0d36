//! Accounts: who holds how much of which instrument.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::InstrumentCode;

/// The ledger's own accounts, one of each per instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemAccount {
    /// The source of issued supply; its balance is minus everything issued.
    Issuance,
    /// The government reserve: reclaimed rights, auction offerings.
    Reserve,
    /// Sink of rights surrendered for compliance.
    Surrendered,
    /// Sink of retired or cancelled rights.
    Retired,
    /// Commissions and paid-use fees collected.
    FeeIncome,
    /// Proceeds of auctions.
    AuctionProceeds,
    /// The settlement bank's side of deposits and withdrawals; its balance is
    /// minus all cash inside the ledger.
    ExternalCash,
}

impl SystemAccount {
    /// Every system account, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::Issuance,
        Self::Reserve,
        Self::Surrendered,
        Self::Retired,
        Self::FeeIncome,
        Self::AuctionProceeds,
        Self::ExternalCash,
    ];

    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuance => "issuance",
            Self::Reserve => "reserve",
            Self::Surrendered => "surrendered",
            Self::Retired => "retired",
            Self::FeeIncome => "fee_income",
            Self::AuctionProceeds => "auction_proceeds",
            Self::ExternalCash => "external_cash",
        }
    }

    /// Source accounts may go below zero: their negative balance is what
    /// entered the ledger through them. Every other account stays ≥ 0.
    #[must_use]
    pub fn is_source(self) -> bool {
        matches!(self, Self::Issuance | Self::ExternalCash)
    }
}

/// Whose account it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// A system account.
    System(SystemAccount),
    /// A participant's holding or cash account.
    Participant(Uuid),
}

impl Owner {
    /// Whether the owner's account may go below zero (issuance, external cash).
    #[must_use]
    pub fn is_source(self) -> bool {
        matches!(self, Self::System(s) if s.is_source())
    }

    /// The owner as stored: the participant's UUID, or `system:NAME`.
    #[must_use]
    pub fn storage_key(&self) -> String {
        match self {
            Self::Participant(id) => id.to_string(),
            Self::System(s) => format!("system:{}", s.as_str()),
        }
    }

    /// Parses [`Owner::storage_key`] output.
    #[must_use]
    pub fn from_storage_key(text: &str) -> Option<Self> {
        if let Some(name) = text.strip_prefix("system:") {
            SystemAccount::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .map(Self::System)
        } else {
            Uuid::parse_str(text).ok().map(Self::Participant)
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.storage_key())
    }
}

/// An account is named by its owner and instrument: each owner has at most one
/// account per instrument. Keys sort in the order accounts are locked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountKey {
    /// Whose account.
    pub owner: Owner,
    /// Of which instrument.
    pub instrument: InstrumentCode,
}

impl AccountKey {
    /// The account of `owner` in `instrument`.
    #[must_use]
    pub fn new(owner: Owner, instrument: InstrumentCode) -> Self {
        Self { owner, instrument }
    }
}

/// An account's state. Changed only by postings, each of which bumps `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's name.
    pub key: AccountKey,
    /// Sum of all postings' amounts.
    pub balance: Decimal,
    /// Sum of open holds' remaining quantities.
    pub held: Decimal,
    /// Number of postings applied so far.
    pub version: i64,
}

impl Account {
    /// A new, empty account.
    #[must_use]
    pub fn empty(key: AccountKey) -> Self {
        Self {
            key,
            balance: Decimal::ZERO,
            held: Decimal::ZERO,
            version: 0,
        }
    }

    /// What may still be moved or held: balance − held.
    #[must_use]
    pub fn available(&self) -> Decimal {
        self.balance - self.held
    }
}
