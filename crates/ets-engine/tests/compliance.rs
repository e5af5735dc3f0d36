//! Verified emissions, surrenders and the compliance report, on the ledger
//! in memory: hand-computed figures, the 5 % offset limit at and over its
//! edge (in one batch too), vintages, pledged units, replaced records.

mod common;

use common::*;
use ets_core::{InstrumentCode, InstrumentKind, InstrumentSpec, LedgerError, SystemAccount};
use ets_engine::{
    Command, CommandError, ComplianceStatus, Emission, EmissionKind, NewEmission, NewPledge,
    NewSurrender, Outcome, Period, Surrender, SurrenderKind,
};
use uuid::Uuid;

fn period(text: &str) -> Period {
    text.parse().expect("a period")
}

fn carbon_spec(code: &str, kind: InstrumentKind, vintage: i32) -> InstrumentSpec {
    InstrumentSpec {
        code: InstrumentCode::parse(code).expect("code"),
        kind,
        pollutant: None,
        unit: "tCO2e".to_owned(),
        scale: 0,
        region_code: None,
        vintage: Some(vintage),
        valid_from: None,
        valid_to: None,
        commission_rate: dec("0"),
        price_band: None,
    }
}

fn cea(vintage: i32) -> InstrumentCode {
    InstrumentCode::parse(&format!("CEA-{vintage}")).expect("code")
}

fn ccer(vintage: i32) -> InstrumentCode {
    InstrumentCode::parse(&format!("CCER-{vintage}")).expect("code")
}

/// A ledger with SO2 rights, allowances of 2024–2026 and offsets of 2025
/// and 2026.
fn carbon_ledger() -> TestLedger {
    let mut ledger = TestLedger::with_so2();
    for vintage in [2024, 2025, 2026] {
        ledger.create_instrument(carbon_spec(
            cea(vintage).as_str(),
            InstrumentKind::CarbonAllowance,
            vintage,
        ));
    }
    for vintage in [2025, 2026] {
        ledger.create_instrument(carbon_spec(
            ccer(vintage).as_str(),
            InstrumentKind::CarbonOffset,
            vintage,
        ));
    }
    ledger
}

fn emission_of(
    ledger: &mut TestLedger,
    who: Uuid,
    year: &str,
    pollutant: Option<&str>,
    quantity: &str,
) -> Command {
    Command::RecordEmission(NewEmission {
        id: ledger.id(),
        participant_id: who,
        period: period(year),
        kind: if pollutant.is_some() {
            EmissionKind::Pollutant
        } else {
            EmissionKind::Carbon
        },
        pollutant: pollutant.map(str::to_owned),
        quantity: dec(quantity),
    })
}

fn record(
    ledger: &mut TestLedger,
    who: Uuid,
    year: &str,
    pollutant: Option<&str>,
    quantity: &str,
) -> Result<Emission, CommandError> {
    let command = emission_of(ledger, who, year, pollutant, quantity);
    ledger.execute(command).map(|outcome| match outcome {
        Outcome::Emission(emission) => emission,
        other => panic!("an emission, got {other:?}"),
    })
}

fn surrender_of(
    ledger: &mut TestLedger,
    who: Uuid,
    instrument: &InstrumentCode,
    quantity: &str,
    year: &str,
) -> Command {
    Command::Surrender(NewSurrender {
        id: ledger.id(),
        participant_id: who,
        instrument: instrument.clone(),
        quantity: dec(quantity),
        period: period(year),
    })
}

fn surrender(
    ledger: &mut TestLedger,
    who: Uuid,
    instrument: &InstrumentCode,
    quantity: &str,
    year: &str,
) -> Result<Surrender, CommandError> {
    let command = surrender_of(ledger, who, instrument, quantity, year);
    ledger.execute(command).map(|outcome| match outcome {
        Outcome::Surrender(surrender) => surrender,
        other => panic!("a surrender, got {other:?}"),
    })
}

#[test]
fn offsets_may_cover_five_percent_of_the_obligation_and_not_one_unit_more() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    ledger.allocate(a, &cea(2025), "2000");
    ledger.allocate(a, &ccer(2025), "200");
    // No emissions recorded: no offset can be surrendered; allowances can.
    assert_eq!(
        surrender(&mut ledger, a, &ccer(2025), "1", "2025").map(|_| ()),
        Err(CommandError::OffsetLimitExceeded)
    );
    record(&mut ledger, a, "2025", None, "1010").expect("recorded");
    // 5 % of 1010 is 50.5: 30 then 20 fit, one more does not.
    let first = surrender(&mut ledger, a, &ccer(2025), "30", "2025").expect("30 offsets");
    assert_eq!(first.kind, SurrenderKind::Offset);
    surrender(&mut ledger, a, &ccer(2025), "20", "2025").expect("50 in all");
    assert_eq!(
        surrender(&mut ledger, a, &ccer(2025), "1", "2025").map(|_| ()),
        Err(CommandError::OffsetLimitExceeded)
    );
    // Another period's offsets are counted apart (and need its own record).
    assert_eq!(
        surrender(&mut ledger, a, &ccer(2025), "1", "2026").map(|_| ()),
        Err(CommandError::OffsetLimitExceeded)
    );
    let allowances = surrender(&mut ledger, a, &cea(2025), "950", "2025").expect("allowances");
    assert_eq!(allowances.kind, SurrenderKind::Allowance);
    assert_eq!(ledger.account(a, &ccer(2025)), (dec("150"), dec("0")));
    assert_eq!(
        ledger.balance(SystemAccount::Surrendered, &ccer(2025)),
        dec("50")
    );
    assert_eq!(
        ledger.balance(SystemAccount::Surrendered, &cea(2025)),
        dec("950")
    );
    let rows = ledger.memory.compliance(period("2025"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].obligation, rows[0].covered, rows[0].shortfall),
        (dec("1010"), dec("1000"), dec("10"))
    );
    assert_eq!(rows[0].status, ComplianceStatus::Shortfall);
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}

#[test]
fn offsets_racing_in_one_batch_are_counted_one_after_another() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    ledger.allocate(a, &ccer(2025), "100");
    record(&mut ledger, a, "2025", None, "1000").expect("recorded");
    let commands: Vec<Command> = (0..4)
        .map(|_| surrender_of(&mut ledger, a, &ccer(2025), "20", "2025"))
        .collect();
    let results = ledger.batch(commands);
    let refused: Vec<Option<CommandError>> = results.into_iter().map(Result::err).collect();
    assert_eq!(
        refused,
        [
            None,
            None,
            Some(CommandError::OffsetLimitExceeded),
            Some(CommandError::OffsetLimitExceeded)
        ]
    );
    assert_eq!(
        ledger.balance(SystemAccount::Surrendered, &ccer(2025)),
        dec("40")
    );
}

#[test]
fn a_later_vintage_than_the_period_is_not_eligible() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    ledger.allocate(a, &cea(2026), "10");
    ledger.allocate(a, &cea(2024), "10");
    ledger.allocate(a, &ccer(2026), "10");
    record(&mut ledger, a, "2025", None, "1000").expect("recorded");
    for instrument in [cea(2026), ccer(2026)] {
        assert_eq!(
            surrender(&mut ledger, a, &instrument, "1", "2025").map(|_| ()),
            Err(CommandError::VintageNotEligible)
        );
    }
    // An earlier vintage is banked: it may be surrendered.
    surrender(&mut ledger, a, &cea(2024), "10", "2025").expect("a banked allowance");
    // Nothing moved for the refused ones.
    assert_eq!(ledger.account(a, &cea(2026)), (dec("10"), dec("0")));
}

#[test]
fn only_available_allowances_of_the_right_kind_are_surrendered() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    ledger.allocate(a, &cea(2025), "10");
    ledger.allocate(a, &so2(), "10");
    let pledge = NewPledge {
        id: ledger.id(),
        participant_id: a,
        instrument: cea(2025),
        quantity: dec("6"),
        pledgee: "中国银行苏州分行".to_owned(),
        reference: "PLG-1".to_owned(),
    };
    ledger.execute(Command::Pledge(pledge)).expect("pledged");
    let short = Err(CommandError::Ledger(
        LedgerError::InsufficientAvailableBalance,
    ));
    assert_eq!(
        surrender(&mut ledger, a, &cea(2025), "5", "2025").map(|_| ()),
        short
    );
    surrender(&mut ledger, a, &cea(2025), "4", "2025").expect("what is not pledged");
    assert_eq!(
        surrender(&mut ledger, a, &so2(), "1", "2026").map(|_| ()),
        Err(CommandError::NotSurrenderable)
    );
    assert_eq!(
        surrender(&mut ledger, a, &cea(2025), "0.5", "2025").map(|_| ()),
        Err(CommandError::Ledger(LedgerError::ScaleExceeded {
            scale: 0
        }))
    );
    let nobody = ledger.id();
    assert_eq!(
        surrender(&mut ledger, nobody, &cea(2025), "1", "2025").map(|_| ()),
        Err(CommandError::UnknownParticipant)
    );
    assert_eq!(
        surrender(
            &mut ledger,
            a,
            &InstrumentCode::parse("CEA-1999").expect("code"),
            "1",
            "2025"
        )
        .map(|_| ()),
        Err(CommandError::Ledger(LedgerError::UnknownInstrument))
    );
}

#[test]
fn a_later_record_replaces_the_earlier_and_covered_is_never_capped() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    ledger.allocate(a, &cea(2025), "1000");
    ledger.allocate(a, &ccer(2025), "100");
    let first = record(&mut ledger, a, "2025", None, "1000").expect("recorded");
    assert_eq!(first.replaces, None);
    surrender(&mut ledger, a, &ccer(2025), "50", "2025").expect("5 % of 1000");
    surrender(&mut ledger, a, &cea(2025), "900", "2025").expect("allowances");
    // Verified again, lower: it replaces the first; the offsets already
    // surrendered stay, and covered is not capped at the new obligation.
    let second = record(&mut ledger, a, "2025", None, "800").expect("replaced");
    assert_eq!(second.replaces, Some(first.id));
    let rows = ledger.memory.compliance(period("2025"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].obligation, rows[0].covered, rows[0].shortfall),
        (dec("800"), dec("950"), dec("0"))
    );
    assert_eq!(rows[0].status, ComplianceStatus::Compliant);
    // 50 offsets are now over 5 % of 800 (40): no more.
    assert_eq!(
        surrender(&mut ledger, a, &ccer(2025), "1", "2025").map(|_| ()),
        Err(CommandError::OffsetLimitExceeded)
    );
    let current: Vec<Uuid> = ledger
        .memory
        .emissions()
        .iter()
        .filter(|(_, by)| by.is_none())
        .map(|(e, _)| e.id)
        .collect();
    assert_eq!(current, [second.id]);
    let kinds: Vec<&str> = ledger
        .memory
        .journal()
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| k.starts_with("emission"))
        .collect();
    assert_eq!(kinds, ["emission.recorded", "emission.recorded"]);
}

#[test]
fn two_records_of_one_key_in_one_batch_leave_the_second_current() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    let commands = vec![
        emission_of(&mut ledger, a, "2025", None, "10"),
        emission_of(&mut ledger, a, "2025", None, "20"),
    ];
    let results = ledger.batch(commands);
    let [Ok(Outcome::Emission(first)), Ok(Outcome::Emission(second))] = &results[..] else {
        panic!("two records, got {results:?}")
    };
    assert_eq!(second.replaces, Some(first.id));
    let rows = ledger.memory.compliance(period("2025"));
    assert_eq!(rows[0].obligation, dec("20"));
}

#[test]
fn a_pollutant_is_covered_by_its_rights_whose_validity_overlaps_the_year() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    // SO2 of Suzhou is valid 2026–2030; another region's, 2021–2025.
    let wuxi = InstrumentSpec {
        code: InstrumentCode::parse("SO2-320200-2021").expect("code"),
        region_code: Some(ets_core::RegionCode::parse("320200").expect("region")),
        valid_from: Some("2021-01-01".parse().expect("date")),
        valid_to: Some("2025-12-31".parse().expect("date")),
        ..so2_spec()
    };
    let wuxi_code = wuxi.code.clone();
    ledger.create_instrument(wuxi);
    ledger.allocate(a, &so2(), "8");
    ledger.allocate(a, &wuxi_code, "5");
    // Pledged rights still count.
    let pledge = NewPledge {
        id: ledger.id(),
        participant_id: a,
        instrument: so2(),
        quantity: dec("3"),
        pledgee: "银行".to_owned(),
        reference: "PLG-2".to_owned(),
    };
    ledger.execute(Command::Pledge(pledge)).expect("pledged");
    record(&mut ledger, a, "2025", Some("SO2"), "6.5").expect("2025");
    record(&mut ledger, a, "2026", Some("SO2"), "6.5").expect("2026");
    let covered = |ledger: &TestLedger, year: &str| {
        let rows = ledger.memory.compliance(period(year));
        (rows[0].covered, rows[0].shortfall, rows[0].status)
    };
    assert_eq!(
        covered(&ledger, "2025"),
        (dec("5"), dec("1.5"), ComplianceStatus::Shortfall)
    );
    assert_eq!(
        covered(&ledger, "2026"),
        (dec("8"), dec("0"), ComplianceStatus::Compliant)
    );
}

#[test]
fn bad_emission_records_change_nothing() {
    let mut ledger = carbon_ledger();
    let a = ledger.participant(1);
    let cases = [
        (
            Some("SO2"),
            EmissionKind::Carbon,
            "1",
            CommandError::PollutantNotAllowed,
        ),
        (
            None,
            EmissionKind::Pollutant,
            "1",
            CommandError::PollutantRequired,
        ),
        (
            Some("Hg"),
            EmissionKind::Pollutant,
            "1",
            CommandError::UnknownPollutant,
        ),
        (
            None,
            EmissionKind::Carbon,
            "-1",
            CommandError::NegativeQuantity,
        ),
        (
            None,
            EmissionKind::Carbon,
            "1.5",
            CommandError::Ledger(LedgerError::ScaleExceeded { scale: 0 }),
        ),
        (
            Some("SO2"),
            EmissionKind::Pollutant,
            "1.1234567",
            CommandError::Ledger(LedgerError::ScaleExceeded { scale: 6 }),
        ),
    ];
    for (pollutant, kind, quantity, error) in cases {
        let command = Command::RecordEmission(NewEmission {
            id: ledger.id(),
            participant_id: a,
            period: period("2025"),
            kind,
            pollutant: pollutant.map(str::to_owned),
            quantity: dec(quantity),
        });
        assert_eq!(ledger.execute(command).map(|_| ()), Err(error));
    }
    let nobody = ledger.id();
    assert_eq!(
        record(&mut ledger, nobody, "2025", None, "1").map(|_| ()),
        Err(CommandError::UnknownParticipant)
    );
    assert!(ledger.memory.emissions().is_empty());
    // Zero is a record: a plant that did not run.
    record(&mut ledger, a, "2025", Some("SO2"), "0").expect("zero");
    // Whole tCO2e are kept whole, whatever places they were written with.
    let whole = record(&mut ledger, a, "2025", None, "1000.000").expect("whole");
    assert_eq!(whole.quantity.to_string(), "1000");
}
