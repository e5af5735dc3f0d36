//! `transfer-bench`: N concurrent workers doing double-entry transfers, each
//! with its journal entry and an idempotency record, through the storage
//! layer. Prints transfers/s and latency percentiles. Run it beside
//! `pgbench -b tpcb-like` on the same database (docs/BENCHMARKS.md).
//!
//! Floating point appears only in the printed rates and times, never in an
//! amount.
#![allow(clippy::float_arithmetic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ets_core::{
    Actor, CreditCode, InstrumentCode, InstrumentKind, InstrumentSpec, Owner, Participant,
    RegionCode,
};
use ets_store::{Command, IdempotencyKey, Request, Store, StoreError};
use rust_decimal::Decimal;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "transfer-bench",
    about = "Double-entry transfers through the storage layer"
)]
struct Args {
    /// The database (postgres://… or sqlite:…).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Concurrent workers.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// How long to run.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Participant accounts the transfers move between.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
}

fn actor() -> Actor {
    Actor {
        client_id: "transfer-bench".to_owned(),
        role: "admin".to_owned(),
    }
}

/// A random valid credit code, so the benchmark can run again on the same database.
fn credit_code() -> Result<CreditCode, ets_core::LedgerError> {
    let digits: String = Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .take(9)
        .collect();
    let prefix = format!("91320500{digits}");
    let check = CreditCode::check_character(&prefix)?;
    CreditCode::parse(&format!("{prefix}{check}"))
}

async fn setup(
    store: &Store,
    accounts: usize,
) -> Result<(InstrumentCode, Vec<Uuid>), Box<dyn std::error::Error>> {
    let run = Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    let code = InstrumentCode::parse(&format!("BENCH-{run}"))?;
    let spec = InstrumentSpec {
        code: code.clone(),
        kind: InstrumentKind::PollutantRight,
        pollutant: Some("SO2".to_owned()),
        unit: "t".to_owned(),
        scale: 4,
        region_code: Some(RegionCode::parse("320500")?),
        vintage: None,
        valid_from: Some("2026-01-01".parse()?),
        valid_to: Some("2030-12-31".parse()?),
        commission_rate: Decimal::ZERO,
        price_band: None,
    };
    store
        .execute(actor(), Command::CreateInstrument(spec))
        .await?;
    let mut participants = Vec::with_capacity(accounts);
    for n in 0..accounts {
        let participant = Participant::new(
            Uuid::new_v4(),
            &format!("bench enterprise {n}"),
            credit_code()?,
            RegionCode::parse("320500")?,
            None,
        )?;
        participants.push(participant.id);
        store
            .execute(actor(), Command::CreateParticipant(participant))
            .await?;
    }
    let mut tasks = Vec::new();
    for id in &participants {
        let (store, code, id) = (store.clone(), code.clone(), *id);
        tasks.push(tokio::spawn(async move {
            store
                .execute(
                    actor(),
                    Command::allocate(id, code, Decimal::from(1_000_000)),
                )
                .await
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((code, participants))
}

struct Tally {
    latencies_us: Vec<u64>,
    refused: u64,
}

async fn worker(
    store: Store,
    code: InstrumentCode,
    participants: Arc<Vec<Uuid>>,
    worker: usize,
    deadline: Instant,
) -> Result<Tally, StoreError> {
    let mut state =
        0x2545_F491_4F6C_DD1D_u64 ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut tally = Tally {
        latencies_us: Vec::new(),
        refused: 0,
    };
    let n = participants.len() as u64;
    let mut i = 0u64;
    while Instant::now() < deadline {
        let from = participants[(next() % n) as usize];
        let mut to = participants[(next() % n) as usize];
        while to == from {
            to = participants[(next() % n) as usize];
        }
        let quantity = Decimal::new((next() % 10_000 + 1) as i64, 4);
        i += 1;
        let request = Request {
            actor: actor(),
            idempotency: Some(IdempotencyKey {
                scope: "transfer-bench".to_owned(),
                key: format!("{}-{worker}-{i}", Uuid::new_v4().simple()),
                fingerprint: format!("{from}>{to}:{quantity}"),
            }),
            command: Command::transfer(
                code.clone(),
                Owner::Participant(from),
                Owner::Participant(to),
                quantity,
            ),
        };
        let started = Instant::now();
        match store.submit(request).await {
            Ok(_) => tally
                .latencies_us
                .push(started.elapsed().as_micros() as u64),
            Err(StoreError::Command(_)) => tally.refused += 1,
            Err(other) => return Err(other),
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u64], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() * p / 100).min(sorted.len() - 1);
    Duration::from_micros(sorted[index])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let store = Store::open(&args.database_url).await?;
    let (code, participants) = setup(&store, args.accounts.max(2)).await?;
    let participants = Arc::new(participants);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.workers)
        .map(|w| {
            tokio::spawn(worker(
                store.clone(),
                code.clone(),
                Arc::clone(&participants),
                w,
                deadline,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let tally = task.await??;
        latencies.extend(tally.latencies_us);
        refused += tally.refused;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let verification = store.verify_journal().await?;
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(out, "backend:      {}", store.backend_name())?;
    writeln!(out, "workers:      {}", args.workers)?;
    writeln!(out, "accounts:     {}", participants.len())?;
    writeln!(out, "duration:     {:.1} s", elapsed.as_secs_f64())?;
    writeln!(
        out,
        "transfers:    {} committed, {refused} refused",
        latencies.len()
    )?;
    writeln!(out, "transfers/s:  {rate:.0}")?;
    writeln!(
        out,
        "latency p50:  {:.2} ms",
        percentile(&latencies, 50).as_secs_f64() * 1e3
    )?;
    writeln!(
        out,
        "latency p99:  {:.2} ms",
        percentile(&latencies, 99).as_secs_f64() * 1e3
    )?;
    writeln!(
        out,
        "journal:      {} entries, verified {}",
        verification.entries, verification.ok
    )?;
    Ok(())
}
