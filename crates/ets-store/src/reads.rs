//! What the API reads, written once for both databases: reads go straight
//! to the database ([`Database`]), never through the writer, and see what
//! has committed.

use chrono::{DateTime, Utc};
use ets_core::matching::Side;
use ets_core::{
    AccountKey, Hold, Instrument, InstrumentCode, JournalEntry, JournalHead, Participant, Role,
};
use ets_engine::auctions::{Auction, AuctionBid};
use ets_engine::authority::{Pledge, Reclamation};
use ets_engine::command::Allocation;
use ets_engine::finance::StoredInvoice;
use ets_engine::market::{Order, Trade};
use ets_engine::negotiated::Proposal;
use uuid::Uuid;

use crate::database::Param::{Integer, Text, Time, Uuid as Id};
use crate::load::Read;
use crate::read::{
    AccountState, Book, Credential, CredentialListing, HistoryCursor, HistoryItem, Holding,
    InvoiceFilter, OrderFilter, ProposalFilter, RegistryFilter, StoredSigningKey, TradeFilter,
    finish_holdings,
};
use crate::rows::{
    self, AUCTION_COLUMNS, BID_COLUMNS, INVOICE_COLUMNS, JOURNAL_COLUMNS, ORDER_COLUMNS,
    PLEDGE_COLUMNS, PROPOSAL_COLUMNS, RECLAMATION_COLUMNS, SELECT_ALLOCATIONS, SELECT_HOLDS,
    SELECT_INSTRUMENTS, SELECT_PAYMENTS, StoredRow, TRADE_COLUMNS, decode_error,
};
use crate::{Store, StoreError};

const ACCOUNT_COLUMNS: &str = "owner, instrument, balance, held, version";
const PARTICIPANT_COLUMNS: &str = "id, name, credit_code, region_code, industry";
/// How long `/readyz` waits for the database.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Store {
    /// Checks that this node's writer runs and the database answers.
    ///
    /// # Errors
    /// [`StoreError::Closed`] when the writer has stopped; the database
    /// failure.
    pub async fn ready(&self) -> Result<(), StoreError> {
        if !self.writer_running() {
            return Err(StoreError::Closed);
        }
        // A load balancer asks often and wants an answer now: a database
        // that does not answer within READY_WAIT is unavailable (the pool
        // itself would keep trying to connect for its acquire timeout).
        tokio::time::timeout(
            READY_WAIT,
            self.db.first("SELECT 1 AS one", &[], |_| Ok(())),
        )
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))??;
        Ok(())
    }

    /// A participant's holdings, CNY included, now or as of an instant.
    ///
    /// # Errors
    /// The database failure.
    pub async fn holdings(
        &self,
        participant: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Holding>, StoreError> {
        let owner = participant.to_string();
        let sql = match as_of {
            None => {
                "SELECT a.instrument, a.balance, a.held, i.scale FROM accounts a \
                 LEFT JOIN instruments i ON i.code = a.instrument WHERE a.owner = $1"
            }
            Some(_) => {
                "SELECT p.instrument, p.balance_after AS balance, p.held_after AS held, \
                 (SELECT scale FROM instruments i WHERE i.code = p.instrument) AS scale \
                 FROM postings p WHERE p.owner = $1 AND p.version = (SELECT max(q.version) \
                 FROM postings q WHERE q.owner = p.owner AND q.instrument = p.instrument \
                 AND q.at <= $2::timestamptz)"
            }
        };
        let params = [Text(Some(&owner)), Time(as_of)];
        let params = if as_of.is_some() {
            &params[..]
        } else {
            &params[..1]
        };
        let holdings = self.db.all(sql, params, holding).await?;
        Ok(finish_holdings(holdings))
    }

    /// One account's state, now or as of an instant; `None` if it had no
    /// posting by then.
    ///
    /// # Errors
    /// The database failure.
    pub async fn account(
        &self,
        key: &AccountKey,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<AccountState>, StoreError> {
        let owner = key.owner.storage_key();
        let now = [Text(Some(&owner)), Text(Some(key.instrument.as_str()))];
        match as_of {
            None => {
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE owner = $1 AND instrument = $2"
                );
                self.db.first(&sql, &now, |row| rows::account(row)).await
            }
            Some(at) => {
                let sql = "SELECT owner, instrument, balance_after AS balance, \
                     held_after AS held, version FROM postings \
                     WHERE owner = $1 AND instrument = $2 AND at <= $3::timestamptz \
                     ORDER BY version DESC LIMIT 1";
                let params = [now[0], now[1], Time(Some(at))];
                self.db.first(sql, &params, |row| rows::account(row)).await
            }
        }
    }

    /// Every account's current state.
    ///
    /// # Errors
    /// The database failure.
    pub async fn accounts(&self) -> Result<Vec<AccountState>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts");
        self.db.all(&sql, &[], |row| rows::account(row)).await
    }

    /// One hold.
    ///
    /// # Errors
    /// The database failure.
    pub async fn hold(&self, id: Uuid) -> Result<Option<Hold>, StoreError> {
        let sql = format!("{SELECT_HOLDS} WHERE id = $1");
        self.db
            .first(&sql, &[Id(Some(id))], |row| rows::hold(row))
            .await
    }

    /// Every hold.
    ///
    /// # Errors
    /// The database failure.
    pub async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        self.db.all(SELECT_HOLDS, &[], |row| rows::hold(row)).await
    }

    /// One participant.
    ///
    /// # Errors
    /// The database failure.
    pub async fn participant(&self, id: Uuid) -> Result<Option<Participant>, StoreError> {
        let sql = format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE id = $1");
        let decode = |row: &dyn StoredRow| rows::participant(row);
        self.db.first(&sql, &[Id(Some(id))], decode).await
    }

    /// A page of participants after `after` (ids are time-ordered UUIDv7).
    ///
    /// # Errors
    /// The database failure.
    pub async fn participants(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Participant>, StoreError> {
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants \
             WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2"
        );
        let params = [Id(after), Integer(Some(limit))];
        self.db
            .all(&sql, &params, |row| rows::participant(row))
            .await
    }

    /// One credential, revoked or not.
    ///
    /// # Errors
    /// The database failure.
    pub async fn credential(&self, client_id: &str) -> Result<Option<Credential>, StoreError> {
        let sql = "SELECT client_id, name, role, participant_id, secret_hash, \
             revoked_at IS NOT NULL AS revoked FROM credentials WHERE client_id = $1";
        self.db
            .first(sql, &[Text(Some(client_id))], credential)
            .await
    }

    /// Credentials by client id after `after`, of `role` if given, at most
    /// `limit`; never a secret's hash.
    ///
    /// # Errors
    /// The database failure.
    pub async fn credentials(
        &self,
        role: Option<Role>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CredentialListing>, StoreError> {
        let sql = "SELECT client_id, name, role, participant_id, created_at, revoked_at \
             FROM credentials WHERE ($1::text IS NULL OR role = $1) \
             AND ($2::text IS NULL OR client_id COLLATE \"C\" > $2) \
             ORDER BY client_id COLLATE \"C\" LIMIT $3";
        let params = [
            Text(role.map(Role::as_str)),
            Text(after),
            Integer(Some(limit)),
        ];
        self.db
            .all(sql, &params, |row| {
                Ok(CredentialListing {
                    client_id: row.text("client_id")?,
                    name: row.text("name")?,
                    role: Role::parse(&row.text("role")?).map_err(|_| decode_error("role"))?,
                    participant_id: row.optional_uuid("participant_id")?,
                    created_at: row.time("created_at")?,
                    revoked_at: row.optional_time("revoked_at")?,
                })
            })
            .await
    }

    /// Journal entries after `after_seq`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn journal(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let sql =
            format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2");
        let params = [Integer(Some(after_seq)), Integer(Some(limit))];
        self.db
            .all(&sql, &params, |row| rows::journal_entry(row))
            .await
    }

    /// The recorded head of the journal.
    ///
    /// # Errors
    /// The database failure.
    pub async fn journal_head(&self) -> Result<JournalHead, StoreError> {
        let sql = "SELECT seq, hash FROM journal_head WHERE id = 1";
        let decode = |row: &dyn StoredRow| {
            Ok(JournalHead {
                seq: row.integer("seq")?,
                hash: row.text("hash")?,
            })
        };
        let head = self.db.first(sql, &[], decode).await?;
        head.ok_or(StoreError::Internal("the journal has no head row"))
    }

    /// The signing key that signs now (PKCS#8): the latest generation, if
    /// any is stored.
    ///
    /// # Errors
    /// The database failure.
    pub async fn signing_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = "SELECT pkcs8 FROM signing_keys ORDER BY id DESC LIMIT 1";
        self.db.first(sql, &[], |row| row.bytes("pkcs8")).await
    }

    /// Every stored signing key, oldest generation first: the last signs,
    /// all are published.
    ///
    /// # Errors
    /// The database failure.
    pub async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let sql = "SELECT id, kid, pkcs8, created_at FROM signing_keys ORDER BY id";
        let decode = |row: &dyn StoredRow| {
            Ok(StoredSigningKey {
                generation: row.integer("id")?,
                kid: row.text("kid")?,
                pkcs8: row.bytes("pkcs8")?,
                created_at: row.time("created_at")?,
            })
        };
        self.db.all(sql, &[], decode).await
    }

    /// One instrument (CNY is built in and always found).
    ///
    /// # Errors
    /// The database failure.
    pub async fn instrument(
        &self,
        code: &InstrumentCode,
    ) -> Result<Option<Instrument>, StoreError> {
        if code.as_str() == ets_core::instrument::CNY {
            return Ok(Some(Instrument::cny()));
        }
        let sql = format!("{SELECT_INSTRUMENTS} WHERE code = $1");
        let params = [Text(Some(code.as_str()))];
        self.db
            .first(&sql, &params, |row| rows::instrument(row))
            .await
    }

    /// A page of instruments after `after`, in code order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn instruments(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<Instrument>, StoreError> {
        let sql = format!(
            "{SELECT_INSTRUMENTS} WHERE $1::text IS NULL OR code COLLATE \"C\" > $1 \
             ORDER BY code COLLATE \"C\" LIMIT $2"
        );
        let params = [Text(after.as_deref()), Integer(Some(limit))];
        self.db
            .all(&sql, &params, |row| rows::instrument(row))
            .await
    }

    /// A page of a participant's balance movements, oldest first (holds'
    /// own postings, which move no balance, left out).
    ///
    /// # Errors
    /// The database failure.
    pub async fn history(
        &self,
        participant: Uuid,
        instrument: Option<&InstrumentCode>,
        after: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        // PostgreSQL compares amounts as numbers; SQLite keeps exact text,
        // in which a zero posting is written "0".
        let (moved, reference) = match self.db {
            crate::database::Database::Postgres(_) => ("p.amount <> 0", "t.id::text"),
            crate::database::Database::Sqlite(_) => ("p.amount NOT IN ('0', '-0')", "t.id"),
        };
        let sql = format!(
            "SELECT p.at, t.kind, p.instrument, p.amount, p.balance_after, p.version, \
             coalesce(t.reference, {reference}) AS reference \
             FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
             WHERE p.owner = $1 AND {moved} AND ($2::text IS NULL OR p.instrument = $2) \
             AND ($3::timestamptz IS NULL OR (p.at, p.instrument COLLATE \"C\", p.version) \
                 > ($3, $4 COLLATE \"C\", $5)) \
             ORDER BY p.at, p.instrument COLLATE \"C\", p.version LIMIT $6"
        );
        let owner = participant.to_string();
        let params = [
            Text(Some(&owner)),
            Text(instrument.map(InstrumentCode::as_str)),
            Time(after.map(|c| c.at)),
            Text(after.map(|c| c.instrument.as_str())),
            Integer(after.map(|c| c.version)),
            Integer(Some(limit)),
        ];
        self.db.all(&sql, &params, history_item).await
    }

    /// One order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        self.db
            .first(&sql, &[Id(Some(id))], |row| rows::order(row))
            .await
    }

    /// Orders matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders \
             WHERE ($1::uuid IS NULL OR participant_id = $1) \
             AND ($2::text IS NULL OR instrument = $2) \
             AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR id > $4) \
             ORDER BY id LIMIT $5"
        );
        let params = [
            Id(filter.participant),
            Text(filter.instrument.as_ref().map(InstrumentCode::as_str)),
            Text(filter.status.as_deref()),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        self.db.all(&sql, &params, |row| rows::order(row)).await
    }

    /// An instrument's aggregated, anonymous book, at most `depth` levels a
    /// side.
    ///
    /// # Errors
    /// The database failure.
    pub async fn book(
        &self,
        instrument: &InstrumentCode,
        depth: usize,
    ) -> Result<Book, StoreError> {
        // PostgreSQL sums each level; SQLite's exact text is summed here.
        let sql = match self.db {
            crate::database::Database::Postgres(_) => {
                "SELECT side, price, sum(quantity) AS quantity, sum(filled) AS filled FROM orders \
                 WHERE instrument = $1 AND status IN ('open', 'partially_filled') \
                 GROUP BY side, price"
            }
            crate::database::Database::Sqlite(_) => {
                "SELECT side, price, quantity, filled FROM orders \
                 WHERE instrument = $1 AND status IN ('open', 'partially_filled')"
            }
        };
        let decode = |row: &dyn StoredRow| {
            let side = Side::parse(&row.text("side")?).ok_or_else(|| decode_error("side"))?;
            let open = row.decimal("quantity")? - row.decimal("filled")?;
            Ok((side, row.decimal("price")?, open))
        };
        let levels = self
            .db
            .all(sql, &[Text(Some(instrument.as_str()))], decode)
            .await?;
        Ok(Book::from_orders(levels, depth))
    }

    /// Trades matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn trades(&self, filter: &TradeFilter) -> Result<Vec<Trade>, StoreError> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades \
             WHERE ($1::uuid IS NULL OR buyer_id = $1 OR seller_id = $1) \
             AND ($2::text IS NULL OR instrument = $2) AND ($3::text IS NULL OR method = $3) \
             AND ($4::timestamptz IS NULL OR executed_at >= $4) \
             AND ($5::timestamptz IS NULL OR executed_at < $5) \
             AND ($6::uuid IS NULL OR id > $6) ORDER BY id LIMIT $7"
        );
        let params = [
            Id(filter.participant),
            Text(filter.instrument.as_ref().map(InstrumentCode::as_str)),
            Text(filter.method.as_deref()),
            Time(filter.from),
            Time(filter.to),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        self.db.all(&sql, &params, |row| rows::trade(row)).await
    }

    /// One negotiated trade.
    ///
    /// # Errors
    /// The database failure.
    pub async fn proposal(&self, id: Uuid) -> Result<Option<Proposal>, StoreError> {
        let sql = format!("SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades WHERE id = $1");
        self.db
            .first(&sql, &[Id(Some(id))], |row| rows::proposal(row))
            .await
    }

    /// Negotiated trades matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn proposals(&self, filter: &ProposalFilter) -> Result<Vec<Proposal>, StoreError> {
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades \
             WHERE ($1::uuid IS NULL OR seller_id = $1 OR buyer_id = $1) \
             AND ($2::text IS NULL OR status = $2) \
             AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let params = [
            Id(filter.participant),
            Text(filter.status.as_deref()),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        self.db.all(&sql, &params, |row| rows::proposal(row)).await
    }

    /// One auction.
    ///
    /// # Errors
    /// The database failure.
    pub async fn auction(&self, id: Uuid) -> Result<Option<Auction>, StoreError> {
        let sql = format!("SELECT {AUCTION_COLUMNS} FROM auctions WHERE id = $1");
        self.db
            .first(&sql, &[Id(Some(id))], |row| rows::auction(row))
            .await
    }

    /// Auctions, oldest first, optionally in one status, after a cursor.
    ///
    /// # Errors
    /// The database failure.
    pub async fn auctions(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Auction>, StoreError> {
        let sql = format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE ($1::text IS NULL OR status = $1) \
             AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let params = [Text(status), Id(after), Integer(Some(limit))];
        self.db.all(&sql, &params, |row| rows::auction(row)).await
    }

    /// An auction's bids in arrival order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn bids(&self, auction: Uuid) -> Result<Vec<AuctionBid>, StoreError> {
        let sql = format!("SELECT {BID_COLUMNS} FROM bids WHERE auction_id = $1 ORDER BY seq");
        self.db
            .all(&sql, &[Id(Some(auction))], |row| rows::bid(row))
            .await
    }

    /// One pledge.
    ///
    /// # Errors
    /// The database failure.
    pub async fn pledge(&self, id: Uuid) -> Result<Option<Pledge>, StoreError> {
        let sql = format!("SELECT {PLEDGE_COLUMNS} FROM pledges WHERE id = $1");
        self.db
            .first(&sql, &[Id(Some(id))], |row| rows::pledge(row))
            .await
    }

    /// One invoice with every payment on it. (Its figures follow from its
    /// terms and the payments alone, so a payment committing between the
    /// two reads cannot make them disagree.)
    ///
    /// # Errors
    /// The database failure.
    pub async fn invoice(&self, id: Uuid) -> Result<Option<StoredInvoice>, StoreError> {
        let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
        let Some(invoice) = self
            .db
            .first(&sql, &[Id(Some(id))], |row| rows::invoice(row))
            .await?
        else {
            return Ok(None);
        };
        let sql = format!("{SELECT_PAYMENTS} WHERE p.invoice_id = $1 ORDER BY p.at, p.id");
        let payments = self
            .db
            .all(&sql, &[Id(Some(id))], |row| rows::payment(row))
            .await?;
        Ok(rows::stored_invoices(vec![invoice], payments).pop())
    }

    /// Invoices matching a filter, oldest first, each with its payments.
    ///
    /// # Errors
    /// The database failure.
    pub async fn invoices(&self, filter: &InvoiceFilter) -> Result<Vec<StoredInvoice>, StoreError> {
        let page = "FROM invoices WHERE ($1::uuid IS NULL OR participant_id = $1) \
             AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3";
        let params = [
            Id(filter.participant),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        let sql = format!("SELECT {INVOICE_COLUMNS} {page}");
        let invoices = self.db.all(&sql, &params, |row| rows::invoice(row)).await?;
        let sql = format!(
            "{SELECT_PAYMENTS} WHERE p.invoice_id IN (SELECT id {page}) ORDER BY p.at, p.id"
        );
        let payments = self.db.all(&sql, &params, |row| rows::payment(row)).await?;
        Ok(rows::stored_invoices(invoices, payments))
    }

    /// Allocations matching a filter, oldest first, each with its invoice
    /// as created (`paid` and `surcharge_paid` as they stand).
    ///
    /// # Errors
    /// The database failure.
    pub async fn allocations(
        &self,
        filter: &RegistryFilter,
    ) -> Result<Vec<Allocation>, StoreError> {
        self.registry_list(SELECT_ALLOCATIONS, filter, |row| rows::allocation(row))
            .await
    }

    /// Reclamations by id (oldest first), filtered.
    ///
    /// # Errors
    /// The database failure.
    pub async fn reclamations(
        &self,
        filter: &RegistryFilter,
    ) -> Result<Vec<Reclamation>, StoreError> {
        let select = format!("SELECT {RECLAMATION_COLUMNS} FROM reclamations a");
        self.registry_list(&select, filter, |row| rows::reclamation(row))
            .await
    }

    /// Pledges by id (oldest first), filtered.
    ///
    /// # Errors
    /// The database failure.
    pub async fn pledges(&self, filter: &RegistryFilter) -> Result<Vec<Pledge>, StoreError> {
        let select = format!("SELECT {PLEDGE_COLUMNS} FROM pledges a");
        self.registry_list(&select, filter, |row| rows::pledge(row))
            .await
    }

    /// The rows of `select` (a table aliased `a`, with `id`,
    /// `participant_id` and `instrument`) that `filter` keeps, by id.
    async fn registry_list<T>(
        &self,
        select: &str,
        filter: &RegistryFilter,
        decode: impl Fn(&dyn StoredRow) -> Read<T>,
    ) -> Result<Vec<T>, StoreError> {
        let sql = format!(
            "{select} WHERE ($1::uuid IS NULL OR a.participant_id = $1) \
             AND ($2::text IS NULL OR a.instrument = $2) AND ($3::uuid IS NULL OR a.id > $3) \
             ORDER BY a.id LIMIT $4"
        );
        let params = [
            Id(filter.participant),
            Text(filter.instrument.as_ref().map(InstrumentCode::as_str)),
            Id(filter.after),
            Integer(Some(filter.limit)),
        ];
        self.db.all(&sql, &params, decode).await
    }

    /// Open auctions whose closing time has passed by `now`.
    pub(crate) async fn auctions_due(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>, StoreError> {
        let sql = "SELECT id FROM auctions WHERE status = 'open' \
             AND closes_at <= $1::timestamptz ORDER BY id";
        self.db
            .all(sql, &[Time(Some(now))], |row| row.uuid("id"))
            .await
    }

    /// Whether any proposal is still open past its expiry at `now`.
    pub(crate) async fn proposals_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "SELECT 1 AS due FROM negotiated_trades WHERE status = 'proposed' \
             AND expires_at <= $1::timestamptz LIMIT 1";
        let due = self.db.first(sql, &[Time(Some(now))], |_| Ok(())).await?;
        Ok(due.is_some())
    }
}

/// A holding row: instrument, balance, held, and the instrument's scale
/// (none for CNY, which has no row).
fn holding(row: &dyn StoredRow) -> Result<(Holding, Option<u32>), sqlx::Error> {
    let balance = row.decimal("balance")?;
    let held = row.decimal("held")?;
    let holding = Holding {
        instrument: rows::code(row, "instrument")?,
        balance,
        held,
        available: balance - held,
    };
    let scale = row.optional_integer("scale")?;
    Ok((holding, scale.and_then(|s| u32::try_from(s).ok())))
}

fn credential(row: &dyn StoredRow) -> Result<Credential, sqlx::Error> {
    Ok(Credential {
        client_id: row.text("client_id")?,
        name: row.text("name")?,
        role: ets_core::Role::parse(&row.text("role")?).map_err(|_| decode_error("role"))?,
        participant_id: row.optional_uuid("participant_id")?,
        secret_hash: row.text("secret_hash")?,
        revoked: row.flag("revoked")?,
    })
}

fn history_item(row: &dyn StoredRow) -> Result<HistoryItem, sqlx::Error> {
    Ok(HistoryItem {
        at: row.time("at")?,
        kind: row.text("kind")?,
        instrument: rows::code(row, "instrument")?,
        quantity: row.decimal("amount")?,
        balance_after: row.decimal("balance_after")?,
        reference: row.text("reference")?,
        version: row.integer("version")?,
    })
}
