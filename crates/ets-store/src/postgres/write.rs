//! The writes of a batch on PostgreSQL. The ledger's rows (accounts,
//! transactions, postings, holds, journal and head, idempotency records,
//! orders, trades) go in one statement, one round trip whatever the batch's
//! size; the rarer rows one statement each.

use ets_core::{Posting, RegionCode};
use ets_engine::auctions::AuctionBid;
use ets_engine::batch::Changes;
use ets_engine::negotiated::Proposal;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use uuid::Uuid;

use crate::write::BatchWrites;

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// One column of rows, for binding as an array.
fn column<'a, T: 'a, U>(
    rows: impl IntoIterator<Item = &'a T>,
    value: impl Fn(&'a T) -> U,
) -> Vec<U> {
    rows.into_iter().map(value).collect()
}

impl BatchWrites for PgConnection {
    async fn registry(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let conn = self;
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
            .bind(changes.at)
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
            .bind(changes.at)
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
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        if !changes.revoked.is_empty() {
            sqlx::query("UPDATE credentials SET revoked_at = $1 WHERE client_id = ANY($2)")
                .bind(changes.at)
                .bind(&changes.revoked)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn people(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let conn = self;
        for p in &changes.people {
            sqlx::query(
                "INSERT INTO people (login, name, role, password_hash, totp_secret, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.login)
            .bind(&p.name)
            .bind(p.role.as_str())
            .bind(&p.secrets.password_hash)
            .bind(&p.secrets.totp_secret)
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        for (login, secrets) in &changes.people_reset {
            sqlx::query(
                "UPDATE people SET password_hash = $2, totp_secret = $3, totp_last_step = NULL, \
                 reset_at = $4 WHERE login = $1",
            )
            .bind(login)
            .bind(&secrets.password_hash)
            .bind(&secrets.totp_secret)
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        for login in &changes.people_disabled {
            sqlx::query("UPDATE people SET disabled_at = $2 WHERE login = $1")
                .bind(login)
                .bind(changes.at)
                .execute(&mut *conn)
                .await?;
        }
        let ended: Vec<&String> = changes
            .people_reset
            .iter()
            .map(|(login, _)| login)
            .chain(&changes.people_disabled)
            .collect();
        for login in ended {
            sqlx::query(
                "UPDATE console_sessions SET ended_at = $2 WHERE login = $1 AND ended_at IS NULL",
            )
            .bind(login)
            .bind(changes.at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn ledger(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let query = sqlx::query(PERSIST_BATCH).bind(changes.at);
        let query = bind_ledger(query, changes);
        let query = bind_journal(query, changes);
        let query = bind_orders(query, changes);
        bind_trades(query, changes).execute(self).await?;
        Ok(())
    }

    async fn allocations(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let conn = self;
        for allocation in &changes.allocations {
            if let Some(invoice) = &allocation.invoice {
                sqlx::query(
                    "INSERT INTO invoices (id, participant_id, kind, amount, paid, due_date, created_at, \
                     daily_rate, surcharge_paid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(invoice.id)
                .bind(invoice.participant_id)
                .bind(&invoice.kind)
                .bind(invoice.amount)
                .bind(invoice.paid)
                .bind(invoice.due_date)
                .bind(invoice.created_at)
                .bind(invoice.daily_rate)
                .bind(invoice.surcharge_paid)
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
        Ok(())
    }

    async fn finance(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let conn = self;
        for payment in &changes.payments {
            sqlx::query(
                "INSERT INTO invoice_payments (id, invoice_id, amount, surcharge, principal, source, \
                 reference, transaction_id, business_date, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(payment.id)
            .bind(payment.invoice_id)
            .bind(payment.amount)
            .bind(payment.surcharge)
            .bind(payment.principal)
            .bind(payment.source.as_str())
            .bind(&payment.reference)
            .bind(payment.transaction_id)
            .bind(payment.business_date)
            .bind(payment.at)
            .execute(&mut *conn)
            .await?;
        }
        for invoice in changes.invoices.values() {
            sqlx::query("UPDATE invoices SET paid = $2, surcharge_paid = $3 WHERE id = $1")
                .bind(invoice.id)
                .bind(invoice.paid)
                .bind(invoice.surcharge_paid)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn compliance(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        for emission in &changes.emissions {
            if let Some(replaced) = emission.replaces {
                sqlx::query("UPDATE emissions SET replaced_by = $2 WHERE id = $1")
                    .bind(replaced)
                    .bind(emission.id)
                    .execute(&mut *self)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO emissions (id, participant_id, period, kind, pollutant, quantity, \
                 recorded_at, replaces) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(emission.id)
            .bind(emission.participant_id)
            .bind(emission.period.to_string())
            .bind(emission.kind.as_str())
            .bind(&emission.pollutant)
            .bind(emission.quantity)
            .bind(emission.recorded_at)
            .bind(emission.replaces)
            .execute(&mut *self)
            .await?;
        }
        for surrender in &changes.surrenders {
            sqlx::query(
                "INSERT INTO surrenders (id, participant_id, instrument, kind, quantity, period, \
                 transaction_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(surrender.id)
            .bind(surrender.participant_id)
            .bind(surrender.instrument.as_str())
            .bind(surrender.kind.as_str())
            .bind(surrender.quantity)
            .bind(surrender.period.to_string())
            .bind(surrender.transaction_id)
            .bind(surrender.at)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }

    async fn market(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        write_reclamations(self, changes).await?;
        write_pledges(self, changes).await?;
        write_auctions(self, changes).await?;
        write_bids(self, changes).await?;
        write_proposals(self, changes).await
    }

    async fn signing_keys(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let conn = self;
        for installed in &changes.signing_keys {
            let key = &installed.key;
            sqlx::query(
                "INSERT INTO signing_keys (id, kid, pkcs8, public_key, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(installed.generation)
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

/// Reclamations, one insert each: a reclamation is written once and never
/// changed.
async fn write_reclamations(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
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
    Ok(())
}

/// Pledges placed or released, one upsert each: a release changes the status
/// of a pledge already stored.
async fn write_pledges(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
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
    Ok(())
}

/// Auctions opened or closed, one upsert each: closing sets the status, the
/// clearing price and the sold quantity of an auction already stored.
async fn write_auctions(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
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
    Ok(())
}

/// Bids placed or awarded, in one statement over arrays whatever their number
/// (closing an auction awards all its bids at once).
async fn write_bids(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
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
    Ok(())
}

/// Negotiated trades proposed or resolved, in one statement over arrays.
async fn write_proposals(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
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

/// Accounts ($2–$6), transactions ($7–$10) and postings ($11–$19).
fn bind_ledger<'q>(query: PgQuery<'q>, changes: &'q Changes) -> PgQuery<'q> {
    let accounts = &changes.accounts;
    let transactions = &changes.transactions;
    let mut postings = PostingColumns::default();
    for transaction in transactions {
        for posting in &transaction.postings {
            postings.push(transaction.id, posting);
        }
    }
    query
        .bind(column(accounts, |a| a.key.owner.storage_key()))
        .bind(column(accounts, |a| a.key.instrument.as_str()))
        .bind(column(accounts, |a| a.balance))
        .bind(column(accounts, |a| a.held))
        .bind(column(accounts, |a| a.version))
        .bind(column(transactions, |t| t.id))
        .bind(column(transactions, |t| t.kind.as_str()))
        .bind(column(transactions, |t| t.journal_seq))
        .bind(column(transactions, |t| t.reference.as_deref()))
        .bind(postings.owners)
        .bind(postings.instruments)
        .bind(postings.versions)
        .bind(postings.transactions)
        .bind(postings.amounts)
        .bind(postings.held_changes)
        .bind(postings.balances_after)
        .bind(postings.helds_after)
        .bind(postings.holds)
}

/// Holds ($20–$27), journal entries ($28–$35), the head ($36–$37) and
/// idempotency records ($38–$41).
fn bind_journal<'q>(query: PgQuery<'q>, changes: &'q Changes) -> PgQuery<'q> {
    let holds = &changes.holds;
    let journal = &changes.journal;
    let idempotency = &changes.idempotency;
    query
        .bind(column(holds, |h| h.id))
        .bind(column(holds, |h| h.account.owner.storage_key()))
        .bind(column(holds, |h| h.account.instrument.as_str()))
        .bind(column(holds, |h| h.purpose.as_str()))
        .bind(column(holds, |h| h.amount))
        .bind(column(holds, |h| h.remaining))
        .bind(column(holds, |h| h.settled))
        .bind(column(holds, |h| h.status.as_str()))
        .bind(column(journal, |e| e.seq))
        .bind(column(journal, |e| e.at))
        .bind(column(journal, |e| e.actor.client_id.as_str()))
        .bind(column(journal, |e| e.actor.role.as_str()))
        .bind(column(journal, |e| e.kind.as_str()))
        .bind(column(journal, |e| {
            ets_core::journal::canonical_json(&e.payload)
        }))
        .bind(column(journal, |e| e.prev_hash.as_str()))
        .bind(column(journal, |e| e.hash.as_str()))
        .bind(changes.head.seq)
        .bind(changes.head.hash.as_str())
        .bind(column(idempotency, |(k, _)| k.scope.as_str()))
        .bind(column(idempotency, |(k, _)| k.key.as_str()))
        .bind(column(idempotency, |(k, _)| k.fingerprint.as_str()))
        .bind(column(idempotency, |(_, o)| o.as_str()))
}

/// Orders placed or changed ($42–$56).
fn bind_orders<'q>(query: PgQuery<'q>, changes: &'q Changes) -> PgQuery<'q> {
    let orders = || changes.orders.values();
    query
        .bind(column(orders(), |o| o.id))
        .bind(column(orders(), |o| o.participant_id))
        .bind(column(orders(), |o| o.instrument.as_str()))
        .bind(column(orders(), |o| o.side.as_str()))
        .bind(column(orders(), |o| o.price))
        .bind(column(orders(), |o| o.quantity))
        .bind(column(orders(), |o| o.filled))
        .bind(column(orders(), |o| o.hold_amount))
        .bind(column(orders(), |o| o.money.exact_value))
        .bind(column(orders(), |o| o.money.value))
        .bind(column(orders(), |o| o.money.commission))
        .bind(column(orders(), |o| o.status.as_str()))
        .bind(column(orders(), |o| o.seq))
        .bind(column(orders(), |o| o.created_at))
        .bind(column(orders(), |o| o.updated_at))
}

/// Trades ($57–$71).
fn bind_trades<'q>(query: PgQuery<'q>, changes: &'q Changes) -> PgQuery<'q> {
    let trades = &changes.trades;
    query
        .bind(column(trades, |t| t.id))
        .bind(column(trades, |t| t.instrument.as_str()))
        .bind(column(trades, |t| t.method.as_str()))
        .bind(column(trades, |t| t.quantity))
        .bind(column(trades, |t| t.price))
        .bind(column(trades, |t| t.value))
        .bind(column(trades, |t| t.buyer_id))
        .bind(column(trades, |t| t.seller_id))
        .bind(column(trades, |t| t.buy_order_id))
        .bind(column(trades, |t| t.sell_order_id))
        .bind(column(trades, |t| t.buyer_commission))
        .bind(column(trades, |t| t.seller_commission))
        .bind(column(trades, |t| t.executed_at))
        .bind(column(trades, |t| t.business_date))
        .bind(column(trades, |t| t.transaction_id))
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
    fn push(&mut self, transaction: Uuid, posting: &Posting) {
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
