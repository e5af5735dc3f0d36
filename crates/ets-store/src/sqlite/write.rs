//! The writes of a batch on SQLite, and its `COMMIT`, sent to SQLite's
//! thread as one script ([`Script`]). The ledger's rows go in one multi-row
//! statement a table, their values bound; the rarer rows one statement
//! each. Decimals are written as their exact text.

use ets_core::RegionCode;
use ets_core::journal::format_time;
use ets_engine::batch::Changes;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, SqliteConnection};

use super::price_ticks;
use crate::rows::decode_error;
use crate::write::BatchWrites;

impl BatchWrites for Script {
    async fn registry(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let at = format_time(changes.at);
        for p in &changes.participants {
            self.statement(
                "INSERT INTO participants (id, name, credit_code, region_code, industry, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    json!(p.id),
                    json!(p.name),
                    json!(p.credit_code.as_str()),
                    json!(p.region_code.as_str()),
                    json!(p.industry),
                    json!(at),
                ],
            )?;
        }
        for i in &changes.instruments {
            self.statement(
                "INSERT INTO instruments (code, kind, pollutant, unit, scale, region_code, vintage, valid_from, \
                 valid_to, commission_rate, price_band, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    json!(i.code.as_str()),
                    json!(i.kind.as_str()),
                    json!(i.pollutant),
                    json!(i.unit),
                    json!(i64::from(i.scale)),
                    json!(i.region_code.as_ref().map(RegionCode::as_str)),
                    json!(i.vintage),
                    json!(i.valid_from.map(|d| d.to_string())),
                    json!(i.valid_to.map(|d| d.to_string())),
                    json!(i.commission_rate.to_string()),
                    json!(i.price_band.map(|b| b.to_string())),
                    json!(at),
                ],
            )?;
        }
        for c in &changes.credentials {
            self.statement(
                "INSERT INTO credentials (client_id, name, role, participant_id, secret_hash, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    json!(c.client_id),
                    json!(c.name),
                    json!(c.role.as_str()),
                    json!(c.participant_id),
                    json!(c.secret_hash),
                    json!(at),
                ],
            )?;
        }
        for client_id in &changes.revoked {
            self.statement(
                "UPDATE credentials SET revoked_at = ? WHERE client_id = ?",
                vec![json!(at), json!(client_id)],
            )?;
        }
        Ok(())
    }

    async fn people(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let at = format_time(changes.at);
        for p in &changes.people {
            self.statement(
                "INSERT INTO people (login, name, role, password_hash, totp_secret, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    json!(p.login),
                    json!(p.name),
                    json!(p.role.as_str()),
                    json!(p.secrets.password_hash),
                    json!(p.secrets.totp_secret),
                    json!(at),
                ],
            )?;
        }
        for (login, secrets) in &changes.people_reset {
            self.statement(
                "UPDATE people SET password_hash = ?, totp_secret = ?, totp_last_step = NULL, \
                 reset_at = ? WHERE login = ?",
                vec![
                    json!(secrets.password_hash),
                    json!(secrets.totp_secret),
                    json!(at),
                    json!(login),
                ],
            )?;
        }
        for login in &changes.people_disabled {
            self.statement(
                "UPDATE people SET disabled_at = ? WHERE login = ?",
                vec![json!(at), json!(login)],
            )?;
        }
        let ended = changes
            .people_reset
            .iter()
            .map(|(login, _)| login)
            .chain(&changes.people_disabled);
        for login in ended {
            self.statement(
                "UPDATE console_sessions SET ended_at = ? WHERE login = ? AND ended_at IS NULL",
                vec![json!(at), json!(login)],
            )?;
        }
        Ok(())
    }

    async fn ledger(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        write_postings(self, changes)?;
        write_journal(self, changes)?;
        write_orders_and_trades(self, changes)
    }

    async fn allocations(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let at = format_time(changes.at);
        for allocation in &changes.allocations {
            if let Some(invoice) = &allocation.invoice {
                self.statement(
                    "INSERT INTO invoices (id, participant_id, kind, amount, paid, due_date, created_at, \
                     daily_rate, surcharge_paid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        json!(invoice.id),
                        json!(invoice.participant_id),
                        json!(invoice.kind),
                        json!(invoice.amount.to_string()),
                        json!(invoice.paid.to_string()),
                        json!(invoice.due_date.to_string()),
                        json!(format_time(invoice.created_at)),
                        json!(invoice.daily_rate.to_string()),
                        json!(invoice.surcharge_paid.to_string()),
                    ],
                )?;
            }
            self.statement(
                "INSERT INTO allocations (id, participant_id, instrument, quantity, method, unit_fee, years, \
                 transaction_id, invoice_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    json!(allocation.id),
                    json!(allocation.participant_id),
                    json!(allocation.instrument.as_str()),
                    json!(allocation.quantity.to_string()),
                    json!(allocation.method),
                    json!(allocation.unit_fee.map(|f| f.to_string())),
                    json!(allocation.years.map(i64::from)),
                    json!(allocation.transaction_id),
                    json!(allocation.invoice.as_ref().map(|i| i.id)),
                    json!(at),
                ],
            )?;
        }
        Ok(())
    }

    async fn finance(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let payments = changes.payments.iter().map(|p| {
            json!([
                p.id,
                p.invoice_id,
                p.amount.to_string(),
                p.surcharge.to_string(),
                p.principal.to_string(),
                p.source.as_str(),
                p.reference,
                p.transaction_id,
                p.business_date.to_string(),
                format_time(p.at),
            ])
        });
        let columns = [
            "id",
            "invoice_id",
            "amount",
            "surcharge",
            "principal",
            "source",
            "reference",
            "transaction_id",
            "business_date",
            "at",
        ];
        self.insert("invoice_payments", &columns, payments.collect(), "")?;
        for invoice in changes.invoices.values() {
            self.statement(
                "UPDATE invoices SET paid = ?, surcharge_paid = ? WHERE id = ?",
                vec![
                    json!(invoice.paid.to_string()),
                    json!(invoice.surcharge_paid.to_string()),
                    json!(invoice.id),
                ],
            )?;
        }
        Ok(())
    }

    async fn compliance(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        for emission in &changes.emissions {
            if let Some(replaced) = emission.replaces {
                self.statement(
                    "UPDATE emissions SET replaced_by = ? WHERE id = ?",
                    vec![json!(emission.id), json!(replaced)],
                )?;
            }
            self.statement(
                "INSERT INTO emissions (id, participant_id, period, kind, pollutant, quantity, \
                 recorded_at, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    json!(emission.id),
                    json!(emission.participant_id),
                    json!(emission.period.to_string()),
                    json!(emission.kind.as_str()),
                    json!(emission.pollutant),
                    json!(emission.quantity.to_string()),
                    json!(format_time(emission.recorded_at)),
                    json!(emission.replaces),
                ],
            )?;
        }
        let surrenders = changes.surrenders.iter().map(|s| {
            json!([
                s.id,
                s.participant_id,
                s.instrument.as_str(),
                s.kind.as_str(),
                s.quantity.to_string(),
                s.period.to_string(),
                s.transaction_id,
                format_time(s.at),
            ])
        });
        let columns = [
            "id",
            "participant_id",
            "instrument",
            "kind",
            "quantity",
            "period",
            "transaction_id",
            "at",
        ];
        self.insert("surrenders", &columns, surrenders.collect(), "")
    }

    async fn market(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        write_authority(self, changes)?;
        write_auctions_and_proposals(self, changes)
    }

    async fn signing_keys(&mut self, changes: &Changes) -> Result<(), sqlx::Error> {
        let at = format_time(changes.at);
        for installed in &changes.signing_keys {
            let key = &installed.key;
            self.statement(
                "INSERT INTO signing_keys (id, kid, created_at, pkcs8, public_key) VALUES (?, ?, ?, ?, ?)",
                vec![json!(installed.generation), json!(key.kid), json!(at)],
            )?;
            self.blob(&key.pkcs8, "signing_keys")?;
            self.blob(&key.public_key, "signing_keys")?;
        }
        Ok(())
    }
}

/// Statements sent to SQLite's thread as one script: sqlx runs every
/// statement of a query string on the connection's worker thread in one
/// exchange, taking the bound values in order. A batch's writes, a dozen
/// statements, and its `COMMIT` so cost one wait for that thread instead of
/// one each (each wait is a hop between threads, on a machine whose cores
/// are busy serving requests).
#[derive(Default)]
pub(super) struct Script {
    sql: String,
    args: SqliteArguments<'static>,
}

impl Script {
    /// Adds `INSERT INTO {table} ({columns}) VALUES (?, …), (?, …) …
    /// {upsert}` for `rows` (each a JSON array of the columns' values, in
    /// order: text, integers and nulls), as many rows a statement as
    /// SQLite's limit of bound values allows; nothing for no rows.
    fn insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: Vec<Value>,
        upsert: &str,
    ) -> Result<(), sqlx::Error> {
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        let per_statement = (MAX_BOUND_VALUES / columns.len()).max(1);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Value> = rows.by_ref().take(per_statement).collect();
            self.sql.push_str(&format!(
                "INSERT INTO {table} ({}) VALUES {} {upsert};\n",
                columns.join(", "),
                vec![row.as_str(); chunk.len()].join(", "),
            ));
            for row in chunk {
                // A row of another width would shift every value bound after
                // it, in this statement and the script's next ones.
                let Value::Array(cells) = row else {
                    return Err(decode_error(table));
                };
                if cells.len() != columns.len() {
                    return Err(decode_error(table));
                }
                for cell in cells {
                    self.bind(cell, table)?;
                }
            }
        }
        Ok(())
    }

    /// Adds one statement whose `?` placeholders take `values` in order.
    fn statement(&mut self, sql: &str, values: Vec<Value>) -> Result<(), sqlx::Error> {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        for value in values {
            self.bind(value, sql)?;
        }
        Ok(())
    }

    /// Binds the next value: text, an integer or null.
    fn bind(&mut self, value: Value, what: &str) -> Result<(), sqlx::Error> {
        let added = match value {
            Value::Null => self.args.add(None::<String>),
            Value::String(text) => self.args.add(text),
            Value::Number(n) => self.args.add(n.as_i64().ok_or_else(|| decode_error(what))?),
            _ => return Err(decode_error(what)),
        };
        added.map_err(|_| decode_error(what))
    }

    /// Binds the next value: bytes.
    fn blob(&mut self, bytes: &[u8], what: &str) -> Result<(), sqlx::Error> {
        self.args
            .add(bytes.to_vec())
            .map_err(|_| decode_error(what))
    }

    /// Runs every statement added, in order, then `COMMIT`, in one exchange
    /// with SQLite's thread. The first failure stops it, leaving the
    /// transaction open (the caller discards the connection, which rolls it
    /// back).
    pub(super) async fn run_and_commit(
        mut self,
        conn: &mut SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        self.sql.push_str("COMMIT;\n");
        sqlx::query_with(&self.sql, self.args)
            .persistent(false)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// SQLite's default limit of bound values in one statement
/// (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_BOUND_VALUES: usize = 32_766;

/// Accounts, ledger transactions and their postings.
fn write_postings(script: &mut Script, changes: &Changes) -> Result<(), sqlx::Error> {
    let at = format_time(changes.at);
    let accounts = changes.accounts.iter().map(|a| {
        let key = &a.key;
        json!([
            key.owner.storage_key(),
            key.instrument,
            a.balance.to_string(),
            a.held.to_string(),
            a.version
        ])
    });
    script.insert(
        "accounts",
        &["owner", "instrument", "balance", "held", "version"],
        accounts.collect(),
        "ON CONFLICT (owner, instrument) DO UPDATE \
         SET balance = excluded.balance, held = excluded.held, version = excluded.version",
    )?;
    let transactions = changes
        .transactions
        .iter()
        .map(|t| json!([t.id, t.kind, at, t.journal_seq, t.reference]));
    script.insert(
        "ledger_transactions",
        &["id", "kind", "at", "journal_seq", "reference"],
        transactions.collect(),
        "",
    )?;
    let mut postings = Vec::new();
    for t in &changes.transactions {
        for p in &t.postings {
            postings.push(json!([
                p.account.owner.storage_key(),
                p.account.instrument,
                p.version,
                t.id,
                at,
                // Zero (hold postings) is always written as "0", which history filters out.
                if p.amount.is_zero() {
                    "0".to_owned()
                } else {
                    p.amount.to_string()
                },
                p.held_change.to_string(),
                p.balance_after.to_string(),
                p.held_after.to_string(),
                p.hold,
            ]));
        }
    }
    let columns = [
        "owner",
        "instrument",
        "version",
        "transaction_id",
        "at",
        "amount",
        "held_change",
        "balance_after",
        "held_after",
        "hold_id",
    ];
    script.insert("postings", &columns, postings, "")
}

/// Holds, journal entries and the head, idempotency records.
fn write_journal(script: &mut Script, changes: &Changes) -> Result<(), sqlx::Error> {
    let at = format_time(changes.at);
    let holds = changes.holds.iter().map(|h| {
        json!([
            h.id,
            h.account.owner.storage_key(),
            h.account.instrument,
            h.purpose.as_str(),
            h.amount.to_string(),
            h.remaining.to_string(),
            h.settled.to_string(),
            h.status.as_str(),
        ])
    });
    let columns = [
        "id",
        "owner",
        "instrument",
        "purpose",
        "amount",
        "remaining",
        "settled",
        "status",
    ];
    let upsert = "ON CONFLICT (id) DO UPDATE \
         SET remaining = excluded.remaining, settled = excluded.settled, status = excluded.status";
    script.insert("holds", &columns, holds.collect(), upsert)?;
    let journal = changes.journal.iter().map(|e| {
        json!([
            e.seq,
            format_time(e.at),
            e.actor.client_id,
            e.actor.role,
            e.kind,
            ets_core::journal::canonical_json(&e.payload),
            e.prev_hash,
            e.hash,
        ])
    });
    let columns = [
        "seq",
        "at",
        "actor_client_id",
        "actor_role",
        "kind",
        "payload",
        "prev_hash",
        "hash",
    ];
    script.insert("journal", &columns, journal.collect(), "")?;
    if !changes.journal.is_empty() {
        script.statement(
            "UPDATE journal_head SET seq = ?, hash = ?, at = ? WHERE id = 1",
            vec![json!(changes.head.seq), json!(changes.head.hash), json!(at)],
        )?;
    }
    let keys = changes
        .idempotency
        .iter()
        .map(|(key, outcome)| json!([key.scope, key.key, key.fingerprint, outcome, at]));
    let columns = ["scope", "key", "fingerprint", "outcome", "created_at"];
    script.insert("idempotency_keys", &columns, keys.collect(), "")
}

/// Orders placed or changed, and trades.
fn write_orders_and_trades(script: &mut Script, changes: &Changes) -> Result<(), sqlx::Error> {
    let mut orders = Vec::with_capacity(changes.orders.len());
    for o in changes.orders.values() {
        orders.push(json!([
            o.id,
            o.participant_id,
            o.instrument,
            o.side.as_str(),
            o.price.to_string(),
            price_ticks(o.price)?,
            o.quantity.to_string(),
            o.filled.to_string(),
            o.hold_amount.to_string(),
            o.money.exact_value.to_string(),
            o.money.value.to_string(),
            o.money.commission.to_string(),
            o.status.as_str(),
            o.seq,
            format_time(o.created_at),
            format_time(o.updated_at),
        ]));
    }
    let columns = [
        "id",
        "participant_id",
        "instrument",
        "side",
        "price",
        "price_ticks",
        "quantity",
        "filled",
        "hold_amount",
        "exact_value",
        "value",
        "commission",
        "status",
        "seq",
        "created_at",
        "updated_at",
    ];
    let upsert = "ON CONFLICT (id) DO UPDATE SET filled = excluded.filled, \
         exact_value = excluded.exact_value, value = excluded.value, \
         commission = excluded.commission, status = excluded.status, \
         updated_at = excluded.updated_at";
    script.insert("orders", &columns, orders, upsert)?;
    let trades = changes.trades.iter().map(|t| {
        json!([
            t.id,
            t.instrument,
            t.method.as_str(),
            t.quantity.to_string(),
            t.price.to_string(),
            t.value.to_string(),
            t.buyer_id,
            t.seller_id,
            t.buy_order_id,
            t.sell_order_id,
            t.buyer_commission.to_string(),
            t.seller_commission.to_string(),
            format_time(t.executed_at),
            t.business_date.to_string(),
            t.transaction_id,
        ])
    });
    let columns = [
        "id",
        "instrument",
        "method",
        "quantity",
        "price",
        "value",
        "buyer_id",
        "seller_id",
        "buy_order_id",
        "sell_order_id",
        "buyer_commission",
        "seller_commission",
        "executed_at",
        "business_date",
        "transaction_id",
    ];
    script.insert("trades", &columns, trades.collect(), "")
}

/// Reclamations and pledges.
fn write_authority(script: &mut Script, changes: &Changes) -> Result<(), sqlx::Error> {
    for r in &changes.reclamations {
        script.statement(
            "INSERT INTO reclamations (id, participant_id, instrument, quantity, reason, compensation, \
                 transaction_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                json!(r.id),
                json!(r.participant_id),
                json!(r.instrument.as_str()),
                json!(r.quantity.to_string()),
                json!(r.reason),
                json!(r.compensation.to_string()),
                json!(r.transaction_id),
                json!(format_time(r.created_at)),
            ],
        )?;
    }
    for p in changes.pledges.values() {
        script.statement(
            "INSERT INTO pledges (id, participant_id, instrument, quantity, pledgee, reference, status, \
                 created_at, released_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, released_at = excluded.released_at",
            vec![
                json!(p.id),
                json!(p.participant_id),
                json!(p.instrument.as_str()),
                json!(p.quantity.to_string()),
                json!(p.pledgee),
                json!(p.reference),
                json!(p.status),
                json!(format_time(p.created_at)),
                json!(p.released_at.map(format_time)),
            ],
        )?;
    }
    Ok(())
}

/// Auctions, bids and negotiated trades.
fn write_auctions_and_proposals(script: &mut Script, changes: &Changes) -> Result<(), sqlx::Error> {
    for a in changes.auctions.values() {
        script.statement(
            "INSERT INTO auctions (id, instrument, quantity, reserve_price, source, lot_size, max_bidder_share, \
                 closes_at, status, clearing_price, sold_quantity, created_at, closed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, clearing_price = excluded.clearing_price, \
                 sold_quantity = excluded.sold_quantity, closed_at = excluded.closed_at",
            vec![
                json!(a.id),
                json!(a.instrument.as_str()),
                json!(a.quantity.to_string()),
                json!(a.reserve_price.to_string()),
                json!(a.source.as_str()),
                json!(a.lot_size.map(|d| d.to_string())),
                json!(a.max_bidder_share.map(|d| d.to_string())),
                json!(a.closes_at.map(format_time)),
                json!(a.status.as_str()),
                json!(a.clearing_price.map(|d| d.to_string())),
                json!(a.sold_quantity.map(|d| d.to_string())),
                json!(format_time(a.created_at)),
                json!(a.closed_at.map(format_time)),
            ],
        )?;
    }
    for b in changes.bids.values() {
        script.statement(
            "INSERT INTO bids (id, auction_id, participant_id, quantity, price, seq, awarded, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET awarded = excluded.awarded",
            vec![
                json!(b.id),
                json!(b.auction_id),
                json!(b.participant_id),
                json!(b.quantity.to_string()),
                json!(b.price.to_string()),
                json!(b.seq),
                json!(b.awarded.map(|d| d.to_string())),
                json!(format_time(b.created_at)),
            ],
        )?;
    }
    for p in changes.proposals.values() {
        script.statement(
            "INSERT INTO negotiated_trades (id, seller_id, buyer_id, instrument, quantity, price, status, \
                 expires_at, trade_id, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, trade_id = excluded.trade_id, \
                 updated_at = excluded.updated_at",
            vec![
                json!(p.id),
                json!(p.seller_id),
                json!(p.buyer_id),
                json!(p.instrument.as_str()),
                json!(p.quantity.to_string()),
                json!(p.price.to_string()),
                json!(p.status.as_str()),
                json!(format_time(p.expires_at)),
                json!(p.trade_id),
                json!(format_time(p.created_at)),
                json!(format_time(p.updated_at)),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_binds_each_rows_values_in_order_and_refuses_a_row_of_another_width() {
        let mut script = Script::default();
        let rows = vec![json!(["a", 1, null]), json!(["b", 2, "x"])];
        script
            .insert("t", &["name", "n", "note"], rows, "")
            .expect("rows of the table's width");
        assert_eq!(
            script.sql,
            "INSERT INTO t (name, n, note) VALUES (?, ?, ?), (?, ?, ?) ;\n"
        );
        assert_eq!(script.args.len(), 6);

        let short = vec![json!(["c", 3])];
        assert!(
            script
                .insert("t", &["name", "n", "note"], short, "")
                .is_err()
        );
    }
}
