//! Fees: paid-use invoices. Money rounds half-up to 0.01 CNY, and only where
//! this module says.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::LedgerError;

/// The longest paid-use period, in years.
pub const MAX_YEARS: u32 = 50;

/// Rounds money half-up (away from zero on a tie) to the fen.
#[must_use]
pub fn round_money(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The paid-use fee of an allocation: quantity × unit fee × years, rounded
/// half-up to 0.01 CNY once, at the end.
///
/// # Errors
/// `invalid_fee` when the unit fee is negative or has more than 6 decimal
/// places, or the years are not 1 to [`MAX_YEARS`]; `quantity_too_large` when
/// the product does not fit.
pub fn paid_use_amount(
    quantity: Decimal,
    unit_fee: Decimal,
    years: u32,
) -> Result<Decimal, LedgerError> {
    if unit_fee < Decimal::ZERO || unit_fee.normalize().scale() > 6 {
        return Err(LedgerError::InvalidFee);
    }
    if !(1..=MAX_YEARS).contains(&years) {
        return Err(LedgerError::InvalidFee);
    }
    let amount = quantity
        .checked_mul(unit_fee)
        .and_then(|v| v.checked_mul(Decimal::from(years)))
        .ok_or(LedgerError::QuantityTooLarge)?;
    Ok(round_money(amount))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    #[test]
    fn the_fee_is_quantity_times_unit_fee_times_years_rounded_once() {
        // 12.3456 t of COD at 230 CNY/t·a for 5 years = 14197.44 exactly.
        assert_eq!(
            paid_use_amount(dec("12.3456"), dec("230"), 5),
            Ok(dec("14197.44"))
        );
        // 0.0001 t × 0.05 × 1 = 0.000005 → 0.00; 0.001 t × 5 × 1 = 0.005 → 0.01 (half-up).
        assert_eq!(
            paid_use_amount(dec("0.0001"), dec("0.05"), 1),
            Ok(dec("0.00"))
        );
        assert_eq!(paid_use_amount(dec("0.001"), dec("5"), 1), Ok(dec("0.01")));
    }

    #[test]
    fn negative_fees_and_impossible_periods_are_refused() {
        assert_eq!(
            paid_use_amount(dec("1"), dec("-1"), 1),
            Err(LedgerError::InvalidFee)
        );
        assert_eq!(
            paid_use_amount(dec("1"), dec("1"), 0),
            Err(LedgerError::InvalidFee)
        );
        assert_eq!(
            paid_use_amount(dec("1"), dec("1"), 51),
            Err(LedgerError::InvalidFee)
        );
    }
}
