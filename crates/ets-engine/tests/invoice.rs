//! Paid-use invoices as of a business date (SPEC §5): the late surcharge day
//! by day, payments split surcharge first, the status, and the published
//! unit fees (SPEC §1). Every expected figure is worked out by hand beside it.

use std::str::FromStr;

use chrono::{Days, NaiveDate};
use ets_core::Decimal;
use ets_engine::invoice::{
    DEFAULT_DAILY_SURCHARGE_RATE, DEFAULT_PAID_USE_YEARS, FeeSchedule, FeeScheduleError,
    InvoiceFigures, InvoicePayment, InvoiceStatus, InvoiceTerms, PaymentError, PaymentSplit,
    figures_as_of, split_payment,
};
use proptest::prelude::*;
use rust_decimal::RoundingStrategy;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).expect("date")
}

fn after(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_add_days(Days::new(days))
        .expect("date in range")
}

/// 10000.00 CNY due 2026-03-31 at the default 0.05 % a day: 5.00 a day
/// while nothing is paid.
fn ten_thousand_due_end_of_march() -> InvoiceTerms {
    InvoiceTerms {
        amount: dec("10000.00"),
        due_date: date("2026-03-31"),
        daily_rate: DEFAULT_DAILY_SURCHARGE_RATE,
    }
}

/// Splits `amount` on figures as of `on`, and records the payment.
fn pay(terms: &InvoiceTerms, payments: &mut Vec<InvoicePayment>, on: NaiveDate, amount: &str) {
    let figures = figures_as_of(terms, payments, on);
    let split = split_payment(&figures, dec(amount)).expect("payment accepted");
    payments.push(InvoicePayment {
        business_date: on,
        surcharge: split.surcharge,
        principal: split.principal,
    });
}

#[test]
fn the_default_rate_is_five_ten_thousandths_and_the_default_period_five_years() {
    assert_eq!(DEFAULT_DAILY_SURCHARGE_RATE, dec("0.0005"));
    assert_eq!(DEFAULT_PAID_USE_YEARS, 5);
}

#[test]
fn nothing_accrues_on_or_before_the_due_date_and_ten_days_after_are_ten_days_of_surcharge() {
    let terms = ten_thousand_due_end_of_march();
    for as_of in ["2026-03-01", "2026-03-30", "2026-03-31"] {
        let figures = figures_as_of(&terms, &[], date(as_of));
        assert_eq!(figures.accrued, Decimal::ZERO, "as of {as_of}");
        assert_eq!(figures.late_fee, Decimal::ZERO, "as of {as_of}");
        assert_eq!(figures.status, InvoiceStatus::Open, "as of {as_of}");
    }
    // 2026-04-01 to 2026-04-10: 10 days × 10000.00 × 0.0005 = 10 × 5.00 = 50.00.
    let figures = figures_as_of(&terms, &[], date("2026-04-10"));
    assert_eq!(
        figures,
        InvoiceFigures {
            amount: dec("10000.00"),
            paid: dec("0"),
            outstanding: dec("10000.00"),
            accrued: dec("50.00"),
            surcharge_paid: dec("0"),
            late_fee: dec("50.00"),
            status: InvoiceStatus::Overdue,
        }
    );
    assert_eq!(figures.owed(), dec("10050.00"));
}

#[test]
fn a_payment_mid_period_lowers_the_base_from_the_next_day() {
    let terms = ten_thousand_due_end_of_march();
    let mut payments = Vec::new();
    // As of 2026-04-05: 5 days × 5.00 = 25.00 accrued. 3025.00 pays the
    // 25.00 first, then 3000.00 of principal.
    assert_eq!(
        figures_as_of(&terms, &payments, date("2026-04-05")).late_fee,
        dec("25.00")
    );
    pay(&terms, &mut payments, date("2026-04-05"), "3025.00");
    assert_eq!(payments[0].surcharge, dec("25.00"));
    assert_eq!(payments[0].principal, dec("3000.00"));
    // The payment's own day still accrued on 10000.00: nothing more that day.
    let same_day = figures_as_of(&terms, &payments, date("2026-04-05"));
    assert_eq!(same_day.accrued, dec("25.00"));
    assert_eq!(same_day.late_fee, dec("0.00"));
    assert_eq!(same_day.status, InvoiceStatus::Overdue);
    // 04-06 to 04-10 on 7000.00: 5 × 3.50 = 17.50; accrued 25.00 + 17.50 = 42.50.
    let figures = figures_as_of(&terms, &payments, date("2026-04-10"));
    assert_eq!(figures.paid, dec("3000.00"));
    assert_eq!(figures.outstanding, dec("7000.00"));
    assert_eq!(figures.accrued, dec("42.50"));
    assert_eq!(figures.surcharge_paid, dec("25.00"));
    assert_eq!(figures.late_fee, dec("17.50"));
    assert_eq!(figures.status, InvoiceStatus::Overdue);
}

#[test]
fn paying_everything_on_the_due_date_leaves_nothing_to_accrue() {
    let terms = ten_thousand_due_end_of_march();
    let mut payments = Vec::new();
    pay(&terms, &mut payments, date("2026-03-31"), "10000.00");
    for as_of in ["2026-03-31", "2026-04-01", "2030-01-01"] {
        let figures = figures_as_of(&terms, &payments, date(as_of));
        assert_eq!(figures.outstanding, dec("0.00"), "as of {as_of}");
        assert_eq!(figures.late_fee, dec("0"), "as of {as_of}");
        assert_eq!(figures.status, InvoiceStatus::Paid, "as of {as_of}");
    }
}

#[test]
fn a_partial_payment_on_the_due_date_is_overdue_the_day_after() {
    let terms = ten_thousand_due_end_of_march();
    let mut payments = Vec::new();
    pay(&terms, &mut payments, date("2026-03-31"), "4000.00");
    let on_the_day = figures_as_of(&terms, &payments, date("2026-03-31"));
    assert_eq!(on_the_day.outstanding, dec("6000.00"));
    assert_eq!(on_the_day.status, InvoiceStatus::PartiallyPaid);
    // 2026-04-01 on 6000.00: 6000.00 × 0.0005 = 3.00.
    let next_day = figures_as_of(&terms, &payments, date("2026-04-01"));
    assert_eq!(next_day.accrued, dec("3.00"));
    assert_eq!(next_day.status, InvoiceStatus::Overdue);
}

#[test]
fn a_back_dated_due_date_accrues_every_day_since_and_stops_at_the_amount() {
    let terms = InvoiceTerms {
        due_date: date("2020-01-01"),
        ..ten_thousand_due_end_of_march()
    };
    let due = terms.due_date;
    // Created long after its due date: overdue at once, one day = 5.00.
    let figures = figures_as_of(&terms, &[], after(due, 1));
    assert_eq!(figures.accrued, dec("5.00"));
    assert_eq!(figures.status, InvoiceStatus::Overdue);
    // 1999 days × 5.00 = 9995.00; 2000 × 5.00 = 10000.00, the amount;
    // 2001 × 5.00 = 10005.00, capped at 10000.00; a century out, still 10000.00.
    for (days, accrued) in [
        (1999, "9995.00"),
        (2000, "10000.00"),
        (2001, "10000.00"),
        (36525, "10000.00"),
    ] {
        let figures = figures_as_of(&terms, &[], after(due, days));
        assert_eq!(figures.accrued, dec(accrued), "{days} days");
        assert_eq!(figures.late_fee, dec(accrued), "{days} days");
    }
    assert_eq!(
        figures_as_of(&terms, &[], after(due, 2001)).owed(),
        dec("20000.00")
    );
}

#[test]
fn the_last_representable_date_is_summed_per_stretch_without_overflow() {
    // From 2020 to the end of chrono's calendar is about 9.5 × 10^7 days:
    // 10000.00 × 0.0005 × that is far past the cap.
    let terms = InvoiceTerms {
        due_date: date("2020-01-01"),
        ..ten_thousand_due_end_of_march()
    };
    let figures = figures_as_of(&terms, &[], NaiveDate::MAX);
    assert_eq!(figures.accrued, dec("10000.00"));
    // An absurd 10^26 CNY, whose principal-days (about 9.5 × 10^33)
    // overflow a decimal: the cap.
    let absurd = InvoiceTerms {
        amount: dec("100000000000000000000000000.00"),
        ..terms
    };
    let figures = figures_as_of(&absurd, &[], NaiveDate::MAX);
    assert_eq!(figures.accrued, absurd.amount);
}

#[test]
fn a_leap_day_is_a_day_of_surcharge() {
    // 2028-02-28, 2028-02-29, 2028-03-01: 3 days × 5.00 = 15.00.
    let leap = InvoiceTerms {
        due_date: date("2028-02-27"),
        ..ten_thousand_due_end_of_march()
    };
    assert_eq!(
        figures_as_of(&leap, &[], date("2028-03-01")).accrued,
        dec("15.00")
    );
    // 2027-02-28, 2027-03-01: 2 days × 5.00 = 10.00.
    let common = InvoiceTerms {
        due_date: date("2027-02-27"),
        ..ten_thousand_due_end_of_march()
    };
    assert_eq!(
        figures_as_of(&common, &[], date("2027-03-01")).accrued,
        dec("10.00")
    );
}

#[test]
fn a_projection_accrues_on_what_is_left_with_no_further_payments() {
    let terms = ten_thousand_due_end_of_march();
    let mut payments = Vec::new();
    pay(&terms, &mut payments, date("2026-04-05"), "3025.00");
    // 2026-04-06 to 2026-12-31: day 365 − day 95 = 270 days × 3.50 = 945.00;
    // accrued 25.00 + 945.00 = 970.00, of which 25.00 is paid.
    let projection = figures_as_of(&terms, &payments, date("2026-12-31"));
    assert_eq!(projection.accrued, dec("970.00"));
    assert_eq!(projection.late_fee, dec("945.00"));
    assert_eq!(projection.outstanding, dec("7000.00"));
    assert_eq!(projection.status, InvoiceStatus::Overdue);
}

#[test]
fn the_accrued_total_is_rounded_half_up_once() {
    let small = |amount: &str| InvoiceTerms {
        amount: dec(amount),
        ..ten_thousand_due_end_of_march()
    };
    let due = date("2026-03-31");
    // 10.00 × 0.0005 = 0.005 a day. 3 days: 0.015 → 0.02, where rounding
    // each day (0.01 × 3) would give 0.03.
    assert_eq!(
        figures_as_of(&small("10.00"), &[], after(due, 3)).accrued,
        dec("0.02")
    );
    // 1.00 × 0.0005 = 0.0005 a day, 0.00 when rounded daily. 9 days: 0.0045
    // → 0.00; 10 days: 0.005 → 0.01 (half-up, where half-even gives 0.00).
    assert_eq!(
        figures_as_of(&small("1.00"), &[], after(due, 9)).accrued,
        dec("0.00")
    );
    assert_eq!(
        figures_as_of(&small("1.00"), &[], after(due, 10)).accrued,
        dec("0.01")
    );
}

#[test]
fn a_payment_settles_surcharge_first_then_principal() {
    let terms = ten_thousand_due_end_of_march();
    // As of 2026-04-10: late fee 50.00, outstanding 10000.00.
    let figures = figures_as_of(&terms, &[], date("2026-04-10"));
    let split = |amount: &str| split_payment(&figures, dec(amount));
    assert_eq!(
        split("30.00"),
        Ok(PaymentSplit {
            surcharge: dec("30.00"),
            principal: dec("0.00"),
        })
    );
    assert_eq!(
        split("80.00"),
        Ok(PaymentSplit {
            surcharge: dec("50.00"),
            principal: dec("30.00"),
        })
    );
    // Trailing zeros are not places: 1.500 is 1.50, and every part is in fen.
    let trailing = split("1.500").expect("whole fen");
    assert_eq!(trailing.surcharge.to_string(), "1.50");
    assert_eq!(trailing.principal.to_string(), "0.00");
}

#[test]
fn paying_exactly_late_fee_plus_outstanding_settles_the_invoice_and_a_fen_more_is_refused() {
    let terms = ten_thousand_due_end_of_march();
    let on = date("2026-04-10");
    let figures = figures_as_of(&terms, &[], on);
    // 50.00 + 10000.00 = 10050.00.
    assert_eq!(
        split_payment(&figures, dec("10050.01")),
        Err(PaymentError::Overpayment)
    );
    let mut payments = Vec::new();
    pay(&terms, &mut payments, on, "10050.00");
    let settled = figures_as_of(&terms, &payments, on);
    assert_eq!(settled.outstanding, dec("0.00"));
    assert_eq!(settled.late_fee, dec("0.00"));
    assert_eq!(settled.status, InvoiceStatus::Paid);
    // A paid invoice takes nothing more, and says why.
    assert_eq!(
        split_payment(&settled, dec("0.01")),
        Err(PaymentError::InvoicePaid)
    );
    assert_eq!(PaymentError::InvoicePaid.code(), "invoice_paid");
}

#[test]
fn a_payment_must_be_positive_then_whole_fen_then_no_more_than_owed() {
    let figures = figures_as_of(&ten_thousand_due_end_of_march(), &[], date("2026-04-10"));
    for (amount, refusal) in [
        ("0", PaymentError::AmountMustBePositive),
        ("-5.00", PaymentError::AmountMustBePositive),
        ("-0.001", PaymentError::AmountMustBePositive),
        ("1.005", PaymentError::ScaleExceeded),
        ("10050.001", PaymentError::ScaleExceeded),
        ("99999.99", PaymentError::Overpayment),
    ] {
        assert_eq!(
            split_payment(&figures, dec(amount)),
            Err(refusal),
            "{amount}"
        );
    }
    assert_eq!(
        PaymentError::AmountMustBePositive.code(),
        "amount_must_be_positive"
    );
    assert_eq!(PaymentError::ScaleExceeded.code(), "scale_exceeded");
    assert_eq!(PaymentError::Overpayment.code(), "overpayment");
}

#[test]
fn an_invoice_goes_from_open_to_partially_paid_to_overdue_to_paid() {
    let terms = ten_thousand_due_end_of_march();
    let mut payments = Vec::new();
    let status = |payments: &[InvoicePayment], as_of: &str| {
        figures_as_of(&terms, payments, date(as_of)).status
    };
    assert_eq!(status(&payments, "2026-03-01"), InvoiceStatus::Open);
    pay(&terms, &mut payments, date("2026-03-15"), "1000.00");
    assert_eq!(
        status(&payments, "2026-03-15"),
        InvoiceStatus::PartiallyPaid
    );
    assert_eq!(
        status(&payments, "2026-03-31"),
        InvoiceStatus::PartiallyPaid
    );
    // 2026-04-01 on 9000.00: 4.50 accrued; 9004.50 settles it all.
    assert_eq!(status(&payments, "2026-04-01"), InvoiceStatus::Overdue);
    assert_eq!(
        figures_as_of(&terms, &payments, date("2026-04-01")).late_fee,
        dec("4.50")
    );
    pay(&terms, &mut payments, date("2026-04-01"), "9004.50");
    assert_eq!(status(&payments, "2026-04-01"), InvoiceStatus::Paid);
    assert_eq!(status(&payments, "2027-01-01"), InvoiceStatus::Paid);
    // Looking back before the second payment, it was overdue then.
    assert_eq!(status(&payments[..1], "2026-04-01"), InvoiceStatus::Overdue);
}

#[test]
fn a_status_reads_back_from_its_name_and_an_unknown_name_is_refused() {
    for status in [
        InvoiceStatus::Open,
        InvoiceStatus::PartiallyPaid,
        InvoiceStatus::Paid,
        InvoiceStatus::Overdue,
        InvoiceStatus::Cancelled,
    ] {
        assert_eq!(status.as_str().parse::<InvoiceStatus>(), Ok(status));
    }
    assert_eq!(InvoiceStatus::PartiallyPaid.as_str(), "partially_paid");
    assert!("Paid".parse::<InvoiceStatus>().is_err());
}

#[test]
fn the_default_fee_schedule_is_the_published_one_spelled_as_instruments_are() {
    let schedule = FeeSchedule::default();
    for (pollutant, fee) in [
        ("COD", "230"),
        ("NH3-N", "260"),
        ("SO2", "200"),
        ("NOx", "200"),
        ("Pb", "10"),
        ("Cd", "30"),
        ("As", "13"),
    ] {
        assert_eq!(schedule.unit_fee(pollutant), Some(dec(fee)), "{pollutant}");
    }
    // Other pollutants need their unit fee; names are matched exactly.
    for pollutant in ["VOCs", "Hg", "so2", "SO2 "] {
        assert_eq!(schedule.unit_fee(pollutant), None, "{pollutant:?}");
    }
    // The setting text of the defaults parses back to them.
    assert_eq!(schedule.to_string().parse(), Ok(schedule));
}

#[test]
fn a_fee_schedule_setting_is_comma_separated_name_equals_fee() {
    let schedule: FeeSchedule = " COD = 230 ,NH3-N=260,VOCs=12.5, Hg=0.000001"
        .parse()
        .expect("schedule");
    assert_eq!(schedule.unit_fee("COD"), Some(dec("230")));
    assert_eq!(schedule.unit_fee("NH3-N"), Some(dec("260")));
    assert_eq!(schedule.unit_fee("VOCs"), Some(dec("12.5")));
    assert_eq!(schedule.unit_fee("Hg"), Some(dec("0.000001")));
    assert_eq!(
        schedule.unit_fee("SO2"),
        None,
        "only what the setting names"
    );
    let empty: FeeSchedule = "".parse().expect("empty schedule");
    assert!(empty.is_empty());
    assert_eq!(empty.unit_fee("COD"), None);
}

#[test]
fn a_bad_fee_schedule_setting_is_refused_with_its_reason() {
    let fee = |name: &str, text: &str| FeeScheduleError::Fee {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    for (setting, refusal) in [
        ("COD", FeeScheduleError::Entry("COD".to_owned())),
        ("=230", FeeScheduleError::Entry("=230".to_owned())),
        ("COD=230,", FeeScheduleError::Entry(String::new())),
        ("COD=-1", fee("COD", "-1")),
        ("COD=+1", fee("COD", "+1")),
        ("COD=1_000", fee("COD", "1_000")),
        ("COD=", fee("COD", "")),
        ("COD=abc", fee("COD", "abc")),
        ("COD=1.2.3", fee("COD", "1.2.3")),
        ("COD=1.0000001", fee("COD", "1.0000001")),
        (
            "COD=230,COD=240",
            FeeScheduleError::Duplicate("COD".to_owned()),
        ),
    ] {
        assert_eq!(setting.parse::<FeeSchedule>(), Err(refusal), "{setting:?}");
    }
    // Trailing zeros are not places.
    assert!("COD=1.00000000".parse::<FeeSchedule>().is_ok());
    assert_eq!(
        fee("COD", "-1").to_string(),
        "the unit fee of COD must be a decimal ≥ 0 with at most 6 decimals, got \"-1\""
    );
}

// Properties.

fn terms() -> impl Strategy<Value = InvoiceTerms> {
    (1i64..=100_000_000_000, 0i64..=10_000, 0u64..20_000).prop_map(|(fen, millionths, day)| {
        InvoiceTerms {
            amount: Decimal::new(fen, 2),
            due_date: after(date("2000-01-01"), day),
            daily_rate: Decimal::new(millionths, 6),
        }
    })
}

fn check_invariants(figures: &InvoiceFigures) -> Result<(), TestCaseError> {
    prop_assert!(figures.late_fee >= Decimal::ZERO, "{figures:?}");
    prop_assert!(figures.accrued >= Decimal::ZERO, "{figures:?}");
    prop_assert!(figures.accrued <= figures.amount, "{figures:?}");
    prop_assert!(figures.paid <= figures.amount, "{figures:?}");
    prop_assert_eq!(figures.outstanding, figures.amount - figures.paid);
    prop_assert_eq!(figures.late_fee, figures.accrued - figures.surcharge_paid);
    Ok(())
}

/// What the surcharge is by definition: each day after the due date up to
/// `as_of`, the principal at its start × the rate; rounded once, capped.
fn accrued_day_by_day(
    terms: &InvoiceTerms,
    payments: &[InvoicePayment],
    as_of: NaiveDate,
) -> Decimal {
    let mut total = Decimal::ZERO;
    let mut day = after(terms.due_date, 1);
    while day <= as_of {
        let paid_before: Decimal = payments
            .iter()
            .filter(|p| p.business_date < day)
            .map(|p| p.principal)
            .sum();
        total += (terms.amount - paid_before) * terms.daily_rate;
        day = after(day, 1);
    }
    total
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .min(terms.amount)
}

proptest! {
    #[test]
    fn payments_of_what_is_owed_keep_the_figures_sound_and_the_last_settles_all(
        terms in terms(),
        start in 0u64..500,
        steps in prop::collection::vec((0u64..120, 1i64..=1000), 0..8),
        final_gap in 0u64..400,
        looks in (0u64..1500, 0u64..1500),
    ) {
        let mut payments = Vec::new();
        // Payments start up to ~100 days before the due date.
        let mut on = after(terms.due_date, start).checked_sub_days(Days::new(100)).expect("date");
        for (gap, thousandths) in steps {
            on = after(on, gap);
            let before = figures_as_of(&terms, &payments, on);
            check_invariants(&before)?;
            let amount = (before.owed() * Decimal::new(thousandths, 3))
                .round_dp_with_strategy(2, RoundingStrategy::ToZero);
            if amount <= Decimal::ZERO {
                continue;
            }
            let split = split_payment(&before, amount).expect("no more than owed");
            payments.push(InvoicePayment { business_date: on, surcharge: split.surcharge, principal: split.principal });
            let paid = figures_as_of(&terms, &payments, on);
            check_invariants(&paid)?;
            prop_assert_eq!(paid.owed(), before.owed() - amount);
        }
        // The accrual only grows with the date: for the same payments, and
        // for the payments made by each date.
        let (first, second) = (after(terms.due_date, looks.0.min(looks.1)), after(terms.due_date, looks.0.max(looks.1)));
        let made_by = |day: NaiveDate| -> Vec<InvoicePayment> {
            payments.iter().copied().filter(|p| p.business_date <= day).collect()
        };
        prop_assert!(
            figures_as_of(&terms, &made_by(first), first).accrued
                <= figures_as_of(&terms, &made_by(first), second).accrued
        );
        prop_assert!(
            figures_as_of(&terms, &made_by(first), first).accrued
                <= figures_as_of(&terms, &made_by(second), second).accrued
        );
        on = after(on, final_gap);
        let last = figures_as_of(&terms, &payments, on);
        check_invariants(&last)?;
        if last.owed() > Decimal::ZERO {
            let split = split_payment(&last, last.owed()).expect("exactly what is owed");
            payments.push(InvoicePayment { business_date: on, surcharge: split.surcharge, principal: split.principal });
        }
        for as_of in [on, after(on, 1), after(on, 1000)] {
            let settled = figures_as_of(&terms, &payments, as_of);
            check_invariants(&settled)?;
            prop_assert_eq!(settled.outstanding, Decimal::ZERO);
            prop_assert_eq!(settled.late_fee, Decimal::ZERO);
            prop_assert_eq!(settled.status, InvoiceStatus::Paid);
        }
    }

    #[test]
    fn the_surcharge_summed_per_stretch_is_the_surcharge_summed_day_by_day(
        terms in terms(),
        dated in prop::collection::vec((0u64..460, 0i64..=1000), 0..8),
        look in 0u64..460,
    ) {
        // Dates from 50 days before the due date to about 400 after, in any
        // order; each payment up to a tenth of the amount (principal only:
        // the surcharge paid does not change the accrual).
        let shift = |day: u64| after(terms.due_date, day).checked_sub_days(Days::new(50)).expect("date");
        let as_of = shift(look);
        let payments: Vec<InvoicePayment> = dated
            .into_iter()
            .map(|(day, ten_thousandths)| InvoicePayment {
                business_date: shift(day),
                surcharge: Decimal::ZERO,
                principal: (terms.amount * Decimal::new(ten_thousandths, 4))
                    .round_dp_with_strategy(2, RoundingStrategy::ToZero),
            })
            .filter(|p| p.business_date <= as_of)
            .collect();
        prop_assert_eq!(
            figures_as_of(&terms, &payments, as_of).accrued,
            accrued_day_by_day(&terms, &payments, as_of)
        );
    }
}
