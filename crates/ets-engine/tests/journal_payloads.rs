//! The journal's payloads against journals written before they were typed.
//!
//! `fixtures/journal-before-typed-payloads.jsonl` is `ets-ledger journal
//! export` of a demo city plus a session over HTTP that reaches every kind
//! the binary can write; `…-ledger-kinds.jsonl` is the ledger commands only
//! a caller of the engine reaches (transfers, surrenders, holds…), written
//! through [`ets_engine::Memory`]. Both were written by the code that built
//! payloads by hand, so they pin today's encoding byte for byte.

use ets_core::{JournalEntry, Verifier};

const DEMO: &str = include_str!("fixtures/journal-before-typed-payloads.jsonl");
const LEDGER_KINDS: &str =
    include_str!("fixtures/journal-before-typed-payloads-ledger-kinds.jsonl");

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

fn fixtures() -> [(&'static str, Vec<JournalEntry>); 2] {
    [
        ("demo", entries(DEMO)),
        ("ledger kinds", entries(LEDGER_KINDS)),
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
