//! Sealed-bid uniform-price auction clearing (SPEC §4): hand-computed cases
//! for each rule, and a property test of [`clear`] against its invariants and
//! against a small, independently written model.

use std::collections::HashMap;
use std::str::FromStr;

use ets_core::Decimal;
use ets_core::auction::{AuctionError, Award, Bid, Clearing, Offering, clear};
use proptest::prelude::*;
use uuid::Uuid;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn bid_id(n: u64) -> Uuid {
    Uuid::from_u64_pair(0xB1D, n)
}

fn bidder(n: u64) -> Uuid {
    Uuid::from_u64_pair(0xB1DDE4, n)
}

/// Bid `n` of bidder `who`: `quantity` at `price`, submitted `seq`-th.
fn bid(n: u64, who: u64, quantity: &str, price: &str, seq: u64) -> Bid {
    Bid {
        id: bid_id(n),
        bidder: bidder(who),
        quantity: dec(quantity),
        price: dec(price),
        seq,
    }
}

fn offering(quantity: &str, reserve: &str, scale: u32) -> Offering {
    Offering {
        quantity: dec(quantity),
        reserve_price: dec(reserve),
        lot_size: None,
        max_bidder_share: None,
        scale,
    }
}

/// The cleared outcome, or a panic.
fn cleared(offering: &Offering, bids: &[Bid]) -> (Decimal, Decimal, Decimal, Vec<Award>) {
    match clear(offering, bids) {
        Ok(Clearing::Cleared {
            clearing_price,
            sold,
            unsold,
            awards,
        }) => (clearing_price, sold, unsold, awards),
        other => panic!("expected a clearing, got {other:?}"),
    }
}

/// (bid number, quantity) of each award, in the order returned.
fn awarded(awards: &[Award]) -> Vec<(u64, Decimal)> {
    awards
        .iter()
        .map(|award| (award.bid.as_u64_pair().1, award.quantity))
        .collect()
}

fn pairs(expected: &[(u64, &str)]) -> Vec<(u64, Decimal)> {
    expected.iter().map(|&(n, q)| (n, dec(q))).collect()
}

// ---------------------------------------------------------------------------
// Hand-computed cases.
// ---------------------------------------------------------------------------

#[test]
fn a_bidder_over_its_cap_loses_its_lowest_priced_bids_first() {
    // 100 t, reserve 10, cap 0.3 → ⌊0.3 × 100⌋ = 30 t per bidder.
    let mut terms = offering("100", "10", 0);
    terms.max_bidder_share = Some(dec("0.3"));
    let bids = [
        // Bidder 1 asks 20 + 10 + 10 + 5 = 45 > 30. By price: 15 (20), 14 (5),
        // 12 (10), 11 (10). Keeping from the top: 20 + 5 = 25, then bid 2
        // keeps 5 of its 10 and bid 3 (the lowest price) keeps nothing.
        bid(1, 1, "20", "15", 1),
        bid(2, 1, "10", "12", 2),
        bid(3, 1, "10", "11", 3),
        bid(4, 1, "5", "14", 4),
        // Bidder 2: 50 > 30 → 30.
        bid(5, 2, "50", "13", 5),
        // Bidders 3 and 4 at the bottom price.
        bid(6, 3, "40", "10", 6), // 40 > 30 → 30
        bid(7, 4, "20", "10", 7),
    ];
    let (price, sold, unsold, awards) = cleared(&terms, &bids);
    // Filling: 15 → 20 (80 left), 14 → 5 (75), 13 → 30 (45), 12 → 5 (40),
    // 11 → 0 trimmed away, 10: demand 30 + 20 = 50 > 40, pro rata:
    //   bid 6: ⌊40 × 30 / 50⌋ = 24, bid 7: ⌊40 × 20 / 50⌋ = 16; 24 + 16 = 40.
    assert_eq!(price, dec("10"));
    assert_eq!(sold, dec("100"));
    assert_eq!(unsold, dec("0"));
    assert_eq!(
        awarded(&awards),
        pairs(&[
            (1, "20"),
            (4, "5"),
            (5, "30"),
            (2, "5"),
            (6, "24"),
            (7, "16")
        ])
    );
    let bidder_one: Decimal = awards
        .iter()
        .filter(|a| a.bidder == bidder(1))
        .map(|a| a.quantity)
        .sum();
    assert_eq!(bidder_one, dec("30"));
}

#[test]
fn among_equal_prices_the_cap_trims_the_latest_bid_first() {
    // 10 t, cap 0.5 → 5. Bidder 1: 3 @ 8 (seq 2) and 3 @ 8 (seq 1), 6 > 5:
    // the later one (seq 2, bid 1) loses 1. Bidder 2 takes the remaining 5.
    let mut terms = offering("10", "1", 0);
    terms.max_bidder_share = Some(dec("0.5"));
    let bids = [
        bid(1, 1, "3", "8", 2),
        bid(2, 1, "3", "8", 1),
        bid(3, 2, "9", "7", 3),
    ];
    let (price, sold, unsold, awards) = cleared(&terms, &bids);
    // 8: 3 + 2 = 5 (5 left); 7: bid 3 trimmed to 5, 5 ≤ 5 → full.
    assert_eq!((price, sold, unsold), (dec("7"), dec("10"), dec("0")));
    assert_eq!(awarded(&awards), pairs(&[(2, "3"), (1, "2"), (3, "5")]));
}

#[test]
fn the_marginal_level_shares_pro_rata_and_remainders_go_to_the_earliest_bids() {
    // 12 t, reserve 1. Bid 1 takes 4 @ 6 → 8 left.
    // At 5: bid 2 4 t (seq 30), bid 3 2 t (seq 10), bid 4 3 t (seq 20): 9 > 8.
    //   bid 2: ⌊8 × 4 / 9⌋ = ⌊3.56⌋ = 3
    //   bid 3: ⌊8 × 2 / 9⌋ = ⌊1.78⌋ = 1
    //   bid 4: ⌊8 × 3 / 9⌋ = ⌊2.67⌋ = 2      → 6, remainder 2
    // The remainder goes one unit each to the earliest: bid 3 (seq 10) → 2,
    // bid 4 (seq 20) → 3. Bid 2 (seq 30, first in the input) stays at 3.
    let bids = [
        bid(2, 2, "4", "5", 30),
        bid(3, 3, "2", "5", 10),
        bid(1, 1, "4", "6", 1),
        bid(4, 4, "3", "5", 20),
        bid(5, 5, "7", "4", 5), // below the marginal price: nothing
    ];
    let (price, sold, unsold, awards) = cleared(&offering("12", "1", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("5"), dec("12"), dec("0")));
    assert_eq!(
        awarded(&awards),
        pairs(&[(1, "4"), (3, "2"), (4, "3"), (2, "3")])
    );
}

#[test]
fn shares_round_down_to_the_scale_and_the_smallest_unit_goes_to_the_earliest() {
    // 1.00 t at scale 2; three bids of 1.00 t at the same price.
    // Each: ⌊1.00 × 1 / 3⌋ to 0.01 = 0.33 → 0.99; the remaining 0.01 goes to
    // the earliest bid (seq 1, bid 2).
    let bids = [
        bid(1, 1, "1.00", "9.5", 3),
        bid(2, 2, "1", "9.50", 1),
        bid(3, 3, "1.0", "9.500", 2),
    ];
    let (price, sold, unsold, awards) = cleared(&offering("1", "0", 2), &bids);
    assert_eq!(price, dec("9.5"));
    assert_eq!((sold, unsold), (dec("1.00"), dec("0.00")));
    assert_eq!(
        awarded(&awards),
        pairs(&[(2, "0.34"), (3, "0.33"), (1, "0.33")])
    );
    // Quantities come back at the offering's scale.
    assert!(awards.iter().all(|a| a.quantity.scale() == 2));
}

#[test]
fn awards_are_whole_lots() {
    // 10.000 t, lot 0.5 t = 20 lots, reserve 2.00, scale 3.
    let mut terms = offering("10.000", "2.00", 3);
    terms.lot_size = Some(dec("0.5"));
    let bids = [
        bid(1, 1, "6.0", "3.00", 1),   // 12 lots, full → 8 lots left
        bid(2, 2, "4.5", "2.50", 2),   // 9 lots
        bid(3, 3, "3.0", "2.50", 3),   // 6 lots
        bid(4, 4, "2.500", "2.50", 4), // 5 lots
        bid(5, 5, "1", "2.00", 5),
    ];
    // At 2.50: 20 lots asked, 8 left.
    //   bid 2: ⌊8 × 9 / 20⌋ = ⌊3.6⌋ = 3 lots
    //   bid 3: ⌊8 × 6 / 20⌋ = ⌊2.4⌋ = 2 lots
    //   bid 4: ⌊8 × 5 / 20⌋ = 2 lots      → 7, remainder 1 lot → bid 2 (seq 2)
    // bid 2: 4 lots = 2.0 t, bid 3: 1.0 t, bid 4: 1.0 t.
    let (price, sold, unsold, awards) = cleared(&terms, &bids);
    assert_eq!((price, sold, unsold), (dec("2.50"), dec("10"), dec("0")));
    assert_eq!(
        awarded(&awards),
        pairs(&[(1, "6"), (2, "2"), (3, "1"), (4, "1")])
    );
}

#[test]
fn the_cap_rounds_down_to_the_lot_size() {
    // 10.0 t, lot 0.5, cap 0.33 → 3.3 t, rounded down to the lot: 3.0 t.
    // Bidder 1: 2.0 @ 5 and 2.0 @ 4 → keeps 2.0 + 1.0. Undersubscribed.
    let mut terms = offering("10.0", "1", 1);
    terms.lot_size = Some(dec("0.5"));
    terms.max_bidder_share = Some(dec("0.33"));
    let bids = [bid(1, 1, "2.0", "5", 1), bid(2, 1, "2.0", "4", 2)];
    let (price, sold, unsold, awards) = cleared(&terms, &bids);
    assert_eq!((price, sold, unsold), (dec("4"), dec("3.0"), dec("7.0")));
    assert_eq!(awarded(&awards), pairs(&[(1, "2"), (2, "1")]));
}

#[test]
fn undersubscription_fills_every_valid_bid_and_returns_the_rest() {
    // 100 t, reserve 10: 30 + 20 + 25 = 75 valid, the 40 @ 9 is below the
    // reserve. Everything valid is filled; the price is the lowest valid bid
    // (10); 100 − 75 = 25 returns to the source.
    let bids = [
        bid(1, 1, "30", "12", 1),
        bid(2, 2, "20", "11", 2),
        bid(3, 3, "25", "10", 3),
        bid(4, 4, "40", "9", 4),
    ];
    let (price, sold, unsold, awards) = cleared(&offering("100", "10", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("10"), dec("75"), dec("25")));
    assert_eq!(awarded(&awards), pairs(&[(1, "30"), (2, "20"), (3, "25")]));
}

#[test]
fn with_no_valid_bid_the_auction_fails() {
    let terms = offering("100", "10", 0);
    assert_eq!(clear(&terms, &[]), Ok(Clearing::Failed));
    let below = [bid(1, 1, "50", "9.99", 1), bid(2, 2, "50", "-1", 2)];
    assert_eq!(clear(&terms, &below), Ok(Clearing::Failed));
    // A cap that rounds down to nothing: ⌊0.1 × 5⌋ = 0 t per bidder.
    let mut tiny_cap = offering("5", "1", 0);
    tiny_cap.max_bidder_share = Some(dec("0.1"));
    assert_eq!(
        clear(&tiny_cap, &[bid(1, 1, "5", "2", 1)]),
        Ok(Clearing::Failed)
    );
}

#[test]
fn bids_at_the_reserve_are_valid_and_share_pro_rata() {
    // 10 t, reserve 7.5; both bids at 7.50: 7 (seq 2) + 6 (seq 1) = 13 > 10.
    //   bid 1: ⌊10 × 7 / 13⌋ = ⌊5.38⌋ = 5; bid 2: ⌊10 × 6 / 13⌋ = ⌊4.62⌋ = 4
    //   → 9, remainder 1 → bid 2 (seq 1) → 5.
    let bids = [bid(1, 1, "7", "7.50", 2), bid(2, 2, "6", "7.5", 1)];
    let (price, sold, unsold, awards) = cleared(&offering("10", "7.5", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("7.5"), dec("10"), dec("0")));
    assert_eq!(awarded(&awards), pairs(&[(2, "5"), (1, "5")]));
}

#[test]
fn bids_below_the_reserve_are_ignored() {
    // 100 @ 9.99 would take everything, but the reserve is 10.
    let bids = [bid(1, 1, "100", "9.99", 1), bid(2, 2, "1", "10", 2)];
    let (price, sold, unsold, awards) = cleared(&offering("100", "10", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("10"), dec("1"), dec("99")));
    assert_eq!(awarded(&awards), pairs(&[(2, "1")]));
}

#[test]
fn ties_at_the_top_share_the_whole_offering() {
    // 10 t; three bids of 10 @ 20: ⌊10 × 10 / 30⌋ = 3 each → 9, remainder 1
    // → the earliest (bid 2, seq 1) → 4. The bid at 19 gets nothing.
    let bids = [
        bid(1, 1, "10", "20", 3),
        bid(2, 2, "10", "20", 1),
        bid(3, 3, "10", "20", 2),
        bid(4, 4, "10", "19", 0),
    ];
    let (price, sold, unsold, awards) = cleared(&offering("10", "1", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("20"), dec("10"), dec("0")));
    assert_eq!(awarded(&awards), pairs(&[(2, "4"), (3, "3"), (1, "3")]));
}

#[test]
fn the_price_is_the_lowest_awarded_price_when_a_level_fills_exactly() {
    // 10 t: 10 @ 20 takes it all; 5 @ 15 gets nothing, so the price is 20.
    let bids = [bid(1, 1, "10", "20", 1), bid(2, 2, "5", "15", 2)];
    let (price, sold, unsold, awards) = cleared(&offering("10", "1", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("20"), dec("10"), dec("0")));
    assert_eq!(awarded(&awards), pairs(&[(1, "10")]));
}

#[test]
fn equal_seqs_fall_back_to_input_order() {
    // 1 t, two bids of 1 t at 5 with the same seq: ⌊1 × 1 / 2⌋ = 0 each,
    // remainder 1 → the first in the input (bid 7).
    let bids = [bid(7, 1, "1", "5", 4), bid(8, 2, "1", "5", 4)];
    let (_, _, _, awards) = cleared(&offering("1", "0", 0), &bids);
    assert_eq!(awarded(&awards), pairs(&[(7, "1")]));
}

#[test]
fn prices_of_any_scale_rank_exactly() {
    // 79228162514264337593543950335 (scale 0) and 1e-28 (scale 28) cannot
    // share an integer scale in u128, so the ranking compares Decimals.
    // 10 t: bid 1 takes 3 at the top → 7 left. At 1 (written two ways):
    // bids 2 and 3, 4 + 4 = 8 > 7: ⌊7 × 4 / 8⌋ = 3 each → 6, remainder 1 →
    // bid 3 (seq 2) → 4. Bid 4 at 1e-28 gets nothing.
    let bids = [
        bid(1, 1, "3", "79228162514264337593543950335", 1),
        bid(2, 2, "4", "1", 3),
        bid(3, 3, "4", "1.0000000000000000000000000000", 2),
        bid(4, 4, "5", "0.0000000000000000000000000001", 0),
    ];
    let (price, sold, unsold, awards) = cleared(&offering("10", "0", 0), &bids);
    assert_eq!((price, sold, unsold), (dec("1"), dec("10"), dec("0")));
    assert_eq!(awarded(&awards), pairs(&[(1, "3"), (3, "4"), (2, "3")]));
    // Without the largest price, scale 28 fits: the same level, exactly.
    let (price, _, _, awards) = cleared(&offering("7", "0", 0), &bids[1..]);
    assert_eq!(price, dec("1"));
    assert_eq!(awarded(&awards), pairs(&[(3, "4"), (2, "3")]));
}

#[test]
fn huge_quantities_stay_exact() {
    // 10^15 t at scale 6 (10^21 smallest units, beyond u64), three bids of
    // 10^15 t at the same price: each ⌊10^21 / 3⌋ = 333333333333333333333
    // units; the remaining 1 unit (0.000001 t) goes to the earliest.
    let bids = [
        bid(1, 1, "1000000000000000", "3", 2),
        bid(2, 2, "1000000000000000", "3", 1),
        bid(3, 3, "1000000000000000", "3", 3),
    ];
    let (_, sold, _, awards) = cleared(&offering("1000000000000000", "0", 6), &bids);
    assert_eq!(sold, dec("1000000000000000"));
    assert_eq!(
        awarded(&awards),
        pairs(&[
            (2, "333333333333333.333334"),
            (1, "333333333333333.333333"),
            (3, "333333333333333.333333"),
        ])
    );
    // A cap of 0.3333333333333333333333333333 (28 decimals) of 10^21 units:
    // ⌊3333333333333333333333333333 × 10^21 / 10^28⌋ = 333333333333333333333.
    let mut capped = offering("1000000000000000", "0", 6);
    capped.max_bidder_share = Some(dec("0.3333333333333333333333333333"));
    let (_, sold, unsold, awards) = cleared(&capped, &bids[..1]);
    assert_eq!(sold, dec("333333333333333.333333"));
    assert_eq!(unsold, dec("666666666666666.666667"));
    assert_eq!(awards.len(), 1);
}

#[test]
fn malformed_offerings_and_bids_are_refused_with_named_errors() {
    let good = offering("10", "1", 1);
    let cases: [(Offering, AuctionError, &str); 9] = [
        (
            Offering {
                scale: 7,
                ..good.clone()
            },
            AuctionError::InvalidScale,
            "invalid_scale",
        ),
        (
            Offering {
                quantity: dec("0"),
                ..good.clone()
            },
            AuctionError::OfferingQuantityMustBePositive,
            "offering_quantity_must_be_positive",
        ),
        (
            Offering {
                quantity: dec("1000000000000000.1"),
                ..good.clone()
            },
            AuctionError::OfferingQuantityTooLarge,
            "offering_quantity_too_large",
        ),
        (
            Offering {
                quantity: dec("1.25"),
                ..good.clone()
            },
            AuctionError::OfferingScaleExceeded { scale: 1 },
            "offering_scale_exceeded",
        ),
        (
            Offering {
                reserve_price: dec("-0.01"),
                ..good.clone()
            },
            AuctionError::NegativeReservePrice,
            "negative_reserve_price",
        ),
        (
            Offering {
                lot_size: Some(dec("0.05")),
                ..good.clone()
            },
            AuctionError::InvalidLotSize,
            "invalid_lot_size",
        ),
        (
            Offering {
                lot_size: Some(dec("3")),
                ..good.clone()
            },
            AuctionError::LotSizeDoesNotDivideQuantity,
            "lot_size_does_not_divide_quantity",
        ),
        (
            Offering {
                max_bidder_share: Some(dec("0")),
                ..good.clone()
            },
            AuctionError::InvalidBidderShare,
            "invalid_bidder_share",
        ),
        (
            Offering {
                max_bidder_share: Some(dec("1.01")),
                ..good.clone()
            },
            AuctionError::InvalidBidderShare,
            "invalid_bidder_share",
        ),
    ];
    for (terms, error, code) in cases {
        assert_eq!(terms.validate(), Err(error.clone()));
        assert_eq!(clear(&terms, &[]), Err(error.clone()));
        assert_eq!(error.code(), code);
    }
    // Trailing zeros don't count against the scale; a share of 1 is allowed.
    let fine = Offering {
        quantity: dec("10.000"),
        max_bidder_share: Some(dec("1.00")),
        lot_size: Some(dec("2.50")),
        ..good.clone()
    };
    assert_eq!(fine.validate(), Ok(()));

    let mut lots = good.clone();
    lots.lot_size = Some(dec("0.5"));
    let bad_bids = [
        (
            bid(1, 1, "0", "5", 1),
            AuctionError::BidQuantityMustBePositive { bid: bid_id(1) },
        ),
        (
            bid(2, 1, "-1", "5", 1),
            AuctionError::BidQuantityMustBePositive { bid: bid_id(2) },
        ),
        (
            bid(3, 1, "1000000000000000.5", "5", 1),
            AuctionError::BidQuantityTooLarge { bid: bid_id(3) },
        ),
        (
            bid(4, 1, "1.05", "5", 1),
            AuctionError::BidScaleExceeded {
                bid: bid_id(4),
                scale: 1,
            },
        ),
        (
            bid(5, 1, "1.2", "5", 1),
            AuctionError::BidNotMultipleOfLot { bid: bid_id(5) },
        ),
        // Malformed below the reserve is still an error.
        (
            bid(6, 1, "0.7", "0.5", 1),
            AuctionError::BidNotMultipleOfLot { bid: bid_id(6) },
        ),
    ];
    for (bad, error) in bad_bids {
        assert_eq!(lots.check_bid(&bad), Err(error.clone()));
        // Reported even after a good bid.
        assert_eq!(clear(&lots, &[bid(9, 2, "1.5", "5", 0), bad]), Err(error));
    }
    assert_eq!(lots.check_bid(&bid(7, 1, "1.50", "0", 1)), Ok(()));
    assert_eq!(
        AuctionError::BidScaleExceeded {
            bid: bid_id(4),
            scale: 1
        }
        .code(),
        "bid_scale_exceeded"
    );
}

// ---------------------------------------------------------------------------
// Property test.
// ---------------------------------------------------------------------------

/// A random auction, built in whole steps so that it is always well-formed.
#[derive(Debug, Clone)]
struct Case {
    scale: u32,
    /// Lot size in smallest units (10^-scale), if any.
    lot_units: Option<i64>,
    /// Offered quantity in lots (or units).
    quantity_steps: i64,
    /// Reserve price in cents.
    reserve_cents: i64,
    /// Per-bidder share in percent, if any.
    share_percent: Option<i64>,
    /// (bidder, quantity in steps, price in quarters of a unit, seq, extra
    /// decimal places the price is written with: 0, 1 or 26).
    bids: Vec<(u64, i64, i64, u64, u32)>,
    /// A last bid (bidder, quantity in steps, seq) at 10^20 per unit: with a
    /// price written at scale 28 it forces the Decimal-comparing ranking.
    whale: Option<(u64, i64, u64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0_u32..=3,
        prop::option::of(1_i64..=4),
        1_i64..=60,
        0_i64..=500,
        prop::option::of(1_i64..=100),
        prop::collection::vec(
            (
                0_u64..5,
                1_i64..=20,
                0_i64..=24,
                0_u64..40,
                prop_oneof![6 => Just(0_u32), 1 => Just(1), 1 => Just(26)],
            ),
            0..25,
        ),
        prop::option::weighted(0.2, (0_u64..5, 1_i64..=20, 0_u64..40)),
    )
        .prop_map(
            |(scale, lot_units, quantity_steps, reserve_cents, share_percent, bids, whale)| Case {
                scale,
                lot_units,
                quantity_steps,
                reserve_cents,
                share_percent,
                bids,
                whale,
            },
        )
}

impl Case {
    fn step_units(&self) -> i64 {
        self.lot_units.unwrap_or(1)
    }

    fn steps(&self, steps: i64) -> Decimal {
        Decimal::new(steps * self.step_units(), self.scale)
    }

    fn offering(&self) -> Offering {
        Offering {
            quantity: self.steps(self.quantity_steps),
            reserve_price: Decimal::new(self.reserve_cents, 2),
            lot_size: self.lot_units.map(|units| Decimal::new(units, self.scale)),
            max_bidder_share: self.share_percent.map(|p| Decimal::new(p, 2)),
            scale: self.scale,
        }
    }

    /// Every bid as (bidder, quantity in steps, price, seq).
    fn rows(&self) -> Vec<(u64, i64, Decimal, u64)> {
        let mut rows: Vec<(u64, i64, Decimal, u64)> = self
            .bids
            .iter()
            .map(|&(who, steps, quarters, seq, extra)| {
                // 0.00 to 6.00 in quarters: many ties, some below the
                // reserve; the same value written with 2, 3 or 28 decimals.
                let mantissa = i128::from(quarters * 25) * 10_i128.pow(extra);
                let price = Decimal::from_i128_with_scale(mantissa, 2 + extra);
                (who, steps, price, seq)
            })
            .collect();
        if let Some((who, steps, seq)) = self.whale {
            rows.push((who, steps, Decimal::from(10_i128.pow(20)), seq));
        }
        rows
    }

    fn bids(&self) -> Vec<Bid> {
        self.rows()
            .into_iter()
            .enumerate()
            .map(|(i, (who, steps, price, seq))| Bid {
                id: bid_id(i as u64),
                bidder: bidder(who),
                quantity: self.steps(steps),
                price,
                seq,
            })
            .collect()
    }

    /// The cap in steps: ⌊share × quantity⌋ to the step.
    fn cap_steps(&self) -> Option<i64> {
        self.share_percent.map(|p| p * self.quantity_steps / 100)
    }

    /// The model: (clearing price, awards in steps by bid index), or `None`
    /// when the auction fails. Written from the rules, not from the code:
    /// trim each bidder from its lowest-priced, latest bid; then fill price
    /// levels from the top, pro rata at the margin, remainders by seq.
    fn model(&self) -> Option<(Decimal, HashMap<usize, i64>)> {
        let bids = self.bids();
        let rows = self.rows();
        let reserve = Decimal::new(self.reserve_cents, 2);
        // Valid bids: index → remaining quantity in steps.
        let mut remaining: HashMap<usize, i64> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| bids[*i].price >= reserve)
            .map(|(i, &(_, steps, _, _))| (i, steps))
            .collect();
        if let Some(cap) = self.cap_steps() {
            for who in 0..5 {
                // This bidder's valid bids, in trimming order: lowest price,
                // then latest seq, then last in the input.
                let mut mine: Vec<usize> = remaining
                    .keys()
                    .copied()
                    .filter(|&i| rows[i].0 == who)
                    .collect();
                mine.sort_by(|&a, &b| {
                    bids[a]
                        .price
                        .cmp(&bids[b].price)
                        .then(bids[b].seq.cmp(&bids[a].seq))
                        .then(b.cmp(&a))
                });
                let total: i64 = mine.iter().map(|i| remaining[i]).sum();
                let mut excess = (total - cap).max(0);
                for i in mine {
                    let cut = excess.min(remaining[&i]);
                    *remaining.get_mut(&i).expect("a valid bid") -= cut;
                    excess -= cut;
                }
            }
        }
        let mut prices: Vec<Decimal> = remaining.keys().map(|&i| bids[i].price).collect();
        prices.sort_by(|a, b| b.cmp(a));
        prices.dedup();
        let mut left = self.quantity_steps;
        let mut awards: HashMap<usize, i64> = HashMap::new();
        let mut clearing_price = None;
        for price in prices {
            if left == 0 {
                break;
            }
            let mut level: Vec<usize> = remaining
                .keys()
                .copied()
                .filter(|&i| bids[i].price == price && remaining[&i] > 0)
                .collect();
            level.sort_by_key(|&i| (bids[i].seq, i));
            let total: i64 = level.iter().map(|i| remaining[i]).sum();
            if total == 0 {
                continue;
            }
            clearing_price = Some(price);
            if total <= left {
                for &i in &level {
                    awards.insert(i, remaining[&i]);
                }
                left -= total;
                continue;
            }
            for &i in &level {
                awards.insert(i, left * remaining[&i] / total);
            }
            let mut rest = left - level.iter().map(|i| awards[i]).sum::<i64>();
            while rest > 0 {
                let before = rest;
                for &i in &level {
                    if rest > 0 && awards[&i] < remaining[&i] {
                        *awards.get_mut(&i).expect("awarded") += 1;
                        rest -= 1;
                    }
                }
                assert!(rest < before, "the remainder must find room");
            }
            left = 0;
        }
        awards.retain(|_, steps| *steps > 0);
        clearing_price.map(|price| (price, awards))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn clearing_keeps_its_invariants_and_matches_the_model(case in case()) {
        let terms = case.offering();
        let bids = case.bids();
        let outcome = clear(&terms, &bids).expect("a well-formed auction clears");
        let model = case.model();
        let (price, sold, unsold, awards) = match outcome {
            Clearing::Failed => {
                prop_assert!(model.is_none(), "failed, but the model clears: {model:?}");
                return Ok(());
            }
            Clearing::Cleared { clearing_price, sold, unsold, awards } => {
                (clearing_price, sold, unsold, awards)
            }
        };
        let step = case.steps(1);
        let by_id: HashMap<Uuid, (usize, &Bid)> =
            bids.iter().enumerate().map(|(i, b)| (b.id, (i, b))).collect();

        // Totals: sold = Σ awards ≤ quantity, unsold = quantity − sold.
        let total: Decimal = awards.iter().map(|a| a.quantity).sum();
        prop_assert_eq!(total, sold);
        prop_assert!(sold <= terms.quantity);
        prop_assert_eq!(sold + unsold, terms.quantity);
        prop_assert!(unsold >= Decimal::ZERO);

        // One price, at or above the reserve, at or below every winner's bid;
        // it is the price of at least one winner.
        prop_assert!(price >= terms.reserve_price);
        prop_assert!(awards.iter().any(|a| by_id[&a.bid].1.price == price));

        let mut per_bidder: HashMap<Uuid, Decimal> = HashMap::new();
        for award in &awards {
            let (_, bid) = by_id[&award.bid];
            prop_assert_eq!(award.bidder, bid.bidder);
            prop_assert!(award.quantity > Decimal::ZERO);
            prop_assert!(award.quantity <= bid.quantity);
            prop_assert!(bid.price >= price);
            // Whole lots (or whole smallest units).
            prop_assert_eq!(award.quantity % step, Decimal::ZERO);
            *per_bidder.entry(bid.bidder).or_default() += award.quantity;
        }
        let cap = case.cap_steps().map(|steps| case.steps(steps));
        if let Some(cap) = cap {
            for total in per_bidder.values() {
                prop_assert!(*total <= cap);
            }
        }

        // A bid strictly above the price is filled in full, unless its
        // bidder's cap trimmed it (and then the bidder holds its whole cap).
        let awarded: HashMap<Uuid, Decimal> =
            awards.iter().map(|a| (a.bid, a.quantity)).collect();
        for bid in &bids {
            let got = awarded.get(&bid.id).copied().unwrap_or_default();
            if bid.price > price && got < bid.quantity {
                prop_assert_eq!(Some(per_bidder[&bid.bidder]), cap, "bid {:?}", bid);
            }
            if bid.price < terms.reserve_price {
                prop_assert_eq!(got, Decimal::ZERO);
            }
        }

        // Cash: every winner pays award × price; together that is sold × price.
        let paid: Decimal = awards.iter().map(|a| a.quantity * price).sum();
        prop_assert_eq!(paid, sold * price);

        // And exactly what the model says.
        let (model_price, model_awards) = model.expect("the model clears too");
        prop_assert_eq!(price, model_price);
        let ours: HashMap<usize, i64> = awards
            .iter()
            .map(|a| {
                let steps = a.quantity / step;
                (by_id[&a.bid].0, i64::try_from(steps.mantissa() / 10_i128.pow(steps.scale())).expect("small"))
            })
            .collect();
        prop_assert_eq!(ours, model_awards);
    }
}
