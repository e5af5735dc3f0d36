//! Instruments: what the ledger counts, with their scale.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::ids::{InstrumentCode, RegionCode};

/// Code of the built-in cash instrument.
pub const CNY: &str = "CNY";

/// The most decimal places any instrument may have.
pub const MAX_SCALE: u32 = 6;

/// The largest quantity one leg may move: 10^15 units, far beyond any real
/// allocation, and far enough below `Decimal::MAX` that sums never overflow.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// What kind of thing an instrument counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    /// An annual pollutant-discharge right valid for a period, inside a region.
    PollutantRight,
    /// A carbon allowance of a vintage year, 1 unit = 1 tCO2e.
    CarbonAllowance,
    /// A carbon offset credit (CCER) of a vintage year.
    CarbonOffset,
    /// Cash in CNY, scale 2.
    Cash,
}

impl InstrumentKind {
    /// The snake_case name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PollutantRight => "pollutant_right",
            Self::CarbonAllowance => "carbon_allowance",
            Self::CarbonOffset => "carbon_offset",
            Self::Cash => "cash",
        }
    }

    /// Parses the snake_case name.
    ///
    /// # Errors
    /// `invalid_instrument` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        match text {
            "pollutant_right" => Ok(Self::PollutantRight),
            "carbon_allowance" => Ok(Self::CarbonAllowance),
            "carbon_offset" => Ok(Self::CarbonOffset),
            "cash" => Ok(Self::Cash),
            _ => Err(LedgerError::InvalidInstrument("unknown kind")),
        }
    }
}

/// An instrument definition. Constructed only through [`Instrument::new`] or
/// [`Instrument::cny`], so its fields are consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// The instrument's code.
    pub code: InstrumentCode,
    /// What it counts.
    pub kind: InstrumentKind,
    /// Pollutant name for pollutant rights (`SO2`, `COD`, `Pb`, …).
    pub pollutant: Option<String>,
    /// Unit of one quantity: `t`, `kg`, `tCO2e`, `CNY`.
    pub unit: String,
    /// Decimal places allowed in quantities (0 to 6).
    pub scale: u32,
    /// Region inside which a pollutant right trades.
    pub region_code: Option<RegionCode>,
    /// Vintage year of carbon allowances and offsets.
    pub vintage: Option<i32>,
    /// First day a pollutant right is valid.
    pub valid_from: Option<NaiveDate>,
    /// Last day a pollutant right is valid.
    pub valid_to: Option<NaiveDate>,
    /// Commission per side on trade value (e.g. `0.001`).
    pub commission_rate: Decimal,
    /// Allowed deviation from the previous day's VWAP (e.g. `0.10`), if any.
    pub price_band: Option<Decimal>,
}

/// The fields of a new instrument, before validation.
#[derive(Debug, Clone)]
pub struct InstrumentSpec {
    /// See [`Instrument::code`].
    pub code: InstrumentCode,
    /// See [`Instrument::kind`].
    pub kind: InstrumentKind,
    /// See [`Instrument::pollutant`].
    pub pollutant: Option<String>,
    /// See [`Instrument::unit`].
    pub unit: String,
    /// See [`Instrument::scale`].
    pub scale: u32,
    /// See [`Instrument::region_code`].
    pub region_code: Option<RegionCode>,
    /// See [`Instrument::vintage`].
    pub vintage: Option<i32>,
    /// See [`Instrument::valid_from`].
    pub valid_from: Option<NaiveDate>,
    /// See [`Instrument::valid_to`].
    pub valid_to: Option<NaiveDate>,
    /// See [`Instrument::commission_rate`].
    pub commission_rate: Decimal,
    /// See [`Instrument::price_band`].
    pub price_band: Option<Decimal>,
}

impl Instrument {
    /// The built-in cash instrument.
    #[must_use]
    pub fn cny() -> Self {
        Self {
            code: InstrumentCode::cny(),
            kind: InstrumentKind::Cash,
            pollutant: None,
            unit: CNY.to_owned(),
            scale: 2,
            region_code: None,
            vintage: None,
            valid_from: None,
            valid_to: None,
            commission_rate: Decimal::ZERO,
            price_band: None,
        }
    }

    /// Validates a new instrument definition.
    ///
    /// # Errors
    /// `invalid_instrument` when: the kind is `cash` or the code is `CNY` (built
    /// in); the scale exceeds 6, or is not 0 for carbon; a pollutant right lacks
    /// its pollutant, region or validity, or is valid to before it is valid
    /// from; a carbon instrument lacks its vintage; the commission rate is
    /// negative or ≥ 1; the price band is not in (0, 1).
    pub fn new(spec: InstrumentSpec) -> Result<Self, LedgerError> {
        use LedgerError::InvalidInstrument as Invalid;
        if spec.kind == InstrumentKind::Cash || spec.code.as_str() == CNY {
            return Err(Invalid("CNY is built in"));
        }
        if spec.scale > MAX_SCALE {
            return Err(Invalid("scale must be at most 6"));
        }
        if spec.unit.trim().is_empty() || spec.unit.len() > 16 {
            return Err(Invalid("unit must be 1-16 characters"));
        }
        match spec.kind {
            InstrumentKind::PollutantRight => {
                let pollutant_ok = spec
                    .pollutant
                    .as_deref()
                    .is_some_and(|p| !p.trim().is_empty() && p.len() <= 16);
                if !pollutant_ok {
                    return Err(Invalid("a pollutant right needs its pollutant"));
                }
                if spec.region_code.is_none() {
                    return Err(Invalid("a pollutant right needs its region_code"));
                }
                match (spec.valid_from, spec.valid_to) {
                    (Some(from), Some(to)) if from <= to => {}
                    (Some(_), Some(_)) => return Err(Invalid("valid_to is before valid_from")),
                    _ => return Err(Invalid("a pollutant right needs valid_from and valid_to")),
                }
                if spec.vintage.is_some() {
                    return Err(Invalid("a pollutant right has no vintage"));
                }
            }
            InstrumentKind::CarbonAllowance | InstrumentKind::CarbonOffset => {
                if spec.scale != 0 {
                    return Err(Invalid("carbon units are whole: scale must be 0"));
                }
                if !spec.vintage.is_some_and(|v| (2000..=2100).contains(&v)) {
                    return Err(Invalid("a carbon instrument needs a vintage year"));
                }
                if spec.pollutant.is_some() || spec.valid_from.is_some() || spec.valid_to.is_some()
                {
                    return Err(Invalid(
                        "a carbon instrument has no pollutant or validity period",
                    ));
                }
            }
            InstrumentKind::Cash => unreachable!("refused above"),
        }
        if spec.commission_rate < Decimal::ZERO || spec.commission_rate >= Decimal::ONE {
            return Err(Invalid("commission_rate must be in [0, 1)"));
        }
        if spec
            .price_band
            .is_some_and(|band| band <= Decimal::ZERO || band >= Decimal::ONE)
        {
            return Err(Invalid("price_band must be in (0, 1)"));
        }
        Ok(Self {
            code: spec.code,
            kind: spec.kind,
            pollutant: spec.pollutant,
            unit: spec.unit,
            scale: spec.scale,
            region_code: spec.region_code,
            vintage: spec.vintage,
            valid_from: spec.valid_from,
            valid_to: spec.valid_to,
            commission_rate: spec.commission_rate,
            price_band: spec.price_band,
        })
    }

    /// Checks that `quantity` is a positive amount of this instrument.
    ///
    /// # Errors
    /// `quantity_must_be_positive` for zero or less; `quantity_too_large`
    /// above [`MAX_QUANTITY`]; `scale_exceeded` for more decimal places than
    /// the instrument's scale (trailing zeros don't count).
    pub fn check_quantity(&self, quantity: Decimal) -> Result<Decimal, LedgerError> {
        if quantity <= Decimal::ZERO {
            return Err(LedgerError::QuantityMustBePositive);
        }
        if quantity > MAX_QUANTITY {
            return Err(LedgerError::QuantityTooLarge);
        }
        if quantity.normalize().scale() > self.scale {
            return Err(LedgerError::ScaleExceeded { scale: self.scale });
        }
        let mut exact = quantity;
        exact.rescale(self.scale);
        Ok(exact)
    }

    /// Checks that a participant of `region` may trade this instrument on
    /// business day `date` (SPEC §4): cash never trades; a pollutant right
    /// trades only while valid and only inside its region.
    ///
    /// # Errors
    /// `instrument_not_tradable` for cash or outside the validity period;
    /// `region_mismatch` for a participant outside the region.
    pub fn check_tradable(&self, region: &RegionCode, date: NaiveDate) -> Result<(), LedgerError> {
        match self.kind {
            InstrumentKind::Cash => Err(LedgerError::InstrumentNotTradable),
            InstrumentKind::PollutantRight => {
                let started = self.valid_from.is_none_or(|from| from <= date);
                let ended = self.valid_to.is_some_and(|to| to < date);
                if !started || ended {
                    return Err(LedgerError::InstrumentNotTradable);
                }
                match &self.region_code {
                    Some(home) if !home.contains(region) => Err(LedgerError::RegionMismatch),
                    _ => Ok(()),
                }
            }
            InstrumentKind::CarbonAllowance | InstrumentKind::CarbonOffset => Ok(()),
        }
    }

    /// Checks a price against the instrument's band around `reference` (the
    /// previous business day's VWAP): within `reference × (1 ± band)`,
    /// bounds included. No band or no reference admits every price.
    ///
    /// # Errors
    /// `price_out_of_band`.
    pub fn check_band(
        &self,
        price: Decimal,
        reference: Option<Decimal>,
    ) -> Result<(), LedgerError> {
        if let (Some(band), Some(reference)) = (self.price_band, reference) {
            let low = reference * (Decimal::ONE - band);
            let high = reference * (Decimal::ONE + band);
            if price < low || price > high {
                return Err(LedgerError::PriceOutOfBand);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn so2(band: Option<&str>) -> Instrument {
        Instrument::new(InstrumentSpec {
            code: InstrumentCode::parse("SO2-320500-2026").expect("code"),
            kind: InstrumentKind::PollutantRight,
            pollutant: Some("SO2".to_owned()),
            unit: "t".to_owned(),
            scale: 4,
            region_code: Some(RegionCode::parse("320500").expect("region")),
            vintage: None,
            valid_from: Some("2026-01-01".parse().expect("date")),
            valid_to: Some("2026-12-31".parse().expect("date")),
            commission_rate: Decimal::ZERO,
            price_band: band.map(|b| b.parse().expect("band")),
        })
        .expect("instrument")
    }

    #[test]
    fn a_pollutant_right_trades_inside_its_region_while_valid() {
        let right = so2(None);
        let suzhou_district = RegionCode::parse("320505").expect("region");
        let nanjing = RegionCode::parse("320100").expect("region");
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        assert_eq!(
            right.check_tradable(&suzhou_district, day("2026-06-30")),
            Ok(())
        );
        assert_eq!(
            right.check_tradable(&suzhou_district, day("2026-12-31")),
            Ok(())
        );
        assert_eq!(
            right.check_tradable(&nanjing, day("2026-06-30")),
            Err(LedgerError::RegionMismatch)
        );
        for outside in ["2025-12-31", "2027-01-01"] {
            assert_eq!(
                right.check_tradable(&suzhou_district, day(outside)),
                Err(LedgerError::InstrumentNotTradable)
            );
        }
        assert_eq!(
            Instrument::cny().check_tradable(&nanjing, day("2026-06-30")),
            Err(LedgerError::InstrumentNotTradable)
        );
    }

    #[test]
    fn the_price_band_is_inclusive_around_the_reference() {
        let banded = so2(Some("0.10"));
        let reference = Some(Decimal::new(10_000, 2));
        for (price, ok) in [
            (9_000, true),
            (11_000, true),
            (8_999, false),
            (11_001, false),
        ] {
            let result = banded.check_band(Decimal::new(price, 2), reference);
            assert_eq!(result.is_ok(), ok, "{price}");
        }
        assert_eq!(banded.check_band(Decimal::new(1, 2), None), Ok(()));
        assert_eq!(so2(None).check_band(Decimal::new(1, 2), reference), Ok(()));
    }

    #[test]
    fn the_largest_quantity_is_ten_to_the_fifteenth() {
        assert_eq!(MAX_QUANTITY, Decimal::from(1_000_000_000_000_000_i64));
        let cny = Instrument::cny();
        assert_eq!(
            cny.check_quantity(MAX_QUANTITY),
            Ok(Decimal::new(100_000_000_000_000_000, 2))
        );
        assert_eq!(
            cny.check_quantity(MAX_QUANTITY + Decimal::ONE),
            Err(LedgerError::QuantityTooLarge)
        );
    }
}
