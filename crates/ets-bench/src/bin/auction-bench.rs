//! `auction-bench`: times [`ets_core::auction::clear`] on a large sealed-bid
//! auction against a plain sort of the same bids by (price desc, seq asc),
//! and prints both times and their ratio. Pure CPU, no database.
//!
//! The bids are deterministic (xorshift64* from `--seed`): prices with two
//! decimals in 20.00–80.00 around a reserve of 30.00, quantities of 1–100 lots
//! of 0.1 t, spread over `--bidders` bidders with a 0.1 % cap each, so that
//! the auction is oversubscribed, some bids fall below the reserve and many
//! bidders are trimmed by the cap.
//!
//! Floating point appears only in the printed times and ratio, never in an
//! amount.
#![allow(clippy::float_arithmetic)]

use std::hint::black_box;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use clap::Parser;
use ets_core::auction::{Bid, Clearing, Offering, clear};
use rust_decimal::Decimal;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "auction-bench",
    about = "Uniform-price auction clearing against a plain sort of the bids"
)]
struct Args {
    /// Number of bids.
    #[arg(long, default_value_t = 1_000_000)]
    bids: usize,
    /// Distinct bidders.
    #[arg(long, default_value_t = 5_000)]
    bidders: u64,
    /// Timed rounds of each; the best and the median are printed.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seed of the xorshift generator (not zero).
    #[arg(long, default_value_t = 0x9E37_79B9_7F4A_7C15)]
    seed: u64,
}

/// xorshift64*: deterministic, good enough for test data.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `low..=high` for a benchmark.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn generate(args: &Args) -> Vec<Bid> {
    let mut rng = XorShift(args.seed.max(1));
    (0..args.bids)
        .map(|i| {
            let bidder = rng.range(1, args.bidders.max(1));
            let lots = rng.range(1, 100);
            let cents = rng.range(2_000, 8_000);
            Bid {
                id: Uuid::from_u64_pair(0xB1D, i as u64),
                bidder: Uuid::from_u64_pair(0x00B1_DDE4, bidder),
                // lots × 0.1 t at scale 3, e.g. 4.700.
                quantity: Decimal::new(lots as i64 * 100, 3),
                // 20.00–80.00.
                price: Decimal::new(cents as i64, 2),
                seq: i as u64,
            }
        })
        .collect()
}

fn best_and_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    (times[0], times[times.len() / 2])
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let rounds = args.rounds.max(1);
    let mut out = io::stdout().lock();

    let offering = Offering {
        quantity: Decimal::new(1_000_000_000, 3), // 1,000,000.000 t
        reserve_price: Decimal::new(3_000, 2),    // 30.00
        lot_size: Some(Decimal::new(100, 3)),     // 0.100 t
        max_bidder_share: Some(Decimal::new(1, 3)), // 0.1 % = 1,000 t
        scale: 3,
    };
    let bids = generate(&args);
    writeln!(
        out,
        "{} bids from {} bidders; offering {} t, reserve {}, lot {} t, cap share {}",
        bids.len(),
        args.bidders,
        offering.quantity,
        offering.reserve_price,
        Decimal::new(100, 3),
        Decimal::new(1, 3),
    )?;

    let mut clear_times = Vec::with_capacity(rounds);
    let mut outcome = None;
    for _ in 0..rounds {
        let started = Instant::now();
        let clearing = clear(black_box(&offering), black_box(&bids))?;
        clear_times.push(started.elapsed());
        outcome = Some(black_box(clearing));
    }

    let mut sort_times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut copy = bids.clone();
        let started = Instant::now();
        copy.sort_unstable_by(|a, b| b.price.cmp(&a.price).then(a.seq.cmp(&b.seq)));
        sort_times.push(started.elapsed());
        black_box(&copy);
    }

    match outcome {
        Some(Clearing::Cleared {
            clearing_price,
            sold,
            unsold,
            awards,
        }) => writeln!(
            out,
            "cleared at {clearing_price}: sold {sold} t, unsold {unsold} t, {} awards",
            awards.len()
        )?,
        Some(Clearing::Failed) => writeln!(out, "the auction failed")?,
        None => {}
    }
    let (clear_best, clear_median) = best_and_median(clear_times);
    let (sort_best, sort_median) = best_and_median(sort_times);
    writeln!(
        out,
        "clear:       best {:9.2} ms, median {:9.2} ms ({rounds} rounds)",
        millis(clear_best),
        millis(clear_median)
    )?;
    writeln!(
        out,
        "plain sort:  best {:9.2} ms, median {:9.2} ms ({rounds} rounds)",
        millis(sort_best),
        millis(sort_median)
    )?;
    writeln!(
        out,
        "ratio clear / sort: best {:.2}, median {:.2}",
        clear_best.as_secs_f64() / sort_best.as_secs_f64(),
        clear_median.as_secs_f64() / sort_median.as_secs_f64()
    )?;
    Ok(())
}
