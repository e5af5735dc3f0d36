//! Writing what a batch changed, in the order the tables' references need,
//! written once for both backends over [`BatchWrites`], the writes each
//! backend answers with its SQL.

use std::future::Future;

use ets_engine::batch::Changes;

/// The writes of a batch inside its transaction, by kind of row.
pub(crate) trait BatchWrites: Send {
    /// New participants, instruments and credentials; revoked credentials.
    fn registry(
        &mut self,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Console people added, reset (their sessions end) and disabled (the
    /// same).
    fn people(&mut self, changes: &Changes)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Accounts, ledger transactions and their postings, holds, journal
    /// entries and the head, idempotency records, orders and trades.
    fn ledger(&mut self, changes: &Changes)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Allocations and the invoices of paid ones.
    fn allocations(
        &mut self,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Invoice payments, and what is paid of each invoice.
    fn finance(
        &mut self,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Emission records (each replaced record marked first, so one stays
    /// current a key) and surrenders.
    fn compliance(
        &mut self,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Reclamations, pledges, auctions, bids and negotiated trades.
    fn market(&mut self, changes: &Changes)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The token signing key.
    fn signing_keys(
        &mut self,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Writes everything `changes` holds. Participants and instruments come
/// before the accounts that name them; transactions before the
/// allocations, payments, surrenders, reclamations and trades that name theirs; trades before the
/// negotiated trades that settled into them.
///
/// # Errors
/// The database failure (the caller rolls back).
pub(crate) async fn persist(
    writes: &mut impl BatchWrites,
    changes: &Changes,
) -> Result<(), sqlx::Error> {
    writes.registry(changes).await?;
    if !(changes.people.is_empty()
        && changes.people_reset.is_empty()
        && changes.people_disabled.is_empty())
    {
        writes.people(changes).await?;
    }
    writes.ledger(changes).await?;
    writes.allocations(changes).await?;
    writes.finance(changes).await?;
    writes.compliance(changes).await?;
    writes.market(changes).await?;
    writes.signing_keys(changes).await
}
