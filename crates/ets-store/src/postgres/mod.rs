//! The PostgreSQL backend: production, and any number of server nodes on one
//! database. No authoritative state lives in process memory; every write
//! locks the journal head row first, so writers of all nodes are ordered and
//! READ COMMITTED reads after that lock see every earlier commit. What the
//! writer remembers between batches ([`WorkingSetCache`]) is used only while
//! the locked head is the one its own last commit left.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ets_core::{
    AccountKey, CreditCode, Hold, Instrument, InstrumentCode, JournalEntry, JournalHead,
    Participant, RegionCode, Role,
};
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Executor, PgConnection, Row};
use uuid::Uuid;

use crate::load::WriterMemory;
use crate::read::{
    AccountState, Book, Credential, HistoryCursor, HistoryItem, Holding, OrderFilter,
    ProposalFilter, TradeFilter,
};
use crate::writer::WriteBackend;
use crate::writer::batch::Head;
use crate::{Backend, StoreError};
use ets_core::matching::Side;
use ets_engine::auctions::{Auction, AuctionBid};
use ets_engine::authority::Pledge;
use ets_engine::batch::Changes;
use ets_engine::command::{CommandError, Committed, Request};
use ets_engine::market::{Order, Trade};
use ets_engine::negotiated::Proposal;

mod load;

use crate::rows::{
    self, AUCTION_COLUMNS, BID_COLUMNS, JOURNAL_COLUMNS, ORDER_COLUMNS, PLEDGE_COLUMNS,
    PROPOSAL_COLUMNS, SELECT_INSTRUMENTS, TRADE_COLUMNS, decode_error,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// The writer's memory between batches.
    memory: Arc<WriterMemory>,
}

impl PostgresBackend {
    /// Connects a pool to `url`.
    ///
    /// # Errors
    /// The connection failure.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("ets-ledger");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            memory: Arc::default(),
        })
    }

    /// The pool, for tests and tools that inspect the database directly.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies `batch` as one transaction on the locked path, as the writer
    /// does with requests that arrive together (for tests and tools; the
    /// server writes through [`crate::Store::submit`]).
    ///
    /// # Errors
    /// The database failure (nothing written).
    pub async fn execute(
        &self,
        batch: &[Request],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<Committed, CommandError>>, StoreError> {
        crate::writer::batch::execute(self, batch, now, crate::entropy()).await
    }

    async fn persist_market(
        &self,
        conn: &mut PgConnection,
        changes: &Changes,
    ) -> Result<(), sqlx::Error> {
        for r in &changes.reclamations {
            sqlx::query(
                "INSERT INTO reclamations (id, participant_id, instrument, quantity, reason, compensation, \
                     transaction_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.id)
            .bind(r.participant_id)
            .bind(r.instrument.as_str())
            .bind(r.quantity)
            .bind(&r.reason)
            .bind(r.compensation)
            .bind(r.transaction_id)
            .bind(r.created_at)
            .execute(&mut *conn)
            .await?;
        }
        for p in changes.pledges.values() {
            sqlx::query(
                "INSERT INTO pledges (id, participant_id, instrument, quantity, pledgee, reference, status, \
                     created_at, released_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, released_at = excluded.released_at",
            )
            .bind(p.id)
            .bind(p.participant_id)
            .bind(p.instrument.as_str())
            .bind(p.quantity)
            .bind(&p.pledgee)
            .bind(&p.reference)
            .bind(&p.status)
            .bind(p.created_at)
            .bind(p.released_at)
            .execute(&mut *conn)
            .await?;
        }
        for a in changes.auctions.values() {
            sqlx::query(
                "INSERT INTO auctions (id, instrument, quantity, reserve_price, source, lot_size, max_bidder_share, \
                     closes_at, status, clearing_price, sold_quantity, created_at, closed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, clearing_price = excluded.clearing_price, \
                     sold_quantity = excluded.sold_quantity, closed_at = excluded.closed_at",
            )
            .bind(a.id)
            .bind(a.instrument.as_str())
            .bind(a.quantity)
            .bind(a.reserve_price)
            .bind(a.source.as_str())
            .bind(a.lot_size)
            .bind(a.max_bidder_share)
            .bind(a.closes_at)
            .bind(a.status.as_str())
            .bind(a.clearing_price)
            .bind(a.sold_quantity)
            .bind(a.created_at)
            .bind(a.closed_at)
            .execute(&mut *conn)
            .await?;
        }
        if !changes.bids.is_empty() {
            let bids: Vec<&AuctionBid> = changes.bids.values().collect();
            sqlx::query(
                "INSERT INTO bids (id, auction_id, participant_id, quantity, price, seq, awarded, created_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::numeric[], \
                     $6::bigint[], $7::numeric[], $8::timestamptz[]) \
                 ON CONFLICT (id) DO UPDATE SET awarded = excluded.awarded",
            )
            .bind(bids.iter().map(|b| b.id).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.auction_id).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.participant_id).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.quantity).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.price).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.seq).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.awarded).collect::<Vec<_>>())
            .bind(bids.iter().map(|b| b.created_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        // The trades were written by PERSIST_BATCH, before this: a settled
        // proposal refers to its trade.
        if !changes.proposals.is_empty() {
            let proposals: Vec<&Proposal> = changes.proposals.values().collect();
            sqlx::query(
                "INSERT INTO negotiated_trades (id, seller_id, buyer_id, instrument, quantity, price, status, \
                     expires_at, trade_id, created_at, updated_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], \
                     $6::numeric[], $7::text[], $8::timestamptz[], $9::uuid[], $10::timestamptz[], \
                     $11::timestamptz[]) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, trade_id = excluded.trade_id, \
                     updated_at = excluded.updated_at",
            )
            .bind(proposals.iter().map(|p| p.id).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.seller_id).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.buyer_id).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.instrument.as_str()).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.quantity).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.price).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.status.as_str()).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.expires_at).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.trade_id).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.created_at).collect::<Vec<_>>())
            .bind(proposals.iter().map(|p| p.updated_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

impl PostgresBackend {
    async fn write_batch(
        &self,
        conn: &mut PgConnection,
        changes: &Changes,
    ) -> Result<(), sqlx::Error> {
        let at = changes.at;
        for p in &changes.participants {
            sqlx::query(
                "INSERT INTO participants (id, name, credit_code, region_code, industry, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(p.id)
            .bind(&p.name)
            .bind(p.credit_code.as_str())
            .bind(p.region_code.as_str())
            .bind(&p.industry)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        for i in &changes.instruments {
            sqlx::query(
                "INSERT INTO instruments (code, kind, pollutant, unit, scale, region_code, vintage, valid_from, \
                 valid_to, commission_rate, price_band, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(i.code.as_str())
            .bind(i.kind.as_str())
            .bind(&i.pollutant)
            .bind(&i.unit)
            .bind(i.scale as i32)
            .bind(i.region_code.as_ref().map(RegionCode::as_str))
            .bind(i.vintage)
            .bind(i.valid_from)
            .bind(i.valid_to)
            .bind(i.commission_rate)
            .bind(i.price_band)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        for c in &changes.credentials {
            sqlx::query(
                "INSERT INTO credentials (client_id, name, role, participant_id, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(c.role.as_str())
            .bind(c.participant_id)
            .bind(&c.secret_hash)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        if !changes.revoked.is_empty() {
            sqlx::query("UPDATE credentials SET revoked_at = $1 WHERE client_id = ANY($2)")
                .bind(at)
                .bind(&changes.revoked)
                .execute(&mut *conn)
                .await?;
        }
        let accounts = &changes.accounts;
        let transactions = &changes.transactions;
        let holds = &changes.holds;
        let journal = &changes.journal;
        let idempotency = &changes.idempotency;
        let mut postings = PostingColumns::default();
        for transaction in transactions {
            for posting in &transaction.postings {
                postings.push(transaction.id, posting);
            }
        }
        // One statement writes the whole batch: one round trip, whatever its size.
        let query = sqlx::query(PERSIST_BATCH)
            .bind(changes.at)
            .bind(
                accounts
                    .iter()
                    .map(|a| a.key.owner.storage_key())
                    .collect::<Vec<_>>(),
            )
            .bind(
                accounts
                    .iter()
                    .map(|a| a.key.instrument.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(accounts.iter().map(|a| a.balance).collect::<Vec<_>>())
            .bind(accounts.iter().map(|a| a.held).collect::<Vec<_>>())
            .bind(accounts.iter().map(|a| a.version).collect::<Vec<_>>())
            .bind(transactions.iter().map(|t| t.id).collect::<Vec<_>>())
            .bind(
                transactions
                    .iter()
                    .map(|t| t.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                transactions
                    .iter()
                    .map(|t| t.journal_seq)
                    .collect::<Vec<_>>(),
            )
            .bind(
                transactions
                    .iter()
                    .map(|t| t.reference.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(&postings.owners)
            .bind(&postings.instruments)
            .bind(&postings.versions)
            .bind(&postings.transactions)
            .bind(&postings.amounts)
            .bind(&postings.held_changes)
            .bind(&postings.balances_after)
            .bind(&postings.helds_after)
            .bind(&postings.holds)
            .bind(holds.iter().map(|h| h.id).collect::<Vec<_>>())
            .bind(
                holds
                    .iter()
                    .map(|h| h.account.owner.storage_key())
                    .collect::<Vec<_>>(),
            )
            .bind(
                holds
                    .iter()
                    .map(|h| h.account.instrument.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(holds.iter().map(|h| h.purpose.as_str()).collect::<Vec<_>>())
            .bind(holds.iter().map(|h| h.amount).collect::<Vec<_>>())
            .bind(holds.iter().map(|h| h.remaining).collect::<Vec<_>>())
            .bind(holds.iter().map(|h| h.settled).collect::<Vec<_>>())
            .bind(holds.iter().map(|h| h.status.as_str()).collect::<Vec<_>>())
            .bind(journal.iter().map(|e| e.seq).collect::<Vec<_>>())
            .bind(journal.iter().map(|e| e.at).collect::<Vec<DateTime<Utc>>>())
            .bind(
                journal
                    .iter()
                    .map(|e| e.actor.client_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                journal
                    .iter()
                    .map(|e| e.actor.role.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(journal.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(
                journal
                    .iter()
                    .map(|e| ets_core::journal::canonical_json(&e.payload))
                    .collect::<Vec<_>>(),
            )
            .bind(
                journal
                    .iter()
                    .map(|e| e.prev_hash.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(journal.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>())
            .bind(changes.head.seq)
            .bind(&changes.head.hash)
            .bind(
                idempotency
                    .iter()
                    .map(|(k, _)| k.scope.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                idempotency
                    .iter()
                    .map(|(k, _)| k.key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                idempotency
                    .iter()
                    .map(|(k, _)| k.fingerprint.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                idempotency
                    .iter()
                    .map(|(_, o)| o.as_str())
                    .collect::<Vec<_>>(),
            );
        let orders: Vec<&Order> = changes.orders.values().collect();
        let trades = &changes.trades;
        query
            .bind(orders.iter().map(|o| o.id).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.participant_id).collect::<Vec<_>>())
            .bind(
                orders
                    .iter()
                    .map(|o| o.instrument.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(orders.iter().map(|o| o.side.as_str()).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.price).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.quantity).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.filled).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.hold_amount).collect::<Vec<_>>())
            .bind(
                orders
                    .iter()
                    .map(|o| o.money.exact_value)
                    .collect::<Vec<_>>(),
            )
            .bind(orders.iter().map(|o| o.money.value).collect::<Vec<_>>())
            .bind(
                orders
                    .iter()
                    .map(|o| o.money.commission)
                    .collect::<Vec<_>>(),
            )
            .bind(orders.iter().map(|o| o.status.as_str()).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.seq).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.created_at).collect::<Vec<_>>())
            .bind(orders.iter().map(|o| o.updated_at).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.id).collect::<Vec<_>>())
            .bind(
                trades
                    .iter()
                    .map(|t| t.instrument.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(trades.iter().map(|t| t.method.as_str()).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.quantity).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.price).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.value).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.buyer_id).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.seller_id).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.buy_order_id).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.sell_order_id).collect::<Vec<_>>())
            .bind(
                trades
                    .iter()
                    .map(|t| t.buyer_commission)
                    .collect::<Vec<_>>(),
            )
            .bind(
                trades
                    .iter()
                    .map(|t| t.seller_commission)
                    .collect::<Vec<_>>(),
            )
            .bind(trades.iter().map(|t| t.executed_at).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.business_date).collect::<Vec<_>>())
            .bind(trades.iter().map(|t| t.transaction_id).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        for allocation in &changes.allocations {
            if let Some(invoice) = &allocation.invoice {
                sqlx::query(
                    "INSERT INTO invoices (id, participant_id, kind, amount, paid, due_date, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(invoice.id)
                .bind(invoice.participant_id)
                .bind(&invoice.kind)
                .bind(invoice.amount)
                .bind(invoice.paid)
                .bind(invoice.due_date)
                .bind(invoice.created_at)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO allocations (id, participant_id, instrument, quantity, method, unit_fee, years, \
                 transaction_id, invoice_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(allocation.id)
            .bind(allocation.participant_id)
            .bind(allocation.instrument.as_str())
            .bind(allocation.quantity)
            .bind(&allocation.method)
            .bind(allocation.unit_fee)
            .bind(allocation.years.and_then(|y| i32::try_from(y).ok()))
            .bind(allocation.transaction_id)
            .bind(allocation.invoice.as_ref().map(|i| i.id))
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        self.persist_market(conn, changes).await?;
        for key in &changes.signing_keys {
            sqlx::query(
                "INSERT INTO signing_keys (id, kid, pkcs8, public_key, created_at) VALUES (1, $1, $2, $3, $4)",
            )
            .bind(&key.kid)
            .bind(&key.pkcs8)
            .bind(&key.public_key)
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// Writes a batch's accounts, transactions, postings, holds, journal entries,
/// head, idempotency records, orders and trades in one statement. Data-modifying CTEs run
/// with one snapshot. Postings and trades name the transactions written
/// beside them, so no foreign key checks them (migration 0004).
const PERSIST_BATCH: &str = "\
WITH accounts_written AS (
    INSERT INTO accounts (owner, instrument, balance, held, version)
    SELECT * FROM UNNEST($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[])
    ON CONFLICT (owner, instrument) DO UPDATE
    SET balance = excluded.balance, held = excluded.held, version = excluded.version
), transactions_written AS (
    INSERT INTO ledger_transactions (id, kind, at, journal_seq, reference)
    SELECT id, kind, $1, seq, reference
    FROM UNNEST($7::uuid[], $8::text[], $9::bigint[], $10::text[]) AS t(id, kind, seq, reference)
), postings_written AS (
    INSERT INTO postings (owner, instrument, version, transaction_id, at, amount, held_change,
                          balance_after, held_after, hold_id)
    SELECT owner, instrument, version, transaction_id, $1, amount, held_change, balance_after,
           held_after, hold_id
    FROM UNNEST($11::text[], $12::text[], $13::bigint[], $14::uuid[], $15::numeric[],
                $16::numeric[], $17::numeric[], $18::numeric[], $19::uuid[])
         AS p(owner, instrument, version, transaction_id, amount, held_change, balance_after,
              held_after, hold_id)
), holds_written AS (
    INSERT INTO holds (id, owner, instrument, purpose, amount, remaining, settled, status)
    SELECT * FROM UNNEST($20::uuid[], $21::text[], $22::text[], $23::text[], $24::numeric[],
                         $25::numeric[], $26::numeric[], $27::text[])
    ON CONFLICT (id) DO UPDATE
    SET remaining = excluded.remaining, settled = excluded.settled, status = excluded.status
), journal_written AS (
    INSERT INTO journal (seq, at, actor_client_id, actor_role, kind, payload, prev_hash, hash)
    SELECT * FROM UNNEST($28::bigint[], $29::timestamptz[], $30::text[], $31::text[], $32::text[],
                         $33::text[], $34::text[], $35::text[])
), head_written AS (
    UPDATE journal_head SET seq = $36, hash = $37, at = $1 WHERE id = 1
), orders_written AS (
    INSERT INTO orders (id, participant_id, instrument, side, price, quantity, filled, hold_amount,
                        exact_value, value, commission, status, seq, created_at, updated_at)
    SELECT * FROM UNNEST($42::uuid[], $43::uuid[], $44::text[], $45::text[], $46::numeric[],
                         $47::numeric[], $48::numeric[], $49::numeric[], $50::numeric[],
                         $51::numeric[], $52::numeric[], $53::text[], $54::bigint[],
                         $55::timestamptz[], $56::timestamptz[])
    ON CONFLICT (id) DO UPDATE
    SET filled = excluded.filled, exact_value = excluded.exact_value, value = excluded.value,
        commission = excluded.commission, status = excluded.status, updated_at = excluded.updated_at
), trades_written AS (
    INSERT INTO trades (id, instrument, method, quantity, price, value, buyer_id, seller_id,
                        buy_order_id, sell_order_id, buyer_commission, seller_commission,
                        executed_at, business_date, transaction_id)
    SELECT * FROM UNNEST($57::uuid[], $58::text[], $59::text[], $60::numeric[], $61::numeric[],
                         $62::numeric[], $63::uuid[], $64::uuid[], $65::uuid[], $66::uuid[],
                         $67::numeric[], $68::numeric[], $69::timestamptz[], $70::date[],
                         $71::uuid[])
)
INSERT INTO idempotency_keys (scope, key, fingerprint, outcome, created_at)
SELECT scope, key, fingerprint, outcome, $1
FROM UNNEST($38::text[], $39::text[], $40::text[], $41::text[]) AS i(scope, key, fingerprint, outcome)";

#[derive(Default)]
struct PostingColumns {
    owners: Vec<String>,
    instruments: Vec<String>,
    versions: Vec<i64>,
    transactions: Vec<Uuid>,
    amounts: Vec<Decimal>,
    held_changes: Vec<Decimal>,
    balances_after: Vec<Decimal>,
    helds_after: Vec<Decimal>,
    holds: Vec<Option<Uuid>>,
}

impl PostingColumns {
    fn push(&mut self, transaction: Uuid, posting: &ets_core::Posting) {
        self.owners.push(posting.account.owner.storage_key());
        self.instruments
            .push(posting.account.instrument.as_str().to_owned());
        self.versions.push(posting.version);
        self.transactions.push(transaction);
        self.amounts.push(posting.amount);
        self.held_changes.push(posting.held_change);
        self.balances_after.push(posting.balance_after);
        self.helds_after.push(posting.held_after);
        self.holds.push(posting.hold);
    }
}

impl WriteBackend for PostgresBackend {
    type Conn = PoolConnection<Postgres>;
    type Tx = PgConnection;

    fn memory(&self) -> &WriterMemory {
        &self.memory
    }

    async fn connect(&self) -> Result<Self::Conn, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn head(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        let row = conn
            .fetch_one("SELECT seq, hash, at FROM journal_head WHERE id = 1")
            .await?;
        head_of(&row)
    }

    async fn begin_locked(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        // `BEGIN` and the journal head lock, in one round trip.
        let row = conn
            .fetch_one("BEGIN; SELECT seq, hash, at FROM journal_head WHERE id = 1 FOR UPDATE")
            .await?;
        head_of(&row)
    }

    async fn persist(&self, conn: &mut Self::Conn, changes: &Changes) -> Result<(), sqlx::Error> {
        self.write_batch(conn, changes).await
    }

    async fn end(&self, conn: &mut Self::Conn, commit: bool) -> Result<(), sqlx::Error> {
        conn.execute(if commit { "COMMIT" } else { "ROLLBACK" })
            .await
            .map(|_| ())
    }

    fn discard(conn: &mut Self::Conn) {
        conn.close_on_drop();
    }

    async fn committed(&self, head: &JournalHead) -> Result<bool, sqlx::Error> {
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM journal WHERE seq = $1")
            .bind(head.seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(hash.as_deref() == Some(head.hash.as_str()))
    }

    fn is_transient(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                // serialization_failure, deadlock_detected
                Some("40001" | "40P01")
            ),
            // The connection dropped before COMMIT: nothing was written.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
            _ => false,
        }
    }
}

fn head_of(row: &PgRow) -> Result<Head, sqlx::Error> {
    let head = JournalHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    };
    Ok((head, row.try_get("at")?))
}

impl Backend for PostgresBackend {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn holdings(
        &self,
        participant: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Holding>, StoreError> {
        let owner = participant.to_string();
        let rows = match as_of {
            None => {
                sqlx::query(
                    "SELECT a.instrument, a.balance, a.held, i.scale FROM accounts a \
                     LEFT JOIN instruments i ON i.code = a.instrument WHERE a.owner = $1",
                )
                .bind(&owner)
                .fetch_all(&self.pool)
                .await?
            }
            Some(at) => {
                sqlx::query(
                    "SELECT p.*, i.scale FROM (SELECT DISTINCT ON (instrument) instrument, \
                     balance_after AS balance, held_after AS held FROM postings \
                     WHERE owner = $1 AND at <= $2 ORDER BY instrument, version DESC) p \
                     LEFT JOIN instruments i ON i.code = p.instrument",
                )
                .bind(&owner)
                .bind(at)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let holdings = rows
            .iter()
            .map(|row| {
                let balance: Decimal = row.get("balance");
                let held: Decimal = row.get("held");
                let scale: Option<i32> = row.get("scale");
                let holding = Holding {
                    instrument: rows::code(row, "instrument")?,
                    balance,
                    held,
                    available: balance - held,
                };
                Ok((holding, scale.and_then(|s| u32::try_from(s).ok())))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(crate::read::finish_holdings(holdings))
    }

    async fn account(
        &self,
        key: &AccountKey,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<AccountState>, StoreError> {
        let row = match as_of {
            None => {
                sqlx::query(
                    "SELECT owner, instrument, balance, held, version FROM accounts WHERE owner = $1 AND instrument = $2",
                )
                .bind(key.owner.storage_key())
                .bind(key.instrument.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
            Some(at) => {
                sqlx::query(
                    "SELECT owner, instrument, balance_after AS balance, held_after AS held, version FROM postings \
                     WHERE owner = $1 AND instrument = $2 AND at <= $3 ORDER BY version DESC LIMIT 1",
                )
                .bind(key.owner.storage_key())
                .bind(key.instrument.as_str())
                .bind(at)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        Ok(row.as_ref().map(rows::account).transpose()?)
    }

    async fn accounts(&self) -> Result<Vec<AccountState>, StoreError> {
        let rows = sqlx::query("SELECT owner, instrument, balance, held, version FROM accounts")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::account).collect::<Result<_, _>>()?)
    }

    async fn hold(&self, id: Uuid) -> Result<Option<Hold>, StoreError> {
        let row = sqlx::query(
            "SELECT id, owner, instrument, purpose, amount, remaining, settled, status FROM holds WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::hold).transpose()?)
    }

    async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, owner, instrument, purpose, amount, remaining, settled, status FROM holds",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::hold).collect::<Result<_, _>>()?)
    }

    async fn participant(&self, id: Uuid) -> Result<Option<Participant>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, credit_code, region_code, industry FROM participants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Participant {
            id: row.get("id"),
            name: row.get("name"),
            credit_code: CreditCode::parse(row.get("credit_code"))
                .map_err(|_| decode_error("credit code"))?,
            region_code: RegionCode::parse(row.get("region_code"))
                .map_err(|_| decode_error("region code"))?,
            industry: row.get("industry"),
        }))
    }

    async fn credential(&self, client_id: &str) -> Result<Option<Credential>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, name, role, participant_id, secret_hash, revoked_at IS NOT NULL AS revoked \
             FROM credentials WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Credential {
            client_id: row.get("client_id"),
            name: row.get("name"),
            role: Role::parse(row.get("role")).map_err(|_| decode_error("role"))?,
            participant_id: row.get("participant_id"),
            secret_hash: row.get("secret_hash"),
            revoked: row.get("revoked"),
        }))
    }

    async fn journal(&self, after_seq: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::journal_entry)
            .collect::<Result<_, _>>()?)
    }

    async fn journal_head(&self) -> Result<JournalHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash, at FROM journal_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(head_of(&row)?.0)
    }

    async fn signing_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT pkcs8 FROM signing_keys WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("pkcs8")))
    }

    async fn participants(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Participant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, credit_code, region_code, industry FROM participants \
             WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::participant)
            .collect::<Result<_, _>>()?)
    }

    async fn instrument(&self, code: &InstrumentCode) -> Result<Option<Instrument>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_INSTRUMENTS} WHERE code = $1"))
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::instrument).transpose()?)
    }

    async fn instruments(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<Instrument>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_INSTRUMENTS} WHERE $1::text IS NULL OR code COLLATE \"C\" > $1 ORDER BY code COLLATE \"C\" LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::instrument)
            .collect::<Result<_, _>>()?)
    }

    async fn history(
        &self,
        participant: Uuid,
        instrument: Option<&InstrumentCode>,
        after: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.at, t.kind, p.instrument, p.amount, p.balance_after, p.version, \
             coalesce(t.reference, t.id::text) AS reference \
             FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
             WHERE p.owner = $1 AND p.amount <> 0 AND ($2::text IS NULL OR p.instrument = $2) \
             AND ($3::timestamptz IS NULL OR (p.at, p.instrument COLLATE \"C\", p.version) > ($3, $4 COLLATE \"C\", $5)) \
             ORDER BY p.at, p.instrument COLLATE \"C\", p.version LIMIT $6",
        )
        .bind(participant.to_string())
        .bind(instrument.map(InstrumentCode::as_str))
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| c.instrument.as_str()))
        .bind(after.map(|c| c.version))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryItem {
                    at: row.get("at"),
                    kind: row.get("kind"),
                    instrument: rows::code(row, "instrument")?,
                    quantity: row.get("amount"),
                    balance_after: row.get("balance_after"),
                    reference: row.get("reference"),
                    version: row.get("version"),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::order).transpose()?)
    }

    async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders \
             WHERE ($1::uuid IS NULL OR participant_id = $1) AND ($2::text IS NULL OR instrument = $2) \
             AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR id > $4) \
             ORDER BY id LIMIT $5"
        ))
        .bind(filter.participant)
        .bind(filter.instrument.as_ref().map(InstrumentCode::as_str))
        .bind(filter.status.as_deref())
        .bind(filter.after)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::order).collect::<Result<_, _>>()?)
    }

    async fn book(&self, instrument: &InstrumentCode, depth: usize) -> Result<Book, StoreError> {
        let rows = sqlx::query(
            "SELECT side, price, sum(quantity - filled) AS quantity FROM orders \
             WHERE instrument = $1 AND status IN ('open', 'partially_filled') GROUP BY side, price",
        )
        .bind(instrument.as_str())
        .fetch_all(&self.pool)
        .await?;
        let levels = rows
            .iter()
            .map(|row| {
                let side = Side::parse(row.try_get("side")?).ok_or_else(|| decode_error("side"))?;
                Ok((side, row.try_get("price")?, row.try_get("quantity")?))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Book::from_orders(levels, depth))
    }

    async fn trades(&self, filter: &TradeFilter) -> Result<Vec<Trade>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TRADE_COLUMNS} FROM trades \
             WHERE ($1::uuid IS NULL OR buyer_id = $1 OR seller_id = $1) \
             AND ($2::text IS NULL OR instrument = $2) AND ($3::text IS NULL OR method = $3) \
             AND ($4::timestamptz IS NULL OR executed_at >= $4) \
             AND ($5::timestamptz IS NULL OR executed_at < $5) \
             AND ($6::uuid IS NULL OR id > $6) ORDER BY id LIMIT $7"
        ))
        .bind(filter.participant)
        .bind(filter.instrument.as_ref().map(InstrumentCode::as_str))
        .bind(filter.method.as_deref())
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.after)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::trade).collect::<Result<_, _>>()?)
    }

    async fn proposal(&self, id: Uuid) -> Result<Option<Proposal>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::proposal).transpose()?)
    }

    async fn proposals(&self, filter: &ProposalFilter) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades \
             WHERE ($1::uuid IS NULL OR seller_id = $1 OR buyer_id = $1) AND ($2::text IS NULL OR status = $2) \
             AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
        ))
        .bind(filter.participant)
        .bind(filter.status.as_deref())
        .bind(filter.after)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::proposal).collect::<Result<_, _>>()?)
    }

    async fn auction(&self, id: Uuid) -> Result<Option<Auction>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::auction).transpose()?)
    }

    async fn auctions(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Auction>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE ($1::text IS NULL OR status = $1) \
             AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(status)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::auction).collect::<Result<_, _>>()?)
    }

    async fn bids(&self, auction: Uuid) -> Result<Vec<AuctionBid>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE auction_id = $1 ORDER BY seq"
        ))
        .bind(auction)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::bid).collect::<Result<_, _>>()?)
    }

    async fn pledge(&self, id: Uuid) -> Result<Option<Pledge>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PLEDGE_COLUMNS} FROM pledges WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::pledge).transpose()?)
    }

    async fn auctions_due(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM auctions WHERE status = 'open' AND closes_at <= $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn proposals_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM negotiated_trades WHERE status = 'proposed' AND expires_at <= $1 LIMIT 1")
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
