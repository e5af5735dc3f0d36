//! Paid-use invoices as of a business date: the late surcharge, how a
//! payment splits between surcharge and principal, the status, and the
//! schedule of published unit fees (SPEC §1 and §5).
//!
//! Pure: no I/O and no clock. The caller passes the invoice's terms, the
//! payments committed so far and the business date to look from, so the same
//! rules answer "what is owed now", "what was owed then" and "what will be
//! owed if nothing more is paid" alike, and can be property-tested.
//!
//! The surcharge is simple interest: for each calendar date after the due
//! date up to and including the date looked from, the principal outstanding
//! at the start of that date × the invoice's daily rate. A payment counts on
//! its business date and lowers the base from the next date. The total is
//! rounded half-up to the fen once, at the end, and never exceeds the
//! invoice's amount (Administrative Coercion Law, art. 45).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use ets_core::fees::round_money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The default daily surcharge rate: 0.05 % of the overdue principal a day.
pub const DEFAULT_DAILY_SURCHARGE_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);

/// The default period a paid allocation pays for, in years.
pub const DEFAULT_PAID_USE_YEARS: u32 = 5;

/// The most decimal places a payment may have: whole fen.
const MONEY_SCALE: u32 = 2;

/// The most decimal places a daily rate may have.
const RATE_SCALE: u32 = 6;

/// The most decimal places a unit fee may have (as `ets_core::fees`).
const FEE_SCALE: u32 = 6;

/// What an invoice is created with (fixed at creation).
///
/// `amount` is ≥ 0 in whole fen; `daily_rate` is in [0, 1] with at most 6
/// decimal places. [`figures_as_of`] relies on both (checked in debug builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceTerms {
    /// The amount invoiced, CNY.
    pub amount: Decimal,
    /// The last date on which payment is on time; the surcharge runs from the
    /// next date.
    pub due_date: NaiveDate,
    /// The surcharge per day, as a fraction of the principal outstanding.
    pub daily_rate: Decimal,
}

/// One payment as committed: the business date it counts on, and how it was
/// split (by [`split_payment`], as of that date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoicePayment {
    /// The business date of the payment's commit.
    pub business_date: NaiveDate,
    /// The part that settled accrued surcharge, CNY.
    pub surcharge: Decimal,
    /// The part that settled principal, CNY.
    pub principal: Decimal,
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Not yet due, nothing paid.
    Open,
    /// Not yet due, something paid.
    PartiallyPaid,
    /// Principal and surcharge fully paid.
    Paid,
    /// Past its due date with principal outstanding, even when partly paid.
    Overdue,
    /// Cancelled by the authority (never produced by [`figures_as_of`]).
    Cancelled,
}

impl InvoiceStatus {
    /// The snake_case name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::PartiallyPaid => "partially_paid",
            Self::Paid => "paid",
            Self::Overdue => "overdue",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A status name that is none of [`InvoiceStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown invoice status {0:?}")]
pub struct UnknownInvoiceStatus(pub String);

impl FromStr for InvoiceStatus {
    type Err = UnknownInvoiceStatus;

    /// Parses the snake_case name written by [`InvoiceStatus::as_str`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "open" => Ok(Self::Open),
            "partially_paid" => Ok(Self::PartiallyPaid),
            "paid" => Ok(Self::Paid),
            "overdue" => Ok(Self::Overdue),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(UnknownInvoiceStatus(text.to_owned())),
        }
    }
}

/// The figures of an invoice as of a business date, each with exactly 2
/// decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceFigures {
    /// The amount invoiced.
    pub amount: Decimal,
    /// Principal paid.
    pub paid: Decimal,
    /// `amount − paid`.
    pub outstanding: Decimal,
    /// Surcharge accrued to date: rounded half-up once to 0.01, capped at
    /// `amount`.
    pub accrued: Decimal,
    /// Surcharge paid.
    pub surcharge_paid: Decimal,
    /// `accrued − surcharge_paid`: surcharge accrued and unpaid.
    pub late_fee: Decimal,
    /// Where the invoice stands on that date.
    pub status: InvoiceStatus,
}

impl InvoiceFigures {
    /// What settles the invoice in full on that date: `late_fee + outstanding`.
    /// Saturates at `Decimal::MAX`, far beyond any invoice.
    #[must_use]
    pub fn owed(&self) -> Decimal {
        self.late_fee.saturating_add(self.outstanding)
    }
}

/// How one payment divides: surcharge first, then principal, each with
/// exactly 2 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentSplit {
    /// The part that settles accrued surcharge.
    pub surcharge: Decimal,
    /// The part that settles principal.
    pub principal: Decimal,
}

/// Why a payment was refused. Each reason has a stable snake_case
/// [`code`](PaymentError::code), reported in this order of precedence: the
/// amount's sign, its scale, then what the invoice still owes (nothing at
/// all, or less than the amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PaymentError {
    /// The amount is zero or negative.
    #[error("the payment amount must be greater than zero")]
    AmountMustBePositive,
    /// The amount has more than 2 decimal places.
    #[error("the payment amount must be in whole fen (at most 2 decimals)")]
    ScaleExceeded,
    /// Nothing is owed: principal and surcharge are paid.
    #[error("the invoice is paid: nothing is owed")]
    InvoicePaid,
    /// The amount is more than the surcharge plus the principal outstanding.
    #[error("the payment is more than the surcharge and principal outstanding")]
    Overpayment,
}

impl PaymentError {
    /// The stable snake_case code of this reason.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::AmountMustBePositive => "amount_must_be_positive",
            Self::ScaleExceeded => "scale_exceeded",
            Self::InvoicePaid => "invoice_paid",
            Self::Overpayment => "overpayment",
        }
    }
}

/// The figures of an invoice as of the business date `as_of`.
///
/// `payments` are the payments committed at or before the `as_of` instant,
/// in any order; the caller leaves out those committed after it (a payment
/// dated after `as_of` would still change `paid`). `as_of` may lie before
/// the due date, or in the future: a projection with no further payments.
///
/// Runs in time proportional to the number of payments, whatever the span
/// of dates: the surcharge is summed piecewise between payment dates.
#[must_use]
pub fn figures_as_of(
    terms: &InvoiceTerms,
    payments: &[InvoicePayment],
    as_of: NaiveDate,
) -> InvoiceFigures {
    debug_assert!(terms.amount >= Decimal::ZERO && terms.amount.normalize().scale() <= MONEY_SCALE);
    debug_assert!(terms.daily_rate >= Decimal::ZERO && terms.daily_rate <= Decimal::ONE);
    debug_assert!(terms.daily_rate.normalize().scale() <= RATE_SCALE);
    let paid: Decimal = payments.iter().map(|p| p.principal).sum();
    let surcharge_paid: Decimal = payments.iter().map(|p| p.surcharge).sum();
    debug_assert!(payments.iter().all(|p| p.principal >= Decimal::ZERO));
    debug_assert!(payments.iter().all(|p| p.surcharge >= Decimal::ZERO));
    debug_assert!(paid <= terms.amount, "more principal paid than invoiced");
    let outstanding = terms.amount - paid;
    let accrued = accrued_surcharge(terms, payments, as_of);
    // Each payment's surcharge was at most the late fee as of its own date,
    // and the accrual only grows with the date (every day adds a base ≥ 0,
    // and a payment never lowers the days up to and including its own), so
    // what was paid never exceeds what has accrued since. Clamped all the
    // same, so a history from elsewhere cannot make a negative fee.
    debug_assert!(
        surcharge_paid <= accrued,
        "more surcharge paid than accrued"
    );
    let late_fee = (accrued - surcharge_paid).max(Decimal::ZERO);
    let status = if outstanding.is_zero() {
        // Surcharge first: the last principal was paid only once the late fee
        // of its date was settled, and no principal means no more accrual.
        debug_assert!(late_fee.is_zero(), "principal paid before surcharge");
        InvoiceStatus::Paid
    } else if as_of > terms.due_date {
        InvoiceStatus::Overdue
    } else if paid > Decimal::ZERO || surcharge_paid > Decimal::ZERO {
        InvoiceStatus::PartiallyPaid
    } else {
        InvoiceStatus::Open
    };
    InvoiceFigures {
        amount: in_fen(terms.amount),
        paid: in_fen(paid),
        outstanding: in_fen(outstanding),
        accrued: in_fen(accrued),
        surcharge_paid: in_fen(surcharge_paid),
        late_fee: in_fen(late_fee),
        status,
    }
}

/// The same amount written with exactly 2 decimal places (`0` → `0.00`), so
/// figures read alike whatever sum made them. Exact for amounts in whole fen.
fn in_fen(amount: Decimal) -> Decimal {
    debug_assert!(amount.normalize().scale() <= MONEY_SCALE);
    let mut written = amount;
    written.rescale(MONEY_SCALE);
    written
}

/// The surcharge accrued up to and including `as_of`: rate × the sum over
/// the dates after the due date of the principal outstanding at their start,
/// rounded half-up once, capped at the amount.
fn accrued_surcharge(
    terms: &InvoiceTerms,
    payments: &[InvoicePayment],
    as_of: NaiveDate,
) -> Decimal {
    if terms.daily_rate.is_zero() || as_of <= terms.due_date {
        return Decimal::ZERO;
    }
    // Multiplying by the rate once, after summing, keeps every step exact
    // where it matters. The principal-days are in fen: exact up to
    // 7.9 × 10^26 (a decimal's 96 bits), rounded beyond, `None` past
    // 7.9 × 10^28. Times a rate of at most 6 places, exact up to
    // 7.9 × 10^20. Every inexact or overflowing case is an accrual of at
    // least 7.9 × 10^20 (a non-zero rate is at least 10^-6), beyond the cap
    // of any invoice below 7.9 × 10^20 CNY: the cap is the answer.
    let raw =
        principal_days(terms, payments, as_of).and_then(|days| days.checked_mul(terms.daily_rate));
    match raw {
        Some(raw) => round_money(raw).min(terms.amount),
        None => terms.amount,
    }
}

/// The sum, over the dates d with `due_date < d ≤ as_of`, of the principal
/// outstanding at the start of d, computed one stretch between payment dates
/// at a time. `None` on overflow.
fn principal_days(
    terms: &InvoiceTerms,
    payments: &[InvoicePayment],
    as_of: NaiveDate,
) -> Option<Decimal> {
    let mut dated: Vec<(NaiveDate, Decimal)> = payments
        .iter()
        .map(|p| (p.business_date, p.principal))
        .collect();
    dated.sort_by_key(|&(date, _)| date);
    // Invariant: `base` is the amount less every payment dated on or before
    // `counted_to`, so it is the principal at the start of each later date
    // up to the next payment's date, inclusive.
    let mut base = terms.amount;
    let mut counted_to = terms.due_date;
    let mut total = Decimal::ZERO;
    for (date, principal) in dated {
        if date >= as_of {
            // Lowers the base from after `as_of` on: nothing counted here.
            break;
        }
        if date > counted_to {
            let stretch = base.checked_mul(days_between(counted_to, date))?;
            total = total.checked_add(stretch)?;
            counted_to = date;
        }
        base -= principal;
    }
    let last = base.checked_mul(days_between(counted_to, as_of))?;
    total.checked_add(last)
}

/// The number of dates d with `from < d ≤ to`, as a decimal.
fn days_between(from: NaiveDate, to: NaiveDate) -> Decimal {
    debug_assert!(from <= to);
    Decimal::from((to - from).num_days())
}

/// Splits a payment made on the date of `figures`: accrued surcharge first
/// (up to the late fee), then principal.
///
/// The caller computes `figures` with [`figures_as_of`] as of the payment's
/// own business date, with every payment committed before it.
///
/// # Errors
/// In this order: `amount_must_be_positive` when the amount is zero or
/// negative; `scale_exceeded` when it has more than 2 decimal places;
/// `invoice_paid` when nothing is owed at all (issue 10 asks a payment on a
/// paid invoice for a code of its own; it is the case of SPEC §5's
/// overpayment where nothing is left to pay); `overpayment` when it is more
/// than `late_fee + outstanding`.
pub fn split_payment(
    figures: &InvoiceFigures,
    amount: Decimal,
) -> Result<PaymentSplit, PaymentError> {
    if amount <= Decimal::ZERO {
        return Err(PaymentError::AmountMustBePositive);
    }
    if amount.normalize().scale() > MONEY_SCALE {
        return Err(PaymentError::ScaleExceeded);
    }
    if figures.owed().is_zero() {
        return Err(PaymentError::InvoicePaid);
    }
    if amount > figures.owed() {
        return Err(PaymentError::Overpayment);
    }
    let surcharge = amount.min(figures.late_fee);
    let principal = amount - surcharge;
    debug_assert!(principal <= figures.outstanding);
    Ok(PaymentSplit {
        surcharge: in_fen(surcharge),
        principal: in_fen(principal),
    })
}

/// The published unit fees of paid use, CNY per unit per year, by pollutant:
/// what an allocation that names no `unit_fee` pays. A setting of the
/// operator; [`FeeSchedule::default`] is the published schedule.
///
/// Names match an instrument's `pollutant` exactly, case included:
/// instruments keep the pollutant as written (no canonical case), so the
/// defaults are spelled as SPEC §1 writes them (`COD`, `NH3-N`, `SO2`,
/// `NOx`, `Pb`, `Cd`, `As`) and `so2` finds none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    fees: BTreeMap<String, Decimal>,
}

impl FeeSchedule {
    /// The unit fee of a pollutant, if the schedule has one.
    #[must_use]
    pub fn unit_fee(&self, pollutant: &str) -> Option<Decimal> {
        self.fees.get(pollutant).copied()
    }

    /// Whether the schedule has no fee at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fees.is_empty()
    }
}

impl Default for FeeSchedule {
    /// COD 230, NH3-N 260, SO2 200, NOx 200 CNY/t·a; Pb 10, Cd 30, As 13
    /// CNY/kg·a.
    fn default() -> Self {
        let published = [
            ("COD", 230),
            ("NH3-N", 260),
            ("SO2", 200),
            ("NOx", 200),
            ("Pb", 10),
            ("Cd", 30),
            ("As", 13),
        ];
        Self {
            fees: published
                .into_iter()
                .map(|(name, fee)| (name.to_owned(), Decimal::from(fee)))
                .collect(),
        }
    }
}

/// Why a fee schedule setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeeScheduleError {
    /// An entry is not `NAME=FEE` with a non-blank name.
    #[error("fee schedule entry {0:?} is not NAME=FEE")]
    Entry(String),
    /// A fee is not a plain decimal ≥ 0 with at most 6 decimal places.
    #[error("the unit fee of {name} must be a decimal ≥ 0 with at most 6 decimals, got {text:?}")]
    Fee {
        /// The pollutant.
        name: String,
        /// The fee as written.
        text: String,
    },
    /// A pollutant appears twice.
    #[error("the fee schedule names {0} twice")]
    Duplicate(String),
}

impl FromStr for FeeSchedule {
    type Err = FeeScheduleError;

    /// Parses a setting such as `COD=230,NH3-N=260,SO2=200`: comma-separated
    /// `NAME=FEE`, spaces around names and fees ignored. An empty (or blank)
    /// text is an empty schedule.
    ///
    /// # Errors
    /// [`FeeScheduleError::Entry`] for an entry without `=` or with a blank
    /// name (a trailing comma included); [`FeeScheduleError::Fee`] for a fee
    /// that is not digits with an optional point, or has more than 6 decimal
    /// places; [`FeeScheduleError::Duplicate`] for a pollutant named twice.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut fees = BTreeMap::new();
        if text.trim().is_empty() {
            return Ok(Self { fees });
        }
        for entry in text.split(',') {
            let (name, fee) = parse_entry(entry)?;
            if fees.insert(name.clone(), fee).is_some() {
                return Err(FeeScheduleError::Duplicate(name));
            }
        }
        Ok(Self { fees })
    }
}

/// One `NAME=FEE` entry of a fee schedule setting.
fn parse_entry(entry: &str) -> Result<(String, Decimal), FeeScheduleError> {
    let invalid_entry = || FeeScheduleError::Entry(entry.trim().to_owned());
    let (name, text) = entry.split_once('=').ok_or_else(invalid_entry)?;
    let (name, text) = (name.trim(), text.trim());
    if name.is_empty() {
        return Err(invalid_entry());
    }
    let invalid_fee = || FeeScheduleError::Fee {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    // `Decimal::from_str` also takes signs and `_` separators: plain digits only.
    let plain = text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !plain {
        return Err(invalid_fee());
    }
    let fee = Decimal::from_str(text).map_err(|_| invalid_fee())?;
    if fee.normalize().scale() > FEE_SCALE {
        return Err(invalid_fee());
    }
    Ok((name.to_owned(), fee))
}

impl fmt::Display for FeeSchedule {
    /// The setting text, pollutants in byte order: parses back to the same
    /// schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, fee)) in self.fees.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}={fee}")?;
        }
        Ok(())
    }
}
