//! The market's daily statistics (SPEC §7, `GET /v1/markets/{instrument}/stats`):
//! for each business day with trades, the first, highest, lowest and last
//! price, the volume-weighted average price, the quantity and cash value
//! traded and the number of trades, over every trade method. The console's
//! charts are drawn from these figures.
//!
//! The trades are folded one at a time, in execution order, so a caller can
//! stream them from the database without holding a period's trades.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::market::Trade;

/// Places of the volume-weighted average price: two more than a price in
/// fen, so that an average between two ticks shows where it lies.
pub const VWAP_PLACES: u32 = 4;

/// One business day's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayStats {
    /// The business day.
    pub date: NaiveDate,
    /// The first trade's price.
    pub open: Decimal,
    /// The highest price.
    pub high: Decimal,
    /// The lowest price.
    pub low: Decimal,
    /// The last trade's price.
    pub close: Decimal,
    /// Σ quantity × price / Σ quantity, rounded half away from zero to
    /// [`VWAP_PLACES`].
    pub vwap: Decimal,
    /// The quantity traded.
    pub quantity: Decimal,
    /// The cash the buyers paid the sellers (each trade's value).
    pub value: Decimal,
    /// How many trades.
    pub trades: u64,
}

/// Days folded so far.
#[derive(Debug, Default)]
pub struct DailyStats {
    days: Vec<DayStats>,
    /// Σ quantity × price of the last day, exact.
    weighted: Decimal,
}

impl DailyStats {
    /// Adds a trade; trades come in execution order (their business days
    /// never go back).
    pub fn add(&mut self, trade: &Trade) {
        let (price, quantity) = (trade.price, trade.quantity);
        match self.days.last_mut() {
            Some(day) if day.date == trade.business_date => {
                day.high = day.high.max(price);
                day.low = day.low.min(price);
                day.close = price;
                day.quantity += quantity;
                day.value += trade.value;
                day.trades += 1;
                self.weighted += quantity * price;
            }
            _ => {
                self.close_day();
                self.days.push(DayStats {
                    date: trade.business_date,
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                    vwap: price,
                    quantity,
                    value: trade.value,
                    trades: 1,
                });
                self.weighted = quantity * price;
            }
        }
    }

    /// The days, oldest first.
    #[must_use]
    pub fn finish(mut self) -> Vec<DayStats> {
        self.close_day();
        self.days
    }

    /// Sets the last day's average from its weighted sum.
    fn close_day(&mut self) {
        if let Some(day) = self.days.last_mut()
            && !day.quantity.is_zero()
        {
            let mut vwap = (self.weighted / day.quantity)
                .round_dp_with_strategy(VWAP_PLACES, RoundingStrategy::MidpointAwayFromZero);
            // Always four places: a whole 48 is 48.0000.
            vwap.rescale(VWAP_PLACES);
            day.vwap = vwap;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use ets_core::InstrumentCode;
    use uuid::Uuid;

    use super::*;
    use crate::market::TradeMethod;

    fn trade(day: u32, quantity: &str, price: &str, value: &str) -> Trade {
        Trade {
            id: Uuid::nil(),
            instrument: InstrumentCode::parse("CEA-2026").expect("a code"),
            method: TradeMethod::OrderBook,
            quantity: quantity.parse().expect("a quantity"),
            price: price.parse().expect("a price"),
            value: value.parse().expect("a value"),
            buyer_id: Uuid::nil(),
            seller_id: None,
            buy_order_id: None,
            sell_order_id: None,
            buyer_commission: Decimal::ZERO,
            seller_commission: Decimal::ZERO,
            executed_at: Utc
                .with_ymd_and_hms(2026, 3, day, 2, 0, 0)
                .single()
                .expect("an instant"),
            business_date: NaiveDate::from_ymd_opt(2026, 3, day).expect("a date"),
            transaction_id: Uuid::nil(),
        }
    }

    fn dec(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn each_day_has_its_first_highest_lowest_and_last_price_and_its_totals() {
        let mut stats = DailyStats::default();
        for t in [
            trade(2, "10", "50.00", "500.00"),
            trade(2, "5", "52.10", "260.50"),
            trade(2, "20", "49.95", "999.00"),
            trade(2, "1", "51.00", "51.00"),
            // No trades on the 3rd: no row.
            trade(4, "3", "48.00", "144.00"),
        ] {
            stats.add(&t);
        }
        let days = stats.finish();
        assert_eq!(days.len(), 2);
        let first = &days[0];
        assert_eq!(
            first.date,
            NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date")
        );
        assert_eq!(
            (first.open, first.high, first.low, first.close),
            (dec("50.00"), dec("52.10"), dec("49.95"), dec("51.00"))
        );
        assert_eq!(first.quantity, dec("36"));
        assert_eq!(first.value, dec("1810.50"));
        assert_eq!(first.trades, 4);
        // (500 + 260.5 + 999 + 51) / 36 = 1810.5 / 36 = 50.291666… → 50.2917
        assert_eq!(first.vwap.to_string(), "50.2917");
        let second = &days[1];
        assert_eq!(
            (second.open, second.close, second.trades),
            (dec("48.00"), dec("48.00"), 1)
        );
        assert_eq!(second.vwap.to_string(), "48.0000");
    }

    #[test]
    fn the_average_weighs_quantity_times_price_not_the_rounded_values() {
        let mut stats = DailyStats::default();
        // 0.333 × 10.01 = 3.33333, paid as 3.33: the average stays 10.0100.
        stats.add(&trade(5, "0.333", "10.01", "3.33"));
        stats.add(&trade(5, "0.667", "10.01", "6.68"));
        let days = stats.finish();
        assert_eq!(days[0].vwap.to_string(), "10.0100");
        assert_eq!(days[0].value, dec("10.01"));
        // Half a unit of a ten-thousandth rounds away from zero.
        let mut stats = DailyStats::default();
        stats.add(&trade(6, "1", "10.00", "10.00"));
        stats.add(&trade(6, "1", "10.01", "10.01"));
        stats.add(&trade(6, "2", "10.00", "20.00"));
        stats.add(&trade(6, "4", "10.00", "40.00"));
        stats.add(&trade(6, "12", "10.00", "120.00"));
        // 200.01 / 20 = 10.0005 → 10.0005 (exact at four places)
        assert_eq!(stats.finish()[0].vwap.to_string(), "10.0005");
        let mut stats = DailyStats::default();
        stats.add(&trade(7, "1", "10.01", "10.01"));
        stats.add(&trade(7, "31", "10.00", "310.00"));
        stats.add(&trade(7, "8", "10.00", "80.00"));
        // 400.01 / 40 = 10.00025 → 10.0003
        assert_eq!(stats.finish()[0].vwap.to_string(), "10.0003");
    }

    #[test]
    fn no_trades_no_days() {
        assert!(DailyStats::default().finish().is_empty());
    }
}
