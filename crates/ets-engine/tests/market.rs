//! The continuous order book on the ledger in memory: the figures computed
//! by hand, to the fen, as the store's suite checks them on both databases.

mod common;

use chrono::Duration;
use common::*;
use ets_core::matching::Side;
use ets_core::{
    Decimal, InstrumentCode, InstrumentKind, InstrumentSpec, LedgerError, SystemAccount,
};
use ets_engine::{Command, CommandError, IdempotencyKey, OrderStatus, Outcome, Request};

#[test]
fn a_buy_sweeps_two_asks_at_their_prices_and_every_fen_is_accounted_for() {
    let mut ledger = TestLedger::with_so2(); // commission 0.1 %
    let so2 = so2();
    let [a, b, c] = ledger.participants([1, 2, 3]);
    ledger.allocate(a, &so2, "10");
    ledger.allocate(c, &so2, "5");
    ledger.deposit(b, "10000.00");

    let ask_a = ledger.place(a, Side::Sell, "4", "250.00").expect("ask");
    let ask_c = ledger.place(c, Side::Sell, "3.5", "248.50").expect("ask");
    assert!(ask_a.trades.is_empty() && ask_c.trades.is_empty());
    assert_eq!(ledger.account(a, &so2), (dec("10"), dec("4")));

    // 6 t at 251.00: hold 1506.00 + commission 1.51 = 1507.51.
    let bid = ledger.place(b, Side::Buy, "6", "251.00").expect("bid");
    assert_eq!(bid.order.hold_amount, dec("1507.51"));
    assert_eq!(bid.order.status, OrderStatus::Filled);
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
    assert_eq!(ledger.account(b, &cny()), (dec("8503.76"), dec("0")));
    assert_eq!(ledger.account(b, &so2), (dec("6"), dec("0")));
    assert_eq!(ledger.account(c, &cny()), (dec("868.88"), dec("0")));
    assert_eq!(ledger.account(c, &so2), (dec("1.5"), dec("0")));
    assert_eq!(ledger.account(a, &cny()), (dec("624.37"), dec("0")));
    assert_eq!(ledger.account(a, &so2), (dec("7.5"), dec("1.5")));
    assert_eq!(
        ledger.balance(SystemAccount::FeeIncome, &cny()),
        dec("2.99")
    );
    let resting = ledger.memory.order(ask_a.order.id).expect("order");
    assert_eq!(
        (resting.status, resting.filled, resting.held()),
        (OrderStatus::PartiallyFilled, dec("2.5"), dec("1.5"))
    );
    assert!(ledger.levels(&so2, Side::Buy).is_empty());
    assert_eq!(ledger.levels(&so2, Side::Sell), [level("250", "1.5")]);

    // A's own buy crossing its own ask is accepted and cancelled.
    ledger.deposit(a, "1000.00");
    let own = ledger.place(a, Side::Buy, "1", "250.00").expect("accepted");
    assert_eq!(own.order.status, OrderStatus::Cancelled);
    assert!(own.trades.is_empty());
    assert_eq!(ledger.account(a, &cny()), (dec("1624.37"), dec("0")));

    // Only the owner cancels; cancelling twice is refused.
    assert_eq!(
        ledger.cancel(ask_a.order.id, b),
        Err(CommandError::UnknownOrder)
    );
    let cancelled = ledger.cancel(ask_a.order.id, a).expect("cancel");
    assert_eq!(
        (cancelled.status, cancelled.held()),
        (OrderStatus::Cancelled, dec("0"))
    );
    assert_eq!(ledger.account(a, &so2), (dec("7.5"), dec("0")));
    assert_eq!(
        ledger.cancel(ask_a.order.id, a),
        Err(CommandError::OrderNotOpen)
    );
    assert!(ledger.levels(&so2, Side::Sell).is_empty());

    let of_c: Vec<_> = ledger
        .memory
        .trades()
        .iter()
        .filter(|t| t.buyer_id == c || t.seller_id == Some(c))
        .collect();
    assert_eq!(of_c.len(), 1);
    assert_eq!(of_c[0].value, dec("869.75"));
    let of_a = ledger
        .memory
        .orders()
        .filter(|o| o.participant_id == a)
        .count();
    assert_eq!(of_a, 2);
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}

#[test]
fn refused_orders_change_nothing() {
    let mut ledger = TestLedger::with_so2();
    let b = ledger.participant(2);
    ledger.deposit(b, "100.00");
    // Nanjing (320100) is outside Suzhou's SO2 region.
    let outsider = ledger.participant_in(9, "320100");
    let before = ledger.memory.clone();
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
            ledger.place(who, side, quantity, price).map(|_| ()),
            Err(CommandError::Ledger(reason)),
            "{quantity} at {price}"
        );
    }
    assert_eq!(ledger.memory.journal(), before.journal());
    assert!(ledger.memory.accounts().eq(before.accounts()));
    assert!(ledger.memory.holds().eq(before.holds()));
    assert_eq!(ledger.memory.orders().count(), 0);
    assert_eq!(ledger.account(b, &cny()), (dec("100.00"), dec("0")));
}

/// A carbon allowance (whole tonnes, no commission) with a 10 % price band.
fn banded_allowance() -> InstrumentSpec {
    InstrumentSpec {
        code: InstrumentCode::parse("CEA-2026").expect("code"),
        kind: InstrumentKind::CarbonAllowance,
        pollutant: None,
        unit: "tCO2e".to_owned(),
        scale: 0,
        region_code: None,
        vintage: Some(2026),
        valid_from: None,
        valid_to: None,
        commission_rate: dec("0"),
        price_band: Some(dec("0.10")),
    }
}

#[test]
fn a_price_band_holds_prices_near_the_previous_days_vwap() {
    let mut ledger = TestLedger::new();
    let spec = banded_allowance();
    let cea = spec.code.clone();
    ledger.create_instrument(spec);
    let [a, b] = ledger.participants([1, 2]);
    ledger.allocate(a, &cea, "100");
    ledger.deposit(b, "100000.00");
    // Today: 10 t at 90 and 30 t at 100 → VWAP 97.50 tomorrow; band 87.75 to 107.25.
    // With no earlier day, any price is accepted.
    for (quantity, price) in [("10", "90.00"), ("30", "100.00")] {
        for (who, side) in [(a, Side::Sell), (b, Side::Buy)] {
            let order = ledger.order_on(&cea, who, side, quantity, price);
            ledger.place_order(order).expect("order");
        }
    }
    let band_holds = |ledger: &mut TestLedger| {
        for (price, accepted) in [
            ("107.25", true),
            ("87.75", true),
            ("107.26", false),
            ("87.74", false),
        ] {
            let order = ledger.order_on(&cea, a, Side::Sell, "1", price);
            match (accepted, ledger.place_order(order)) {
                (true, Ok(_)) | (false, Err(CommandError::Ledger(LedgerError::PriceOutOfBand))) => {
                }
                (_, other) => panic!("{price}: {other:?}"),
            }
        }
    };
    ledger.advance(Duration::days(1));
    band_holds(&mut ledger);
    // A day without trades in between changes nothing: the band is around
    // the last business day before today that had trades.
    ledger.advance(Duration::days(1));
    band_holds(&mut ledger);
}

#[test]
fn a_cancel_and_a_crossing_order_in_one_batch_leave_no_crossed_book() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [p1, p2, p3] = ledger.participants([1, 2, 3]);
    ledger.allocate(p1, &so2, "10");
    ledger.allocate(p2, &so2, "10");
    ledger.deposit(p3, "2000.00");
    let first = ledger.place(p1, Side::Sell, "10", "100.00").expect("ask");
    ledger.place(p2, Side::Sell, "10", "100.00").expect("ask");
    // The cancel takes the first ask out; the buy must still find the second.
    let buy = ledger.order(p3, Side::Buy, "10", "100.00");
    let results = ledger.batch(vec![
        Command::CancelOrder {
            id: first.order.id,
            owner: Some(p1),
        },
        Command::PlaceOrder(buy),
    ]);
    match &results[1] {
        Ok(Outcome::Order(placed)) => {
            assert_eq!(placed.order.status, OrderStatus::Filled);
            assert_eq!(placed.trades[0].seller_id, Some(p2));
        }
        other => panic!("{other:?}"),
    }
    assert!(ledger.levels(&so2, Side::Buy).is_empty());
    assert!(ledger.levels(&so2, Side::Sell).is_empty());
    ledger.assert_conserved();
}

#[test]
fn a_buy_whose_fills_used_its_whole_hold_can_still_be_cancelled() {
    let mut ledger = TestLedger::with_so2(); // commission 0.1 %
    let so2 = so2();
    let [buyer, seller] = ledger.participants([1, 2]);
    ledger.deposit(buyer, "100.00");
    ledger.allocate(seller, &so2, "1");
    // 1 t at 30.00 holds 30.00 + 0.03; 0.9999 t at 30.00 rounds up to the same.
    let bid = ledger.place(buyer, Side::Buy, "1", "30.00").expect("bid");
    assert_eq!(bid.order.hold_amount, dec("30.03"));
    ledger
        .place(seller, Side::Sell, "0.9999", "30.00")
        .expect("ask");
    let resting = ledger.memory.order(bid.order.id).expect("order");
    assert_eq!(
        (resting.status, resting.remaining(), resting.held()),
        (OrderStatus::PartiallyFilled, dec("0.0001"), dec("0.00"))
    );
    let cancelled = ledger.cancel(bid.order.id, buyer).expect("cancel");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(ledger.account(buyer, &cny()), (dec("69.97"), dec("0")));
    ledger.assert_conserved();
}

#[test]
fn an_order_that_sweeps_more_than_a_page_of_the_book_fills_in_priority_order() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [seller, buyer] = ledger.participants([1, 2]);
    ledger.allocate(seller, &so2, "150");
    ledger.deposit(buyer, "100000.00");
    // 150 asks of 1 t: the later ones cheaper, so priority is not arrival.
    for n in 0..150 {
        let price = format!("{}.00", 300 - n);
        ledger.place(seller, Side::Sell, "1", &price).expect("ask");
    }
    let bid = ledger
        .place(buyer, Side::Buy, "140", "300.00")
        .expect("bid");
    assert_eq!(bid.order.status, OrderStatus::Filled);
    let prices: Vec<Decimal> = bid.trades.iter().map(|t| t.price).collect();
    let expected: Vec<Decimal> = (0..140).map(|n| Decimal::from(151 + n)).collect();
    assert_eq!(prices, expected);
    let asks = ledger.levels(&so2, Side::Sell);
    assert_eq!(asks.len(), 10);
    assert_eq!(asks[0].0, dec("291"));
    ledger.assert_conserved();
}

#[test]
fn orders_of_one_batch_reach_past_a_page_together_and_trade_with_each_other() {
    let mut ledger = TestLedger::with_so2(); // commission 0.1 %
    let so2 = so2();
    let [seller, buyer, late] = ledger.participants([1, 2, 3]);
    ledger.allocate(seller, &so2, "100");
    ledger.allocate(late, &so2, "5");
    ledger.deposit(buyer, "10000.00");
    for _ in 0..100 {
        ledger.place(seller, Side::Sell, "1", "10.00").expect("ask");
    }
    // Together the two buys take 110 t: the whole book (two pages) and then
    // 10 t of the sell that arrives in the same batch, after them.
    let first = ledger.order(buyer, Side::Buy, "50", "10.00");
    let second = ledger.order(buyer, Side::Buy, "60", "10.00");
    let sell = ledger.order(late, Side::Sell, "5", "9.00");
    let results = ledger.batch(vec![
        Command::PlaceOrder(first),
        Command::PlaceOrder(second),
        Command::PlaceOrder(sell),
    ]);
    let placed: Vec<_> = results
        .into_iter()
        .map(|result| match result {
            Ok(Outcome::Order(placed)) => placed,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(placed[0].trades.len(), 50);
    assert_eq!(placed[1].trades.len(), 50);
    assert_eq!(placed[1].order.status, OrderStatus::PartiallyFilled);
    // The late sell trades at the resting bid's price, 10.00, not its own 9.00.
    let sold = &placed[2].trades;
    assert_eq!(
        (sold.len(), sold[0].price, sold[0].value),
        (1, dec("10.00"), dec("50.00"))
    );
    assert_eq!(placed[2].order.status, OrderStatus::Filled);
    assert!(ledger.levels(&so2, Side::Sell).is_empty());
    assert_eq!(ledger.levels(&so2, Side::Buy), [level("10", "5")]);
    // 105 t bought for 1050.00 and 1.05 of commission; 5 t × 10.00 + 0.05 still held.
    assert_eq!(ledger.account(buyer, &so2), (dec("105"), dec("0")));
    assert_eq!(
        ledger.account(buyer, &cny()),
        (dec("8948.95"), dec("50.05"))
    );
    assert_eq!(ledger.account(late, &cny()), (dec("49.95"), dec("0")));
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}

#[test]
fn an_order_retried_with_its_idempotency_key_is_answered_from_the_record() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [seller, buyer] = ledger.participants([1, 2]);
    ledger.allocate(seller, &so2, "10");
    ledger.deposit(buyer, "1000.00");
    ledger
        .place(seller, Side::Sell, "10", "10.00")
        .expect("ask");
    let key = IdempotencyKey {
        scope: "buyer-client".to_owned(),
        key: "order-1".to_owned(),
        fingerprint: "POST /v1/orders {4 t at 10.00}".to_owned(),
    };
    let order = ledger.order(buyer, Side::Buy, "4", "10.00");
    let request = Request {
        actor: actor(),
        idempotency: Some(key.clone()),
        command: Command::PlaceOrder(order),
    };
    let now = ledger.now();
    let first = ledger.memory.apply(std::slice::from_ref(&request), now);
    let retried = ledger.memory.apply(std::slice::from_ref(&request), now);
    let first = first[0].as_ref().expect("placed");
    let retried = retried[0].as_ref().expect("replayed");
    assert!(!first.replayed && retried.replayed);
    assert_eq!(first.outcome, retried.outcome);
    assert_eq!(ledger.account(buyer, &so2), (dec("4"), dec("0")));
    assert_eq!(ledger.memory.trades().len(), 1);

    // The same key with another request is refused.
    let other = Request {
        idempotency: Some(IdempotencyKey {
            fingerprint: "POST /v1/orders {5 t}".to_owned(),
            ..key
        }),
        ..request
    };
    let refused = ledger.memory.apply(&[other], now);
    assert_eq!(
        refused[0].as_ref().map(|_| ()),
        Err(&CommandError::IdempotencyKeyReused)
    );
    ledger.assert_conserved();
}

/// A right valid through 1 June trades at 20:00 UTC that day in a ledger
/// that counts its days in UTC, and not in one that counts them in Shanghai,
/// where it is 04:00 on 2 June; the trade carries its ledger's day.
#[test]
fn the_last_day_of_a_right_is_the_ledgers_own_day() {
    let evening: chrono::DateTime<chrono::Utc> = "2026-06-01T20:00:00Z".parse().expect("time");
    for (zone, tradable) in [
        (ets_core::BusinessZone::SHANGHAI, false),
        ("UTC".parse().expect("a zone"), true),
    ] {
        let mut ledger = TestLedger::in_zone(zone);
        ledger.create_instrument(ets_core::InstrumentSpec {
            valid_to: Some("2026-06-01".parse().expect("date")),
            ..so2_spec()
        });
        let [a, b] = ledger.participants([1, 2]);
        ledger.allocate(a, &so2(), "10");
        ledger.deposit(b, "1000");
        ledger.advance(evening - ledger.now());
        let sold = ledger.place(a, Side::Sell, "1", "50.00");
        if !tradable {
            assert_eq!(
                sold.map(|_| ()),
                Err(CommandError::Ledger(LedgerError::InstrumentNotTradable)),
                "{zone}"
            );
            continue;
        }
        sold.expect("tradable on its last day");
        let bought = ledger.place(b, Side::Buy, "1", "50.00").expect("a fill");
        assert_eq!(bought.trades.len(), 1);
        assert_eq!(
            bought.trades[0].business_date,
            "2026-06-01".parse::<chrono::NaiveDate>().expect("date")
        );
    }
}
