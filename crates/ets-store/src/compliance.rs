//! The regulator's reads of compliance: the current emission records, and
//! the compliance report of a period from one snapshot.

use ets_engine::compliance::{ComplianceRow, Emission, Period, PollutantHolding, compliance_rows};
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::database::Param::{Integer, Text, Uuid as Id};
use crate::rows::{self, EMISSION_COLUMNS, SELECT_POLLUTANT_HOLDINGS};
use crate::{Store, StoreError};

/// The compliance report of a period: its rows, and the names of the
/// participants they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceReport {
    /// A row per current emission record ([`compliance_rows`]'s order).
    pub rows: Vec<ComplianceRow>,
    /// Each participant's name.
    pub names: BTreeMap<Uuid, String>,
}

/// Which current emission records to list, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmissionFilter {
    /// Only this period's.
    pub period: Option<Period>,
    /// Only this participant's.
    pub participant: Option<Uuid>,
    /// After this id.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
}

impl Store {
    /// The current emission records `filter` keeps, by id (oldest first).
    ///
    /// # Errors
    /// The database failure.
    pub async fn emissions(&self, filter: &EmissionFilter) -> Result<Vec<Emission>, StoreError> {
        let sql = format!(
            "SELECT {EMISSION_COLUMNS} FROM emissions WHERE replaced_by IS NULL \
             AND ($1::text IS NULL OR period = $1) \
             AND ($2::uuid IS NULL OR participant_id = $2) \
             AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let period = filter.period.map(|p| p.to_string());
        let params = [
            Text(period.as_deref()),
            Id(filter.participant),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        self.db.all(&sql, &params, |row| rows::emission(row)).await
    }

    /// The compliance report of `period` (SPEC §6), every participant with
    /// a current record, computed by [`compliance_rows`] from the period's
    /// records, its surrenders and the participants' pollutant rights as
    /// they stand, all read from one snapshot.
    ///
    /// # Errors
    /// The database failure.
    pub async fn compliance(&self, period: Period) -> Result<ComplianceReport, StoreError> {
        let year = period.to_string();
        let mut snapshot = self.db.snapshot().await?;
        let mut emissions: Vec<Emission> = Vec::new();
        let mut names = BTreeMap::new();
        let sql = format!(
            "SELECT {EMISSION_COLUMNS}, (SELECT name FROM participants p \
             WHERE p.id = e.participant_id) AS participant_name \
             FROM emissions e WHERE replaced_by IS NULL AND period = $1"
        );
        let named = |row: &dyn crate::rows::StoredRow| {
            Ok((rows::emission(row)?, row.text("participant_name")?))
        };
        snapshot
            .each(&sql, &[Text(Some(&year))], named, |(e, name)| {
                names.insert(e.participant_id, name);
                emissions.push(e);
                async { Ok::<_, StoreError>(()) }
            })
            .await?;
        let mut surrendered: Vec<(Uuid, Decimal)> = Vec::new();
        snapshot
            .each(
                "SELECT participant_id, quantity FROM surrenders WHERE period = $1",
                &[Text(Some(&year))],
                |row| Ok((row.uuid("participant_id")?, row.decimal("quantity")?)),
                |s| {
                    surrendered.push(s);
                    async { Ok::<_, StoreError>(()) }
                },
            )
            .await?;
        let mut holdings: Vec<PollutantHolding> = Vec::new();
        snapshot
            .each(
                SELECT_POLLUTANT_HOLDINGS,
                &[],
                |row| rows::pollutant_holding(row),
                |h| {
                    holdings.push(h);
                    async { Ok::<_, StoreError>(()) }
                },
            )
            .await?;
        Ok(ComplianceReport {
            rows: compliance_rows(period, &emissions, &surrendered, &holdings),
            names,
        })
    }
}
