//! Paying a paid-use invoice: from the participant's cash account (one
//! ledger transaction to fee income) or recorded from the bank
//! (`external`, no ledger cash moves). The figures, the split and the
//! status are [`crate::invoice`]'s; this module applies a payment to the
//! working set and says what the batch writes.
//!
//! An invoice's figures are never stored: they follow from its terms and
//! the payments committed by the instant asked ([`StoredInvoice::figures_at`]),
//! which is how a past `as_of` leaves out later payments and a future one
//! projects the surcharge with no further payment.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::{BusinessZone, InstrumentCode, Leg, Owner, SystemAccount};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::{CommandError, Invoice};
use crate::invoice::{InvoiceFigures, InvoicePayment, InvoiceTerms, figures_as_of, split_payment};
use crate::payload::{InvoicePaid, Payload};

/// The journal kind of a payment, and the ledger transaction kind of one
/// from a cash account (the settlement's `fees_paid`).
pub const INVOICE_PAID: &str = "invoice.paid";

/// Where a payment's money comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    /// The participant's cash in the ledger, moved to fee income.
    CashAccount,
    /// A bank payment outside the ledger, recorded: no ledger cash moves.
    External,
}

impl PaymentSource {
    /// The snake_case name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CashAccount => "cash_account",
            Self::External => "external",
        }
    }
}

impl fmt::Display for PaymentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentSource {
    type Err = CommandError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cash_account" => Ok(Self::CashAccount),
            "external" => Ok(Self::External),
            _ => Err(CommandError::InvalidPaymentSource),
        }
    }
}

/// A payment to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// The payment's id.
    pub id: Uuid,
    /// Which invoice.
    pub invoice_id: Uuid,
    /// CNY paid, in whole fen.
    pub amount: Decimal,
    /// From where.
    pub source: PaymentSource,
    /// The payment's reference (the bank's, or finance's own): 1–200
    /// characters.
    pub reference: String,
}

/// A committed payment and how it was split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The payment's id.
    pub id: Uuid,
    /// Which invoice.
    pub invoice_id: Uuid,
    /// Whose invoice.
    pub participant_id: Uuid,
    /// CNY paid.
    pub amount: Decimal,
    /// The part that settled accrued surcharge.
    pub surcharge: Decimal,
    /// The part that settled principal.
    pub principal: Decimal,
    /// From where.
    pub source: PaymentSource,
    /// Its reference.
    pub reference: String,
    /// The ledger transaction of a payment from the cash account.
    pub transaction_id: Option<Uuid>,
    /// The business date it counts on.
    pub business_date: NaiveDate,
    /// When it committed.
    pub at: DateTime<Utc>,
}

impl Payment {
    /// The payment as the surcharge rules see it.
    #[must_use]
    pub fn as_invoice_payment(&self) -> InvoicePayment {
        InvoicePayment {
            business_date: self.business_date,
            surcharge: self.surcharge,
            principal: self.principal,
        }
    }
}

/// An invoice as stored, with every payment committed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvoice {
    /// The invoice (its `paid` and `surcharge_paid` are the sums of the
    /// payments).
    pub invoice: Invoice,
    /// Its payments, oldest first.
    pub payments: Vec<Payment>,
}

impl StoredInvoice {
    /// The terms fixed at creation.
    #[must_use]
    pub fn terms(&self) -> InvoiceTerms {
        InvoiceTerms {
            amount: self.invoice.amount,
            due_date: self.invoice.due_date,
            daily_rate: self.invoice.daily_rate,
        }
    }

    /// The figures as of the instant `as_of` (its business date in `zone`;
    /// payments committed after it left out); `None` when the invoice did
    /// not exist yet.
    #[must_use]
    pub fn figures_at(&self, as_of: DateTime<Utc>, zone: BusinessZone) -> Option<InvoiceFigures> {
        if self.invoice.created_at > as_of {
            return None;
        }
        let payments: Vec<InvoicePayment> = self
            .payments
            .iter()
            .filter(|p| p.at <= as_of)
            .map(Payment::as_invoice_payment)
            .collect();
        Some(figures_as_of(&self.terms(), &payments, zone.date(as_of)))
    }
}

/// A payment recorded, with the invoice's figures just after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    /// The payment.
    pub payment: Payment,
    /// The invoice after it.
    pub invoice: Invoice,
    /// The invoice's figures after it, as of the payment.
    pub figures: InvoiceFigures,
}

/// Pays an invoice: the figures as of the batch's business date, the
/// amount split surcharge first, then (for `cash_account`) one transfer
/// participant → fee income.
///
/// # Errors
/// `invoice_not_found`; `invalid_reference`; the split's refusals
/// (`amount_must_be_positive`, `scale_exceeded`, `invoice_paid`, `overpayment`);
/// `insufficient_available_balance` for cash the participant does not
/// have available.
pub(crate) fn pay(
    new: &NewPayment,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Paid), CommandError> {
    let reference = new.reference.trim();
    if reference.is_empty() || reference.chars().count() > 200 {
        return Err(CommandError::InvalidReference);
    }
    let mut stored = loaded
        .invoices
        .get(&new.invoice_id)
        .cloned()
        .ok_or(CommandError::UnknownInvoice)?;
    let at = changes.at;
    // Batch time never runs backwards, and the invoice was committed in an
    // earlier batch (or earlier in this one).
    let before = stored
        .figures_at(at, loaded.zone)
        .ok_or(CommandError::UnknownInvoice)?;
    let split = split_payment(&before, new.amount).map_err(CommandError::Payment)?;
    let participant_id = stored.invoice.participant_id;
    let transaction = match new.source {
        PaymentSource::CashAccount => {
            let mut transaction = apply_legs(
                loaded,
                &[payment_leg(
                    participant_id,
                    split.surcharge + split.principal,
                )],
                INVOICE_PAID,
                Some(reference.to_owned()),
                changes,
            )?;
            transaction.journal_seq = changes.head.seq + 1;
            Some(transaction)
        }
        PaymentSource::External => None,
    };
    let payment = Payment {
        id: new.id,
        invoice_id: new.invoice_id,
        participant_id,
        amount: split.surcharge + split.principal,
        surcharge: split.surcharge,
        principal: split.principal,
        source: new.source,
        reference: reference.to_owned(),
        transaction_id: transaction.as_ref().map(|t| t.id),
        business_date: changes.business_date,
        at,
    };
    stored.invoice.paid += split.principal;
    stored.invoice.surcharge_paid += split.surcharge;
    stored.payments.push(payment.clone());
    let figures = stored
        .figures_at(at, loaded.zone)
        .expect("the invoice existed a moment ago");
    let payload = Payload::InvoicePaid(InvoicePaid::new(
        &payment,
        &stored.invoice,
        transaction.as_ref(),
    ));
    let paid = Paid {
        payment: payment.clone(),
        invoice: stored.invoice.clone(),
        figures,
    };
    changes
        .invoices
        .insert(stored.invoice.id, stored.invoice.clone());
    changes.payments.push(payment);
    changes.transactions.extend(transaction);
    loaded.invoices.insert(stored.invoice.id, stored);
    Ok((INVOICE_PAID, payload, paid))
}

/// The transfer of a payment from the participant's cash to fee income.
pub(crate) fn payment_leg(participant_id: Uuid, amount: Decimal) -> Leg {
    Leg::Transfer {
        instrument: InstrumentCode::cny(),
        from: Owner::Participant(participant_id),
        to: Owner::System(SystemAccount::FeeIncome),
        quantity: amount,
    }
}
