//! Many clients racing on a few hot accounts, then every invariant checked.
//! Runs on PostgreSQL (when `TEST_DATABASE_URL` is set) and on SQLite.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::*;
use ets_core::{Decimal, HoldPurpose, HoldStatus, InstrumentCode, Owner};
use ets_store::{Command, Store, StoreError};
use ets_testkit::TestDatabase;
use uuid::Uuid;

const WORKERS: usize = 32;
const ITERATIONS: usize = 200;
const ACCOUNTS: usize = 20;
const HOT: usize = 3;

/// A small deterministic generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Half the time one of the hot accounts.
    fn account(&mut self, participants: &[Uuid]) -> Uuid {
        if self.below(2) == 0 {
            participants[self.below(HOT)]
        } else {
            participants[self.below(participants.len())]
        }
    }

    fn quantity(&mut self) -> Decimal {
        Decimal::new((self.below(5000) + 1) as i64, 2)
    }
}

/// Counts committed commands, so the journal's length can be checked.
async fn run(store: &Store, committed: &AtomicI64, command: Command) -> bool {
    match store.execute(actor(), command).await {
        Ok(_) => {
            committed.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(StoreError::Command(reason)) => {
            assert_eq!(
                reason.code(),
                "insufficient_available_balance",
                "only shortages are expected"
            );
            false
        }
        Err(other) => panic!("contention reached the client: {other:?}"),
    }
}

async fn worker(
    store: Store,
    so2: InstrumentCode,
    participants: Arc<Vec<Uuid>>,
    seed: u64,
    committed: Arc<AtomicI64>,
) {
    let mut rng = Rng(seed);
    for _ in 0..ITERATIONS {
        let from = rng.account(&participants);
        let mut to = rng.account(&participants);
        while to == from {
            to = participants[rng.below(participants.len())];
        }
        let quantity = rng.quantity();
        if rng.below(10) < 6 {
            let command = Command::transfer(
                so2.clone(),
                Owner::Participant(from),
                Owner::Participant(to),
                quantity,
            );
            run(&store, &committed, command).await;
            continue;
        }
        let hold = Uuid::new_v4();
        let place = Command::place_hold(
            hold,
            Owner::Participant(from),
            so2.clone(),
            quantity,
            HoldPurpose::Order,
        );
        if !run(&store, &committed, place).await {
            continue;
        }
        match rng.below(3) {
            0 => {
                assert!(run(&store, &committed, Command::release_hold(hold)).await);
            }
            1 => {
                let settle = Command::settle_hold(hold, Owner::Participant(to), quantity);
                assert!(run(&store, &committed, settle).await);
            }
            _ => {
                let part = (quantity / Decimal::TWO)
                    .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
                if !part.is_zero() {
                    let settle = Command::settle_hold(hold, Owner::Participant(to), part);
                    assert!(run(&store, &committed, settle).await);
                }
                assert!(run(&store, &committed, Command::release_hold(hold)).await);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_transfers_and_holds_keep_every_invariant() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let mut participants = Vec::new();
        for n in 0..ACCOUNTS {
            let id = participant(&store, n as u32).await;
            store
                .execute(actor(), Command::allocate(id, so2.clone(), dec("1000")))
                .await
                .expect("allocate");
            participants.push(id);
        }
        let setup_entries = 1 + 2 * ACCOUNTS as i64;
        let participants = Arc::new(participants);
        let committed = Arc::new(AtomicI64::new(0));
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(worker(
                    store.clone(),
                    so2.clone(),
                    Arc::clone(&participants),
                    0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1),
                    Arc::clone(&committed),
                ))
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }

        assert_conserved(&store).await;
        let total: Decimal = store
            .accounts()
            .await
            .expect("accounts")
            .iter()
            .filter(|a| a.key.instrument == so2 && matches!(a.key.owner, Owner::Participant(_)))
            .map(|a| a.balance)
            .sum();
        assert_eq!(
            total,
            dec("20000"),
            "rights only moved between participants"
        );
        for account in store.accounts().await.expect("accounts") {
            assert!(
                account.held.is_zero(),
                "every hold was resolved: {account:?}"
            );
        }
        let holds = store.holds().await.expect("holds");
        assert!(!holds.is_empty());
        for hold in &holds {
            assert_ne!(hold.status, HoldStatus::Open, "unresolved hold {hold:?}");
            assert!(hold.remaining.is_zero());
            assert!(hold.settled <= hold.amount);
            if hold.status == HoldStatus::Settled {
                assert_eq!(hold.settled, hold.amount);
            }
        }
        let verification = store.verify_journal().await.expect("verify");
        assert!(verification.ok, "{verification:?}");
        assert_eq!(
            verification.entries,
            setup_entries + committed.load(Ordering::Relaxed),
            "{:?}",
            db.kind
        );
    }
}
