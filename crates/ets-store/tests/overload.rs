//! A writer that cannot commit (another process holds SQLite's write lock)
//! while requests keep coming: its queue fills, and the requests that find
//! it full for `QUEUE_WAIT` are refused `Overloaded` instead of waiting in
//! an ever longer line. Nothing refused is written; everything accepted is.

mod common;

use std::sync::Arc;

use common::*;
use ets_core::{Decimal, InstrumentCode};
use ets_store::{Command, QUEUE_WAIT, Store, StoreError};
use ets_testkit::TestDatabase;
use sqlx::Connection as _;

#[tokio::test]
async fn a_queue_that_stays_full_is_refused_not_grown() {
    let db = TestDatabase::sqlite();
    let store = Arc::new(Store::open(&db.url).await.expect("store"));
    let who = participant(&store, 1).await;
    // Another process's write transaction: the writer waits on it.
    let mut blocker = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .expect("the write lock");
    let senders: Vec<_> = (0..2_000)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .execute(actor(), Command::deposit(who, dec("1.00")))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(QUEUE_WAIT + std::time::Duration::from_secs(1)).await;
    assert!(store.queue_depth() > 0, "the queue filled");
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("release");
    let (mut accepted, mut refused) = (0u32, 0u32);
    for sender in senders {
        match sender.await.expect("a sender") {
            Ok(_) => accepted += 1,
            Err(StoreError::Overloaded) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused > 0, "a full queue refuses ({accepted} accepted)");
    assert!(
        accepted > 0,
        "what was queued is written ({refused} refused)"
    );
    let cash = balance(
        &store,
        ets_core::Owner::Participant(who),
        &InstrumentCode::cny(),
    )
    .await;
    assert_eq!(
        cash,
        Decimal::from(accepted),
        "every accepted deposit, no other"
    );
}
