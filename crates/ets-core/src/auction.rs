//! Sealed-bid, single-round, uniform-price auctions (SPEC §4): the clearing
//! of an auction at its close, as a pure function.
//!
//! The admin offers a quantity (from the reserve or newly issued) with a
//! reserve price, an optional lot size and an optional per-bidder cap;
//! enterprises place sealed bids; at the close [`clear`] decides who gets what
//! and at which single price. It moves nothing: the caller settles the
//! [`Clearing`] (each winner pays its award × the clearing price, the unsold
//! quantity returns to its source, every hold is released) in one ledger
//! transaction, or, for [`Clearing::Failed`], moves nothing at all.
//!
//! All arithmetic is exact: quantities are counted internally as whole
//! *steps* (one lot, or one smallest unit 10^-scale when there is no lot
//! size) in `u128`, and prices are compared as [`Decimal`]s, never floats.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::instrument::{MAX_QUANTITY, MAX_SCALE};

/// 10^0 … 10^28: every power a [`Decimal`] scale can ask for.
const POW10: [u128; 29] = {
    let mut table = [1_u128; 29];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// What is offered, and on which terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offering {
    /// The quantity offered: greater than zero, at most
    /// [`MAX_QUANTITY`], with at most `scale` decimal places.
    pub quantity: Decimal,
    /// The lowest acceptable price per unit (≥ 0). Bids below it are ignored.
    pub reserve_price: Decimal,
    /// If set, every bid and every award is a whole number of lots. The lot
    /// size is greater than zero, within the scale, and divides `quantity`.
    pub lot_size: Option<Decimal>,
    /// If set, the largest fraction of `quantity` one bidder may be awarded,
    /// in (0, 1] (e.g. `0.25`).
    pub max_bidder_share: Option<Decimal>,
    /// The instrument's scale: decimal places allowed in quantities (0 to
    /// [`MAX_SCALE`]).
    pub scale: u32,
}

/// One sealed bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// The bid's id; its award carries it.
    pub id: Uuid,
    /// The bidding participant; the cap applies to all its bids together.
    pub bidder: Uuid,
    /// The quantity asked: greater than zero, at most [`MAX_QUANTITY`],
    /// within the offering's scale and a whole number of lots.
    pub quantity: Decimal,
    /// The most the bidder pays per unit.
    pub price: Decimal,
    /// Submission order: an earlier bid has a smaller `seq`.
    pub seq: u64,
}

/// What one bid won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    /// The winning bid.
    pub bid: Uuid,
    /// Its bidder.
    pub bidder: Uuid,
    /// The quantity awarded (> 0, at the offering's scale). The bidder pays
    /// `quantity × clearing_price`.
    pub quantity: Decimal,
}

/// The outcome of an auction's close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Clearing {
    /// At least one bid won something.
    Cleared {
        /// The one price every winner pays: the lowest price among the bids
        /// that receive an award. At or above the reserve price.
        clearing_price: Decimal,
        /// The quantity awarded: the sum of `awards`.
        sold: Decimal,
        /// `quantity − sold`: returns to its source.
        unsold: Decimal,
        /// One award per winning bid (quantity > 0), in ranking order: price
        /// descending, then `seq` ascending, then position in the input.
        awards: Vec<Award>,
    },
    /// No valid bid (none at or above the reserve price, or every bidder's
    /// cap rounds down to nothing): the auction fails and nothing moves.
    Failed,
}

/// Why an auction cannot be cleared. Each reason has a stable snake_case
/// [`code`](AuctionError::code).
///
/// The offering is checked first (scale, quantity, reserve price, lot size,
/// bidder share, in that order), then the bids in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuctionError {
    /// The scale is above [`MAX_SCALE`].
    #[error("the scale must be at most 6")]
    InvalidScale,
    /// The offered quantity is zero or negative.
    #[error("the offered quantity must be greater than zero")]
    OfferingQuantityMustBePositive,
    /// The offered quantity is above [`MAX_QUANTITY`].
    #[error("the offered quantity is too large")]
    OfferingQuantityTooLarge,
    /// The offered quantity has more decimal places than the scale.
    #[error("the offered quantity has more decimal places than the instrument's scale of {scale}")]
    OfferingScaleExceeded {
        /// The instrument's scale.
        scale: u32,
    },
    /// The reserve price is negative.
    #[error("the reserve price must not be negative")]
    NegativeReservePrice,
    /// The lot size is zero or negative, too large, or has more decimal
    /// places than the scale.
    #[error("the lot size must be greater than zero and within the instrument's scale")]
    InvalidLotSize,
    /// The offered quantity is not a whole number of lots.
    #[error("the offered quantity must be a whole number of lots")]
    LotSizeDoesNotDivideQuantity,
    /// The per-bidder share is not in (0, 1].
    #[error("the per-bidder share must be greater than 0 and at most 1")]
    InvalidBidderShare,
    /// A bid's quantity is zero or negative.
    #[error("bid {bid}: the quantity must be greater than zero")]
    BidQuantityMustBePositive {
        /// The bid.
        bid: Uuid,
    },
    /// A bid's quantity is above [`MAX_QUANTITY`].
    #[error("bid {bid}: the quantity is too large")]
    BidQuantityTooLarge {
        /// The bid.
        bid: Uuid,
    },
    /// A bid's quantity has more decimal places than the scale.
    #[error(
        "bid {bid}: the quantity has more decimal places than the instrument's scale of {scale}"
    )]
    BidScaleExceeded {
        /// The bid.
        bid: Uuid,
        /// The instrument's scale.
        scale: u32,
    },
    /// A bid's quantity is not a whole number of lots.
    #[error("bid {bid}: the quantity must be a whole number of lots")]
    BidNotMultipleOfLot {
        /// The bid.
        bid: Uuid,
    },
}

impl AuctionError {
    /// The stable snake_case code of this reason.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidScale => "invalid_scale",
            Self::OfferingQuantityMustBePositive => "offering_quantity_must_be_positive",
            Self::OfferingQuantityTooLarge => "offering_quantity_too_large",
            Self::OfferingScaleExceeded { .. } => "offering_scale_exceeded",
            Self::NegativeReservePrice => "negative_reserve_price",
            Self::InvalidLotSize => "invalid_lot_size",
            Self::LotSizeDoesNotDivideQuantity => "lot_size_does_not_divide_quantity",
            Self::InvalidBidderShare => "invalid_bidder_share",
            Self::BidQuantityMustBePositive { .. } => "bid_quantity_must_be_positive",
            Self::BidQuantityTooLarge { .. } => "bid_quantity_too_large",
            Self::BidScaleExceeded { .. } => "bid_scale_exceeded",
            Self::BidNotMultipleOfLot { .. } => "bid_not_multiple_of_lot",
        }
    }
}

impl Offering {
    /// Checks the offering's terms.
    ///
    /// # Errors
    /// In this order: `invalid_scale` for a scale above [`MAX_SCALE`];
    /// `offering_quantity_must_be_positive`, `offering_quantity_too_large`
    /// (above [`MAX_QUANTITY`]) or `offering_scale_exceeded` for the
    /// quantity; `negative_reserve_price`; `invalid_lot_size` for a lot size
    /// that is not positive, is above [`MAX_QUANTITY`] or has more decimal
    /// places than the scale; `lot_size_does_not_divide_quantity`;
    /// `invalid_bidder_share` for a share outside (0, 1].
    pub fn validate(&self) -> Result<(), AuctionError> {
        Terms::new(self).map(|_| ())
    }

    /// Checks a bid against the offering, as at bid time: the offering must
    /// be valid and the bid's quantity greater than zero, at most
    /// [`MAX_QUANTITY`], within the scale and a whole number of lots. The
    /// price is not checked: a bid below the reserve price is simply ignored
    /// by [`clear`].
    ///
    /// # Errors
    /// Any error of [`Offering::validate`]; then
    /// `bid_quantity_must_be_positive`, `bid_quantity_too_large`,
    /// `bid_scale_exceeded` or `bid_not_multiple_of_lot`.
    pub fn check_bid(&self, bid: &Bid) -> Result<(), AuctionError> {
        Terms::new(self)?.bid_steps(bid).map(|_| ())
    }
}

/// A validated offering, in steps.
#[derive(Debug, Clone, Copy)]
struct Terms {
    scale: u32,
    reserve_price: Decimal,
    /// Smallest units (10^-scale) per step: the lot size, or 1.
    step_units: u128,
    /// The offered quantity in steps.
    quantity_steps: u128,
    /// The per-bidder cap in steps.
    cap_steps: Option<u128>,
}

/// Why a decimal is not a quantity.
enum QuantityDefect {
    NotPositive,
    TooLarge,
    ScaleExceeded,
}

/// `quantity` in smallest units 10^-scale (scale ≤ [`MAX_SCALE`]). The core's
/// order of checks: positive, then at most [`MAX_QUANTITY`], then the scale.
fn to_units(quantity: Decimal, scale: u32) -> Result<u128, QuantityDefect> {
    if quantity.is_zero() || quantity.is_sign_negative() {
        return Err(QuantityDefect::NotPositive);
    }
    // MAX_QUANTITY (an integer, scale 0) in smallest units.
    let max_units = MAX_QUANTITY.mantissa().unsigned_abs() * POW10[scale as usize];
    let mantissa = quantity.mantissa().unsigned_abs();
    let digits = quantity.scale();
    if digits <= scale {
        // mantissa < 2^96 and the factor ≤ 10^6 < 2^20: no overflow.
        let units = mantissa * POW10[(scale - digits) as usize];
        if units > max_units {
            return Err(QuantityDefect::TooLarge);
        }
        Ok(units)
    } else {
        let divisor = POW10[(digits - scale) as usize];
        let (units, rest) = (mantissa / divisor, mantissa % divisor);
        if units > max_units || (units == max_units && rest != 0) {
            return Err(QuantityDefect::TooLarge);
        }
        if rest != 0 {
            return Err(QuantityDefect::ScaleExceeded);
        }
        Ok(units)
    }
}

impl Terms {
    fn new(offering: &Offering) -> Result<Self, AuctionError> {
        let scale = offering.scale;
        if scale > MAX_SCALE {
            return Err(AuctionError::InvalidScale);
        }
        let quantity_units = to_units(offering.quantity, scale).map_err(|defect| match defect {
            QuantityDefect::NotPositive => AuctionError::OfferingQuantityMustBePositive,
            QuantityDefect::TooLarge => AuctionError::OfferingQuantityTooLarge,
            QuantityDefect::ScaleExceeded => AuctionError::OfferingScaleExceeded { scale },
        })?;
        if offering.reserve_price.is_sign_negative() && !offering.reserve_price.is_zero() {
            return Err(AuctionError::NegativeReservePrice);
        }
        let step_units = match offering.lot_size {
            None => 1,
            Some(lot) => to_units(lot, scale).map_err(|_| AuctionError::InvalidLotSize)?,
        };
        if quantity_units % step_units != 0 {
            return Err(AuctionError::LotSizeDoesNotDivideQuantity);
        }
        let quantity_steps = quantity_units / step_units;
        let cap_steps = match offering.max_bidder_share {
            None => None,
            Some(share) => {
                if share.is_zero() || share.is_sign_negative() || share > Decimal::ONE {
                    return Err(AuctionError::InvalidBidderShare);
                }
                // floor(share × quantity) to the step: share = m / 10^s, so
                // floor(m × quantity_steps / 10^s) steps, exactly.
                let numerator = share.mantissa().unsigned_abs();
                let denominator = POW10[share.scale() as usize];
                Some(mul_div_floor(numerator, quantity_steps, denominator))
            }
        };
        Ok(Self {
            scale,
            reserve_price: offering.reserve_price,
            step_units,
            quantity_steps,
            cap_steps,
        })
    }

    /// The bid's quantity in steps.
    fn bid_steps(&self, bid: &Bid) -> Result<u128, AuctionError> {
        let units = to_units(bid.quantity, self.scale).map_err(|defect| match defect {
            QuantityDefect::NotPositive => AuctionError::BidQuantityMustBePositive { bid: bid.id },
            QuantityDefect::TooLarge => AuctionError::BidQuantityTooLarge { bid: bid.id },
            QuantityDefect::ScaleExceeded => AuctionError::BidScaleExceeded {
                bid: bid.id,
                scale: self.scale,
            },
        })?;
        if units % self.step_units != 0 {
            return Err(AuctionError::BidNotMultipleOfLot { bid: bid.id });
        }
        Ok(units / self.step_units)
    }

    /// A number of steps as a quantity at the offering's scale.
    fn quantity(&self, steps: u128) -> Decimal {
        // steps × step_units ≤ 10^21 < 2^96 (nothing awarded exceeds the
        // offered quantity), so it is a valid Decimal mantissa.
        Decimal::from_i128_with_scale((steps * self.step_units) as i128, self.scale)
    }
}

/// ⌊a × b / c⌋, exactly, for `c > 0` and a quotient that fits in `u128`
/// (`a × b < c × 2^128`). Uses `u128` when the product fits, else a 256-bit
/// product and long division.
fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    debug_assert!(c > 0, "division by zero");
    if let Some(product) = a.checked_mul(b) {
        return product / c;
    }
    let (high, low) = wide_mul(a, b);
    debug_assert!(high < c, "the quotient must fit in u128");
    // Binary long division of high·2^128 + low by c: the remainder starts as
    // high mod c and takes in one bit of `low` at a time.
    let mut remainder = high % c;
    let mut quotient = 0_u128;
    for bit in (0..128).rev() {
        let carry = remainder >> 127;
        remainder = (remainder << 1) | ((low >> bit) & 1);
        // The true remainder is carry·2^128 + remainder < 2c: subtract once.
        if carry != 0 || remainder >= c {
            remainder = remainder.wrapping_sub(c);
            quotient |= 1 << bit;
        }
    }
    quotient
}

/// The 256-bit product of `a` and `b` as (high, low) halves.
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & LOW);
    let (b1, b0) = (b >> 64, b & LOW);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Each term < 2^64, so the sum < 3·2^64 fits.
    let middle = (p00 >> 64) + (p01 & LOW) + (p10 & LOW);
    let low = (p00 & LOW) | (middle << 64);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (middle >> 64);
    (high, low)
}

/// A valid bid at or above the reserve, as ranked.
struct Ranked {
    /// The price as an integer that orders like it: first its mantissa, then
    /// its mantissa at the common scale of all valid bids, or its level's
    /// number (see [`rank`]).
    key: u128,
    /// The bid's quantity in steps; after trimming, what remains; after
    /// filling, the award.
    steps: u128,
    seq: u64,
    /// Position in the input slice.
    index: usize,
    /// The bidder's slot in the cap counters (0 without a cap).
    slot: usize,
    /// The price's scale, until the key is put at the common scale.
    price_scale: u32,
}

/// Sorts valid bids by price descending, then `seq`, then input position,
/// and leaves in each `key` an integer such that bids of equal price have
/// equal keys and a higher price has a higher key.
///
/// Prices are all ≥ 0 (the reserve is), so at a common scale their mantissas
/// order exactly like the prices: the sort compares plain integers. Only when
/// some mantissa would not fit in `u128` at the common scale (prices written
/// with extreme digits, such as 10^20 beside 10^-28) does it compare
/// [`Decimal`]s, and then it numbers the price levels.
fn rank(ranked: &mut [Ranked], bids: &[Bid]) {
    let common = ranked.iter().map(|r| r.price_scale).max().unwrap_or(0);
    let mut exact = true;
    for r in ranked.iter_mut() {
        match r.key.checked_mul(POW10[(common - r.price_scale) as usize]) {
            Some(key) => r.key = key,
            None => {
                exact = false;
                break;
            }
        }
    }
    if exact {
        ranked.sort_unstable_by(|a, b| {
            b.key
                .cmp(&a.key)
                .then(a.seq.cmp(&b.seq))
                .then(a.index.cmp(&b.index))
        });
        return;
    }
    ranked.sort_unstable_by(|a, b| {
        bids[b.index]
            .price
            .cmp(&bids[a.index].price)
            .then(a.seq.cmp(&b.seq))
            .then(a.index.cmp(&b.index))
    });
    // Number the levels from the top: u128::MAX, u128::MAX − 1, …
    let mut key = u128::MAX;
    let mut previous: Option<Decimal> = None;
    for r in ranked.iter_mut() {
        let price = bids[r.index].price;
        if previous.is_some_and(|p| p != price) {
            key -= 1;
        }
        previous = Some(price);
        r.key = key;
    }
}

/// Clears a sealed-bid, single-round, uniform-price auction.
///
/// The rules, in order:
///
/// 1. **Validation.** The offering is checked as by [`Offering::validate`],
///    then every bid's quantity, in the order given, as by
///    [`Offering::check_bid`] (bids below the reserve price too: a
///    malformed bid is the caller's error wherever it is priced). Bid ids
///    are not checked for uniqueness.
/// 2. **Valid bids.** A bid priced at or above the reserve price is valid;
///    bids below it are ignored.
/// 3. **Ranking.** Valid bids are ranked by price descending, then `seq`
///    ascending (earlier first), then position in `bids`.
/// 4. **Cap.** With a `max_bidder_share`, a bidder's cap is
///    ⌊share × quantity⌋ rounded down to the lot size (to 10^-scale without
///    one). Walking the ranking, each bid keeps at most what its bidder's cap
///    still allows; so a bidder over its cap loses its lowest-priced bids
///    first, and among equal prices its latest bid first, until its total is
///    at most the cap. Trimmed quantities stay whole lots.
/// 5. **Filling.** Price levels are filled from the top: while the quantity
///    left covers the total (trimmed) demand at a level, every bid there is
///    filled in full. At the marginal level, where what is left is less than
///    the level's total, each bid gets ⌊left × its quantity / level total⌋
///    rounded down to the lot size (to 10^-scale without one); the remainder
///    is then handed out one lot (or one 10^-scale) at a time to the bids
///    of that level in order of `seq` (earliest first), one per bid and never
///    beyond a bid's quantity. Lower levels get nothing.
/// 6. **Price.** The clearing price is the lowest price among bids awarded
///    more than zero; every winner pays it (the caller computes award ×
///    clearing price). `sold` is the sum of the awards and `unsold` =
///    quantity − sold, which returns to its source.
/// 7. **Failure.** With no valid bid, or when no bid is awarded anything
///    (every cap rounds down to zero), the result is [`Clearing::Failed`].
///
/// Prices are compared by value: `10`, `10.0` and `10.00` are one price
/// level, and the clearing price is written as in the first-ranked bid at
/// that level.
///
/// Cost: one pass over the bids, one sort of the valid ones on integer price
/// keys, and linear passes after it; a hash map of bidders only when there
/// is a cap. Nothing is allocated per bid beyond one entry each.
///
/// # Errors
/// Any error of [`Offering::validate`]; for the first malformed bid,
/// `bid_quantity_must_be_positive`, `bid_quantity_too_large`,
/// `bid_scale_exceeded` or `bid_not_multiple_of_lot`.
pub fn clear(offering: &Offering, bids: &[Bid]) -> Result<Clearing, AuctionError> {
    let terms = Terms::new(offering)?;
    let (mut ranked, bidders) = valid_bids(&terms, bids)?;
    if ranked.is_empty() {
        return Ok(Clearing::Failed);
    }
    rank(&mut ranked, bids);
    if let Some(cap) = terms.cap_steps {
        apply_cap(&mut ranked, cap, bidders);
    }
    let (clearing_price, left) = fill(&mut ranked, bids, terms.quantity_steps);
    let Some(clearing_price) = clearing_price else {
        return Ok(Clearing::Failed);
    };
    Ok(Clearing::Cleared {
        clearing_price,
        sold: terms.quantity(terms.quantity_steps - left),
        unsold: terms.quantity(left),
        awards: awards(&ranked, bids, &terms),
    })
}

/// Rules 1 and 2 in one pass: checks every bid in the order given (so the
/// first malformed one is the error, wherever it is priced), keeps those at
/// or above the reserve unranked, and numbers their bidders when there is a
/// cap (every slot is 0 without one). Returns the kept bids and the number
/// of bidders numbered.
///
/// # Errors
/// The first malformed bid's reason, as by [`Offering::check_bid`].
fn valid_bids(terms: &Terms, bids: &[Bid]) -> Result<(Vec<Ranked>, usize), AuctionError> {
    let mut ranked: Vec<Ranked> = Vec::with_capacity(bids.len());
    let mut slots: HashMap<Uuid, usize> = HashMap::new();
    for (index, bid) in bids.iter().enumerate() {
        let steps = terms.bid_steps(bid)?;
        if bid.price < terms.reserve_price {
            continue;
        }
        let slot = if terms.cap_steps.is_some() {
            let next = slots.len();
            *slots.entry(bid.bidder).or_insert(next)
        } else {
            0
        };
        ranked.push(Ranked {
            key: bid.price.mantissa().unsigned_abs(),
            steps,
            seq: bid.seq,
            index,
            slot,
            price_scale: bid.price.scale(),
        });
    }
    Ok((ranked, slots.len()))
}

/// Rule 4, the cap: walking the ranking, each bid keeps what its bidder may
/// still have, so a bidder over its cap loses its lowest-ranked bids first.
fn apply_cap(ranked: &mut [Ranked], cap: u128, bidders: usize) {
    let mut used = vec![0_u128; bidders];
    for bid in ranked {
        let kept = bid.steps.min(cap - used[bid.slot]);
        used[bid.slot] += kept;
        bid.steps = kept;
    }
}

/// Rule 5, filling, level by level from the top: leaves each ranked bid's
/// award in its `steps` (zero below the marginal level) and returns the
/// price of the lowest level awarded anything (rule 6; none when nothing
/// is) with the steps left unsold.
///
/// Sums cannot overflow: each bid is at most 10^21 steps (< 2^70) and a
/// slice holds fewer than 2^58 bids.
fn fill(ranked: &mut [Ranked], bids: &[Bid], quantity_steps: u128) -> (Option<Decimal>, u128) {
    let mut left = quantity_steps;
    let mut clearing_price = None;
    let mut start = 0;
    while start < ranked.len() && left > 0 {
        let key = ranked[start].key;
        let price = bids[ranked[start].index].price;
        let mut end = start;
        let mut total = 0_u128;
        while end < ranked.len() && ranked[end].key == key {
            total += ranked[end].steps;
            end += 1;
        }
        let level = &mut ranked[start..end];
        start = end;
        if total == 0 {
            continue;
        }
        clearing_price = Some(price);
        if total <= left {
            left -= total;
            continue;
        }
        left = share_marginal_level(level, left, total);
        break;
    }
    for bid in &mut ranked[start..] {
        bid.steps = 0;
    }
    (clearing_price, left)
}

/// The marginal level, where `left < total`: each bid gets its pro-rata
/// share rounded down, then the remainder one step at a time to the earliest
/// bids (the level is ranked by `seq` already). Returns what is left after
/// it: always zero.
fn share_marginal_level(level: &mut [Ranked], left: u128, total: u128) -> u128 {
    // left < total, so every share is below its bid's quantity and the
    // remainder is below the number of bids.
    let shares: Vec<u128> = level
        .iter()
        .map(|bid| mul_div_floor(left, bid.steps, total))
        .collect();
    let mut remainder = left - shares.iter().sum::<u128>();
    for (bid, share) in level.iter_mut().zip(shares) {
        let extra = u128::from(remainder > 0 && share < bid.steps);
        remainder -= extra;
        bid.steps = share + extra;
    }
    debug_assert_eq!(remainder, 0, "the remainder is below the level's bid count");
    remainder
}

/// The awards, in ranking order: every bid awarded more than zero steps,
/// as a quantity at the offering's scale.
fn awards(ranked: &[Ranked], bids: &[Bid], terms: &Terms) -> Vec<Award> {
    ranked
        .iter()
        .filter(|bid| bid.steps > 0)
        .map(|ranked| {
            let bid = &bids[ranked.index];
            Award {
                bid: bid.id,
                bidder: bid.bidder,
                quantity: terms.quantity(ranked.steps),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_floor_is_exact_beyond_u128() {
        // Fits: 7 × 9 / 4 = 15.75 → 15.
        assert_eq!(mul_div_floor(7, 9, 4), 15);
        // 2^100 × 2^100 / 2^80 = 2^120, through the 256-bit path.
        assert_eq!(mul_div_floor(1 << 100, 1 << 100, 1 << 80), 1 << 120);
        // (10^21 − 1) × 10^21 does not fit in u128 (2^128 ≈ 3.4 × 10^38):
        // check the identity q·c + r = a·b with 0 ≤ r < c.
        let (a, b, c) = (POW10[21] - 1, POW10[21], POW10[21] + 7);
        let q = mul_div_floor(a, b, c);
        let (high, low) = wide_mul(q, c);
        let (ab_high, ab_low) = wide_mul(a, b);
        let (r, borrow) = ab_low.overflowing_sub(low);
        assert_eq!(ab_high - high - u128::from(borrow), 0);
        assert!(r < c);
        // Divisor above 2^127: the carry branch.
        let big = (1_u128 << 127) + 1;
        assert_eq!(mul_div_floor(u128::MAX, 3, big), 5);
    }

    #[test]
    fn wide_mul_matches_known_products() {
        assert_eq!(wide_mul(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(wide_mul(1 << 64, 1 << 64), (1, 0));
        assert_eq!(wide_mul(3, 5), (0, 15));
    }
}
