//! `settlement-seed`: fills one business day with trades through the
//! storage layer, in bulk, for the settlement benchmark
//! (`scripts/bench-settlement.sh`, docs/BENCHMARKS.md).
//!
//! Buyers place bids of one unit each; after every `--sweep` bids a worker
//! places one sell of `--sweep` units from a seller, which trades with the
//! resting bids (or rests, and the next bids trade with it). Every unit bid
//! is sold once, so the day ends with exactly one trade per bid, each with
//! its commission and ledger transaction, as the order book makes them.
//! The store runs on a clock standing on the day asked (09:00 in
//! Asia/Shanghai) and moving with the wall clock, so every trade is of that
//! day however long the seeding takes (a few hours at most).
//!
//! Floating point appears only in the printed rate, never in an amount.
#![allow(clippy::float_arithmetic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use clap::Parser;
use ets_core::clock::ManualClock;
use ets_core::matching::Side;
use ets_core::{
    Actor, CreditCode, InstrumentCode, InstrumentKind, InstrumentSpec, Participant, RegionCode,
};
use ets_store::{Command, NewOrder, Store};
use rust_decimal::Decimal;
use uuid::Uuid;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(
    name = "settlement-seed",
    about = "Fills one business day with trades through the storage layer"
)]
struct Args {
    /// The database (postgres://… or sqlite:…).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The business day the trades are of.
    #[arg(long, default_value = "2026-06-01")]
    date: NaiveDate,
    /// How many trades.
    #[arg(long, default_value_t = 1_000_000)]
    trades: u64,
    /// Concurrent workers.
    #[arg(long, default_value_t = 64)]
    workers: u64,
    /// Bids a worker places before each sell that sweeps them.
    #[arg(long, default_value_t = 200)]
    sweep: u64,
    /// Enterprises that buy.
    #[arg(long, default_value_t = 200)]
    buyers: usize,
    /// Enterprises that sell.
    #[arg(long, default_value_t = 20)]
    sellers: usize,
}

fn actor() -> Actor {
    Actor {
        client_id: "settlement-seed".to_owned(),
        role: "admin".to_owned(),
    }
}

/// A valid credit code from `n`, so names and codes stay readable.
fn credit_code(n: usize) -> Result<CreditCode, ets_core::LedgerError> {
    let run = Uuid::new_v4().as_u128() % 1_000;
    let prefix = format!("91320500{run:03}{n:06}");
    let check = CreditCode::check_character(&prefix)?;
    CreditCode::parse(&format!("{prefix}{check}"))
}

/// The instrument, and the buyers and sellers with the cash and the rights
/// they trade.
async fn setup(store: &Store, args: &Args) -> Result<(InstrumentCode, Market), AnyError> {
    let run = Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    let code = InstrumentCode::parse(&format!("SEED-{run}"))?;
    store
        .execute(
            actor(),
            Command::CreateInstrument(InstrumentSpec {
                code: code.clone(),
                kind: InstrumentKind::PollutantRight,
                pollutant: Some("COD".to_owned()),
                unit: "t".to_owned(),
                scale: 4,
                region_code: Some(RegionCode::parse("320500")?),
                vintage: None,
                valid_from: Some("2026-01-01".parse()?),
                valid_to: Some("2030-12-31".parse()?),
                commission_rate: Decimal::new(15, 4),
                price_band: None,
            }),
        )
        .await?;
    let mut market = Market {
        buyers: Vec::new(),
        sellers: Vec::new(),
    };
    for n in 0..args.buyers + args.sellers {
        let participant = Participant::new(
            Uuid::new_v4(),
            &format!("排污单位 {n}"),
            credit_code(n)?,
            RegionCode::parse("320500")?,
            None,
        )?;
        let id = participant.id;
        store
            .execute(actor(), Command::CreateParticipant(participant))
            .await?;
        if n < args.buyers {
            let cash = Decimal::from(args.trades) * Decimal::from(20)
                / Decimal::from(args.buyers as u64)
                + Decimal::from(1_000_000);
            store.execute(actor(), Command::deposit(id, cash)).await?;
            market.buyers.push(id);
        } else {
            let rights = Decimal::from(args.trades) / Decimal::from(args.sellers as u64)
                + Decimal::from(1_000);
            store
                .execute(actor(), Command::allocate(id, code.clone(), rights.ceil()))
                .await?;
            market.sellers.push(id);
        }
    }
    Ok((code, market))
}

struct Market {
    buyers: Vec<Uuid>,
    sellers: Vec<Uuid>,
}

/// Places bids and the sells that take them until `bids` has given out.
async fn worker(
    store: Store,
    code: InstrumentCode,
    market: Arc<Market>,
    bids: Arc<AtomicU64>,
    sweep: u64,
    worker: u64,
) -> Result<u64, AnyError> {
    let price = Decimal::new(1_000, 2);
    let mut placed = 0;
    let mut round = 0_usize;
    loop {
        let mut taken = 0;
        while taken < sweep && try_take(&bids) {
            let buyer = market.buyers[(worker as usize + placed as usize) % market.buyers.len()];
            order(&store, &code, buyer, Side::Buy, price, Decimal::ONE).await?;
            taken += 1;
            placed += 1;
        }
        if taken == 0 {
            return Ok(placed);
        }
        let seller = market.sellers[(worker as usize + round) % market.sellers.len()];
        order(
            &store,
            &code,
            seller,
            Side::Sell,
            price,
            Decimal::from(taken),
        )
        .await?;
        round += 1;
    }
}

/// Takes one bid from what is left; false when none is.
fn try_take(bids: &AtomicU64) -> bool {
    bids.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(1)
    })
    .is_ok()
}

async fn order(
    store: &Store,
    code: &InstrumentCode,
    participant_id: Uuid,
    side: Side,
    price: Decimal,
    quantity: Decimal,
) -> Result<(), AnyError> {
    store
        .execute(
            actor(),
            Command::PlaceOrder(NewOrder {
                id: Uuid::now_v7(),
                participant_id,
                instrument: code.clone(),
                side,
                price,
                quantity,
            }),
        )
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args = Args::parse();
    let opening = args
        .date
        .and_time(NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default());
    let clock = Arc::new(ManualClock::new(opening.and_utc()));
    let ticking = Arc::clone(&clock);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            ticking.advance(TimeDelta::milliseconds(10));
        }
    });
    let store = Store::open_with_clock(&args.database_url, clock).await?;
    let (code, market) = setup(&store, &args).await?;
    let market = Arc::new(market);
    let bids = Arc::new(AtomicU64::new(args.trades));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.workers)
        .map(|w| {
            tokio::spawn(worker(
                store.clone(),
                code.clone(),
                Arc::clone(&market),
                Arc::clone(&bids),
                args.sweep.max(1),
                w,
            ))
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        placed += task.await??;
    }
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(out, "backend:      {}", store.backend_name())?;
    writeln!(out, "date:         {}", args.date)?;
    writeln!(out, "instrument:   {code}")?;
    writeln!(out, "bids:         {placed} (one trade each)")?;
    writeln!(out, "duration:     {:.1} s", elapsed.as_secs_f64())?;
    writeln!(
        out,
        "bids/s:       {:.0}",
        placed as f64 / elapsed.as_secs_f64()
    )?;
    Ok(())
}
