//! The journal's payloads against journals written before they were typed.
//!
//! `fixtures/journal-before-typed-payloads.jsonl` is `ets-ledger journal
//! export` of a demo city plus a session over HTTP that reaches every kind
//! the binary can write; `…-ledger-kinds.jsonl` is the ledger commands only
//! a caller of the engine reaches (transfers, surrenders, holds…), written
//! through [`ets_engine::Memory`]. Both were written by the code that built
//! payloads by hand, so they pin today's encoding byte for byte.
//! `journal-finance.jsonl` pins the kinds added since (`invoice.paid`, an
//! invoice's daily rate), written through `Memory` when they were added;
//! `journal-audit.jsonl` pins `signing_key.rotated` likewise, and
//! `journal-compliance.jsonl` `emission.recorded` (a first record and its
//! replacement) and `surrender.created` (allowances and offsets).

mod common;

use std::collections::BTreeSet;

use common::{TestLedger, cny, dec, so2};

use ets_core::journal::canonical_json;
use ets_core::{HoldPurpose, JournalEntry, Owner, SystemAccount, Verifier};
use ets_engine::Command;
use ets_engine::payload::{ENTITY_KINDS, LEDGER_KINDS, Payload};

const DEMO: &str = include_str!("fixtures/journal-before-typed-payloads.jsonl");
const LEDGER_ONLY: &str = include_str!("fixtures/journal-before-typed-payloads-ledger-kinds.jsonl");
const FINANCE: &str = include_str!("fixtures/journal-finance.jsonl");
const AUDIT: &str = include_str!("fixtures/journal-audit.jsonl");
const COMPLIANCE: &str = include_str!("fixtures/journal-compliance.jsonl");

fn entries(fixture: &str) -> Vec<JournalEntry> {
    fixture
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("line {} is not an entry: {error}", n + 1))
        })
        .collect()
}

fn fixtures() -> [(&'static str, Vec<JournalEntry>); 5] {
    [
        ("demo", entries(DEMO)),
        ("ledger kinds", entries(LEDGER_ONLY)),
        ("finance", entries(FINANCE)),
        ("audit", entries(AUDIT)),
        ("compliance", entries(COMPLIANCE)),
    ]
}

#[test]
fn every_fixture_is_one_intact_chain() {
    for (name, entries) in fixtures() {
        let mut verifier = Verifier::new();
        for entry in &entries {
            verifier.push(entry);
        }
        let verification = verifier.finish();
        assert!(verification.ok, "{name}: {verification:?}");
        assert_eq!(
            verification.entries,
            i64::try_from(entries.len()).expect("a count")
        );
        assert_eq!(
            verification.head_hash,
            entries.last().expect("entries").hash
        );
    }
}

#[test]
fn every_payload_reads_as_its_kinds_type_and_writes_the_same_bytes_again() {
    for (name, entries) in fixtures() {
        for entry in &entries {
            let typed = Payload::parse(&entry.kind, &entry.payload)
                .unwrap_or_else(|error| panic!("{name} seq {}: {error}", entry.seq));
            assert_eq!(
                canonical_json(&typed.to_value()),
                canonical_json(&entry.payload),
                "{name} seq {} ({})",
                entry.seq,
                entry.kind
            );
        }
    }
}

#[test]
fn every_kind_the_engine_writes_is_in_a_fixture() {
    let seen: BTreeSet<String> = fixtures()
        .into_iter()
        .flat_map(|(_, entries)| entries.into_iter().map(|entry| entry.kind))
        .collect();
    let missing: Vec<&str> = ENTITY_KINDS
        .iter()
        .chain(LEDGER_KINDS.iter())
        .copied()
        .filter(|kind| !seen.contains(*kind))
        .collect();
    assert!(
        missing.is_empty(),
        "no fixture entry of {missing:?}: add one (a journal written before the kind's payload changes)"
    );
    let unknown: Vec<&String> = seen
        .iter()
        .filter(|kind| {
            !ENTITY_KINDS.contains(&kind.as_str()) && !LEDGER_KINDS.contains(&kind.as_str())
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "kinds with no payload type: {unknown:?}"
    );
}

/// The commands that wrote the ledger-kinds fixture, one batch each, 7 ms
/// apart.
fn ledger_commands(ledger: &mut TestLedger) -> Vec<Command> {
    let [a_id, b_id] = ledger.participants([1, 2]);
    let hold = ledger.id();
    let (a, b) = (Owner::Participant(a_id), Owner::Participant(b_id));
    vec![
        Command::allocate(a_id, so2(), dec("100.5")),
        Command::transfer(so2(), a, b, dec("10.25")),
        Command::deposit(a_id, dec("5000")).with_reference("BANK-1"),
        Command::withdraw(a_id, dec("120.50")),
        Command::surrender(a_id, so2(), dec("1.5")),
        Command::retire(b_id, so2(), dec("0.25")),
        Command::reclaim(b_id, so2(), dec("1")),
        Command::place_hold(hold, a, so2(), dec("5"), HoldPurpose::Other),
        Command::settle_hold(hold, b, dec("2")),
        Command::release_hold(hold),
        Command::transfer(
            cny(),
            Owner::System(SystemAccount::ExternalCash),
            b,
            dec("0.01"),
        ),
    ]
}

#[test]
fn the_engine_writes_the_ledger_kinds_fixture_again_hash_for_hash() {
    let mut ledger = TestLedger::with_so2();
    for command in ledger_commands(&mut ledger) {
        ledger.execute(command).expect("the command applies");
        ledger.advance(chrono::Duration::milliseconds(7));
    }
    let written = ledger.memory.journal();
    let stored = entries(LEDGER_ONLY);
    assert_eq!(written.len(), stored.len());
    for (written, stored) in written.iter().zip(&stored) {
        assert_eq!(
            canonical_json(&written.payload),
            canonical_json(&stored.payload),
            "seq {} ({})",
            stored.seq,
            stored.kind
        );
        assert_eq!(written, stored, "seq {}", stored.seq);
    }
}

/// The commands that wrote the finance fixture (`invoice.paid`, and the
/// allocation whose invoice carries its daily rate), one batch each, 7 ms
/// apart.
fn finance_commands(ledger: &mut TestLedger) -> Vec<Command> {
    let a_id = ledger.participant(1);
    let invoice_id = ledger.id();
    let allocation = ets_engine::NewAllocation {
        id: ledger.id(),
        participant_id: a_id,
        instrument: so2(),
        quantity: dec("10"),
        paid: Some(ets_engine::PaidUse {
            invoice_id,
            unit_fee: dec("200"),
            years: 5,
            due_date: "2026-05-22".parse().expect("date"),
            daily_rate: ets_engine::DEFAULT_DAILY_SURCHARGE_RATE,
        }),
    };
    let payment = |ledger: &mut TestLedger, amount: &str, source| {
        Command::PayInvoice(ets_engine::NewPayment {
            id: ledger.id(),
            invoice_id,
            amount: dec(amount),
            source,
            reference: "BANK-2026-0001".to_owned(),
        })
    };
    vec![
        Command::Allocate(allocation),
        Command::deposit(a_id, dec("2000.00")),
        payment(ledger, "1050.00", ets_engine::PaymentSource::CashAccount),
        payment(ledger, "8950.00", ets_engine::PaymentSource::External),
    ]
}

#[test]
fn the_engine_writes_the_finance_fixture_again_hash_for_hash() {
    let mut ledger = TestLedger::with_so2();
    for command in finance_commands(&mut ledger) {
        ledger.execute(command).expect("the command applies");
        ledger.advance(chrono::Duration::milliseconds(7));
    }
    assert_eq!(ledger.memory.journal(), entries(FINANCE).as_slice());
}

/// A signing key as stored: fixed bytes (the engine never reads them, it
/// only journals the kid and the public half).
fn signing_key(n: u8) -> ets_engine::NewSigningKey {
    ets_engine::NewSigningKey {
        kid: format!("{n:016x}"),
        pkcs8: vec![n; 48],
        public_key: vec![n; 32],
    }
}

/// The commands that wrote the audit fixture (`signing_key.rotated`), one
/// batch each, 7 ms apart.
fn audit_commands() -> Vec<Command> {
    vec![
        Command::CreateSigningKey(signing_key(1)),
        Command::RotateSigningKey(signing_key(2)),
    ]
}

#[test]
fn the_engine_writes_the_audit_fixture_again_hash_for_hash() {
    let mut ledger = TestLedger::with_so2();
    for command in audit_commands() {
        ledger.execute(command).expect("the command applies");
        ledger.advance(chrono::Duration::milliseconds(7));
    }
    let written = ledger.memory.journal();
    assert_eq!(written, entries(AUDIT).as_slice());
}

#[test]
fn a_key_stored_before_is_not_installed_again_and_generations_count_up() {
    let mut ledger = TestLedger::with_so2();
    for command in audit_commands() {
        ledger.execute(command).expect("the command applies");
    }
    for again in [
        Command::CreateSigningKey(signing_key(3)),
        Command::RotateSigningKey(signing_key(1)),
        Command::RotateSigningKey(signing_key(2)),
    ] {
        assert_eq!(
            ledger.execute(again).map(|_| ()),
            Err(ets_engine::CommandError::SigningKeyExists)
        );
    }
    let kinds: Vec<String> = ledger
        .memory
        .journal()
        .iter()
        .map(|entry| entry.kind.clone())
        .filter(|kind| kind.starts_with("signing_key"))
        .collect();
    assert_eq!(kinds, ["signing_key.created", "signing_key.rotated"]);
    ledger
        .execute(Command::RotateSigningKey(signing_key(4)))
        .expect("a new key rotates in");
}

/// The commands that wrote the compliance fixture (`emission.recorded`, a
/// replacement, a pollutant's record, `surrender.created` of allowances and
/// offsets), one batch each, 7 ms apart.
fn compliance_commands(ledger: &mut TestLedger) -> Vec<Command> {
    let carbon = |code: &str, kind, vintage| ets_core::InstrumentSpec {
        code: ets_core::InstrumentCode::parse(code).expect("code"),
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
    };
    let cea = carbon("CEA-2025", ets_core::InstrumentKind::CarbonAllowance, 2025);
    let ccer = carbon("CCER-2025", ets_core::InstrumentKind::CarbonOffset, 2025);
    let a_id = ledger.participant(1);
    let period: ets_engine::Period = "2025".parse().expect("period");
    let emission = |ledger: &mut TestLedger, pollutant: Option<&str>, quantity: &str| {
        Command::RecordEmission(ets_engine::NewEmission {
            id: ledger.id(),
            participant_id: a_id,
            period,
            kind: if pollutant.is_some() {
                ets_engine::EmissionKind::Pollutant
            } else {
                ets_engine::EmissionKind::Carbon
            },
            pollutant: pollutant.map(str::to_owned),
            quantity: dec(quantity),
        })
    };
    let first = emission(ledger, None, "1200");
    let replaced = emission(ledger, None, "1000");
    let so2_emitted = emission(ledger, Some("SO2"), "12.5");
    let surrender = |ledger: &mut TestLedger, code: &ets_core::InstrumentCode, quantity: &str| {
        Command::Surrender(ets_engine::NewSurrender {
            id: ledger.id(),
            participant_id: a_id,
            instrument: code.clone(),
            quantity: dec(quantity),
            period,
        })
    };
    let allowances = surrender(ledger, &cea.code, "900");
    let offsets = surrender(ledger, &ccer.code, "50");
    vec![
        Command::CreateInstrument(cea.clone()),
        Command::CreateInstrument(ccer.clone()),
        Command::allocate(a_id, cea.code.clone(), dec("1000")),
        Command::allocate(a_id, ccer.code.clone(), dec("60")),
        first,
        replaced,
        so2_emitted,
        allowances,
        offsets,
    ]
}

#[test]
fn the_engine_writes_the_compliance_fixture_again_hash_for_hash() {
    let mut ledger = TestLedger::with_so2();
    for command in compliance_commands(&mut ledger) {
        ledger.execute(command).expect("the command applies");
        ledger.advance(chrono::Duration::milliseconds(7));
    }
    let written = ledger.memory.journal();
    assert_eq!(written, entries(COMPLIANCE).as_slice());
}
