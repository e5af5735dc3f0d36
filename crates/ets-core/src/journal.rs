//! The tamper-evident journal: every state change appends an entry whose hash
//! links it to the one before.
//!
//! `hash = SHA-256(prev_hash_bytes ‖ canonical_bytes)`, where `prev_hash_bytes`
//! are the 32 raw bytes of the previous entry's hash (32 zero bytes for seq 1)
//! and `canonical_bytes` is the UTF-8 of the canonical JSON object
//! `{"actor":…,"at":…,"kind":…,"payload":…,"seq":…}`: keys sorted by their
//! bytes, no insignificant whitespace, strings escaped as `serde_json` does.
//! `at` is RFC 3339 in UTC with exactly six fractional digits.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who caused a state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The credential's client id, or `cli` / `system` for the binary itself.
    pub client_id: String,
    /// The credential's role.
    pub role: String,
}

impl Actor {
    /// The operator running an `ets-ledger` command on the server itself.
    #[must_use]
    pub fn cli() -> Self {
        Self {
            client_id: "cli".to_owned(),
            role: "admin".to_owned(),
        }
    }

    /// The ledger acting on its own (expiries, scheduled closes).
    #[must_use]
    pub fn system() -> Self {
        Self {
            client_id: "system".to_owned(),
            role: "system".to_owned(),
        }
    }
}

/// One committed journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When the change was committed (microsecond precision).
    pub at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// What kind of change (`participant.created`, `ledger.transfer`, …).
    pub kind: String,
    /// The change itself.
    pub payload: Value,
    /// Hash of the previous entry (64 zeros for seq 1).
    pub prev_hash: String,
    /// Hex SHA-256 linking this entry to the previous one.
    pub hash: String,
}

/// Where the chain stands: the last entry's seq and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHead {
    /// Seq of the last entry, 0 for an empty journal.
    pub seq: i64,
    /// Hash of the last entry, [`GENESIS_HASH`] for an empty journal.
    pub hash: String,
}

impl JournalHead {
    /// The head of an empty journal.
    #[must_use]
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }

    /// Appends an entry after this head and moves the head onto it.
    pub fn append(
        &mut self,
        at: DateTime<Utc>,
        actor: Actor,
        kind: &str,
        payload: Value,
    ) -> JournalEntry {
        let seq = self.seq + 1;
        let at = truncate_to_micros(at);
        let hash = entry_hash(&self.hash, seq, at, &actor, kind, &payload);
        let entry = JournalEntry {
            seq,
            at,
            actor,
            kind: kind.to_owned(),
            payload,
            prev_hash: std::mem::replace(&mut self.hash, hash.clone()),
            hash,
        };
        self.seq = seq;
        entry
    }
}

/// Drops sub-microsecond precision, which neither database keeps.
#[must_use]
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// RFC 3339 in UTC with six fractional digits, as hashed and exported.
#[must_use]
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace.
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of an entry with these fields after `prev_hash`.
#[must_use]
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: DateTime<Utc>,
    actor: &Actor,
    kind: &str,
    payload: &Value,
) -> String {
    let body = serde_json::json!({
        "seq": seq,
        "at": format_time(at),
        "actor": {"client_id": actor.client_id, "role": actor.role},
        "kind": kind,
        "payload": payload,
    });
    let mut hasher = Sha256::new();
    // A malformed prev_hash hashes as its text, so it can never match a good chain.
    match hex::decode(prev_hash) {
        Ok(bytes) if bytes.len() == 32 => hasher.update(&bytes),
        _ => hasher.update(prev_hash.as_bytes()),
    }
    hasher.update(canonical_json(&body).as_bytes());
    hex::encode(hasher.finalize())
}

/// The outcome of verifying a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// True when every entry is intact and in place.
    pub ok: bool,
    /// How many entries were read.
    pub entries: i64,
    /// Hash of the last good entry (genesis when none).
    pub head_hash: String,
    /// Seq of the first entry that is edited, missing or out of place.
    pub first_bad_seq: Option<i64>,
}

/// Checks a journal in streaming fashion, one entry at a time, in the order
/// read.
#[derive(Debug, Clone)]
pub struct Verifier {
    head: JournalHead,
    entries: i64,
    first_bad_seq: Option<i64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier expecting the journal's first entry.
    #[must_use]
    pub fn new() -> Self {
        Self::starting_at(JournalHead::genesis())
    }

    /// A verifier expecting the entry after `head` (to verify a page or an
    /// export that extends a kept checkpoint).
    #[must_use]
    pub fn starting_at(head: JournalHead) -> Self {
        Self {
            head,
            entries: 0,
            first_bad_seq: None,
        }
    }

    /// Checks the next entry. Once an entry is bad, later ones are counted but
    /// not checked: the first bad seq is what is reported.
    ///
    /// An entry is bad when its seq is not the next one (a deletion or a
    /// reordering), its `prev_hash` is not the previous entry's hash, or its
    /// hash does not match its contents (an edit). The seq reported is the
    /// expected seq at that position, so a deleted entry is named by its own
    /// seq.
    pub fn push(&mut self, entry: &JournalEntry) {
        self.entries += 1;
        if self.first_bad_seq.is_some() {
            return;
        }
        let expected_seq = self.head.seq + 1;
        let recomputed = entry_hash(
            &entry.prev_hash,
            entry.seq,
            entry.at,
            &entry.actor,
            &entry.kind,
            &entry.payload,
        );
        if entry.seq != expected_seq
            || entry.prev_hash != self.head.hash
            || recomputed != entry.hash
        {
            self.first_bad_seq = Some(expected_seq);
            return;
        }
        self.head = JournalHead {
            seq: entry.seq,
            hash: entry.hash.clone(),
        };
    }

    /// Records that an entry could not even be read (e.g. a malformed line)
    /// at this position.
    pub fn push_unreadable(&mut self) {
        self.entries += 1;
        if self.first_bad_seq.is_none() {
            self.first_bad_seq = Some(self.head.seq + 1);
        }
    }

    /// The seq of the first bad entry so far, if any.
    #[must_use]
    pub fn first_bad_seq(&self) -> Option<i64> {
        self.first_bad_seq
    }

    /// The last good head.
    #[must_use]
    pub fn head(&self) -> &JournalHead {
        &self.head
    }

    /// The verdict.
    #[must_use]
    pub fn finish(self) -> Verification {
        Verification {
            ok: self.first_bad_seq.is_none(),
            entries: self.entries,
            head_hash: self.head.hash,
            first_bad_seq: self.first_bad_seq,
        }
    }
}

/// Verifies a whole journal from its first entry.
#[must_use]
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a JournalEntry>) -> Verification {
    let mut verifier = Verifier::new();
    for entry in entries {
        verifier.push(entry);
    }
    verifier.finish()
}
