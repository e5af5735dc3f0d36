//! The regulator's audit, offline: an exported journal's lines, signed
//! checkpoints and the key set that verifies them (SPEC §6).
//!
//! An export is one line per entry, oldest first, each exactly
//! [`export_line`]: the canonical JSON (keys sorted by their bytes, no
//! whitespace) of `{actor, at, hash, kind, payload, prev_hash, seq}`, `at` as
//! [`format_time`] writes it, and a newline. `GET /v1/audit/journal` answers
//! the same objects, so a client can recompute every hash from either.
//!
//! A checkpoint is `{seq, head_hash, signed_at, kid, signature}`: the
//! signature is the base64url (unpadded) Ed25519 signature of
//! [`checkpoint_message`] by the key published under `kid`. [`ExportCheck`]
//! proves that an export extends a kept checkpoint: every line canonical,
//! the chain intact from seq 1, and the entry at the checkpoint's seq
//! carrying its head hash. Nothing here reads a file or a clock: the binary
//! and the server do the I/O.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::journal::{
    GENESIS_HASH, JournalEntry, Verification, Verifier, canonical_json, format_time,
};

/// The journal entry as exported and answered: a JSON object with `seq`,
/// `at` (its hashed text), `actor`, `kind`, `payload`, `prev_hash`, `hash`.
#[must_use]
pub fn entry_json(entry: &JournalEntry) -> Value {
    json!({
        "seq": entry.seq,
        "at": format_time(entry.at),
        "actor": {"client_id": entry.actor.client_id, "role": entry.actor.role},
        "kind": entry.kind,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    })
}

/// One line of an export, without its newline: the canonical JSON of
/// [`entry_json`].
#[must_use]
pub fn export_line(entry: &JournalEntry) -> String {
    canonical_json(&entry_json(entry))
}

/// The text a checkpoint's signature covers:
/// `ets-ledger checkpoint {seq} {head_hash}`.
#[must_use]
pub fn checkpoint_message(seq: i64, head_hash: &str) -> String {
    format!("ets-ledger checkpoint {seq} {head_hash}")
}

/// A kept checkpoint. `signed_at` is informative and not signed, so it is
/// not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The journal's last seq when it was taken (0 for an empty journal).
    pub seq: i64,
    /// That entry's hash (64 zeros for an empty journal).
    pub head_hash: String,
    /// The signing key's id in the JWKS.
    pub kid: String,
    /// base64url (unpadded) Ed25519 signature of [`checkpoint_message`].
    pub signature: String,
}

/// Why a checkpoint, a key set or an export does not verify. Each names its
/// reason in words a regulator can act on; [`AuditError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The checkpoint is not `{seq, head_hash, kid, signature}` with a seq of
    /// 0 or more and a hash of 64 lowercase hex digits (64 zeros at seq 0).
    #[error("the checkpoint is malformed: {0}")]
    MalformedCheckpoint(String),
    /// The key set is not `{"keys": [...]}`.
    #[error("the key set is malformed: {0}")]
    MalformedKeySet(String),
    /// No Ed25519 key in the key set has the checkpoint's kid.
    #[error("unknown kid {0:?}: the key set has no Ed25519 key with this id")]
    UnknownKid(String),
    /// The signature is not the kid's signature of the checkpoint's text.
    #[error("wrong signature: not kid {0:?}'s signature of the checkpoint's seq and head hash")]
    WrongSignature(String),
    /// A line is not its entry's canonical JSON followed by a newline.
    #[error("line {line} is not in canonical form (an entry's canonical JSON and a newline)")]
    NotCanonical {
        /// The line's number, from 1.
        line: i64,
    },
    /// A line is not a journal entry at all.
    #[error("line {line} is not a journal entry")]
    Unreadable {
        /// The line's number, from 1.
        line: i64,
    },
    /// The chain breaks: the entry expected at `seq` is edited, missing or
    /// out of place.
    #[error("the chain breaks at seq {seq}: that entry is edited, missing or out of place")]
    BrokenChain {
        /// The expected seq at the first bad position.
        seq: i64,
    },
    /// The export's entry at the checkpoint's seq has another hash: it does
    /// not extend the checkpoint.
    #[error("the entry at seq {seq} has hash {found}, the checkpoint says {expected}")]
    CheckpointMismatch {
        /// The checkpoint's seq.
        seq: i64,
        /// The checkpoint's head hash.
        expected: String,
        /// The export's hash at that seq.
        found: String,
    },
    /// The export ends before the checkpoint's seq.
    #[error("the export has {entries} entries, shorter than the checkpoint at seq {seq}")]
    ShorterThanCheckpoint {
        /// Entries the export has.
        entries: i64,
        /// The checkpoint's seq.
        seq: i64,
    },
}

impl AuditError {
    /// The stable snake_case code of the reason.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedCheckpoint(_) => "malformed_checkpoint",
            Self::MalformedKeySet(_) => "malformed_key_set",
            Self::UnknownKid(_) => "unknown_kid",
            Self::WrongSignature(_) => "wrong_signature",
            Self::NotCanonical { .. } => "not_canonical",
            Self::Unreadable { .. } => "unreadable_line",
            Self::BrokenChain { .. } => "broken_chain",
            Self::CheckpointMismatch { .. } => "checkpoint_mismatch",
            Self::ShorterThanCheckpoint { .. } => "shorter_than_checkpoint",
        }
    }
}

/// Reads a kept checkpoint (JSON) and checks its shape.
///
/// # Errors
/// [`AuditError::MalformedCheckpoint`].
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, AuditError> {
    let checkpoint: Checkpoint = serde_json::from_str(text)
        .map_err(|error| AuditError::MalformedCheckpoint(error.to_string()))?;
    let malformed = |why: &str| Err(AuditError::MalformedCheckpoint(why.to_owned()));
    if checkpoint.seq < 0 {
        return malformed("seq is negative");
    }
    if !is_hash(&checkpoint.head_hash) {
        return malformed("head_hash is not 64 lowercase hex digits");
    }
    if (checkpoint.seq == 0) != (checkpoint.head_hash == GENESIS_HASH) {
        return malformed("seq 0 goes with 64 zeros, and only it");
    }
    Ok(checkpoint)
}

fn is_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One public key of a JWKS, as `/.well-known/jwks.json` publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// A key set: the Ed25519 public keys by kid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<(String, Vec<u8>)>,
}

impl KeySet {
    /// Reads a JWKS (`{"keys": [...]}`); keys other than Ed25519 (`kty: OKP`,
    /// `crv: Ed25519`, a 32-byte `x`) are ignored.
    ///
    /// # Errors
    /// [`AuditError::MalformedKeySet`] when it is not a JSON object with a
    /// `keys` array of objects with `kty`.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Jwk>,
        }
        let document: Document = serde_json::from_str(text)
            .map_err(|error| AuditError::MalformedKeySet(error.to_string()))?;
        let keys = document
            .keys
            .into_iter()
            .filter(|jwk| jwk.kty == "OKP" && jwk.crv.as_deref() == Some("Ed25519"))
            .filter_map(|jwk| {
                let public = URL_SAFE_NO_PAD.decode(jwk.x?).ok()?;
                (public.len() == 32).then_some((jwk.kid?, public))
            })
            .collect();
        Ok(Self { keys })
    }

    /// The raw public key published under `kid`.
    #[must_use]
    pub fn public_key(&self, kid: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(id, _)| id == kid)
            .map(|(_, key)| key.as_slice())
    }
}

/// Checks a base64url (unpadded) Ed25519 `signature` of `message` against a
/// raw 32-byte public key.
#[must_use]
pub fn signature_matches(public_key: &[u8], message: &[u8], signature: &str) -> bool {
    URL_SAFE_NO_PAD.decode(signature).is_ok_and(|raw| {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(message, &raw)
            .is_ok()
    })
}

/// Checks a checkpoint's signature against the key its kid names.
///
/// # Errors
/// [`AuditError::UnknownKid`], then [`AuditError::WrongSignature`].
pub fn verify_checkpoint(checkpoint: &Checkpoint, keys: &KeySet) -> Result<(), AuditError> {
    let public = keys
        .public_key(&checkpoint.kid)
        .ok_or_else(|| AuditError::UnknownKid(checkpoint.kid.clone()))?;
    let message = checkpoint_message(checkpoint.seq, &checkpoint.head_hash);
    if signature_matches(public, message.as_bytes(), &checkpoint.signature) {
        Ok(())
    } else {
        Err(AuditError::WrongSignature(checkpoint.kid.clone()))
    }
}

/// Reads one line of an export (`raw` with its newline, if it has one).
///
/// # Errors
/// [`AuditError::Unreadable`] when it is not a journal entry,
/// [`AuditError::NotCanonical`] when it is one but not exactly its
/// canonical line and a newline; `line` is the line's number.
pub fn read_export_line(raw: &[u8], line: i64) -> Result<JournalEntry, AuditError> {
    let (body, terminated) = match raw.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let entry: JournalEntry = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or(AuditError::Unreadable { line })?;
    if !terminated || export_line(&entry).as_bytes() != body {
        return Err(AuditError::NotCanonical { line });
    }
    Ok(entry)
}

/// Verifies an export line by line, from seq 1, and (given a checkpoint
/// whose signature was checked) that it extends the checkpoint.
#[derive(Debug, Clone)]
pub struct ExportCheck {
    verifier: Verifier,
    checkpoint: Option<Checkpoint>,
    lines: i64,
    problem: Option<AuditError>,
}

/// The outcome of [`ExportCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportVerdict {
    /// The chain's verdict: entries read, last good head, first bad seq.
    pub verification: Verification,
    /// The first reason the export fails, if any.
    pub problem: Option<AuditError>,
}

impl ExportCheck {
    /// A check of a whole export; with `checkpoint`, also that the export
    /// extends it.
    #[must_use]
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
        Self {
            verifier: Verifier::new(),
            checkpoint,
            lines: 0,
            problem: None,
        }
    }

    /// Checks the next line (with its newline, if it has one). Once the
    /// export fails, later lines are only counted.
    pub fn push_line(&mut self, raw: &[u8]) {
        self.lines += 1;
        let entry = match read_export_line(raw, self.lines) {
            Ok(entry) => entry,
            Err(problem) => {
                self.verifier.push_unreadable();
                self.problem.get_or_insert(problem);
                return;
            }
        };
        self.verifier.push(&entry);
        if self.problem.is_some() {
            return;
        }
        if let Some(seq) = self.verifier.first_bad_seq() {
            self.problem = Some(AuditError::BrokenChain { seq });
            return;
        }
        if let Some(checkpoint) = &self.checkpoint
            && entry.seq == checkpoint.seq
            && entry.hash != checkpoint.head_hash
        {
            self.problem = Some(AuditError::CheckpointMismatch {
                seq: entry.seq,
                expected: checkpoint.head_hash.clone(),
                found: entry.hash,
            });
        }
    }

    /// The verdict: the first problem found, or an export shorter than the
    /// checkpoint.
    #[must_use]
    pub fn finish(self) -> ExportVerdict {
        let reached = self.verifier.head().seq;
        let mut verification = self.verifier.finish();
        let mut problem = self.problem;
        if problem.is_none()
            && let Some(checkpoint) = &self.checkpoint
            && reached < checkpoint.seq
        {
            problem = Some(AuditError::ShorterThanCheckpoint {
                entries: verification.entries,
                seq: checkpoint.seq,
            });
            verification.first_bad_seq = Some(reached + 1);
        }
        verification.ok = problem.is_none();
        ExportVerdict {
            verification,
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, JournalHead};
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    fn journal(n: usize) -> Vec<JournalEntry> {
        let mut head = JournalHead::genesis();
        let at: chrono::DateTime<chrono::Utc> =
            "2026-03-01T08:00:00.123456Z".parse().expect("time");
        (0..n)
            .map(|i| {
                head.append(
                    at + chrono::TimeDelta::seconds(i64::try_from(i).expect("small")),
                    Actor::cli(),
                    "credential.created",
                    json!({"name": format!("clerk {i} 生态"), "role": "finance", "n": i}),
                )
            })
            .collect()
    }

    fn export(entries: &[JournalEntry]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|entry| format!("{}\n", export_line(entry)).into_bytes())
            .collect()
    }

    fn check(bytes: &[u8], checkpoint: Option<Checkpoint>) -> ExportVerdict {
        let mut check = ExportCheck::new(checkpoint);
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            check.push_line(line);
        }
        check.finish()
    }

    struct Signer {
        pair: Ed25519KeyPair,
        kid: String,
    }

    impl Signer {
        fn new(kid: &str) -> Self {
            let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
            let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("the key");
            Self {
                pair,
                kid: kid.to_owned(),
            }
        }

        fn checkpoint(&self, seq: i64, head_hash: &str) -> Checkpoint {
            let signature = self
                .pair
                .sign(checkpoint_message(seq, head_hash).as_bytes());
            Checkpoint {
                seq,
                head_hash: head_hash.to_owned(),
                kid: self.kid.clone(),
                signature: URL_SAFE_NO_PAD.encode(signature.as_ref()),
            }
        }

        fn jwk(&self) -> Value {
            json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref()),
            })
        }
    }

    fn key_set(signers: &[&Signer]) -> KeySet {
        let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
        KeySet::parse(&json!({ "keys": keys }).to_string()).expect("a key set")
    }

    #[test]
    fn the_checkpoint_text_is_fixed() {
        assert_eq!(
            checkpoint_message(42, "ab12"),
            "ets-ledger checkpoint 42 ab12"
        );
    }

    #[test]
    fn an_export_line_is_the_entrys_canonical_json_with_at_as_hashed() {
        let entry = &journal(1)[0];
        let line = export_line(entry);
        assert!(line.starts_with(r#"{"actor":{"client_id":"cli","role":"admin"},"at":"2026-03-01T08:00:00.123456Z","hash":""#));
        assert!(line.ends_with(r#","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1}"#));
        assert_eq!(
            canonical_json(&serde_json::from_str(&line).expect("JSON")),
            line
        );
    }

    #[test]
    fn a_whole_export_verifies_and_extends_its_own_checkpoints() {
        let entries = journal(5);
        let bytes = export(&entries);
        let verdict = check(&bytes, None);
        assert_eq!(verdict.problem, None);
        assert!(verdict.verification.ok);
        assert_eq!(verdict.verification.entries, 5);
        assert_eq!(verdict.verification.head_hash, entries[4].hash);
        let signer = Signer::new("k1");
        for entry in &entries {
            let checkpoint = signer.checkpoint(entry.seq, &entry.hash);
            assert_eq!(verify_checkpoint(&checkpoint, &key_set(&[&signer])), Ok(()));
            assert_eq!(check(&bytes, Some(checkpoint)).problem, None);
        }
        let empty = signer.checkpoint(0, GENESIS_HASH);
        assert_eq!(check(&bytes, Some(empty.clone())).problem, None);
        assert_eq!(
            check(b"", Some(empty)).problem,
            None,
            "an empty journal extends seq 0"
        );
    }

    #[test]
    fn every_single_byte_changed_anywhere_in_an_export_is_found() {
        let bytes = export(&journal(3));
        for position in 0..bytes.len() {
            for replacement in [b' ', b'0', b'a', b'"', b'\n', b'}', b'\r', 0xFF] {
                if bytes[position] == replacement {
                    continue;
                }
                let mut changed = bytes.clone();
                changed[position] = replacement;
                let verdict = check(&changed, None);
                assert!(
                    verdict.problem.is_some() && !verdict.verification.ok,
                    "byte {position} as {replacement:#x} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn a_line_that_is_an_entry_but_not_canonical_is_refused() {
        let entries = journal(2);
        let canonical = export_line(&entries[1]);
        let value: Value = serde_json::from_str(&canonical).expect("JSON");
        let variants = [
            serde_json::to_string_pretty(&value)
                .expect("pretty")
                .replace('\n', ""),
            canonical.replace(".123456Z", ".123456+00:00"),
            canonical.replace("{\"actor\"", "{ \"actor\""),
            format!("{canonical} "),
            canonical.replace("生", "\\u751f"),
        ];
        for variant in variants {
            assert_ne!(variant, canonical);
            let bytes = [export(&entries[..1]), format!("{variant}\n").into_bytes()].concat();
            assert_eq!(
                check(&bytes, None).problem,
                Some(AuditError::NotCanonical { line: 2 }),
                "{variant}"
            );
        }
        let unterminated = export(&entries);
        let verdict = check(&unterminated[..unterminated.len() - 1], None);
        assert_eq!(verdict.problem, Some(AuditError::NotCanonical { line: 2 }));
        assert_eq!(verdict.verification.first_bad_seq, Some(2));
    }

    #[test]
    fn an_edit_a_deletion_and_a_swap_break_the_chain_at_the_right_seq() {
        let entries = journal(4);
        let mut edited = entries.clone();
        edited[2].payload = json!({"name": "someone else"});
        assert_eq!(
            check(&export(&edited), None).problem,
            Some(AuditError::BrokenChain { seq: 3 })
        );
        let mut deleted = entries.clone();
        deleted.remove(1);
        assert_eq!(
            check(&export(&deleted), None).problem,
            Some(AuditError::BrokenChain { seq: 2 })
        );
        let mut swapped = entries;
        swapped.swap(2, 3);
        assert_eq!(
            check(&export(&swapped), None).problem,
            Some(AuditError::BrokenChain { seq: 3 })
        );
    }

    #[test]
    fn an_export_that_does_not_extend_the_checkpoint_is_refused_with_its_reason() {
        let entries = journal(4);
        let signer = Signer::new("k1");
        let kept = signer.checkpoint(3, &entries[2].hash);

        let shorter = export(&entries[..2]);
        let verdict = check(&shorter, Some(kept.clone()));
        assert_eq!(
            verdict.problem,
            Some(AuditError::ShorterThanCheckpoint { entries: 2, seq: 3 })
        );
        assert_eq!(verdict.verification.first_bad_seq, Some(3));

        // Another history, intact in itself, with its own third entry.
        let mut other = JournalHead::genesis();
        let forged: Vec<JournalEntry> = entries
            .iter()
            .map(|e| other.append(e.at, e.actor.clone(), &e.kind, json!({"forged": e.seq})))
            .collect();
        let verdict = check(&export(&forged), Some(kept.clone()));
        assert_eq!(
            verdict.problem,
            Some(AuditError::CheckpointMismatch {
                seq: 3,
                expected: entries[2].hash.clone(),
                found: forged[2].hash.clone(),
            })
        );
        assert!(!verdict.verification.ok);
        assert!(
            verdict
                .problem
                .as_ref()
                .is_some_and(|p| p.to_string().contains("seq 3"))
        );
    }

    #[test]
    fn a_checkpoint_verifies_only_with_its_own_key_seq_hash_and_signature() {
        let entries = journal(2);
        let old = Signer::new("old");
        let new = Signer::new("new");
        let keys = key_set(&[&new, &old]);
        let kept = old.checkpoint(2, &entries[1].hash);
        assert_eq!(verify_checkpoint(&kept, &keys), Ok(()));
        assert_eq!(
            verify_checkpoint(&kept, &key_set(&[&new])),
            Err(AuditError::UnknownKid("old".to_owned()))
        );
        let changes = [
            Checkpoint {
                seq: 1,
                ..kept.clone()
            },
            Checkpoint {
                head_hash: entries[0].hash.clone(),
                ..kept.clone()
            },
            Checkpoint {
                kid: "new".to_owned(),
                ..kept.clone()
            },
            Checkpoint {
                signature: new.checkpoint(2, &entries[1].hash).signature,
                ..kept.clone()
            },
            Checkpoint {
                signature: "!!".to_owned(),
                ..kept.clone()
            },
        ];
        for changed in changes {
            assert!(
                matches!(
                    verify_checkpoint(&changed, &keys),
                    Err(AuditError::WrongSignature(_))
                ),
                "{changed:?}"
            );
        }
        let mut signature = kept.signature.into_bytes();
        signature[3] = if signature[3] == b'A' { b'B' } else { b'A' };
        let flipped = Checkpoint {
            signature: String::from_utf8(signature).expect("ASCII"),
            ..old.checkpoint(2, &entries[1].hash)
        };
        assert!(verify_checkpoint(&flipped, &keys).is_err());
    }

    #[test]
    fn a_malformed_checkpoint_or_key_set_is_named() {
        let good = json!({"seq": 1, "head_hash": "a".repeat(64), "kid": "k", "signature": "s", "signed_at": "2026-03-01T08:00:00Z"});
        assert!(parse_checkpoint(&good.to_string()).is_ok());
        for bad in [
            json!({"seq": -1, "head_hash": "a".repeat(64), "kid": "k", "signature": "s"}),
            json!({"seq": 1, "head_hash": "A".repeat(64), "kid": "k", "signature": "s"}),
            json!({"seq": 1, "head_hash": "a".repeat(63), "kid": "k", "signature": "s"}),
            json!({"seq": 1, "head_hash": GENESIS_HASH, "kid": "k", "signature": "s"}),
            json!({"seq": 0, "head_hash": "a".repeat(64), "kid": "k", "signature": "s"}),
            json!({"seq": "1", "head_hash": "a".repeat(64), "kid": "k", "signature": "s"}),
            json!({"seq": 1, "head_hash": "a".repeat(64), "signature": "s"}),
        ] {
            assert!(
                matches!(
                    parse_checkpoint(&bad.to_string()),
                    Err(AuditError::MalformedCheckpoint(_))
                ),
                "{bad}"
            );
        }
        for bad in ["", "[]", r#"{"keys": 1}"#, r#"{"keys": [{"kid": "x"}]}"#] {
            assert!(
                matches!(KeySet::parse(bad), Err(AuditError::MalformedKeySet(_))),
                "{bad}"
            );
        }
        let foreign =
            KeySet::parse(r#"{"keys": [{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}]}"#)
                .expect("a key set");
        assert_eq!(foreign.public_key("r"), None);
    }
}
