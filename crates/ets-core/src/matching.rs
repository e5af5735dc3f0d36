//! The continuous order book's pure parts: price–time priority matching with
//! self-trade prevention, and the money of each fill (trade value and
//! commissions) rounded so that no order ever pays more than it holds.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fees::round_money;

/// Which side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Wants rights, pays cash.
    Buy,
    /// Has rights, wants cash.
    Sell,
}

impl Side {
    /// The stored and shown name: `buy` or `sell`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "buy" => Some(Self::Buy),
            "sell" => Some(Self::Sell),
            _ => None,
        }
    }

    /// The other side.
    #[must_use]
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

/// A resting order as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookOrder {
    /// The order's id.
    pub id: Uuid,
    /// Whose order.
    pub participant: Uuid,
    /// Its limit price.
    pub price: Decimal,
    /// What is still open.
    pub remaining: Decimal,
    /// Arrival order: earlier orders have smaller seq.
    pub seq: i64,
}

/// One execution against a resting order, at the resting order's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The resting order filled.
    pub resting: Uuid,
    /// How much.
    pub quantity: Decimal,
    /// At the resting order's price.
    pub price: Decimal,
}

/// What an incoming order did against the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Executions, best price first, earliest first at one price.
    pub fills: Vec<Fill>,
    /// What is left of the incoming order.
    pub remaining: Decimal,
    /// True when matching stopped at the incoming participant's own resting
    /// order: the remainder must then be cancelled, not rested.
    pub self_trade: bool,
}

/// Matches an incoming limit order against the resting orders of the
/// opposite side (`book`, in any order): best price first (lowest ask for a
/// buy, highest bid for a sell), then earliest; each fill at the resting
/// price; stops at the limit, when filled, or at the first crossing order of
/// the incoming participant itself (self-trade prevention).
#[must_use]
pub fn match_incoming(
    side: Side,
    participant: Uuid,
    limit: Decimal,
    quantity: Decimal,
    book: &[BookOrder],
) -> Matched {
    let mut candidates: Vec<&BookOrder> = book
        .iter()
        .filter(|o| o.remaining > Decimal::ZERO)
        .filter(|o| match side {
            Side::Buy => o.price <= limit,
            Side::Sell => o.price >= limit,
        })
        .collect();
    candidates.sort_by(|a, b| match side {
        Side::Buy => a.price.cmp(&b.price).then(a.seq.cmp(&b.seq)),
        Side::Sell => b.price.cmp(&a.price).then(a.seq.cmp(&b.seq)),
    });
    let mut remaining = quantity;
    let mut fills = Vec::new();
    let mut self_trade = false;
    for resting in candidates {
        if remaining.is_zero() {
            break;
        }
        if resting.participant == participant {
            self_trade = true;
            break;
        }
        let quantity = remaining.min(resting.remaining);
        remaining -= quantity;
        fills.push(Fill {
            resting: resting.id,
            quantity,
            price: resting.price,
        });
    }
    assert!(remaining >= Decimal::ZERO && remaining <= quantity);
    Matched {
        fills,
        remaining,
        self_trade,
    }
}

/// The highest price per unit an order may name: 10^9 CNY. With quantities
/// at most [`crate::instrument::MAX_QUANTITY`] (10^15), every value here is at
/// most 10^24, far inside `Decimal`'s range, so the arithmetic below cannot
/// overflow for checked inputs.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// The most decimal places a price may have: prices are CNY per unit in
/// whole fen, so the tick is 0.01.
pub const PRICE_SCALE: u32 = 2;

/// Checks an order's or a bid's price.
///
/// # Errors
/// `invalid_price` unless 0 < price ≤ [`MAX_PRICE`] with at most
/// [`PRICE_SCALE`] decimal places.
pub fn check_price(price: Decimal) -> Result<Decimal, crate::LedgerError> {
    if price <= Decimal::ZERO || price > MAX_PRICE || price.normalize().scale() > PRICE_SCALE {
        return Err(crate::LedgerError::InvalidPrice);
    }
    Ok(price)
}

/// The cash a buy order holds: its value at the limit price, rounded half-up
/// to the fen, plus the commission on that value, rounded half-up. No more.
/// Inputs must have passed [`check_price`] and the instrument's quantity check.
#[must_use]
pub fn buy_hold(quantity: Decimal, limit: Decimal, commission_rate: Decimal) -> Decimal {
    debug_assert!(limit <= MAX_PRICE && quantity <= crate::instrument::MAX_QUANTITY);
    let value = round_money(quantity * limit);
    value + round_money(value * commission_rate)
}

/// The money an order has moved so far. Rounding is cumulative: each fill is
/// charged the rounded total so far less what was already charged, so the sum
/// of all fills equals one rounding of the total, never more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMoney {
    /// Σ quantity × price of the fills, exact.
    pub exact_value: Decimal,
    /// Trade value paid (buy) or received (sell), in CNY.
    pub value: Decimal,
    /// Commission paid, in CNY.
    pub commission: Decimal,
}

impl OrderMoney {
    /// A buy order's fill: the trade value it pays for this fill and the
    /// commission on it. Over the whole order these sum to
    /// `round(Σ q·p) + round(rate · round(Σ q·p))`, which is at most
    /// [`buy_hold`] since every fill's price is at most the limit.
    pub fn buy_fill(
        &mut self,
        quantity: Decimal,
        price: Decimal,
        rate: Decimal,
    ) -> (Decimal, Decimal) {
        self.exact_value += quantity * price;
        let value_total = round_money(self.exact_value);
        let value = value_total - self.value;
        self.value = value_total;
        let commission_total = round_money(value_total * rate);
        let commission = commission_total - self.commission;
        self.commission = commission_total;
        assert!(value >= Decimal::ZERO && commission >= Decimal::ZERO);
        (value, commission)
    }

    /// A sell order's fill: it receives `value` (what the buyer paid for this
    /// fill) and pays the commission on its cumulative proceeds, which never
    /// exceeds those proceeds.
    pub fn sell_fill(
        &mut self,
        quantity: Decimal,
        price: Decimal,
        value: Decimal,
        rate: Decimal,
    ) -> Decimal {
        self.exact_value += quantity * price;
        self.value += value;
        let commission_total = round_money(self.value * rate);
        let commission = commission_total - self.commission;
        self.commission = commission_total;
        assert!(self.commission <= self.value || rate >= Decimal::ONE);
        commission
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    fn order(n: u128, participant: u128, price: &str, remaining: &str, seq: i64) -> BookOrder {
        BookOrder {
            id: Uuid::from_u128(n),
            participant: Uuid::from_u128(participant),
            price: dec(price),
            remaining: dec(remaining),
            seq,
        }
    }

    #[test]
    fn a_buy_takes_the_lowest_asks_first_and_the_earliest_at_one_price() {
        let book = [
            order(1, 10, "101", "5", 1),
            order(2, 11, "100", "3", 3),
            order(3, 12, "100", "4", 2),
            order(4, 13, "103", "9", 0),
        ];
        let matched = match_incoming(Side::Buy, Uuid::from_u128(99), dec("101"), dec("10"), &book);
        let filled: Vec<(u128, Decimal, Decimal)> = matched
            .fills
            .iter()
            .map(|f| (f.resting.as_u128(), f.quantity, f.price))
            .collect();
        assert_eq!(
            filled,
            [
                (3, dec("4"), dec("100")),
                (2, dec("3"), dec("100")),
                (1, dec("3"), dec("101"))
            ]
        );
        assert_eq!((matched.remaining, matched.self_trade), (dec("0"), false));
    }

    #[test]
    fn a_sell_takes_the_highest_bids_and_rests_what_does_not_cross() {
        let book = [
            order(1, 10, "99", "2", 1),
            order(2, 11, "98", "2", 2),
            order(3, 12, "97", "5", 3),
        ];
        let matched = match_incoming(Side::Sell, Uuid::from_u128(99), dec("98"), dec("6"), &book);
        assert_eq!(matched.fills.len(), 2);
        assert_eq!(matched.remaining, dec("2"));
    }

    #[test]
    fn matching_stops_at_the_participants_own_order() {
        let book = [
            order(1, 10, "100", "1", 1),
            order(2, 99, "100", "5", 2),
            order(3, 11, "100", "5", 3),
        ];
        let matched = match_incoming(Side::Buy, Uuid::from_u128(99), dec("100"), dec("4"), &book);
        assert_eq!(matched.fills.len(), 1);
        assert_eq!((matched.remaining, matched.self_trade), (dec("3"), true));
    }

    #[test]
    fn cumulative_rounding_charges_one_rounding_of_the_total() {
        // Three fills of 0.0001 t at 12.345 CNY: each is 0.0012345 CNY. Rounded
        // one by one that would be 0.00 each; cumulatively 0.00, 0.00, 0.00 then
        // the total 0.0037035 → 0.00. With 1 t at 0.005: 0.01 (half-up).
        let mut money = OrderMoney::default();
        let mut paid = Decimal::ZERO;
        for _ in 0..3 {
            paid += money.buy_fill(dec("0.0001"), dec("12.345"), dec("0")).0;
        }
        assert_eq!(paid, dec("0.00"));
        let mut money = OrderMoney::default();
        let (first, _) = money.buy_fill(dec("0.5"), dec("0.005"), dec("0"));
        let (second, _) = money.buy_fill(dec("0.5"), dec("0.005"), dec("0"));
        // 0.0025 → 0.00, then 0.005 total → 0.01: the second fill pays 0.01.
        assert_eq!((first, second), (dec("0.00"), dec("0.01")));
    }

    #[test]
    fn prices_are_positive_bounded_and_in_whole_fen() {
        assert_eq!(check_price(dec("230.50")), Ok(dec("230.50")));
        assert_eq!(check_price(dec("230.5000")), Ok(dec("230.5000")));
        assert_eq!(check_price(dec("1000000000")), Ok(dec("1000000000")));
        for bad in ["0", "-1", "1000000000.01", "0.001", "12.345"] {
            assert_eq!(
                check_price(dec(bad)),
                Err(crate::LedgerError::InvalidPrice),
                "{bad}"
            );
        }
        // The largest order's value stays exact.
        let hold = buy_hold(crate::instrument::MAX_QUANTITY, MAX_PRICE, dec("0.5"));
        assert_eq!(hold, dec("1500000000000000000000000.00"));
    }

    #[test]
    fn the_buy_hold_is_the_value_at_the_limit_plus_its_commission() {
        // 12.3456 t × 230.5 = 2845.6608 → 2845.66; commission 0.15 % = 4.26849 → 4.27.
        assert_eq!(
            buy_hold(dec("12.3456"), dec("230.5"), dec("0.0015")),
            dec("2849.93")
        );
    }
}
