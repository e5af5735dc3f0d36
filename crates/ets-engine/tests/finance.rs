//! Paying paid-use invoices, on the ledger in memory: surcharge first,
//! cash to fee income or a bank payment recorded, never more than owed, the
//! clock moved past the due date instead of waited for.

mod common;

use chrono::{Duration, NaiveDate};
use common::*;
use ets_core::{LedgerError, SystemAccount};
use ets_engine::invoice::PaymentError;
use ets_engine::{
    Command, CommandError, DEFAULT_DAILY_SURCHARGE_RATE, InvoiceStatus, NewAllocation, NewPayment,
    Outcome, Paid, PaidUse, PaymentSource,
};
use uuid::Uuid;

/// 10 t of SO2 at 200 CNY/t·a for 5 years: an invoice of 10,000.00 due on
/// `due` (the ledger's day is 2026-06-01).
fn invoiced(ledger: &mut TestLedger, who: Uuid, due: &str) -> Uuid {
    let invoice_id = ledger.id();
    let allocation = NewAllocation {
        id: ledger.id(),
        participant_id: who,
        instrument: so2(),
        quantity: dec("10"),
        paid: Some(PaidUse {
            invoice_id,
            unit_fee: dec("200"),
            years: 5,
            due_date: due.parse().expect("date"),
            daily_rate: DEFAULT_DAILY_SURCHARGE_RATE,
        }),
    };
    let Ok(Outcome::Allocation(allocation)) = ledger.execute(Command::Allocate(allocation)) else {
        panic!("a paid allocation");
    };
    assert_eq!(
        allocation.invoice.expect("its invoice").amount,
        dec("10000.00")
    );
    invoice_id
}

fn pay(
    ledger: &mut TestLedger,
    invoice_id: Uuid,
    amount: &str,
    source: PaymentSource,
) -> Result<Paid, CommandError> {
    let payment = NewPayment {
        id: ledger.id(),
        invoice_id,
        amount: dec(amount),
        source,
        reference: "BANK-2026-0001".to_owned(),
    };
    ledger
        .execute(Command::PayInvoice(payment))
        .map(|outcome| match outcome {
            Outcome::InvoicePaid(paid) => paid,
            other => panic!("a payment, not {other:?}"),
        })
}

#[test]
fn a_payment_from_cash_moves_it_to_fee_income_and_an_external_one_moves_none() {
    let mut ledger = TestLedger::with_so2();
    let a = ledger.participant(1);
    let invoice = invoiced(&mut ledger, a, "2026-06-30");
    ledger.deposit(a, "6000.00");

    let paid = pay(&mut ledger, invoice, "4000.00", PaymentSource::CashAccount).expect("paid");
    assert_eq!(
        (paid.payment.surcharge, paid.payment.principal),
        (dec("0.00"), dec("4000.00"))
    );
    assert!(paid.payment.transaction_id.is_some());
    assert_eq!(paid.figures.outstanding, dec("6000.00"));
    assert_eq!(paid.figures.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(ledger.account(a, &cny()), (dec("2000.00"), dec("0")));
    assert_eq!(
        ledger.balance(SystemAccount::FeeIncome, &cny()),
        dec("4000.00")
    );

    let paid = pay(&mut ledger, invoice, "6000.00", PaymentSource::External).expect("paid");
    assert_eq!(paid.payment.transaction_id, None);
    assert_eq!(paid.figures.status, InvoiceStatus::Paid);
    // The bank payment moved nothing in the ledger.
    assert_eq!(ledger.account(a, &cny()), (dec("2000.00"), dec("0")));
    assert_eq!(
        ledger.balance(SystemAccount::FeeIncome, &cny()),
        dec("4000.00")
    );
    let kinds: Vec<&str> = ledger
        .memory
        .journal()
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds[kinds.len() - 2..], ["invoice.paid", "invoice.paid"]);
}

#[test]
fn after_the_due_date_a_payment_settles_the_surcharge_first() {
    let mut ledger = TestLedger::with_so2();
    let a = ledger.participant(1);
    // Due 2026-05-22: on 2026-06-01 ten days have accrued, 10,000.00 × 0.0005 × 10 = 50.00.
    let invoice = invoiced(&mut ledger, a, "2026-05-22");
    let stored = ledger.memory.invoice(invoice).expect("stored");
    let figures = stored
        .figures_at(ledger.now(), ets_core::BusinessZone::SHANGHAI)
        .expect("exists");
    assert_eq!(
        (figures.late_fee, figures.status),
        (dec("50.00"), InvoiceStatus::Overdue)
    );

    let paid = pay(&mut ledger, invoice, "1050.00", PaymentSource::External).expect("paid");
    assert_eq!(
        (paid.payment.surcharge, paid.payment.principal),
        (dec("50.00"), dec("1000.00"))
    );
    assert_eq!(
        (paid.figures.late_fee, paid.figures.outstanding),
        (dec("0.00"), dec("9000.00"))
    );

    // The next day accrues on 9,000.00: 4.50.
    ledger.advance(Duration::days(1));
    let stored = ledger.memory.invoice(invoice).expect("stored");
    let figures = stored
        .figures_at(ledger.now(), ets_core::BusinessZone::SHANGHAI)
        .expect("exists");
    assert_eq!(figures.late_fee, dec("4.50"));
    // Everything owed settles it: 4.50 + 9,000.00.
    let paid = pay(&mut ledger, invoice, "9004.50", PaymentSource::External).expect("paid");
    assert_eq!(paid.figures.status, InvoiceStatus::Paid);
    assert_eq!(paid.figures.surcharge_paid, dec("54.50"));
    // An instant between the two payments sees the first only: overdue.
    let start: chrono::DateTime<chrono::Utc> = START.parse().expect("time");
    let then = stored_figures(&ledger, invoice, start + Duration::hours(12));
    assert_eq!(
        (then.paid, then.late_fee, then.status),
        (dec("1000.00"), dec("0.00"), InvoiceStatus::Overdue)
    );
    // And before it was created, it did not exist.
    let stored = ledger.memory.invoice(invoice).expect("stored");
    assert_eq!(
        stored.figures_at(start - Duration::hours(1), ets_core::BusinessZone::SHANGHAI),
        None
    );
}

fn stored_figures(
    ledger: &TestLedger,
    invoice: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> ets_engine::InvoiceFigures {
    ledger
        .memory
        .invoice(invoice)
        .expect("stored")
        .figures_at(at, ets_core::BusinessZone::SHANGHAI)
        .expect("existed")
}

#[test]
fn more_than_is_owed_or_more_cash_than_is_available_is_refused_and_changes_nothing() {
    let mut ledger = TestLedger::with_so2();
    let a = ledger.participant(1);
    let invoice = invoiced(&mut ledger, a, "2026-06-30");
    ledger.deposit(a, "100.00");
    let journal = ledger.memory.journal().len();

    assert_eq!(
        pay(&mut ledger, invoice, "10000.01", PaymentSource::External).map(|_| ()),
        Err(CommandError::Payment(PaymentError::Overpayment))
    );
    assert_eq!(
        pay(&mut ledger, invoice, "100.01", PaymentSource::CashAccount).map(|_| ()),
        Err(CommandError::Ledger(
            LedgerError::InsufficientAvailableBalance
        ))
    );
    assert_eq!(
        pay(&mut ledger, invoice, "0.001", PaymentSource::External).map(|_| ()),
        Err(CommandError::Payment(PaymentError::ScaleExceeded))
    );
    assert_eq!(
        pay(&mut ledger, Uuid::nil(), "1.00", PaymentSource::External).map(|_| ()),
        Err(CommandError::UnknownInvoice)
    );
    assert_eq!(ledger.memory.journal().len(), journal);
    assert_eq!(ledger.account(a, &cny()), (dec("100.00"), dec("0")));
    assert!(
        ledger
            .memory
            .invoice(invoice)
            .expect("stored")
            .payments
            .is_empty()
    );
}

#[test]
fn two_payments_in_one_batch_never_pay_more_than_is_owed() {
    let mut ledger = TestLedger::with_so2();
    let a = ledger.participant(1);
    let invoice = invoiced(&mut ledger, a, "2026-06-30");
    let payment = |ledger: &mut TestLedger, amount: &str| {
        Command::PayInvoice(NewPayment {
            id: ledger.id(),
            invoice_id: invoice,
            amount: dec(amount),
            source: PaymentSource::External,
            reference: "BANK".to_owned(),
        })
    };
    let first = payment(&mut ledger, "6000.00");
    let second = payment(&mut ledger, "6000.00");
    let results = ledger.batch(vec![first, second]);
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().map(|_| ()),
        Err(&CommandError::Payment(PaymentError::Overpayment))
    );
    let stored = ledger.memory.invoice(invoice).expect("stored");
    assert_eq!(
        (stored.invoice.paid, stored.payments.len()),
        (dec("6000.00"), 1)
    );
}

#[test]
fn a_payment_counts_on_the_business_date_of_its_commit() {
    let mut ledger = TestLedger::with_so2();
    let a = ledger.participant(1);
    let invoice = invoiced(&mut ledger, a, "2026-06-30");
    // 2026-06-30T16:30Z is 2026-07-01 00:30 in Shanghai: the day after the due date.
    let late: chrono::DateTime<chrono::Utc> = "2026-06-30T16:30:00Z".parse().expect("time");
    ledger.advance(late - ledger.now());
    let paid = pay(&mut ledger, invoice, "5.00", PaymentSource::External).expect("paid");
    let july_first: NaiveDate = "2026-07-01".parse().expect("date");
    assert_eq!(paid.payment.business_date, july_first);
    // One day (07-01) has accrued 5.00, which the payment settles.
    assert_eq!(
        (paid.payment.surcharge, paid.payment.principal),
        (dec("5.00"), dec("0.00"))
    );
}

#[test]
fn one_pollutant_is_counted_in_one_unit_across_its_instruments() {
    let mut ledger = TestLedger::with_so2();
    let mut kilograms = so2_spec();
    kilograms.code = ets_core::InstrumentCode::parse("SO2-320500-2027").expect("code");
    kilograms.unit = "kg".to_owned();
    assert_eq!(
        ledger
            .execute(Command::CreateInstrument(kilograms.clone()))
            .map(|_| ()),
        Err(CommandError::UnitMismatch)
    );
    // Two new instruments of a new pollutant in one batch: the second is
    // checked against the first.
    let mut tonnes = kilograms.clone();
    tonnes.pollutant = Some("NOx".to_owned());
    tonnes.unit = "t".to_owned();
    let mut other = tonnes.clone();
    other.code = ets_core::InstrumentCode::parse("NOX-320500-2028").expect("code");
    other.unit = "kg".to_owned();
    let results = ledger.batch(vec![
        Command::CreateInstrument(tonnes),
        Command::CreateInstrument(other),
    ]);
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().map(|_| ()),
        Err(&CommandError::UnitMismatch)
    );
}
