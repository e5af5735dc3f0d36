//! The order book on both backends: figures computed by hand, to the fen.

mod common;

use common::*;
use ets_core::matching::Side;
use ets_core::{
    AccountKey, Decimal, InstrumentCode, LedgerError, Owner, Participant, RegionCode, SystemAccount,
};
use ets_store::{
    Book, BookLevel, Command, CommandError, NewOrder, Order, OrderFilter, OrderStatus, Outcome,
    Placed, Store, StoreError, TradeFilter,
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

async fn cancel(store: &Store, id: Uuid, owner: Uuid) -> Result<Order, StoreError> {
    let committed = store
        .execute(
            actor(),
            Command::CancelOrder {
                id,
                owner: Some(owner),
            },
        )
        .await?;
    match committed.outcome {
        Outcome::OrderCancelled(order) => Ok(order),
        other => panic!("a cancelled order, got {other:?}"),
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

fn level(price: &str, quantity: &str) -> BookLevel {
    BookLevel {
        price: dec(price),
        quantity: dec(quantity),
    }
}

#[tokio::test]
async fn a_buy_sweeps_two_asks_at_their_prices_and_every_fen_is_accounted_for() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await; // commission 0.1 %
        let (a, b, c) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        for (who, quantity) in [(a, "10"), (c, "5")] {
            store
                .execute(actor(), Command::allocate(who, so2.clone(), dec(quantity)))
                .await
                .expect("allocate");
        }
        store
            .execute(actor(), Command::deposit(b, dec("10000.00")))
            .await
            .expect("deposit");

        let ask_a = place(&store, a, Side::Sell, "4", "250.00")
            .await
            .expect("ask");
        let ask_c = place(&store, c, Side::Sell, "3.5", "248.50")
            .await
            .expect("ask");
        assert!(ask_a.trades.is_empty() && ask_c.trades.is_empty());
        assert_eq!(account(&store, a, &so2).await, (dec("10"), dec("4")));

        // 6 t at 251.00: hold 1506.00 + commission 1.51 = 1507.51.
        let bid = place(&store, b, Side::Buy, "6", "251.00")
            .await
            .expect("bid");
        assert_eq!(bid.order.hold_amount, dec("1507.51"));
        assert_eq!(bid.order.status, OrderStatus::Filled, "{:?}", db.kind);
        let fills: Vec<_> = bid
            .trades
            .iter()
            .map(|t| {
                (
                    t.quantity,
                    t.price,
                    t.value,
                    t.buyer_commission,
                    t.seller_commission,
                    t.seller_id,
                )
            })
            .collect();
        // First the cheaper ask: 3.5 × 248.50 = 869.75, commissions 0.86975 → 0.87.
        // Then 2.5 × 250.00 = 625.00; the buyer's commission on the cumulative
        // 1494.75 is 1.49, less 0.87 paid = 0.62; the seller's on 625.00 is 0.63.
        assert_eq!(
            fills,
            [
                (
                    dec("3.5"),
                    dec("248.50"),
                    dec("869.75"),
                    dec("0.87"),
                    dec("0.87"),
                    Some(c)
                ),
                (
                    dec("2.5"),
                    dec("250.00"),
                    dec("625.00"),
                    dec("0.62"),
                    dec("0.63"),
                    Some(a)
                ),
            ]
        );
        // The buyer paid 1494.75 + 1.49; the unused 11.27 of its hold is released.
        assert_eq!(
            account(&store, b, &InstrumentCode::cny()).await,
            (dec("8503.76"), dec("0"))
        );
        assert_eq!(account(&store, b, &so2).await, (dec("6"), dec("0")));
        assert_eq!(
            account(&store, c, &InstrumentCode::cny()).await,
            (dec("868.88"), dec("0"))
        );
        assert_eq!(account(&store, c, &so2).await, (dec("1.5"), dec("0")));
        assert_eq!(
            account(&store, a, &InstrumentCode::cny()).await,
            (dec("624.37"), dec("0"))
        );
        assert_eq!(account(&store, a, &so2).await, (dec("7.5"), dec("1.5")));
        assert_eq!(
            balance(
                &store,
                Owner::System(SystemAccount::FeeIncome),
                &InstrumentCode::cny()
            )
            .await,
            dec("2.99")
        );
        let resting = store
            .order(ask_a.order.id)
            .await
            .expect("read")
            .expect("order");
        assert_eq!(
            (resting.status, resting.filled, resting.held()),
            (OrderStatus::PartiallyFilled, dec("2.5"), dec("1.5"))
        );
        assert_eq!(
            store.book(&so2, 10).await.expect("book"),
            Book {
                bids: vec![],
                asks: vec![level("250", "1.5")],
            }
        );

        // A's own buy crossing its own ask is accepted and cancelled.
        store
            .execute(actor(), Command::deposit(a, dec("1000.00")))
            .await
            .expect("deposit");
        let own = place(&store, a, Side::Buy, "1", "250.00")
            .await
            .expect("accepted");
        assert_eq!(own.order.status, OrderStatus::Cancelled);
        assert!(own.trades.is_empty());
        assert_eq!(
            account(&store, a, &InstrumentCode::cny()).await,
            (dec("1624.37"), dec("0"))
        );

        // Only the owner cancels; cancelling twice is refused.
        assert_eq!(
            refusal(cancel(&store, ask_a.order.id, b).await),
            CommandError::UnknownOrder
        );
        let cancelled = cancel(&store, ask_a.order.id, a).await.expect("cancel");
        assert_eq!(
            (cancelled.status, cancelled.held()),
            (OrderStatus::Cancelled, dec("0"))
        );
        assert_eq!(account(&store, a, &so2).await, (dec("7.5"), dec("0")));
        assert_eq!(
            refusal(cancel(&store, ask_a.order.id, a).await),
            CommandError::OrderNotOpen
        );
        assert_eq!(store.book(&so2, 10).await.expect("book"), Book::default());

        let mine = store
            .trades(&TradeFilter {
                participant: Some(c),
                limit: 10,
                ..TradeFilter::default()
            })
            .await
            .expect("trades");
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].value, dec("869.75"));
        let orders = store
            .orders(&OrderFilter {
                participant: Some(a),
                limit: 10,
                ..OrderFilter::default()
            })
            .await
            .expect("orders");
        assert_eq!(orders.len(), 2);
        assert_conserved(&store).await;
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn refused_orders_change_nothing() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let b = participant(&store, 2).await;
        store
            .execute(actor(), Command::deposit(b, dec("100.00")))
            .await
            .expect("deposit");
        let nanjing = Participant::new(
            Uuid::new_v4(),
            "南京测试企业有限公司",
            credit_code(9),
            RegionCode::parse("320100").expect("region"),
            None,
        )
        .expect("participant");
        let outsider = nanjing.id;
        store
            .execute(actor(), Command::CreateParticipant(nanjing))
            .await
            .expect("participant");
        let before = store.journal(0, 1000).await.expect("journal").len();
        let cases = [
            (
                b,
                Side::Buy,
                "1",
                "100.01",
                LedgerError::InsufficientAvailableBalance,
            ),
            (b, Side::Buy, "1", "99.999", LedgerError::InvalidPrice),
            (
                b,
                Side::Buy,
                "0.00001",
                "10",
                LedgerError::ScaleExceeded { scale: 4 },
            ),
            (b, Side::Buy, "0.0001", "0.01", LedgerError::ValueTooSmall),
            (
                b,
                Side::Sell,
                "1",
                "10",
                LedgerError::InsufficientAvailableBalance,
            ),
            (outsider, Side::Buy, "1", "10", LedgerError::RegionMismatch),
        ];
        for (who, side, quantity, price, reason) in cases {
            assert_eq!(
                refusal(place(&store, who, side, quantity, price).await),
                CommandError::Ledger(reason.clone()),
                "{quantity} at {price} on {:?}",
                db.kind
            );
        }
        assert_eq!(store.journal(0, 1000).await.expect("journal").len(), before);
        assert_eq!(
            account(&store, b, &InstrumentCode::cny()).await,
            (dec("100.00"), dec("0"))
        );
        let _ = so2;
    }
}
