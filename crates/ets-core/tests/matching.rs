//! Properties of the order book's pure parts: matching never overfills, and
//! the money of the fills never exceeds what a buy order holds.

use ets_core::Decimal;
use ets_core::matching::{BookOrder, OrderMoney, Side, buy_hold, match_incoming};
use proptest::prelude::*;
use uuid::Uuid;

fn quantity() -> impl Strategy<Value = Decimal> {
    (1i64..5_000_000).prop_map(|units| Decimal::new(units, 4))
}

fn price() -> impl Strategy<Value = Decimal> {
    (1i64..100_000).prop_map(|cents| Decimal::new(cents, 2))
}

fn rate() -> impl Strategy<Value = Decimal> {
    (0i64..=300).prop_map(|tenths_of_bp| Decimal::new(tenths_of_bp, 5))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_buy_orders_fills_never_cost_more_than_its_hold(
        total in quantity(),
        limit in price(),
        rate in rate(),
        cuts in prop::collection::vec((1u32..100, 0i64..100_000), 1..20),
    ) {
        let hold = buy_hold(total, limit, rate);
        let mut money = OrderMoney::default();
        let mut left = total;
        let mut spent = Decimal::ZERO;
        for (share, price_cents) in cuts {
            if left.is_zero() {
                break;
            }
            let mut part = (total * Decimal::from(share) / Decimal::from(100)).round_dp(4);
            if part.is_zero() || part > left {
                part = left;
            }
            let price = Decimal::new(price_cents, 2).min(limit);
            let (value, commission) = money.buy_fill(part, price, rate);
            prop_assert!(value >= Decimal::ZERO && commission >= Decimal::ZERO);
            prop_assert_eq!(value.scale(), 2);
            spent += value + commission;
            left -= part;
            prop_assert!(spent <= hold, "spent {} > hold {}", spent, hold);
        }
    }

    #[test]
    fn a_sell_orders_commission_never_exceeds_its_proceeds(
        fills in prop::collection::vec((1i64..1_000_000, 1i64..1_000_000), 1..30),
        rate in rate(),
    ) {
        let mut money = OrderMoney::default();
        let mut received = Decimal::ZERO;
        let mut paid = Decimal::ZERO;
        for (units, cents) in fills {
            let (quantity, price) = (Decimal::new(units, 4), Decimal::new(cents, 2));
            let value = ets_core::fees::round_money(quantity * price);
            received += value;
            paid += money.sell_fill(quantity, price, value, rate);
            prop_assert!(paid <= received);
        }
    }

    #[test]
    fn matching_never_overfills_and_respects_the_limit(
        side in prop_oneof![Just(Side::Buy), Just(Side::Sell)],
        limit in price(),
        wanted in quantity(),
        book in prop::collection::vec((0u128..4, price(), quantity()), 0..30),
    ) {
        let me = Uuid::from_u128(0);
        let orders: Vec<BookOrder> = book
            .iter()
            .enumerate()
            .map(|(i, (owner, price, remaining))| BookOrder {
                id: Uuid::from_u128(1000 + i as u128),
                participant: Uuid::from_u128(*owner),
                price: *price,
                remaining: *remaining,
                seq: i as i64,
            })
            .collect();
        let matched = match_incoming(side, me, limit, wanted, &orders);
        let filled: Decimal = matched.fills.iter().map(|f| f.quantity).sum();
        prop_assert_eq!(filled + matched.remaining, wanted);
        for fill in &matched.fills {
            let resting = orders.iter().find(|o| o.id == fill.resting).expect("a resting order");
            prop_assert!(fill.quantity > Decimal::ZERO && fill.quantity <= resting.remaining);
            prop_assert_ne!(resting.participant, me);
            prop_assert_eq!(fill.price, resting.price);
            match side {
                Side::Buy => prop_assert!(fill.price <= limit),
                Side::Sell => prop_assert!(fill.price >= limit),
            }
        }
        // Prices never get better for the resting side as matching proceeds.
        for pair in matched.fills.windows(2) {
            match side {
                Side::Buy => prop_assert!(pair[0].price <= pair[1].price),
                Side::Sell => prop_assert!(pair[0].price >= pair[1].price),
            }
        }
    }
}
