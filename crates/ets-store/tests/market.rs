//! The market on both backends, where only a database can tell: each
//! backend's book paging and price order, the previous day's VWAP query,
//! closing auctions at their time, and batches that read what an earlier
//! request of the same batch wrote. The rules themselves are tested without
//! a database in `crates/ets-engine/tests`.

mod common;

use std::sync::Arc;

use common::*;
use ets_core::matching::Side;
use ets_core::{AccountKey, Decimal, InstrumentCode, LedgerError, Owner};
use ets_store::{
    Auction, AuctionBid, AuctionStatus, Book, Closed, Command, CommandError, NewAuction, NewBid,
    NewOrder, OrderStatus, Outcome, Placed, Source, Store, StoreError, SystemClock,
};
use ets_testkit::TestDatabase;
use uuid::Uuid;

async fn place(
    store: &Store,
    participant: Uuid,
    side: Side,
    quantity: &str,
    price: &str,
) -> Result<Placed, StoreError> {
    let order = NewOrder {
        id: Uuid::now_v7(),
        participant_id: participant,
        instrument: so2(),
        side,
        quantity: dec(quantity),
        price: dec(price),
    };
    let committed = store.execute(actor(), Command::PlaceOrder(order)).await?;
    match committed.outcome {
        Outcome::Order(placed) => Ok(placed),
        other => panic!("an order outcome, got {other:?}"),
    }
}

fn refusal(result: Result<impl std::fmt::Debug, StoreError>) -> CommandError {
    match result {
        Err(StoreError::Command(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn account(
    store: &Store,
    participant: Uuid,
    instrument: &InstrumentCode,
) -> (Decimal, Decimal) {
    store
        .account(
            &AccountKey::new(Owner::Participant(participant), instrument.clone()),
            None,
        )
        .await
        .expect("read")
        .map_or((Decimal::ZERO, Decimal::ZERO), |a| (a.balance, a.held))
}

async fn offer(store: &Store, new: NewAuction) -> Result<Auction, StoreError> {
    match store
        .execute(actor(), Command::CreateAuction(new))
        .await?
        .outcome
    {
        Outcome::Auction(auction) => Ok(auction),
        other => panic!("an auction, got {other:?}"),
    }
}

async fn bid(
    store: &Store,
    auction: Uuid,
    bidder: Uuid,
    quantity: &str,
    price: &str,
) -> Result<AuctionBid, StoreError> {
    let new = NewBid {
        id: Uuid::now_v7(),
        auction_id: auction,
        participant_id: bidder,
        quantity: dec(quantity),
        price: dec(price),
    };
    match store
        .execute(actor(), Command::PlaceBid(new))
        .await?
        .outcome
    {
        Outcome::Bid(bid) => Ok(bid),
        other => panic!("a bid, got {other:?}"),
    }
}

async fn close(store: &Store, id: Uuid) -> Result<Closed, StoreError> {
    match store
        .execute(actor(), Command::CloseAuction { id })
        .await?
        .outcome
    {
        Outcome::AuctionClosed(closed) => Ok(closed),
        other => panic!("a closed auction, got {other:?}"),
    }
}

fn auction_of(quantity: &str, reserve: &str, source: Source) -> NewAuction {
    NewAuction {
        id: Uuid::now_v7(),
        instrument: so2(),
        quantity: dec(quantity),
        reserve_price: dec(reserve),
        source,
        lot_size: None,
        max_bidder_share: None,
        closes_at: None,
    }
}

#[tokio::test]
async fn an_issued_offering_sells_what_is_bid_and_an_auction_without_bids_fails() {
    for db in TestDatabase::each().await {
        let clock = Arc::new(SystemClock::default());
        let store = Store::open_with_clock(&db.url, clock.clone())
            .await
            .expect("open");
        let so2 = pollutant_instrument(&store).await;
        let p = participant(&store, 1).await;
        store
            .execute(actor(), Command::deposit(p, dec("1000.00")))
            .await
            .expect("deposit");
        // Undersubscribed: 3 t of 5 are bid, at the reserve; 2 are never issued.
        let auction = offer(&store, auction_of("5", "100.00", Source::Issuance))
            .await
            .expect("offer");
        bid(&store, auction.id, p, "3", "100.00")
            .await
            .expect("bid");
        let closed = close(&store, auction.id).await.expect("close");
        assert_eq!(
            (closed.auction.clearing_price, closed.auction.sold_quantity),
            (Some(dec("100.00")), Some(dec("3")))
        );
        assert_eq!(account(&store, p, &so2).await, (dec("3"), dec("0")));
        assert_eq!(balance(&store, issuance(), &so2).await, dec("-3"));
        assert_eq!(
            account(&store, p, &InstrumentCode::cny()).await,
            (dec("700.00"), dec("0"))
        );

        // No bid: the auction fails and nothing moves.
        let empty = offer(&store, auction_of("5", "100.00", Source::Issuance))
            .await
            .expect("offer");
        let closed = close(&store, empty.id).await.expect("close");
        assert_eq!(closed.auction.status, AuctionStatus::Failed);
        assert!(closed.trades.is_empty());
        assert_eq!(balance(&store, issuance(), &so2).await, dec("-3"));
        // An auction with a closing time takes no bid after it, and the
        // scheduler closes it.
        let mut timed = auction_of("1", "10.00", Source::Issuance);
        timed.closes_at = Some(store.now() + chrono::Duration::minutes(5));
        let timed = offer(&store, timed).await.expect("offer");
        bid(&store, timed.id, p, "1", "10.00").await.expect("bid");
        assert_eq!(store.close_due_auctions().await.expect("close"), 0);
        clock.advance(chrono::Duration::minutes(6));
        assert_eq!(
            refusal(bid(&store, timed.id, p, "1", "11.00").await),
            CommandError::AuctionClosed
        );
        assert_eq!(store.close_due_auctions().await.expect("close"), 1);
        assert_eq!(store.close_due_auctions().await.expect("close"), 0);
        let stored = store
            .auction(timed.id)
            .await
            .expect("read")
            .expect("auction");
        assert_eq!(stored.status, AuctionStatus::Cleared);
        assert_eq!(account(&store, p, &so2).await, (dec("4"), dec("0")));

        // A reserve offering needs the reserve to hold the quantity.
        assert_eq!(
            refusal(offer(&store, auction_of("5", "100.00", Source::Reserve)).await),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        assert_conserved(&store).await;
    }
}

/// Moves every trade one business day back, as if made yesterday.
async fn age_trades(db: &TestDatabase) {
    use sqlx::Connection;
    match db.kind {
        ets_testkit::Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query("UPDATE trades SET business_date = business_date - 1")
                .execute(&mut conn)
                .await
                .expect("age");
        }
        ets_testkit::Kind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query("UPDATE trades SET business_date = date(business_date, '-1 day')")
                .execute(&mut conn)
                .await
                .expect("age");
        }
    }
}

#[tokio::test]
async fn a_price_band_holds_prices_near_the_previous_days_vwap() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let code = InstrumentCode::parse("CEA-2026").expect("code");
        let spec = ets_core::InstrumentSpec {
            code: code.clone(),
            kind: ets_core::InstrumentKind::CarbonAllowance,
            pollutant: None,
            unit: "tCO2e".to_owned(),
            scale: 0,
            region_code: None,
            vintage: Some(2026),
            valid_from: None,
            valid_to: None,
            commission_rate: dec("0"),
            price_band: Some(dec("0.10")),
        };
        store
            .execute(actor(), Command::CreateInstrument(spec))
            .await
            .expect("instrument");
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, code.clone(), dec("100")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(b, dec("100000.00")))
            .await
            .expect("deposit");
        let order = |participant: Uuid, side: Side, quantity: &str, price: &str| NewOrder {
            id: Uuid::now_v7(),
            participant_id: participant,
            instrument: code.clone(),
            side,
            quantity: dec(quantity),
            price: dec(price),
        };
        // Yesterday: 10 t at 90 and 30 t at 100 → VWAP 97.50; band 87.75 to 107.25.
        for (quantity, price) in [("10", "90.00"), ("30", "100.00")] {
            for (who, side) in [(a, Side::Sell), (b, Side::Buy)] {
                store
                    .execute(
                        actor(),
                        Command::PlaceOrder(order(who, side, quantity, price)),
                    )
                    .await
                    .expect("order");
            }
        }
        // With no earlier day, any price was accepted; now they age.
        age_trades(&db).await;
        for (price, accepted) in [
            ("107.25", true),
            ("87.75", true),
            ("107.26", false),
            ("87.74", false),
        ] {
            let result = store
                .execute(
                    actor(),
                    Command::PlaceOrder(order(a, Side::Sell, "1", price)),
                )
                .await;
            match (accepted, result) {
                (true, Ok(_)) => {}
                (
                    false,
                    Err(StoreError::Command(CommandError::Ledger(LedgerError::PriceOutOfBand))),
                ) => {}
                (_, other) => panic!("{price} on {:?}: {other:?}", db.kind),
            }
        }
    }
}

/// Applies `commands` as one batch (one database transaction), as the
/// writer does when they arrive together.
async fn one_batch(
    db: &TestDatabase,
    commands: Vec<Command>,
) -> Vec<Result<Outcome, CommandError>> {
    let requests: Vec<ets_store::Request> = commands
        .into_iter()
        .map(|command| ets_store::Request {
            actor: actor(),
            idempotency: None,
            command,
        })
        .collect();
    let now = chrono::Utc::now();
    let results = match db.kind {
        ets_testkit::Kind::Postgres => {
            let backend = ets_store::PostgresBackend::connect(&db.url)
                .await
                .expect("connect");
            backend.execute(&requests, now).await
        }
        ets_testkit::Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite:");
            let backend = ets_store::SqliteBackend::open(path).await.expect("open");
            backend.execute(&requests, now).await
        }
    };
    results
        .expect("the batch commits")
        .into_iter()
        .map(|r| r.map(|committed| committed.outcome))
        .collect()
}

fn new_order(participant: Uuid, side: Side, quantity: &str, price: &str) -> NewOrder {
    NewOrder {
        id: Uuid::now_v7(),
        participant_id: participant,
        instrument: so2(),
        side,
        quantity: dec(quantity),
        price: dec(price),
    }
}

#[tokio::test]
async fn a_cancel_and_a_crossing_order_in_one_batch_leave_no_crossed_book() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (p1, p2, p3) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        for who in [p1, p2] {
            store
                .execute(actor(), Command::allocate(who, so2.clone(), dec("10")))
                .await
                .expect("allocate");
        }
        store
            .execute(actor(), Command::deposit(p3, dec("2000.00")))
            .await
            .expect("deposit");
        let first = place(&store, p1, Side::Sell, "10", "100.00")
            .await
            .expect("ask");
        place(&store, p2, Side::Sell, "10", "100.00")
            .await
            .expect("ask");
        // The cancel takes the first ask out; the buy must still find the second.
        let results = one_batch(
            &db,
            vec![
                Command::CancelOrder {
                    id: first.order.id,
                    owner: Some(p1),
                },
                Command::PlaceOrder(new_order(p3, Side::Buy, "10", "100.00")),
            ],
        )
        .await;
        match &results[1] {
            Ok(Outcome::Order(placed)) => {
                assert_eq!(placed.order.status, OrderStatus::Filled, "{:?}", db.kind);
                assert_eq!(placed.trades[0].seller_id, Some(p2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.book(&so2, 10).await.expect("book"), Book::default());
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn a_bid_and_the_close_in_one_batch_credit_the_winners_existing_account() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let p = participant(&store, 1).await;
        store
            .execute(actor(), Command::allocate(p, so2.clone(), dec("5")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(p, dec("100.00")))
            .await
            .expect("deposit");
        let auction = offer(&store, auction_of("1", "10.00", Source::Issuance))
            .await
            .expect("offer");
        let results = one_batch(
            &db,
            vec![
                Command::PlaceBid(NewBid {
                    id: Uuid::now_v7(),
                    auction_id: auction.id,
                    participant_id: p,
                    quantity: dec("1"),
                    price: dec("10.00"),
                }),
                Command::CloseAuction { id: auction.id },
            ],
        )
        .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(account(&store, p, &so2).await, (dec("6"), dec("0")));
        assert_eq!(
            account(&store, p, &InstrumentCode::cny()).await,
            (dec("90.00"), dec("0"))
        );
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn an_order_that_sweeps_more_than_a_page_of_the_book_fills_in_priority_order() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (seller, buyer) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(seller, so2.clone(), dec("150")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(buyer, dec("100000.00")))
            .await
            .expect("deposit");
        // 150 asks of 1 t: the later ones cheaper, so priority is not arrival.
        for n in 0..150 {
            let price = format!("{}.00", 300 - n);
            place(&store, seller, Side::Sell, "1", &price)
                .await
                .expect("ask");
        }
        let bid = place(&store, buyer, Side::Buy, "140", "300.00")
            .await
            .expect("bid");
        assert_eq!(bid.order.status, OrderStatus::Filled, "{:?}", db.kind);
        let prices: Vec<Decimal> = bid.trades.iter().map(|t| t.price).collect();
        let expected: Vec<Decimal> = (0..140).map(|n| Decimal::from(151 + n)).collect();
        assert_eq!(prices, expected);
        let book = store.book(&so2, 500).await.expect("book");
        assert_eq!(book.asks.len(), 10);
        assert_eq!(book.asks[0].price, dec("291"));
        assert_conserved(&store).await;
    }
}
