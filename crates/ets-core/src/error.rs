//! The core's named reasons for refusing a command.

use thiserror::Error;

/// Why the ledger refused a command. Each reason has a stable snake_case
/// [`code`](LedgerError::code) that the HTTP layer puts in problem+json.
///
/// When several reasons apply, the first in this order is reported: the shape
/// of the input (codes, quantities, scale), then the objects it names
/// (instrument, hold), then the state they are in (hold open, balances).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// The unified social credit code is malformed or its check character is wrong.
    #[error("the unified social credit code is not valid (GB 32100)")]
    InvalidCreditCode,
    /// The region code is not six digits with a non-zero province.
    #[error("the region code must be a 6-digit administrative division code")]
    InvalidRegionCode,
    /// A price is zero, negative, above 10^9 or has more than 6 decimals.
    #[error(
        "the price must be greater than zero, at most 1000000000, in whole fen (at most 2 decimals)"
    )]
    InvalidPrice,
    /// A unit fee or a paid-use period is out of range.
    #[error("the unit fee must be ≥ 0 with at most 6 decimals, and years 1 to 50")]
    InvalidFee,
    /// A name is blank or too long.
    #[error("the name must be 1-200 characters (industry at most 100)")]
    InvalidName,
    /// A role other than admin, enterprise, regulator or finance.
    #[error("the role must be admin, enterprise, regulator or finance")]
    InvalidRole,
    /// The instrument code has characters other than A–Z, 0–9, `-`, `_`, `.`.
    #[error("the instrument code must be 1-40 upper-case letters, digits, '-', '_' or '.'")]
    InvalidInstrumentCode,
    /// The instrument definition is inconsistent (kind, scale, validity, vintage).
    #[error("the instrument definition is not valid: {0}")]
    InvalidInstrument(&'static str),
    /// A quantity or amount is zero or negative.
    #[error("the quantity must be greater than zero")]
    QuantityMustBePositive,
    /// A quantity is beyond what the ledger counts (more than 10^15).
    #[error("the quantity is too large")]
    QuantityTooLarge,
    /// A quantity has more decimal places than its instrument allows.
    #[error("the quantity has more decimal places than the instrument's scale of {scale}")]
    ScaleExceeded {
        /// The instrument's scale.
        scale: u32,
    },
    /// The instrument does not exist.
    #[error("no such instrument")]
    UnknownInstrument,
    /// The account cannot exist: issuance of cash, or the settlement bank's
    /// side of anything but cash.
    #[error("no such account: issuance issues no cash and the bank side holds only cash")]
    InvalidAccount,
    /// Debit and credit name the same account.
    #[error("a transfer needs two different accounts")]
    SameAccount,
    /// The hold does not exist.
    #[error("no such hold")]
    HoldNotFound,
    /// The hold was already released or fully consumed.
    #[error("the hold was already resolved")]
    HoldNotOpen,
    /// More was asked of a hold than it still holds.
    #[error("the hold does not cover the quantity")]
    HoldExceeded,
    /// A hold with this id already exists.
    #[error("a hold with this id already exists")]
    HoldExists,
    /// The account's available amount (balance − held) is smaller than asked.
    #[error("the available balance is insufficient")]
    InsufficientAvailableBalance,
    /// A pollutant right trades only between participants inside its region.
    #[error("the participant is outside the instrument's region")]
    RegionMismatch,
    /// The instrument cannot be traded: cash, or a pollutant right outside
    /// its validity period.
    #[error("the instrument is not tradable now")]
    InstrumentNotTradable,
    /// The price is outside the band around the previous business day's VWAP.
    #[error("the price is outside the instrument's price band")]
    PriceOutOfBand,
    /// The order's value at its price is below one fen.
    #[error("the order's value (quantity × price) must be at least 0.01 CNY")]
    ValueTooSmall,
}

impl LedgerError {
    /// The stable snake_case code of this reason.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCreditCode => "invalid_credit_code",
            Self::InvalidRegionCode => "invalid_region_code",
            Self::InvalidPrice => "invalid_price",
            Self::InvalidFee => "invalid_fee",
            Self::InvalidName => "invalid_name",
            Self::InvalidRole => "invalid_role",
            Self::InvalidInstrumentCode => "invalid_instrument_code",
            Self::InvalidInstrument(_) => "invalid_instrument",
            Self::QuantityMustBePositive => "quantity_must_be_positive",
            Self::QuantityTooLarge => "quantity_too_large",
            Self::ScaleExceeded { .. } => "scale_exceeded",
            Self::UnknownInstrument => "unknown_instrument",
            Self::InvalidAccount => "invalid_account",
            Self::SameAccount => "same_account",
            Self::HoldNotFound => "hold_not_found",
            Self::HoldNotOpen => "hold_not_open",
            Self::HoldExceeded => "hold_exceeded",
            Self::HoldExists => "hold_exists",
            Self::InsufficientAvailableBalance => "insufficient_available_balance",
            Self::RegionMismatch => "region_mismatch",
            Self::InstrumentNotTradable => "instrument_not_tradable",
            Self::PriceOutOfBand => "price_out_of_band",
            Self::ValueTooSmall => "value_too_small",
        }
    }
}
