//! The journal as a JSON-lines file: one entry per line, oldest first, each
//! exactly its canonical JSON `{actor, at, hash, kind, payload, prev_hash,
//! seq}` ([`ets_core::audit::export_line`]). The file verifies offline,
//! without the database; the rules are `ets_core::audit`'s, this module
//! only reads and writes files.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use ets_core::audit::{
    AuditError, Checkpoint, ExportCheck, KeySet, export_line, parse_checkpoint, verify_checkpoint,
};
use ets_store::{JOURNAL_PAGE, Store};
use serde_json::{Value, json};

/// Writes every journal entry to `out`; returns how many.
///
/// # Errors
/// The database or file failure.
pub(crate) async fn export(
    store: &Store,
    out: &Path,
) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let mut writer = BufWriter::new(File::create(out)?);
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = store.journal(after, JOURNAL_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            writeln!(writer, "{}", export_line(entry))?;
            written += 1;
        }
    }
    writer.flush()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(written)
}

/// Verifies an exported file (every line its entry's canonical JSON, the
/// chain intact from seq 1) and, given a kept checkpoint and key set, that
/// the checkpoint is signed by a key of the set and the export extends it.
/// The verdict: `{ok, entries, head_hash, first_bad_seq}`, and when it fails
/// `code` and `reason`; a checkpoint that does not verify is reported
/// without reading the export.
///
/// # Errors
/// When a file cannot be read.
pub(crate) fn verify(file: &Path, kept: Option<(&Path, &Path)>) -> std::io::Result<Value> {
    let checkpoint = match kept {
        None => None,
        Some((checkpoint, jwks)) => match kept_checkpoint(checkpoint, jwks)? {
            Ok(checkpoint) => Some(checkpoint),
            Err(problem) => {
                return Ok(
                    json!({"ok": false, "code": problem.code(), "reason": problem.to_string()}),
                );
            }
        },
    };
    let checkpoint_seq = checkpoint.as_ref().map(|c| c.seq);
    let mut check = ExportCheck::new(checkpoint);
    let mut reader = BufReader::new(File::open(file)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        check.push_line(&line);
    }
    let verdict = check.finish();
    let verification = verdict.verification;
    let mut answer = json!({
        "ok": verification.ok,
        "entries": verification.entries,
        "head_hash": verification.head_hash,
        "first_bad_seq": verification.first_bad_seq,
    });
    if let Some(seq) = checkpoint_seq {
        answer["checkpoint_seq"] = json!(seq);
    }
    if let Some(problem) = verdict.problem {
        answer["code"] = json!(problem.code());
        answer["reason"] = json!(problem.to_string());
    }
    Ok(answer)
}

/// The kept checkpoint, once its signature is checked against the kept key
/// set.
fn kept_checkpoint(
    checkpoint: &Path,
    jwks: &Path,
) -> std::io::Result<Result<Checkpoint, AuditError>> {
    let checkpoint = std::fs::read_to_string(checkpoint)?;
    let jwks = std::fs::read_to_string(jwks)?;
    Ok(parse_checkpoint(&checkpoint).and_then(|checkpoint| {
        let keys = KeySet::parse(&jwks)?;
        verify_checkpoint(&checkpoint, &keys)?;
        Ok(checkpoint)
    }))
}
