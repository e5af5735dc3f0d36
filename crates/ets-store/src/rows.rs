//! Each table's columns, named once, and each record decoded from a row
//! once for both backends. PostgreSQL stores native types (numeric, uuid,
//! timestamptz, date); SQLite stores exact text; [`StoredRow`] reads
//! either as the domain's types, so a decoder here serves both.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::matching::{OrderMoney, Side};
use ets_core::{
    AccountKey, Actor, CreditCode, Hold, HoldPurpose, HoldStatus, Instrument, InstrumentCode,
    InstrumentKind, JournalEntry, Owner, Participant, RegionCode,
};
use ets_engine::auctions::{Auction, AuctionBid, AuctionStatus, Source};
use ets_engine::authority::{Pledge, Reclamation};
use ets_engine::command::{Allocation, Invoice};
use ets_engine::compliance::{Emission, Period, PollutantHolding};
use ets_engine::finance::{Payment, StoredInvoice};
use ets_engine::market::{Order, OrderStatus, Trade, TradeMethod};
use ets_engine::negotiated::{Proposal, ProposalStatus};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::load::Read;
use crate::read::AccountState;

pub(crate) const ORDER_COLUMNS: &str = "id, participant_id, instrument, side, price, quantity, \
     filled, hold_amount, exact_value, value, commission, status, seq, created_at, updated_at";
pub(crate) const TRADE_COLUMNS: &str = "id, instrument, method, quantity, price, value, buyer_id, \
     seller_id, buy_order_id, sell_order_id, buyer_commission, seller_commission, executed_at, \
     business_date, transaction_id";
pub(crate) const PLEDGE_COLUMNS: &str = "id, participant_id, instrument, quantity, pledgee, \
     reference, status, created_at, released_at";
pub(crate) const RECLAMATION_COLUMNS: &str = "id, participant_id, instrument, quantity, reason, \
     compensation, transaction_id, created_at";
pub(crate) const AUCTION_COLUMNS: &str = "id, instrument, quantity, reserve_price, source, \
     lot_size, max_bidder_share, closes_at, status, clearing_price, sold_quantity, created_at, \
     closed_at";
pub(crate) const BID_COLUMNS: &str =
    "id, auction_id, participant_id, quantity, price, seq, awarded, created_at";
pub(crate) const PROPOSAL_COLUMNS: &str = "id, seller_id, buyer_id, instrument, quantity, price, \
     status, expires_at, trade_id, created_at, updated_at";
pub(crate) const SELECT_INSTRUMENTS: &str = "SELECT code, kind, pollutant, unit, scale, \
     region_code, vintage, valid_from, valid_to, commission_rate, price_band FROM instruments";
pub(crate) const SELECT_HOLDS: &str =
    "SELECT id, owner, instrument, purpose, amount, remaining, settled, status FROM holds";
pub(crate) const INVOICE_COLUMNS: &str = "id, participant_id, kind, amount, paid, due_date, \
     created_at, daily_rate, surcharge_paid";
/// Payments with their invoice's participant; a `WHERE` on `p.` follows.
pub(crate) const SELECT_PAYMENTS: &str = "SELECT p.id, p.invoice_id, i.participant_id, p.amount, \
     p.surcharge, p.principal, p.source, p.reference, p.transaction_id, p.business_date, p.at \
     FROM invoice_payments p JOIN invoices i ON i.id = p.invoice_id";
pub(crate) const EMISSION_COLUMNS: &str =
    "id, participant_id, period, kind, pollutant, quantity, recorded_at, replaces";
/// Participants' holdings of pollutant rights with the rights' validity
/// ([`pollutant_holding`]); a `WHERE` on `a.` or `i.` may follow.
pub(crate) const SELECT_POLLUTANT_HOLDINGS: &str = "SELECT a.owner, i.pollutant, i.valid_from, \
     i.valid_to, a.balance FROM accounts a JOIN instruments i ON i.code = a.instrument \
     WHERE i.kind = 'pollutant_right' AND a.owner NOT LIKE 'system:%'";
pub(crate) const JOURNAL_COLUMNS: &str =
    "seq, at, actor_client_id, actor_role, kind, payload, prev_hash, hash";

/// A stored value that does not decode: the database holds what the ledger
/// never writes.
pub(crate) fn decode_error(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

/// A row of either backend, read by column name as the domain's types.
pub(crate) trait StoredRow {
    fn text(&self, column: &str) -> Read<String>;
    fn optional_text(&self, column: &str) -> Read<Option<String>>;
    fn integer(&self, column: &str) -> Read<i64>;
    fn optional_integer(&self, column: &str) -> Read<Option<i64>>;
    fn decimal(&self, column: &str) -> Read<Decimal>;
    fn optional_decimal(&self, column: &str) -> Read<Option<Decimal>>;
    fn uuid(&self, column: &str) -> Read<Uuid>;
    fn optional_uuid(&self, column: &str) -> Read<Option<Uuid>>;
    fn time(&self, column: &str) -> Read<DateTime<Utc>>;
    fn optional_time(&self, column: &str) -> Read<Option<DateTime<Utc>>>;
    fn date(&self, column: &str) -> Read<NaiveDate>;
    fn optional_date(&self, column: &str) -> Read<Option<NaiveDate>>;
    fn flag(&self, column: &str) -> Read<bool>;
    fn bytes(&self, column: &str) -> Read<Vec<u8>>;
}

impl StoredRow for PgRow {
    fn text(&self, column: &str) -> Read<String> {
        self.try_get(column)
    }
    fn optional_text(&self, column: &str) -> Read<Option<String>> {
        self.try_get(column)
    }
    fn integer(&self, column: &str) -> Read<i64> {
        // bigint, or integer for small counts (scale, years, vintage).
        self.try_get(column)
            .or_else(|_| self.try_get::<i32, _>(column).map(i64::from))
    }
    fn optional_integer(&self, column: &str) -> Read<Option<i64>> {
        self.try_get(column).or_else(|_| {
            self.try_get::<Option<i32>, _>(column)
                .map(|v| v.map(i64::from))
        })
    }
    fn decimal(&self, column: &str) -> Read<Decimal> {
        self.try_get(column)
    }
    fn optional_decimal(&self, column: &str) -> Read<Option<Decimal>> {
        self.try_get(column)
    }
    fn uuid(&self, column: &str) -> Read<Uuid> {
        self.try_get(column)
    }
    fn optional_uuid(&self, column: &str) -> Read<Option<Uuid>> {
        self.try_get(column)
    }
    fn time(&self, column: &str) -> Read<DateTime<Utc>> {
        self.try_get(column)
    }
    fn optional_time(&self, column: &str) -> Read<Option<DateTime<Utc>>> {
        self.try_get(column)
    }
    fn date(&self, column: &str) -> Read<NaiveDate> {
        self.try_get(column)
    }
    fn optional_date(&self, column: &str) -> Read<Option<NaiveDate>> {
        self.try_get(column)
    }
    fn flag(&self, column: &str) -> Read<bool> {
        self.try_get(column)
    }
    fn bytes(&self, column: &str) -> Read<Vec<u8>> {
        self.try_get(column)
    }
}

impl StoredRow for SqliteRow {
    fn text(&self, column: &str) -> Read<String> {
        self.try_get(column)
    }
    fn optional_text(&self, column: &str) -> Read<Option<String>> {
        self.try_get(column)
    }
    fn integer(&self, column: &str) -> Read<i64> {
        self.try_get(column)
    }
    fn optional_integer(&self, column: &str) -> Read<Option<i64>> {
        self.try_get(column)
    }
    fn decimal(&self, column: &str) -> Read<Decimal> {
        parsed(&self.text(column)?, column)
    }
    fn optional_decimal(&self, column: &str) -> Read<Option<Decimal>> {
        self.optional_text(column)?
            .map(|text| parsed(&text, column))
            .transpose()
    }
    fn uuid(&self, column: &str) -> Read<Uuid> {
        parsed(&self.text(column)?, column)
    }
    fn optional_uuid(&self, column: &str) -> Read<Option<Uuid>> {
        self.optional_text(column)?
            .map(|text| parsed(&text, column))
            .transpose()
    }
    fn time(&self, column: &str) -> Read<DateTime<Utc>> {
        parse_time(&self.text(column)?)
    }
    fn optional_time(&self, column: &str) -> Read<Option<DateTime<Utc>>> {
        self.optional_text(column)?
            .map(|text| parse_time(&text))
            .transpose()
    }
    fn date(&self, column: &str) -> Read<NaiveDate> {
        parsed(&self.text(column)?, column)
    }
    fn optional_date(&self, column: &str) -> Read<Option<NaiveDate>> {
        self.optional_text(column)?
            .map(|text| parsed(&text, column))
            .transpose()
    }
    fn flag(&self, column: &str) -> Read<bool> {
        self.try_get(column)
    }
    fn bytes(&self, column: &str) -> Read<Vec<u8>> {
        self.try_get(column)
    }
}

fn parsed<T: FromStr>(text: &str, column: &str) -> Read<T> {
    T::from_str(text).map_err(|_| decode_error(column))
}

/// An RFC 3339 time as SQLite stores it.
pub(crate) fn parse_time(text: &str) -> Read<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| decode_error("time"))
}

/// An instrument code column.
pub(crate) fn code(row: &(impl StoredRow + ?Sized), column: &str) -> Read<InstrumentCode> {
    InstrumentCode::parse(&row.text(column)?).map_err(|_| decode_error("instrument code"))
}

fn owner(row: &(impl StoredRow + ?Sized)) -> Read<Owner> {
    Owner::from_storage_key(&row.text("owner")?).ok_or_else(|| decode_error("owner"))
}

fn account_key(row: &(impl StoredRow + ?Sized)) -> Read<AccountKey> {
    Ok(AccountKey::new(owner(row)?, code(row, "instrument")?))
}

/// An `accounts` row (owner, instrument, balance, held, version).
pub(crate) fn account(row: &(impl StoredRow + ?Sized)) -> Read<AccountState> {
    Ok(AccountState {
        key: account_key(row)?,
        balance: row.decimal("balance")?,
        held: row.decimal("held")?,
        version: row.integer("version")?,
    })
}

/// A `holds` row ([`SELECT_HOLDS`]).
pub(crate) fn hold(row: &(impl StoredRow + ?Sized)) -> Read<Hold> {
    Ok(Hold {
        id: row.uuid("id")?,
        account: account_key(row)?,
        purpose: HoldPurpose::parse(&row.text("purpose")?)
            .ok_or_else(|| decode_error("hold purpose"))?,
        amount: row.decimal("amount")?,
        remaining: row.decimal("remaining")?,
        settled: row.decimal("settled")?,
        status: HoldStatus::parse(&row.text("status")?)
            .ok_or_else(|| decode_error("hold status"))?,
    })
}

/// An `orders` row ([`ORDER_COLUMNS`]).
pub(crate) fn order(row: &(impl StoredRow + ?Sized)) -> Read<Order> {
    Ok(Order {
        id: row.uuid("id")?,
        participant_id: row.uuid("participant_id")?,
        instrument: code(row, "instrument")?,
        side: Side::parse(&row.text("side")?).ok_or_else(|| decode_error("side"))?,
        price: row.decimal("price")?,
        quantity: row.decimal("quantity")?,
        filled: row.decimal("filled")?,
        hold_amount: row.decimal("hold_amount")?,
        money: OrderMoney {
            exact_value: row.decimal("exact_value")?,
            value: row.decimal("value")?,
            commission: row.decimal("commission")?,
        },
        status: OrderStatus::parse(&row.text("status")?)
            .ok_or_else(|| decode_error("order status"))?,
        seq: row.integer("seq")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// A `trades` row ([`TRADE_COLUMNS`]).
pub(crate) fn trade(row: &(impl StoredRow + ?Sized)) -> Read<Trade> {
    Ok(Trade {
        id: row.uuid("id")?,
        instrument: code(row, "instrument")?,
        method: TradeMethod::parse(&row.text("method")?)
            .ok_or_else(|| decode_error("trade method"))?,
        quantity: row.decimal("quantity")?,
        price: row.decimal("price")?,
        value: row.decimal("value")?,
        buyer_id: row.uuid("buyer_id")?,
        seller_id: row.optional_uuid("seller_id")?,
        buy_order_id: row.optional_uuid("buy_order_id")?,
        sell_order_id: row.optional_uuid("sell_order_id")?,
        buyer_commission: row.decimal("buyer_commission")?,
        seller_commission: row.decimal("seller_commission")?,
        executed_at: row.time("executed_at")?,
        business_date: row.date("business_date")?,
        transaction_id: row.uuid("transaction_id")?,
    })
}

/// A `pledges` row ([`PLEDGE_COLUMNS`]).
pub(crate) fn pledge(row: &(impl StoredRow + ?Sized)) -> Read<Pledge> {
    Ok(Pledge {
        id: row.uuid("id")?,
        participant_id: row.uuid("participant_id")?,
        instrument: code(row, "instrument")?,
        quantity: row.decimal("quantity")?,
        pledgee: row.text("pledgee")?,
        reference: row.text("reference")?,
        status: row.text("status")?,
        created_at: row.time("created_at")?,
        released_at: row.optional_time("released_at")?,
    })
}

/// A `reclamations` row ([`RECLAMATION_COLUMNS`]).
pub(crate) fn reclamation(row: &(impl StoredRow + ?Sized)) -> Read<Reclamation> {
    Ok(Reclamation {
        id: row.uuid("id")?,
        participant_id: row.uuid("participant_id")?,
        instrument: code(row, "instrument")?,
        quantity: row.decimal("quantity")?,
        reason: row.text("reason")?,
        compensation: row.decimal("compensation")?,
        transaction_id: row.uuid("transaction_id")?,
        created_at: row.time("created_at")?,
    })
}

/// Allocations with their invoices' columns (prefixed `i_`); a `WHERE` on
/// `a.` follows.
pub(crate) const SELECT_ALLOCATIONS: &str = "SELECT a.id, a.participant_id, a.instrument, \
     a.quantity, a.method, a.unit_fee, a.years, a.transaction_id, i.id AS i_id, i.kind AS i_kind, \
     i.amount AS i_amount, i.paid AS i_paid, i.due_date AS i_due_date, \
     i.created_at AS i_created_at, i.daily_rate AS i_daily_rate, \
     i.surcharge_paid AS i_surcharge_paid \
     FROM allocations a LEFT JOIN invoices i ON i.id = a.invoice_id";

/// An allocation with its invoice ([`SELECT_ALLOCATIONS`]).
pub(crate) fn allocation(row: &(impl StoredRow + ?Sized)) -> Read<Allocation> {
    let participant_id = row.uuid("participant_id")?;
    let invoice = match row.optional_uuid("i_id")? {
        None => None,
        Some(id) => Some(Invoice {
            id,
            participant_id,
            kind: row.text("i_kind")?,
            amount: row.decimal("i_amount")?,
            paid: row.decimal("i_paid")?,
            due_date: row.date("i_due_date")?,
            created_at: row.time("i_created_at")?,
            daily_rate: row.decimal("i_daily_rate")?,
            surcharge_paid: row.decimal("i_surcharge_paid")?,
        }),
    };
    Ok(Allocation {
        id: row.uuid("id")?,
        participant_id,
        instrument: code(row, "instrument")?,
        quantity: row.decimal("quantity")?,
        method: row.text("method")?,
        unit_fee: row.optional_decimal("unit_fee")?,
        years: row
            .optional_integer("years")?
            .map(|years| u32::try_from(years).map_err(|_| decode_error("years")))
            .transpose()?,
        transaction_id: row.uuid("transaction_id")?,
        invoice,
    })
}

/// An `invoices` row ([`INVOICE_COLUMNS`]).
pub(crate) fn invoice(row: &(impl StoredRow + ?Sized)) -> Read<Invoice> {
    Ok(Invoice {
        id: row.uuid("id")?,
        participant_id: row.uuid("participant_id")?,
        kind: row.text("kind")?,
        amount: row.decimal("amount")?,
        paid: row.decimal("paid")?,
        due_date: row.date("due_date")?,
        created_at: row.time("created_at")?,
        daily_rate: row.decimal("daily_rate")?,
        surcharge_paid: row.decimal("surcharge_paid")?,
    })
}

/// A payment ([`SELECT_PAYMENTS`]).
pub(crate) fn payment(row: &(impl StoredRow + ?Sized)) -> Read<Payment> {
    Ok(Payment {
        id: row.uuid("id")?,
        invoice_id: row.uuid("invoice_id")?,
        participant_id: row.uuid("participant_id")?,
        amount: row.decimal("amount")?,
        surcharge: row.decimal("surcharge")?,
        principal: row.decimal("principal")?,
        source: row
            .text("source")?
            .parse()
            .map_err(|_| decode_error("payment source"))?,
        reference: row.text("reference")?,
        transaction_id: row.optional_uuid("transaction_id")?,
        business_date: row.date("business_date")?,
        at: row.time("at")?,
    })
}

/// Invoices with their payments (each list in `at` order), as
/// [`StoredInvoice`]s in the invoices' order.
pub(crate) fn stored_invoices(
    invoices: Vec<Invoice>,
    payments: Vec<Payment>,
) -> Vec<StoredInvoice> {
    let mut by_invoice: std::collections::HashMap<Uuid, Vec<Payment>> =
        std::collections::HashMap::new();
    for payment in payments {
        by_invoice
            .entry(payment.invoice_id)
            .or_default()
            .push(payment);
    }
    invoices
        .into_iter()
        .map(|invoice| StoredInvoice {
            payments: by_invoice.remove(&invoice.id).unwrap_or_default(),
            invoice,
        })
        .collect()
}

/// An `auctions` row ([`AUCTION_COLUMNS`]).
pub(crate) fn auction(row: &(impl StoredRow + ?Sized)) -> Read<Auction> {
    Ok(Auction {
        id: row.uuid("id")?,
        instrument: code(row, "instrument")?,
        quantity: row.decimal("quantity")?,
        reserve_price: row.decimal("reserve_price")?,
        source: Source::parse(&row.text("source")?).ok_or_else(|| decode_error("source"))?,
        lot_size: row.optional_decimal("lot_size")?,
        max_bidder_share: row.optional_decimal("max_bidder_share")?,
        closes_at: row.optional_time("closes_at")?,
        status: AuctionStatus::parse(&row.text("status")?)
            .ok_or_else(|| decode_error("auction status"))?,
        clearing_price: row.optional_decimal("clearing_price")?,
        sold_quantity: row.optional_decimal("sold_quantity")?,
        created_at: row.time("created_at")?,
        closed_at: row.optional_time("closed_at")?,
    })
}

/// A `bids` row ([`BID_COLUMNS`]).
pub(crate) fn bid(row: &(impl StoredRow + ?Sized)) -> Read<AuctionBid> {
    Ok(AuctionBid {
        id: row.uuid("id")?,
        auction_id: row.uuid("auction_id")?,
        participant_id: row.uuid("participant_id")?,
        quantity: row.decimal("quantity")?,
        price: row.decimal("price")?,
        seq: row.integer("seq")?,
        awarded: row.optional_decimal("awarded")?,
        created_at: row.time("created_at")?,
    })
}

/// A `negotiated_trades` row ([`PROPOSAL_COLUMNS`]).
pub(crate) fn proposal(row: &(impl StoredRow + ?Sized)) -> Read<Proposal> {
    Ok(Proposal {
        id: row.uuid("id")?,
        seller_id: row.uuid("seller_id")?,
        buyer_id: row.uuid("buyer_id")?,
        instrument: code(row, "instrument")?,
        quantity: row.decimal("quantity")?,
        price: row.decimal("price")?,
        status: ProposalStatus::parse(&row.text("status")?)
            .ok_or_else(|| decode_error("proposal status"))?,
        expires_at: row.time("expires_at")?,
        trade_id: row.optional_uuid("trade_id")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// An `instruments` row ([`SELECT_INSTRUMENTS`]).
pub(crate) fn instrument(row: &(impl StoredRow + ?Sized)) -> Read<Instrument> {
    Ok(Instrument {
        code: code(row, "code")?,
        kind: InstrumentKind::parse(&row.text("kind")?)
            .map_err(|_| decode_error("instrument kind"))?,
        pollutant: row.optional_text("pollutant")?,
        unit: row.text("unit")?,
        scale: u32::try_from(row.integer("scale")?).map_err(|_| decode_error("scale"))?,
        region_code: row
            .optional_text("region_code")?
            .map(|r| RegionCode::parse(&r))
            .transpose()
            .map_err(|_| decode_error("region code"))?,
        vintage: row
            .optional_integer("vintage")?
            .map(i32::try_from)
            .transpose()
            .map_err(|_| decode_error("vintage"))?,
        valid_from: row.optional_date("valid_from")?,
        valid_to: row.optional_date("valid_to")?,
        commission_rate: row.decimal("commission_rate")?,
        price_band: row.optional_decimal("price_band")?,
    })
}

/// A `participants` row.
pub(crate) fn participant(row: &(impl StoredRow + ?Sized)) -> Read<Participant> {
    Ok(Participant {
        id: row.uuid("id")?,
        name: row.text("name")?,
        credit_code: CreditCode::parse(&row.text("credit_code")?)
            .map_err(|_| decode_error("credit code"))?,
        region_code: RegionCode::parse(&row.text("region_code")?)
            .map_err(|_| decode_error("region code"))?,
        industry: row.optional_text("industry")?,
    })
}

/// A `journal` row ([`JOURNAL_COLUMNS`]).
pub(crate) fn journal_entry(row: &(impl StoredRow + ?Sized)) -> Read<JournalEntry> {
    let payload = row.text("payload")?;
    Ok(JournalEntry {
        seq: row.integer("seq")?,
        at: row.time("at")?,
        actor: Actor {
            client_id: row.text("actor_client_id")?,
            role: row.text("actor_role")?,
        },
        kind: row.text("kind")?,
        // An unparseable payload is kept as a string: its hash will not match.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

/// A `period` column.
pub(crate) fn period(row: &(impl StoredRow + ?Sized)) -> Read<Period> {
    row.text("period")?
        .parse()
        .map_err(|_| decode_error("period"))
}

/// An `emissions` row ([`EMISSION_COLUMNS`]).
pub(crate) fn emission(row: &(impl StoredRow + ?Sized)) -> Read<Emission> {
    Ok(Emission {
        id: row.uuid("id")?,
        participant_id: row.uuid("participant_id")?,
        period: period(row)?,
        kind: row
            .text("kind")?
            .parse()
            .map_err(|_| decode_error("emission kind"))?,
        pollutant: row.optional_text("pollutant")?,
        quantity: row.decimal("quantity")?,
        recorded_at: row.time("recorded_at")?,
        replaces: row.optional_uuid("replaces")?,
    })
}

/// A participant's pollutant right ([`SELECT_POLLUTANT_HOLDINGS`]).
pub(crate) fn pollutant_holding(row: &(impl StoredRow + ?Sized)) -> Read<PollutantHolding> {
    let Owner::Participant(participant_id) = owner(row)? else {
        return Err(decode_error("a participant's account"));
    };
    Ok(PollutantHolding {
        participant_id,
        pollutant: row.text("pollutant")?,
        valid_from: row.optional_date("valid_from")?,
        valid_to: row.optional_date("valid_to")?,
        balance: row.decimal("balance")?,
    })
}
