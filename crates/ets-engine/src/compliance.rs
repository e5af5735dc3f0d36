//! Compliance (SPEC §6): verified emissions, surrenders of carbon
//! allowances and offsets against them, and the arithmetic of the
//! compliance report.
//!
//! A regulator records what a participant emitted in a period; a later
//! record for the same (participant, period, kind, pollutant) replaces the
//! earlier, and both stay. Carbon is covered by what the participant
//! surrenders for the period (offsets at most 5 % of the obligation
//! recorded at the moment of each surrender); a pollutant by the rights of
//! that pollutant the participant holds whose validity overlaps the period.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::instrument::MAX_QUANTITY;
use ets_core::{InstrumentCode, InstrumentKind, LedgerError, Leg, Owner, SystemAccount};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::CommandError;
use crate::payload::{EmissionRecorded, Payload, SurrenderCreated};

/// The journal kind of an emission record.
pub const EMISSION_RECORDED: &str = "emission.recorded";
/// The journal kind of a surrender, and the kind of its ledger transaction.
pub const SURRENDER_CREATED: &str = "surrender.created";
/// The places a pollutant's emission quantity may have (a carbon one has
/// none: whole tCO2e).
pub const POLLUTANT_EMISSION_SCALE: u32 = 6;

/// A compliance period: a calendar year, written with four digits (`"2025"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period(i32);

/// Why a text is not a [`Period`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a period is a year of four digits, e.g. \"2025\"")]
pub struct InvalidPeriod;

impl Period {
    /// The period of `year` (1000 to 9999).
    ///
    /// # Errors
    /// [`InvalidPeriod`] for a year without four digits.
    pub fn new(year: i32) -> Result<Self, InvalidPeriod> {
        if (1000..=9999).contains(&year) {
            Ok(Self(year))
        } else {
            Err(InvalidPeriod)
        }
    }

    /// Its year.
    #[must_use]
    pub fn year(self) -> i32 {
        self.0
    }

    /// Its first day, 1 January.
    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0, 1, 1).expect("a four-digit year has a 1 January")
    }

    /// Its last day, 31 December.
    #[must_use]
    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0, 12, 31).expect("a four-digit year has a 31 December")
    }
}

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPeriod);
        }
        Self::new(text.parse().map_err(|_| InvalidPeriod)?)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What an emission record counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmissionKind {
    /// Greenhouse gas, in whole tCO2e.
    Carbon,
    /// One pollutant, in its instruments' unit.
    Pollutant,
}

impl EmissionKind {
    /// The snake_case name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Carbon => "carbon",
            Self::Pollutant => "pollutant",
        }
    }
}

impl FromStr for EmissionKind {
    type Err = CommandError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "carbon" => Ok(Self::Carbon),
            "pollutant" => Ok(Self::Pollutant),
            _ => Err(CommandError::InvalidEmissionKind),
        }
    }
}

/// What a record is about: one current record per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmissionKey {
    /// Whose emissions.
    pub participant_id: Uuid,
    /// Which year.
    pub period: Period,
    /// Carbon or a pollutant.
    pub kind: EmissionKind,
    /// Which pollutant (none for carbon).
    pub pollutant: Option<String>,
}

/// An emission record to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmission {
    /// Its id.
    pub id: Uuid,
    /// Whose emissions.
    pub participant_id: Uuid,
    /// Which year.
    pub period: Period,
    /// Carbon or a pollutant.
    pub kind: EmissionKind,
    /// Which pollutant: required for a pollutant, refused for carbon.
    pub pollutant: Option<String>,
    /// How much was emitted: tCO2e (whole), or the pollutant's unit.
    pub quantity: Decimal,
}

impl NewEmission {
    /// The key the record is for.
    #[must_use]
    pub fn key(&self) -> EmissionKey {
        EmissionKey {
            participant_id: self.participant_id,
            period: self.period,
            kind: self.kind,
            pollutant: self.pollutant.clone(),
        }
    }
}

/// A verified emission record, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emission {
    /// Its id.
    pub id: Uuid,
    /// Whose emissions.
    pub participant_id: Uuid,
    /// Which year.
    pub period: Period,
    /// Carbon or a pollutant.
    pub kind: EmissionKind,
    /// Which pollutant (none for carbon).
    pub pollutant: Option<String>,
    /// How much was emitted.
    pub quantity: Decimal,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The record for the same key it replaced, if any.
    pub replaces: Option<Uuid>,
}

impl Emission {
    /// The key the record is for.
    #[must_use]
    pub fn key(&self) -> EmissionKey {
        EmissionKey {
            participant_id: self.participant_id,
            period: self.period,
            kind: self.kind,
            pollutant: self.pollutant.clone(),
        }
    }
}

/// What a surrender hands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurrenderKind {
    /// Carbon allowances.
    Allowance,
    /// Carbon offset credits (CCER): at most 5 % of the obligation.
    Offset,
}

impl SurrenderKind {
    /// The snake_case name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowance => "allowance",
            Self::Offset => "offset",
        }
    }

    /// The kind of surrender an instrument makes: allowances and offsets
    /// only.
    ///
    /// # Errors
    /// `instrument_not_surrenderable` for pollutant rights and cash.
    pub fn of(kind: InstrumentKind) -> Result<Self, CommandError> {
        match kind {
            InstrumentKind::CarbonAllowance => Ok(Self::Allowance),
            InstrumentKind::CarbonOffset => Ok(Self::Offset),
            InstrumentKind::PollutantRight | InstrumentKind::Cash => {
                Err(CommandError::NotSurrenderable)
            }
        }
    }
}

/// A surrender to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSurrender {
    /// Its id.
    pub id: Uuid,
    /// Who surrenders.
    pub participant_id: Uuid,
    /// Which allowances or offsets.
    pub instrument: InstrumentCode,
    /// How many units.
    pub quantity: Decimal,
    /// For which period.
    pub period: Period,
}

/// A committed surrender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surrender {
    /// Its id.
    pub id: Uuid,
    /// Who surrendered.
    pub participant_id: Uuid,
    /// Which allowances or offsets.
    pub instrument: InstrumentCode,
    /// Allowances or offsets.
    pub kind: SurrenderKind,
    /// How many units.
    pub quantity: Decimal,
    /// For which period.
    pub period: Period,
    /// The ledger transaction to the surrendered account.
    pub transaction_id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
}

/// What the compliance rules read of some participants: their current
/// emission records and the offsets each surrendered per period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplianceState {
    /// The current record of each key.
    pub emissions: BTreeMap<EmissionKey, Emission>,
    /// Offsets surrendered so far, per participant and period.
    pub offsets: BTreeMap<(Uuid, Period), Decimal>,
}

impl ComplianceState {
    /// The carbon obligation recorded now for a participant and period
    /// (zero with no record).
    #[must_use]
    pub fn carbon_obligation(&self, participant_id: Uuid, period: Period) -> Decimal {
        let key = EmissionKey {
            participant_id,
            period,
            kind: EmissionKind::Carbon,
            pollutant: None,
        };
        self.emissions
            .get(&key)
            .map_or(Decimal::ZERO, |e| e.quantity)
    }
}

/// Whether `offsets` surrendered for a period stay within 5 % of the
/// carbon `obligation` (exactly: `offsets × 100 ≤ obligation × 5`).
#[must_use]
pub fn offsets_within_limit(offsets: Decimal, obligation: Decimal) -> bool {
    offsets * Decimal::ONE_HUNDRED <= obligation * Decimal::from(5)
}

/// Records a verified emission: replaces the current record of its key, if
/// any.
///
/// # Errors
/// `unknown_participant`; `pollutant_required` / `pollutant_not_allowed`;
/// `unknown_pollutant` for a pollutant without an instrument;
/// `quantity_must_not_be_negative`, `quantity_too_large`, `scale_exceeded`
/// (carbon is whole tCO2e, a pollutant at most 6 places).
pub(crate) fn record_emission(
    new: &NewEmission,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Emission), CommandError> {
    if !loaded.participants.contains(&new.participant_id) {
        return Err(CommandError::UnknownParticipant);
    }
    let scale = match (new.kind, &new.pollutant) {
        (EmissionKind::Carbon, None) => 0,
        (EmissionKind::Carbon, Some(_)) => return Err(CommandError::PollutantNotAllowed),
        (EmissionKind::Pollutant, None) => return Err(CommandError::PollutantRequired),
        (EmissionKind::Pollutant, Some(pollutant)) => {
            if !loaded.pollutant_units.contains_key(pollutant) {
                return Err(CommandError::UnknownPollutant);
            }
            POLLUTANT_EMISSION_SCALE
        }
    };
    check_emission_quantity(new.quantity, scale)?;
    // Whole tCO2e as whole numbers ("1000", never "1000.000"); a pollutant's
    // quantity keeps the places it was verified with.
    let quantity = if new.kind == EmissionKind::Carbon {
        let mut whole = new.quantity.normalize();
        whole.rescale(0);
        whole
    } else {
        new.quantity
    };
    let key = new.key();
    let replaces = loaded.compliance.emissions.get(&key).map(|e| e.id);
    let emission = Emission {
        id: new.id,
        participant_id: new.participant_id,
        period: new.period,
        kind: new.kind,
        pollutant: new.pollutant.clone(),
        quantity,
        recorded_at: changes.at,
        replaces,
    };
    loaded.compliance.emissions.insert(key, emission.clone());
    changes.emissions.push(emission.clone());
    let payload = Payload::EmissionRecorded(EmissionRecorded::from(&emission));
    Ok((EMISSION_RECORDED, payload, emission))
}

/// A quantity of emissions: zero or more, at most `scale` places.
fn check_emission_quantity(quantity: Decimal, scale: u32) -> Result<(), CommandError> {
    if quantity < Decimal::ZERO {
        return Err(CommandError::NegativeQuantity);
    }
    if quantity > MAX_QUANTITY {
        return Err(LedgerError::QuantityTooLarge.into());
    }
    if quantity.normalize().scale() > scale {
        return Err(LedgerError::ScaleExceeded { scale }.into());
    }
    Ok(())
}

/// The leg of a surrender: the units to the surrendered account.
pub(crate) fn surrender_leg(new: &NewSurrender) -> Leg {
    Leg::Transfer {
        instrument: new.instrument.clone(),
        from: Owner::Participant(new.participant_id),
        to: Owner::System(SystemAccount::Surrendered),
        quantity: new.quantity,
    }
}

/// Surrenders available allowances or offsets for a period.
///
/// # Errors
/// `unknown_instrument`; `instrument_not_surrenderable` for anything but
/// carbon allowances and offsets; `vintage_not_eligible` for a vintage
/// after the period; the quantity's refusals; `offset_limit_exceeded` when
/// the period's offsets would pass 5 % of the carbon obligation recorded
/// now; `insufficient_available_balance` (held and pledged units are not
/// available).
pub(crate) fn surrender(
    new: &NewSurrender,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Surrender), CommandError> {
    let instrument = loaded
        .ledger
        .instrument(&new.instrument)
        .ok_or(LedgerError::UnknownInstrument)?;
    let kind = SurrenderKind::of(instrument.kind)?;
    if instrument.vintage.is_some_and(|v| v > new.period.year()) {
        return Err(CommandError::VintageNotEligible);
    }
    let quantity = instrument.check_quantity(new.quantity)?;
    let period_key = (new.participant_id, new.period);
    let offsets_after = match kind {
        SurrenderKind::Allowance => None,
        SurrenderKind::Offset => {
            let so_far = loaded
                .compliance
                .offsets
                .get(&period_key)
                .copied()
                .unwrap_or_default();
            let after = so_far + quantity;
            let obligation = loaded
                .compliance
                .carbon_obligation(new.participant_id, new.period);
            if !offsets_within_limit(after, obligation) {
                return Err(CommandError::OffsetLimitExceeded);
            }
            Some(after)
        }
    };
    let mut transaction = apply_legs(
        loaded,
        &[surrender_leg(new)],
        SURRENDER_CREATED,
        Some(new.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    if let Some(after) = offsets_after {
        loaded.compliance.offsets.insert(period_key, after);
    }
    let surrender = Surrender {
        id: new.id,
        participant_id: new.participant_id,
        instrument: new.instrument.clone(),
        kind,
        quantity,
        period: new.period,
        transaction_id: transaction.id,
        at: changes.at,
    };
    let payload = Payload::SurrenderCreated(SurrenderCreated::new(&surrender, &transaction));
    changes.transactions.push(transaction);
    changes.surrenders.push(surrender.clone());
    Ok((SURRENDER_CREATED, payload, surrender))
}

/// Whether a participant complies with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceStatus {
    /// Covered at least the obligation.
    Compliant,
    /// Covered less.
    Shortfall,
}

impl ComplianceStatus {
    /// The snake_case name shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "compliant",
            Self::Shortfall => "shortfall",
        }
    }
}

impl FromStr for ComplianceStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "compliant" => Ok(Self::Compliant),
            "shortfall" => Ok(Self::Shortfall),
            _ => Err(()),
        }
    }
}

/// One row of the compliance report: one current emission record and what
/// covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceRow {
    /// Whose.
    pub participant_id: Uuid,
    /// Carbon or a pollutant.
    pub kind: EmissionKind,
    /// Which pollutant (none for carbon).
    pub pollutant: Option<String>,
    /// The recorded emissions.
    pub obligation: Decimal,
    /// What covers them (never capped).
    pub covered: Decimal,
    /// `max(0, obligation − covered)`.
    pub shortfall: Decimal,
    /// `compliant` when the shortfall is zero.
    pub status: ComplianceStatus,
}

/// A participant's holding of one pollutant right, as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollutantHolding {
    /// Whose.
    pub participant_id: Uuid,
    /// Which pollutant.
    pub pollutant: String,
    /// The right's first valid day (none: open).
    pub valid_from: Option<NaiveDate>,
    /// The right's last valid day (none: open).
    pub valid_to: Option<NaiveDate>,
    /// The balance now, held and pledged units included.
    pub balance: Decimal,
}

impl PollutantHolding {
    /// Whether the right's validity (inclusive dates) overlaps the period's
    /// calendar year.
    #[must_use]
    pub fn overlaps(&self, period: Period) -> bool {
        self.valid_from.is_none_or(|from| from <= period.last_day())
            && self.valid_to.is_none_or(|to| to >= period.first_day())
    }
}

/// The compliance report of a period (SPEC §6): a row per current
/// emission record, by participant, then carbon before pollutants by name.
///
/// `emissions` are the period's current records; `surrendered` every
/// surrender for the period as (participant, quantity), allowances and
/// offsets alike; `holdings` the participants' pollutant rights.
#[must_use]
pub fn compliance_rows(
    period: Period,
    emissions: &[Emission],
    surrendered: &[(Uuid, Decimal)],
    holdings: &[PollutantHolding],
) -> Vec<ComplianceRow> {
    let mut carbon: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for (participant, quantity) in surrendered {
        *carbon.entry(*participant).or_default() += *quantity;
    }
    let mut pollutants: BTreeMap<(Uuid, &str), Decimal> = BTreeMap::new();
    for holding in holdings.iter().filter(|h| h.overlaps(period)) {
        *pollutants
            .entry((holding.participant_id, holding.pollutant.as_str()))
            .or_default() += holding.balance;
    }
    let mut rows: Vec<ComplianceRow> = emissions
        .iter()
        .filter(|e| e.period == period)
        .map(|emission| {
            let covered = match (&emission.kind, &emission.pollutant) {
                (EmissionKind::Pollutant, Some(pollutant)) => pollutants
                    .get(&(emission.participant_id, pollutant.as_str()))
                    .copied(),
                _ => carbon.get(&emission.participant_id).copied(),
            }
            .unwrap_or_default();
            let shortfall = (emission.quantity - covered).max(Decimal::ZERO);
            ComplianceRow {
                participant_id: emission.participant_id,
                kind: emission.kind,
                pollutant: emission.pollutant.clone(),
                obligation: emission.quantity,
                covered,
                shortfall,
                status: if shortfall.is_zero() {
                    ComplianceStatus::Compliant
                } else {
                    ComplianceStatus::Shortfall
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.participant_id, a.kind, &a.pollutant).cmp(&(b.participant_id, b.kind, &b.pollutant))
    });
    rows
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    fn period(text: &str) -> Period {
        text.parse().expect("period")
    }

    fn emission(
        participant: u128,
        kind: EmissionKind,
        pollutant: Option<&str>,
        q: &str,
    ) -> Emission {
        Emission {
            id: Uuid::from_u128(participant * 100 + u128::from(pollutant.is_some())),
            participant_id: Uuid::from_u128(participant),
            period: period("2025"),
            kind,
            pollutant: pollutant.map(str::to_owned),
            quantity: dec(q),
            recorded_at: "2026-01-10T00:00:00Z".parse().expect("time"),
            replaces: None,
        }
    }

    fn holding(
        participant: u128,
        pollutant: &str,
        from: &str,
        to: &str,
        q: &str,
    ) -> PollutantHolding {
        PollutantHolding {
            participant_id: Uuid::from_u128(participant),
            pollutant: pollutant.to_owned(),
            valid_from: Some(from.parse().expect("date")),
            valid_to: Some(to.parse().expect("date")),
            balance: dec(q),
        }
    }

    #[test]
    fn a_period_is_four_digits() {
        assert_eq!(period("2025").to_string(), "2025");
        assert_eq!(period("2025").first_day().to_string(), "2025-01-01");
        assert_eq!(period("2024").last_day().to_string(), "2024-12-31");
        for bad in [
            "25",
            "20250",
            "２０２５",
            "2025-01",
            "+202",
            "0999",
            "",
            " 2025",
        ] {
            assert_eq!(bad.parse::<Period>(), Err(InvalidPeriod), "{bad:?}");
        }
    }

    #[test]
    fn offsets_may_reach_exactly_five_percent() {
        assert!(offsets_within_limit(dec("50"), dec("1000")));
        assert!(!offsets_within_limit(dec("51"), dec("1000")));
        // 5 % of 1010 is 50.5: 50 whole units fit, 51 do not.
        assert!(offsets_within_limit(dec("50"), dec("1010")));
        assert!(!offsets_within_limit(dec("51"), dec("1010")));
        // No obligation recorded: no offsets.
        assert!(!offsets_within_limit(dec("1"), Decimal::ZERO));
        assert!(offsets_within_limit(Decimal::ZERO, Decimal::ZERO));
    }

    #[test]
    fn carbon_is_covered_by_every_surrender_of_the_period() {
        let rows = compliance_rows(
            period("2025"),
            &[
                emission(1, EmissionKind::Carbon, None, "1000"),
                emission(2, EmissionKind::Carbon, None, "500"),
                emission(3, EmissionKind::Carbon, None, "10"),
            ],
            &[
                (Uuid::from_u128(1), dec("950")),
                (Uuid::from_u128(1), dec("50")),
                (Uuid::from_u128(2), dec("320")),
                (Uuid::from_u128(3), dec("25")),
            ],
            &[],
        );
        let figures: Vec<(String, String, String, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.obligation.to_string(),
                    r.covered.to_string(),
                    r.shortfall.to_string(),
                    r.status.as_str(),
                )
            })
            .collect();
        let expected = [
            ("1000", "1000", "0", "compliant"),
            ("500", "320", "180", "shortfall"),
            // Over-covered: never capped, no negative shortfall.
            ("10", "25", "0", "compliant"),
        ];
        let expected: Vec<(String, String, String, &str)> = expected
            .iter()
            .map(|(o, c, s, st)| ((*o).to_owned(), (*c).to_owned(), (*s).to_owned(), *st))
            .collect();
        assert_eq!(figures, expected);
    }

    #[test]
    fn a_pollutant_is_covered_by_rights_overlapping_the_year_in_any_region() {
        let rows = compliance_rows(
            period("2025"),
            &[emission(1, EmissionKind::Pollutant, Some("SO2"), "12.5")],
            &[(Uuid::from_u128(1), dec("999"))],
            &[
                // Ends on the period's first day: overlaps.
                holding(1, "SO2", "2021-01-01", "2025-01-01", "4"),
                // Starts on its last day: overlaps.
                holding(1, "SO2", "2025-12-31", "2030-12-31", "3.5"),
                // Ended the year before, starts the year after: not.
                holding(1, "SO2", "2020-01-01", "2024-12-31", "100"),
                holding(1, "SO2", "2026-01-01", "2030-12-31", "100"),
                // Another pollutant, another participant: not.
                holding(1, "NOx", "2025-01-01", "2025-12-31", "100"),
                holding(2, "SO2", "2025-01-01", "2025-12-31", "100"),
            ],
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].covered, dec("7.5"));
        assert_eq!(rows[0].shortfall, dec("5.0"));
        assert_eq!(rows[0].status, ComplianceStatus::Shortfall);
    }

    #[test]
    fn rows_come_by_participant_carbon_first() {
        let rows = compliance_rows(
            period("2025"),
            &[
                emission(2, EmissionKind::Pollutant, Some("SO2"), "1"),
                emission(2, EmissionKind::Carbon, None, "1"),
                emission(1, EmissionKind::Pollutant, Some("COD"), "0"),
            ],
            &[],
            &[],
        );
        let order: Vec<(u128, Option<&str>)> = rows
            .iter()
            .map(|r| (r.participant_id.as_u128(), r.pollutant.as_deref()))
            .collect();
        assert_eq!(order, [(1, Some("COD")), (2, None), (2, Some("SO2"))]);
        // Nothing emitted, nothing owed.
        assert_eq!(rows[0].status, ComplianceStatus::Compliant);
    }
}
