//! The journal as a JSON-lines file: one entry per line,
//! `{seq, at, actor, kind, payload, prev_hash, hash}`, oldest first. The file
//! verifies offline, without the database.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use ets_core::journal::format_time;
use ets_core::{JournalEntry, Verification, Verifier};
use ets_store::{JOURNAL_PAGE, Store};
use serde_json::json;

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
            let line = json!({
                "seq": entry.seq,
                "at": format_time(entry.at),
                "actor": entry.actor,
                "kind": entry.kind,
                "payload": entry.payload,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            });
            writeln!(writer, "{line}")?;
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

/// Verifies an exported file; a line that is not an entry is a bad entry.
///
/// # Errors
/// When the file cannot be read.
pub(crate) fn verify(file: &Path) -> std::io::Result<Verification> {
    let reader = BufReader::new(File::open(file)?);
    let mut verifier = Verifier::new();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalEntry>(&line) {
            Ok(entry) => verifier.push(&entry),
            Err(_) => verifier.push_unreadable(),
        }
    }
    Ok(verifier.finish())
}
