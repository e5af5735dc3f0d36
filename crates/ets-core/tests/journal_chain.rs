//! The tamper-evident journal (SPEC §6): a chain built with
//! [`JournalHead::append`] verifies, and any edit, deletion or reordering of
//! an entry is caught at the first bad entry.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use ets_core::journal::{self, GENESIS_HASH, canonical_json, entry_hash};
use ets_core::{Actor, JournalEntry, JournalHead, Verifier};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

/// Text with ASCII, quotes, backslashes, control characters, Chinese and
/// characters outside the Basic Multilingual Plane.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:/\"\\\\\n\t排污权有偿使用和交易碳排放二氧化硫化学需氧量氨氮许可证企业信用评价银政企😀]{0,16}"
}

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z_排污碳权é😀]{1,8}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![0.5_f64, 1.25, 1e-7, 2.5e300, -0.75, 230.0])
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), value()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(Actor::cli()),
        Just(Actor::system()),
        (
            "[a-z0-9-]{1,12}",
            prop::sample::select(vec!["admin", "enterprise", "regulator", "finance"])
        )
            .prop_map(|(client_id, role)| Actor {
                client_id,
                role: role.to_owned()
            }),
    ]
}

fn kind() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "participant.created",
            "instrument.created",
            "ledger.transfer",
            "hold.placed",
            "hold.released",
            "trade.settled",
            "credential.issued",
            "emissions.recorded",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,8}\\.[a-z_]{1,10}",
        "[排污碳]{1,3}\\.[a-z]{1,6}",
    ]
}

/// What one append is made of: the gap since the previous entry (in µs and
/// ns, so that some times need truncating), who, what and the payload.
#[derive(Debug, Clone)]
struct Spec {
    gap_micros: i64,
    gap_nanos: i64,
    actor: Actor,
    kind: String,
    payload: Value,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0_i64..5_000_000_000,
        0_i64..1_000,
        actor(),
        kind(),
        payload(),
    )
        .prop_map(|(gap_micros, gap_nanos, actor, kind, payload)| Spec {
            gap_micros,
            gap_nanos,
            actor,
            kind,
            payload,
        })
}

fn specs(min: usize) -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(spec(), min..=16)
}

fn start() -> DateTime<Utc> {
    // 2026-01-01T00:00:00Z
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid instant")
}

fn build_after(head: &mut JournalHead, mut at: DateTime<Utc>, specs: &[Spec]) -> Vec<JournalEntry> {
    specs
        .iter()
        .map(|spec| {
            at += TimeDelta::microseconds(spec.gap_micros) + TimeDelta::nanoseconds(spec.gap_nanos);
            head.append(at, spec.actor.clone(), &spec.kind, spec.payload.clone())
        })
        .collect()
}

fn build(specs: &[Spec]) -> Vec<JournalEntry> {
    build_after(&mut JournalHead::genesis(), start(), specs)
}

// ---------------------------------------------------------------------------
// Tampering.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Edit {
    /// Wrap the payload in another object.
    WrapPayload,
    /// Change or add one top-level payload value.
    ChangePayloadValue,
    /// Drop the payload's keys (or give an empty one a key).
    EmptyPayload,
    Kind,
    ClientId,
    Role,
    /// Move `at` by a non-zero number of microseconds.
    At(i64),
    /// Flip one hex digit of `prev_hash`.
    PrevHash(Index),
    /// Flip one hex digit of `hash`.
    Hash(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::WrapPayload),
        Just(Edit::ChangePayloadValue),
        Just(Edit::EmptyPayload),
        Just(Edit::Kind),
        Just(Edit::ClientId),
        Just(Edit::Role),
        prop_oneof![1_i64..=1_000_000_000, -1_000_000_000_i64..=-1].prop_map(Edit::At),
        any::<Index>().prop_map(Edit::PrevHash),
        any::<Index>().prop_map(Edit::Hash),
    ]
}

fn flip_hex_digit(hex: &str, at: &Index) -> String {
    let position = at.index(hex.len());
    hex.char_indices()
        .map(|(i, c)| match (i == position, c) {
            (false, c) => c,
            (true, '0') => '1',
            (true, _) => '0',
        })
        .collect()
}

fn tamper(entry: &mut JournalEntry, edit: &Edit) {
    let before = entry.clone();
    match edit {
        Edit::WrapPayload => entry.payload = json!({ "tampered": entry.payload.take() }),
        Edit::ChangePayloadValue => {
            let map = entry.payload.as_object_mut().expect("payloads are objects");
            match map.values_mut().next() {
                Some(value) if *value == Value::Bool(true) => *value = Value::Bool(false),
                Some(value) => *value = Value::Bool(true),
                None => {
                    map.insert("数量".to_owned(), json!("1000.000"));
                }
            }
        }
        Edit::EmptyPayload => {
            if entry.payload == json!({}) {
                entry.payload = json!({ "note": "" });
            } else {
                entry.payload = json!({});
            }
        }
        Edit::Kind => entry.kind.push_str(".edited"),
        Edit::ClientId => entry.actor.client_id.push('x'),
        Edit::Role => {
            entry.actor.role = if entry.actor.role == "admin" {
                "regulator"
            } else {
                "admin"
            }
            .to_owned();
        }
        Edit::At(micros) => entry.at += TimeDelta::microseconds(*micros),
        Edit::PrevHash(at) => entry.prev_hash = flip_hex_digit(&entry.prev_hash, at),
        Edit::Hash(at) => entry.hash = flip_hex_digit(&entry.hash, at),
    }
    assert_ne!(*entry, before, "the edit must change the entry");
}

fn hash_before(entries: &[JournalEntry], index: usize) -> String {
    index
        .checked_sub(1)
        .map_or_else(|| GENESIS_HASH.to_owned(), |i| entries[i].hash.clone())
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_chain_built_by_appending_verifies(specs in specs(0)) {
        let mut head = JournalHead::genesis();
        let entries = build_after(&mut head, start(), &specs);

        let verification = journal::verify(&entries);

        prop_assert!(verification.ok);
        prop_assert_eq!(verification.first_bad_seq, None);
        prop_assert_eq!(verification.entries, i64::try_from(entries.len()).expect("a short chain"));
        let last_hash = entries.last().map_or_else(|| GENESIS_HASH.to_owned(), |e| e.hash.clone());
        prop_assert_eq!(&verification.head_hash, &last_hash);
        prop_assert_eq!(&head, &JournalHead { seq: verification.entries, hash: last_hash });
        for (i, entry) in entries.iter().enumerate() {
            prop_assert_eq!(entry.seq, i64::try_from(i).expect("a short chain") + 1, "seq without gaps");
            prop_assert_eq!(&entry.prev_hash, &hash_before(&entries, i), "linked to the entry before");
            prop_assert_eq!(entry.hash.len(), 64);
            prop_assert!(entry.hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "lower-case hex");
            prop_assert_eq!(entry.at.nanosecond() % 1_000, 0, "at is kept to the microsecond");
            prop_assert_eq!(&entry.payload, &specs[i].payload);
        }
    }

    #[test]
    fn editing_any_one_entry_is_caught_at_that_entry(specs in specs(1), which in any::<Index>(), edit in edit()) {
        let mut entries = build(&specs);
        let index = which.index(entries.len());
        tamper(&mut entries[index], &edit);

        let verification = journal::verify(&entries);

        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(entries[index].seq));
        prop_assert_eq!(verification.entries, i64::try_from(entries.len()).expect("a short chain"));
        prop_assert_eq!(verification.head_hash, hash_before(&entries, index));
    }

    #[test]
    fn deleting_any_entry_but_the_last_is_caught_at_its_seq(specs in specs(2), which in any::<Index>()) {
        let mut entries = build(&specs);
        let index = which.index(entries.len() - 1);
        let deleted = entries.remove(index);

        let verification = journal::verify(&entries);

        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(deleted.seq));
    }

    #[test]
    fn deleting_the_last_entry_is_caught_against_a_kept_checkpoint(specs in specs(1)) {
        let mut head = JournalHead::genesis();
        let mut entries = build_after(&mut head, start(), &specs);
        let checkpoint = head;
        entries.pop();

        let verification = journal::verify(&entries);

        // The shortened journal is internally consistent; only the kept
        // checkpoint shows that something is missing.
        prop_assert!(verification.ok);
        prop_assert_eq!(verification.entries, checkpoint.seq - 1);
        prop_assert_ne!(verification.head_hash, checkpoint.hash);
    }

    #[test]
    fn swapping_two_adjacent_entries_is_caught_at_the_first_position(specs in specs(2), which in any::<Index>()) {
        let mut entries = build(&specs);
        let index = which.index(entries.len() - 1);
        entries.swap(index, index + 1);

        let verification = journal::verify(&entries);

        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(i64::try_from(index).expect("a short chain") + 1));
    }

    #[test]
    fn an_edit_that_rehashes_its_own_entry_is_caught_at_the_next_one(specs in specs(2), which in any::<Index>()) {
        let mut entries = build(&specs);
        let index = which.index(entries.len() - 1);
        let entry = &mut entries[index];
        tamper(entry, &Edit::WrapPayload);
        entry.hash = entry_hash(&entry.prev_hash, entry.seq, entry.at, &entry.actor, &entry.kind, &entry.payload);

        let verification = journal::verify(&entries);

        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(entries[index].seq + 1));
    }

    #[test]
    fn a_verifier_starting_at_a_checkpoint_verifies_the_suffix(specs in specs(0), which in any::<Index>()) {
        let entries = build(&specs);
        let kept = which.index(entries.len() + 1);
        let checkpoint = JournalHead {
            seq: i64::try_from(kept).expect("a short chain"),
            hash: hash_before(&entries, kept),
        };

        let mut verifier = Verifier::starting_at(checkpoint.clone());
        for entry in &entries[kept..] {
            verifier.push(entry);
        }
        let head = verifier.head().clone();
        let verification = verifier.finish();

        prop_assert!(verification.ok);
        prop_assert_eq!(verification.entries, i64::try_from(entries.len() - kept).expect("a short chain"));
        let last = entries.last().map_or(checkpoint.hash, |e| e.hash.clone());
        prop_assert_eq!(&verification.head_hash, &last);
        prop_assert_eq!(head.seq, i64::try_from(entries.len()).expect("a short chain"));
    }

    #[test]
    fn a_suffix_that_skips_an_entry_after_the_checkpoint_is_caught(specs in specs(2), which in any::<Index>()) {
        let entries = build(&specs);
        let kept = which.index(entries.len() - 1);
        let checkpoint = JournalHead {
            seq: i64::try_from(kept).expect("a short chain"),
            hash: hash_before(&entries, kept),
        };

        let mut verifier = Verifier::starting_at(checkpoint.clone());
        for entry in &entries[kept + 1..] {
            verifier.push(entry);
        }
        let verification = verifier.finish();

        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(checkpoint.seq + 1));
        prop_assert_eq!(verification.head_hash, checkpoint.hash);
    }

    #[test]
    fn a_suffix_of_another_chain_does_not_continue_the_checkpoint(
        specs in specs(2),
        other in specs(2),
        which in any::<Index>(),
    ) {
        let entries = build(&specs);
        let forged = build(&other);
        let kept = 1 + which.index(entries.len().min(forged.len()) - 1);
        prop_assume!(forged[kept - 1].hash != entries[kept - 1].hash);
        let checkpoint = JournalHead {
            seq: i64::try_from(kept).expect("a short chain"),
            hash: entries[kept - 1].hash.clone(),
        };

        let mut verifier = Verifier::starting_at(checkpoint.clone());
        for entry in &forged[kept..] {
            verifier.push(entry);
        }
        let verification = verifier.finish();

        // The forged suffix is internally consistent and has the right seqs,
        // but its first entry does not link to the kept head.
        prop_assert!(!verification.ok);
        prop_assert_eq!(verification.first_bad_seq, Some(checkpoint.seq + 1));
        prop_assert_eq!(verification.head_hash, checkpoint.hash);
    }

    #[test]
    fn canonical_json_does_not_depend_on_insertion_order(
        pairs in prop::collection::btree_map(key(), value(), 0..8),
        rotation in any::<Index>(),
    ) {
        let pairs: Vec<(String, Value)> = pairs.into_iter().collect();
        let forwards: Map<String, Value> = pairs.iter().cloned().collect();
        let backwards: Map<String, Value> = pairs.iter().rev().cloned().collect();
        let mut rotated = pairs.clone();
        if !rotated.is_empty() {
            let by = rotation.index(rotated.len());
            rotated.rotate_left(by);
        }
        let rotated: Map<String, Value> = rotated.into_iter().collect();

        let canonical = canonical_json(&Value::Object(forwards.clone()));

        prop_assert_eq!(&canonical_json(&Value::Object(backwards)), &canonical);
        prop_assert_eq!(&canonical_json(&Value::Object(rotated)), &canonical);
        // Keys in byte order, nothing between the tokens.
        let mut sorted = pairs.clone();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let members: Vec<String> = sorted
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).expect("a string"), canonical_json(v)))
            .collect();
        prop_assert_eq!(&canonical, &format!("{{{}}}", members.join(",")));
        // It is still the same JSON.
        let reparsed: Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
        prop_assert_eq!(reparsed, Value::Object(forwards));
    }

    #[test]
    fn canonical_json_of_any_value_parses_back_to_it(value in value()) {
        let canonical = canonical_json(&value);
        let reparsed: Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
        prop_assert_eq!(&reparsed, &value);
        prop_assert_eq!(canonical_json(&reparsed), canonical);
    }
}

// ---------------------------------------------------------------------------
// Examples.
// ---------------------------------------------------------------------------

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

#[test]
fn canonical_json_sorts_keys_by_their_bytes_at_every_depth() {
    let value = json!({
        "b": 1,
        "é": 2,
        "a": {"z": [true, null, "排污权", {"y": 1, "x": 0}], "A": "x\"y\n"},
        "Z": 3,
    });
    assert_eq!(
        canonical_json(&value),
        r#"{"Z":3,"a":{"A":"x\"y\n","z":[true,null,"排污权",{"x":0,"y":1}]},"b":1,"é":2}"#
    );
}

#[test]
fn canonical_json_orders_by_bytes_not_by_utf16_units() {
    // U+FF61 is EF BD A1 in UTF-8 but 0xFF61 in UTF-16; U+1F600 is F0 9F 98 80
    // in UTF-8 but starts with the surrogate 0xD83D in UTF-16.
    let mut map = Map::new();
    map.insert("😀".to_owned(), json!(1));
    map.insert("｡".to_owned(), json!(2));
    map.insert("碳".to_owned(), json!(3));
    assert_eq!(
        canonical_json(&Value::Object(map)),
        r#"{"碳":3,"｡":2,"😀":1}"#
    );
}

#[test]
fn an_entry_hash_is_sha256_of_the_previous_hash_and_the_canonical_body() {
    let mut head = JournalHead::genesis();
    let actor = Actor {
        client_id: "regulator-01".to_owned(),
        role: "regulator".to_owned(),
    };
    let first = head.append(
        at("2026-03-01T08:30:00.123456789Z"),
        actor.clone(),
        "emissions.recorded",
        json!({"period": "2025", "pollutant": "SO2", "数量": "12.500", "备注": {"来源": "在线监测"}}),
    );
    let second = head.append(
        at("2026-03-01T08:30:01Z"),
        Actor::cli(),
        "participant.created",
        json!({}),
    );

    let body = r#"{"actor":{"client_id":"regulator-01","role":"regulator"},"at":"2026-03-01T08:30:00.123456Z","kind":"emissions.recorded","payload":{"period":"2025","pollutant":"SO2","备注":{"来源":"在线监测"},"数量":"12.500"},"seq":1}"#;
    let mut hasher = Sha256::new();
    hasher.update([0_u8; 32]);
    hasher.update(body.as_bytes());
    assert_eq!(first.hash, hex::encode(hasher.finalize()));
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(first.at, at("2026-03-01T08:30:00.123456Z"));

    let body = r#"{"actor":{"client_id":"cli","role":"admin"},"at":"2026-03-01T08:30:01.000000Z","kind":"participant.created","payload":{},"seq":2}"#;
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(&first.hash).expect("hex"));
    hasher.update(body.as_bytes());
    assert_eq!(second.hash, hex::encode(hasher.finalize()));
    assert_eq!(second.prev_hash, first.hash);
    assert!(journal::verify([&first, &second]).ok);
}

#[test]
fn a_head_kept_as_a_checkpoint_continues_the_chain() {
    let mut head = JournalHead::genesis();
    let mut entries = Vec::new();
    for i in 0..5 {
        entries.push(head.append(
            start() + TimeDelta::seconds(i),
            Actor::system(),
            "hold.released",
            json!({"hold": i, "原因": "订单撤销"}),
        ));
    }
    let checkpoint = head.clone();
    for i in 5..9 {
        entries.push(head.append(
            start() + TimeDelta::seconds(i),
            Actor::cli(),
            "ledger.transfer",
            json!({"quantity": format!("{i}.000")}),
        ));
    }

    let mut verifier = Verifier::starting_at(checkpoint.clone());
    for entry in &entries[5..] {
        verifier.push(entry);
    }
    let verification = verifier.finish();
    assert!(verification.ok);
    assert_eq!(verification.entries, 4);
    assert_eq!(verification.head_hash, head.hash);
    assert!(journal::verify(&entries).ok);

    // The same suffix does not extend a different checkpoint.
    let mut verifier = Verifier::starting_at(JournalHead {
        seq: 5,
        hash: entries[3].hash.clone(),
    });
    for entry in &entries[5..] {
        verifier.push(entry);
    }
    assert_eq!(verifier.finish().first_bad_seq, Some(6));
}

#[test]
fn verification_names_the_first_bad_entry_and_still_counts_the_rest() {
    let mut head = JournalHead::genesis();
    let mut entries: Vec<JournalEntry> = (0..6)
        .map(|i| {
            head.append(
                start() + TimeDelta::minutes(i),
                Actor::cli(),
                "trade.settled",
                json!({"n": i}),
            )
        })
        .collect();
    entries[2].payload = json!({"n": 200});
    entries[4].kind = "trade.cancelled".to_owned();

    let verification = journal::verify(&entries);

    assert!(!verification.ok);
    assert_eq!(verification.first_bad_seq, Some(3));
    assert_eq!(verification.entries, 6);
    assert_eq!(verification.head_hash, entries[1].hash);
}

#[test]
fn an_unreadable_entry_is_named_by_its_position() {
    let mut head = JournalHead::genesis();
    let entries: Vec<JournalEntry> = (0..3)
        .map(|i| {
            head.append(
                start() + TimeDelta::minutes(i),
                Actor::cli(),
                "credential.issued",
                json!({}),
            )
        })
        .collect();
    let mut verifier = Verifier::new();
    for entry in &entries {
        verifier.push(entry);
    }
    verifier.push_unreadable();
    verifier.push(&entries[0]);
    let verification = verifier.finish();
    assert_eq!(verification.first_bad_seq, Some(4));
    assert_eq!(verification.entries, 5);
    assert_eq!(verification.head_hash, entries[2].hash);
}

#[test]
fn an_empty_journal_verifies_to_the_genesis_hash() {
    let verification = journal::verify(std::iter::empty::<&JournalEntry>());
    assert!(verification.ok);
    assert_eq!(verification.entries, 0);
    assert_eq!(verification.head_hash, GENESIS_HASH);
    assert_eq!(verification.head_hash.len(), 64);
}
