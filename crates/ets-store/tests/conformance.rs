//! The storage conformance suite: every test runs on SQLite and, when
//! `TEST_DATABASE_URL` is set, on a fresh PostgreSQL database.

mod common;

use chrono::Utc;
use common::*;
use ets_core::{HoldPurpose, HoldStatus, LedgerError, Owner, SystemAccount};
use ets_store::{
    Command, CommandError, IdempotencyKey, NewCredential, Outcome, Request, Store, StoreError,
};
use ets_testkit::{Kind, TestDatabase};
use uuid::Uuid;

fn refused(result: Result<ets_store::Committed, StoreError>) -> CommandError {
    match result {
        Err(StoreError::Command(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn journal_len(store: &Store) -> i64 {
    store.journal(0, 1_000_000).await.expect("journal").len() as i64
}

#[tokio::test]
async fn an_allocation_and_a_transfer_move_balances_and_are_journaled() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("0.1")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("0.2")))
            .await
            .expect("allocate");
        let moved = store
            .execute(
                actor(),
                Command::transfer(
                    so2.clone(),
                    Owner::Participant(a),
                    Owner::Participant(b),
                    dec("0.1250"),
                ),
            )
            .await
            .expect("transfer");
        let Outcome::Ledger(transaction) = moved.outcome else {
            panic!("a ledger outcome")
        };
        assert_eq!(transaction.postings.len(), 2);
        assert_eq!(
            balance(&store, Owner::Participant(a), &so2).await,
            dec("0.1750")
        );
        assert_eq!(
            balance(&store, Owner::Participant(b), &so2).await,
            dec("0.125")
        );
        assert_eq!(balance(&store, issuance(), &so2).await, dec("-0.3"));
        assert_conserved(&store).await;
        // Instrument, two participants, two allocations, one transfer.
        assert_eq!(journal_len(&store).await, 6, "{:?}", db.kind);
        let verification = store.verify_journal().await.expect("verify");
        assert!(
            verification.ok && verification.entries == 6,
            "{verification:?}"
        );
    }
}

#[tokio::test]
async fn an_overdraft_is_refused_and_changes_nothing() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("5")))
            .await
            .expect("allocate");
        let before = journal_len(&store).await;
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::transfer(
                        so2.clone(),
                        Owner::Participant(a),
                        Owner::Participant(b),
                        dec("5.0001"),
                    ),
                )
                .await,
        );
        assert_eq!(
            reason,
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        // No account at all is the same shortage.
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::transfer(
                        so2.clone(),
                        Owner::Participant(b),
                        Owner::Participant(a),
                        dec("1"),
                    ),
                )
                .await,
        );
        assert_eq!(reason.code(), "insufficient_available_balance");
        let reason = refused(
            store
                .execute(actor(), Command::allocate(a, so2.clone(), dec("1.00001")))
                .await,
        );
        assert_eq!(reason.code(), "scale_exceeded");
        let reason = refused(
            store
                .execute(actor(), Command::allocate(a, so2.clone(), dec("0")))
                .await,
        );
        assert_eq!(reason.code(), "quantity_must_be_positive");
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::allocate(Uuid::new_v4(), so2.clone(), dec("1")),
                )
                .await,
        );
        assert_eq!(reason.code(), "unknown_participant");
        assert_eq!(balance(&store, Owner::Participant(a), &so2).await, dec("5"));
        assert_eq!(balance(&store, Owner::Participant(b), &so2).await, dec("0"));
        assert_eq!(journal_len(&store).await, before);
    }
}

#[tokio::test]
async fn a_hold_reduces_what_is_available_and_is_resolved_exactly_once() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        let hold = Uuid::new_v4();
        store
            .execute(
                actor(),
                Command::place_hold(
                    hold,
                    Owner::Participant(a),
                    so2.clone(),
                    dec("6"),
                    HoldPurpose::Order,
                ),
            )
            .await
            .expect("hold");
        let holdings = store.holdings(a, None).await.expect("holdings");
        let row = holdings
            .iter()
            .find(|h| h.instrument == so2)
            .expect("an SO2 row");
        assert_eq!(
            (row.balance, row.held, row.available),
            (dec("10"), dec("6"), dec("4"))
        );
        assert!(
            holdings.iter().any(|h| h.instrument.as_str() == "CNY"),
            "CNY is always listed"
        );

        // What is held cannot be moved.
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::transfer(
                        so2.clone(),
                        Owner::Participant(a),
                        Owner::Participant(b),
                        dec("4.5"),
                    ),
                )
                .await,
        );
        assert_eq!(reason.code(), "insufficient_available_balance");

        store
            .execute(
                actor(),
                Command::settle_hold(hold, Owner::Participant(b), dec("2.5")),
            )
            .await
            .expect("settle part");
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::settle_hold(hold, Owner::Participant(b), dec("4")),
                )
                .await,
        );
        assert_eq!(reason.code(), "hold_exceeded");
        store
            .execute(actor(), Command::release_hold(hold))
            .await
            .expect("release the rest");
        let reason = refused(store.execute(actor(), Command::release_hold(hold)).await);
        assert_eq!(reason.code(), "hold_not_open");
        let reason = refused(
            store
                .execute(actor(), Command::release_hold(Uuid::new_v4()))
                .await,
        );
        assert_eq!(reason.code(), "hold_not_found");

        let stored = store.hold(hold).await.expect("read").expect("the hold");
        assert_eq!(stored.status, HoldStatus::Released);
        assert_eq!((stored.settled, stored.remaining), (dec("2.5"), dec("0")));
        assert_eq!(
            balance(&store, Owner::Participant(a), &so2).await,
            dec("7.5")
        );
        assert_eq!(
            balance(&store, Owner::Participant(b), &so2).await,
            dec("2.5")
        );
        let account = store
            .account(
                &ets_core::AccountKey::new(Owner::Participant(a), so2.clone()),
                None,
            )
            .await
            .expect("read")
            .expect("account");
        assert_eq!(account.held, dec("0"));
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn surrender_retirement_reclamation_and_cash_keep_every_instrument_conserved() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::surrender(a, so2.clone(), dec("1")))
            .await
            .expect("surrender");
        store
            .execute(actor(), Command::retire(a, so2.clone(), dec("2")))
            .await
            .expect("retire");
        store
            .execute(actor(), Command::reclaim(a, so2.clone(), dec("3")))
            .await
            .expect("reclaim");
        store
            .execute(actor(), Command::deposit(a, dec("1000.50")))
            .await
            .expect("deposit");
        store
            .execute(actor(), Command::withdraw(a, dec("0.50")))
            .await
            .expect("withdraw");
        let reason = refused(
            store
                .execute(actor(), Command::withdraw(a, dec("1000.01")))
                .await,
        );
        assert_eq!(reason.code(), "insufficient_available_balance");
        let reason = refused(
            store
                .execute(actor(), Command::deposit(a, dec("0.001")))
                .await,
        );
        assert_eq!(reason.code(), "scale_exceeded");

        let system = |s| Owner::System(s);
        assert_eq!(balance(&store, Owner::Participant(a), &so2).await, dec("4"));
        assert_eq!(
            balance(&store, system(SystemAccount::Surrendered), &so2).await,
            dec("1")
        );
        assert_eq!(
            balance(&store, system(SystemAccount::Retired), &so2).await,
            dec("2")
        );
        assert_eq!(
            balance(&store, system(SystemAccount::Reserve), &so2).await,
            dec("3")
        );
        let cny = ets_core::InstrumentCode::cny();
        assert_eq!(
            balance(&store, Owner::Participant(a), &cny).await,
            dec("1000.00")
        );
        assert_eq!(
            balance(&store, system(SystemAccount::ExternalCash), &cny).await,
            dec("-1000")
        );
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn holdings_can_be_read_as_of_any_past_instant() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        let before_anything = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let after_allocation = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store
            .execute(actor(), Command::surrender(a, so2.clone(), dec("4")))
            .await
            .expect("surrender");
        store
            .execute(
                actor(),
                Command::place_hold(
                    Uuid::new_v4(),
                    Owner::Participant(a),
                    so2.clone(),
                    dec("1"),
                    HoldPurpose::Pledge,
                ),
            )
            .await
            .expect("pledge");

        let then = store
            .holdings(a, Some(after_allocation))
            .await
            .expect("as of");
        let row = then.iter().find(|h| h.instrument == so2).expect("SO2 then");
        assert_eq!(
            (row.balance, row.held, row.available),
            (dec("10"), dec("0"), dec("10"))
        );
        let now = store.holdings(a, None).await.expect("now");
        let row = now.iter().find(|h| h.instrument == so2).expect("SO2 now");
        assert_eq!(
            (row.balance, row.held, row.available),
            (dec("6"), dec("1"), dec("5"))
        );
        let earliest = store
            .holdings(a, Some(before_anything))
            .await
            .expect("as of");
        assert!(
            earliest.iter().all(|h| h.instrument != so2),
            "nothing held before the allocation"
        );
    }
}

fn keyed(key: &str, fingerprint: &str, command: Command) -> Request {
    Request {
        actor: actor(),
        idempotency: Some(IdempotencyKey {
            scope: "client-1".to_owned(),
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }),
        command,
    }
}

#[tokio::test]
async fn a_retried_idempotency_key_returns_the_first_result_and_changes_nothing() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        let first = store
            .submit(keyed(
                "k-1",
                "body-1",
                Command::allocate(a, so2.clone(), dec("3")),
            ))
            .await
            .expect("first");
        assert!(!first.replayed);
        let entries = journal_len(&store).await;
        let again = store
            .submit(keyed(
                "k-1",
                "body-1",
                Command::allocate(a, so2.clone(), dec("3")),
            ))
            .await
            .expect("retry");
        assert!(again.replayed);
        assert_eq!(again.outcome, first.outcome);
        assert_eq!(balance(&store, Owner::Participant(a), &so2).await, dec("3"));
        assert_eq!(journal_len(&store).await, entries);
        let reason = refused(
            store
                .submit(keyed(
                    "k-1",
                    "body-2",
                    Command::allocate(a, so2.clone(), dec("4")),
                ))
                .await,
        );
        assert_eq!(reason, CommandError::IdempotencyKeyReused);
        // Keys are per client: another client's same key is a new request.
        let mut other = keyed("k-1", "body-1", Command::allocate(a, so2.clone(), dec("3")));
        if let Some(key) = other.idempotency.as_mut() {
            key.scope = "client-2".to_owned();
        }
        assert!(!store.submit(other).await.expect("other client").replayed);
        assert_eq!(balance(&store, Owner::Participant(a), &so2).await, dec("6"));
    }
}

#[tokio::test]
async fn concurrent_requests_in_one_batch_commit_independently() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        // Twenty transfers of 1 race for 10 units: exactly ten succeed.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (store, so2) = (store.clone(), so2.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .execute(
                        actor(),
                        Command::transfer(
                            so2,
                            Owner::Participant(a),
                            Owner::Participant(b),
                            dec("1"),
                        ),
                    )
                    .await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => ok += 1,
                Err(StoreError::Command(reason)) => {
                    assert_eq!(reason.code(), "insufficient_available_balance")
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ok, 10);
        assert_eq!(
            balance(&store, Owner::Participant(b), &so2).await,
            dec("10")
        );
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn participants_instruments_and_credentials_are_unique_and_journaled() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        let same_code = ets_core::Participant::new(
            Uuid::new_v4(),
            "另一家公司",
            credit_code(1),
            ets_core::RegionCode::parse("320500").expect("region"),
            None,
        )
        .expect("participant");
        let reason = refused(
            store
                .execute(actor(), Command::CreateParticipant(same_code))
                .await,
        );
        assert_eq!(reason.code(), "duplicate_credit_code");
        let stored = store
            .participant(a)
            .await
            .expect("read")
            .expect("participant");
        assert_eq!(stored.name, "测试企业 1 有限公司");
        assert_eq!(stored.credit_code, credit_code(1));

        let spec = ets_core::InstrumentSpec {
            code: so2.clone(),
            kind: ets_core::InstrumentKind::CarbonAllowance,
            pollutant: None,
            unit: "tCO2e".to_owned(),
            scale: 0,
            region_code: None,
            vintage: Some(2025),
            valid_from: None,
            valid_to: None,
            commission_rate: dec("0"),
            price_band: None,
        };
        let reason = refused(
            store
                .execute(actor(), Command::CreateInstrument(spec))
                .await,
        );
        assert_eq!(reason.code(), "duplicate_instrument");

        let credential = |client_id: &str, role, participant_id| NewCredential {
            client_id: client_id.to_owned(),
            name: "ERP".to_owned(),
            role,
            participant_id,
            secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        };
        use ets_core::Role;
        store
            .execute(
                actor(),
                Command::CreateCredential(credential("c-1", Role::Enterprise, Some(a))),
            )
            .await
            .expect("credential");
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::CreateCredential(credential("c-1", Role::Admin, None)),
                )
                .await,
        );
        assert_eq!(reason.code(), "duplicate_credential");
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::CreateCredential(credential("c-2", Role::Enterprise, None)),
                )
                .await,
        );
        assert_eq!(reason.code(), "credential_participant_mismatch");
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::CreateCredential(credential(
                        "c-3",
                        Role::Enterprise,
                        Some(Uuid::new_v4()),
                    )),
                )
                .await,
        );
        assert_eq!(reason.code(), "unknown_participant");
        let stored = store
            .credential("c-1")
            .await
            .expect("read")
            .expect("credential");
        assert_eq!(
            (stored.role, stored.participant_id, stored.revoked),
            (Role::Enterprise, Some(a), false)
        );
        store
            .execute(
                actor(),
                Command::RevokeCredential {
                    client_id: "c-1".to_owned(),
                },
            )
            .await
            .expect("revoke");
        assert!(
            store
                .credential("c-1")
                .await
                .expect("read")
                .expect("credential")
                .revoked
        );
        let reason = refused(
            store
                .execute(
                    actor(),
                    Command::RevokeCredential {
                        client_id: "c-1".to_owned(),
                    },
                )
                .await,
        );
        assert_eq!(reason.code(), "unknown_credential");

        let journal = store.journal(0, 100).await.expect("journal");
        let kinds: Vec<&str> = journal.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "instrument.created",
                "participant.created",
                "credential.created",
                "credential.revoked"
            ]
        );
        assert!(
            !journal[2].payload.to_string().contains("argon2"),
            "the secret's hash stays out of the journal"
        );
    }
}

/// Runs SQL as the database owner, around the journal's append-only triggers.
async fn tamper(db: &TestDatabase, statements: &[&str]) {
    match db.kind {
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let mut conn = pool.acquire().await.expect("conn");
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut *conn)
                .await
                .expect("bypass");
            for sql in statements {
                sqlx::query(sql).execute(&mut *conn).await.expect("tamper");
            }
        }
        Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite:");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite:{path}"))
                .await
                .expect("connect");
            sqlx::query("DROP TRIGGER IF EXISTS journal_no_update")
                .execute(&pool)
                .await
                .expect("drop");
            sqlx::query("DROP TRIGGER IF EXISTS journal_no_delete")
                .execute(&pool)
                .await
                .expect("drop");
            for sql in statements {
                sqlx::query(sql).execute(&pool).await.expect("tamper");
            }
        }
    }
}

async fn raw_execute(db: &TestDatabase, sql: &str) -> Result<u64, sqlx::Error> {
    match db.kind {
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await?;
            sqlx::query(sql)
                .execute(&pool)
                .await
                .map(|r| r.rows_affected())
        }
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await?;
            sqlx::query(sql)
                .execute(&pool)
                .await
                .map(|r| r.rows_affected())
        }
    }
}

async fn journaled_store(db: &TestDatabase) -> Store {
    let store = Store::open(&db.url).await.expect("open");
    let so2 = pollutant_instrument(&store).await;
    let a = participant(&store, 1).await;
    for _ in 0..4 {
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("1")))
            .await
            .expect("allocate");
    }
    // seq 1 instrument, 2 participant, 3..=6 allocations.
    assert!(store.verify_journal().await.expect("verify").ok);
    store
}

#[tokio::test]
async fn the_journal_refuses_update_and_delete_even_from_its_owner() {
    for db in TestDatabase::each().await {
        let store = journaled_store(&db).await;
        assert!(
            raw_execute(&db, "UPDATE journal SET kind = 'x' WHERE seq = 3")
                .await
                .is_err()
        );
        assert!(
            raw_execute(&db, "DELETE FROM journal WHERE seq = 6")
                .await
                .is_err()
        );
        if db.kind == Kind::Postgres {
            assert!(raw_execute(&db, "TRUNCATE journal").await.is_err());
        }
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn an_edited_journal_entry_is_reported_with_its_seq() {
    for db in TestDatabase::each().await {
        let store = journaled_store(&db).await;
        tamper(&db, &["UPDATE journal SET payload = replace(payload, '-1.0000', '-100.0000') WHERE seq = 4"]).await;
        let verification = store.verify_journal().await.expect("verify");
        assert!(!verification.ok);
        assert_eq!(verification.first_bad_seq, Some(4), "{:?}", db.kind);
    }
}

#[tokio::test]
async fn a_deleted_journal_entry_is_reported_with_its_seq() {
    for db in TestDatabase::each().await {
        let store = journaled_store(&db).await;
        tamper(&db, &["DELETE FROM journal WHERE seq = 3"]).await;
        assert_eq!(
            store.verify_journal().await.expect("verify").first_bad_seq,
            Some(3)
        );
    }
    for db in TestDatabase::each().await {
        let store = journaled_store(&db).await;
        tamper(&db, &["DELETE FROM journal WHERE seq = 6"]).await;
        assert_eq!(
            store.verify_journal().await.expect("verify").first_bad_seq,
            Some(6),
            "the last entry"
        );
    }
}

#[tokio::test]
async fn reordered_journal_entries_are_reported_with_the_first_seq_out_of_place() {
    for db in TestDatabase::each().await {
        let store = journaled_store(&db).await;
        tamper(
            &db,
            &[
                "UPDATE journal SET seq = 100 WHERE seq = 4",
                "UPDATE journal SET seq = 4 WHERE seq = 5",
                "UPDATE journal SET seq = 5 WHERE seq = 100",
            ],
        )
        .await;
        let verification = store.verify_journal().await.expect("verify");
        assert_eq!(verification.first_bad_seq, Some(4), "{verification:?}");
    }
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match db.kind {
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    }
}

#[tokio::test]
async fn allocations_invoices_and_the_signing_key_are_stored() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        let paid = ets_store::NewAllocation {
            id: Uuid::now_v7(),
            participant_id: a,
            instrument: so2.clone(),
            quantity: dec("12.3456"),
            paid: Some(ets_store::PaidUse {
                invoice_id: Uuid::now_v7(),
                unit_fee: dec("230"),
                years: 5,
                due_date: "2026-12-31".parse().expect("date"),
                daily_rate: ets_engine::DEFAULT_DAILY_SURCHARGE_RATE,
            }),
        };
        let committed = store
            .execute(actor(), Command::Allocate(paid))
            .await
            .expect("allocate");
        let Outcome::Allocation(allocation) = committed.outcome else {
            panic!("an allocation")
        };
        assert_eq!(
            allocation.invoice.expect("an invoice").amount,
            dec("14197.44")
        );
        let free = ets_store::NewAllocation {
            id: Uuid::now_v7(),
            participant_id: a,
            instrument: so2.clone(),
            quantity: dec("1"),
            paid: None,
        };
        store
            .execute(actor(), Command::Allocate(free))
            .await
            .expect("allocate");
        let cash = ets_store::NewAllocation {
            id: Uuid::now_v7(),
            participant_id: a,
            instrument: ets_core::InstrumentCode::cny(),
            quantity: dec("1"),
            paid: None,
        };
        assert_eq!(
            refused(store.execute(actor(), Command::Allocate(cash)).await).code(),
            "invalid_instrument"
        );
        assert_eq!(count(&db, "allocations").await, 2, "{:?}", db.kind);
        assert_eq!(count(&db, "invoices").await, 1, "{:?}", db.kind);
        assert_eq!(
            balance(&store, Owner::Participant(a), &so2).await,
            dec("13.3456")
        );

        assert_eq!(store.signing_key().await.expect("read"), None);
        let key = ets_store::NewSigningKey {
            kid: "k1".to_owned(),
            pkcs8: vec![1, 2, 3],
            public_key: vec![4, 5, 6],
        };
        store
            .execute(actor(), Command::CreateSigningKey(key.clone()))
            .await
            .expect("store the key");
        assert_eq!(
            store.signing_key().await.expect("read"),
            Some(vec![1, 2, 3]),
            "{:?}",
            db.kind
        );
        let again = refused(
            store
                .execute(actor(), Command::CreateSigningKey(key.clone()))
                .await,
        );
        assert_eq!(again.code(), "signing_key_exists");

        // A rotation installs the next generation, which signs from then on;
        // the first stays stored (published), and no kid comes back.
        let next = ets_store::NewSigningKey {
            kid: "k2".to_owned(),
            pkcs8: vec![7, 8, 9],
            public_key: vec![10, 11, 12],
        };
        store
            .execute(actor(), Command::RotateSigningKey(next.clone()))
            .await
            .expect("rotate the key");
        assert_eq!(
            store.signing_key().await.expect("read"),
            Some(vec![7, 8, 9]),
            "{:?}",
            db.kind
        );
        let stored: Vec<(i64, String, Vec<u8>)> = store
            .signing_keys()
            .await
            .expect("read")
            .into_iter()
            .map(|k| (k.generation, k.kid, k.pkcs8))
            .collect();
        assert_eq!(
            stored,
            [
                (1, "k1".to_owned(), vec![1, 2, 3]),
                (2, "k2".to_owned(), vec![7, 8, 9])
            ],
            "{:?}",
            db.kind
        );
        for old in [key, next] {
            let again = refused(store.execute(actor(), Command::RotateSigningKey(old)).await);
            assert_eq!(again.code(), "signing_key_exists", "{:?}", db.kind);
        }
    }
}

/// Makes the database refuse any posting to `owner` (a trigger), as a
/// constraint would refuse a bad row in the middle of a batch's writes.
async fn refuse_postings_to(db: &TestDatabase, owner: &Owner) {
    let key = owner.storage_key();
    let statements = match db.kind {
        Kind::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_posting() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.owner = '{key}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_posting BEFORE INSERT ON postings \
             FOR EACH ROW EXECUTE FUNCTION refuse_posting()"
                .to_owned(),
        ],
        Kind::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_posting BEFORE INSERT ON postings WHEN NEW.owner = '{key}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
    };
    for sql in statements {
        raw_execute(db, &sql).await.expect("create the trigger");
    }
}

#[tokio::test]
async fn a_write_the_database_refuses_mid_batch_leaves_nothing_and_the_rest_commits() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (a, b, c) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        refuse_postings_to(&db, &Owner::Participant(c)).await;
        let journal_before = journal_len(&store).await;

        // Sent together, so that they share batches: one transfer the
        // database refuses, six it accepts.
        let mut tasks = Vec::new();
        for n in 0..7 {
            let (store, so2) = (store.clone(), so2.clone());
            let to = if n == 3 { c } else { b };
            tasks.push(tokio::spawn(async move {
                let transfer =
                    Command::transfer(so2, Owner::Participant(a), Owner::Participant(to), dec("1"));
                (to, store.execute(actor(), transfer).await)
            }));
        }
        for task in tasks {
            match task.await.expect("task") {
                (to, Ok(_)) => assert_eq!(to, b, "{:?}: the refused transfer committed", db.kind),
                (to, Err(StoreError::Database(_))) => assert_eq!(to, c, "{:?}", db.kind),
                (_, Err(other)) => panic!("{:?}: unexpected {other:?}", db.kind),
            }
        }
        assert_eq!(balance(&store, Owner::Participant(b), &so2).await, dec("6"));
        assert_eq!(balance(&store, Owner::Participant(c), &so2).await, dec("0"));
        assert_eq!(balance(&store, Owner::Participant(a), &so2).await, dec("4"));
        assert_eq!(journal_len(&store).await, journal_before + 6);
        assert!(store.verify_journal().await.expect("verify").ok);

        // The writer goes on: once the database accepts it, the same transfer commits.
        let drop = match db.kind {
            Kind::Postgres => "DROP TRIGGER refuse_posting ON postings",
            Kind::Sqlite => "DROP TRIGGER refuse_posting",
        };
        raw_execute(&db, drop).await.expect("drop the trigger");
        store
            .execute(
                actor(),
                Command::transfer(
                    so2.clone(),
                    Owner::Participant(a),
                    Owner::Participant(c),
                    dec("1"),
                ),
            )
            .await
            .expect("the transfer, accepted now");
        assert_eq!(balance(&store, Owner::Participant(c), &so2).await, dec("1"));
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn a_stopped_sqlite_store_leaves_everything_in_its_one_file() {
    let db = TestDatabase::sqlite();
    let store = Store::open(&db.url).await.expect("open");
    let so2 = pollutant_instrument(&store).await;
    let a = participant(&store, 1).await;
    store
        .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
        .await
        .expect("allocate");
    let path = db.url.trim_start_matches("sqlite:").to_owned();
    let log_len = || {
        std::fs::metadata(format!("{path}-wal"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(log_len() > 0, "the writes wait in the write-ahead log");

    assert!(
        store.stop().await.expect("stop"),
        "nothing else holds the file"
    );
    assert_eq!(log_len(), 0, "emptied into the database file");
    // The file alone, copied while the store is still open, holds everything.
    let copy = TestDatabase::sqlite();
    std::fs::copy(&path, copy.url.trim_start_matches("sqlite:")).expect("copy");
    let copied = Store::open(&copy.url).await.expect("open the copy");
    assert_eq!(
        balance(&copied, Owner::Participant(a), &so2).await,
        dec("10")
    );
    assert!(copied.verify_journal().await.expect("verify").ok);
}
