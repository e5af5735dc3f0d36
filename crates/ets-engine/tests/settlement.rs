//! The settlement of a business day: every posting lands in its column, the
//! columns lead from the opening balance to the closing one to the fen, and
//! what does not reconcile is refused. Figures worked by hand in the
//! comments; a property test settles random days built from a model.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ets_core::{Decimal, InstrumentCode};
use ets_engine::settlement::{
    CashTotals, DayTrades, SettlementHead, json_opening, json_trade_line, settle_cash,
};
use ets_engine::settlement::{PARTICIPANT_COLUMNS, TRADE_COLUMNS};
use ets_engine::{
    CashDay, CashPosting, ParticipantSettlement, Settlement, Trade, TradeMethod, Unreconciled,
    participants_csv, settle_day, trades_csv,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use uuid::Uuid;

/// The day of an instant in the ledger's default zone, Asia/Shanghai.
fn business_date(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    ets_core::BusinessZone::SHANGHAI.date(at)
}

/// A Shanghai business day's bounds.
fn business_day_bounds(
    date: chrono::NaiveDate,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    ets_core::BusinessZone::SHANGHAI.day_bounds(date)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal literal")
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("a date")
}

/// A time of 2026-06-01 in Suzhou.
fn suzhou(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-06-01T{time}+08:00"))
        .expect("a time")
        .with_timezone(&Utc)
}

fn so2() -> InstrumentCode {
    InstrumentCode::parse("SO2-320500-2026").expect("code")
}

// The participants of the worked day.
const ZHEN: Uuid = Uuid::from_u128(1); // 苏州甲化工有限公司
const WU: Uuid = Uuid::from_u128(2); // Wu, "East" Steel
const CHANG: Uuid = Uuid::from_u128(3); // Changzhou Auction Buyer Co.
const IDLE: Uuid = Uuid::from_u128(4); // Idle Dyeworks

// The ledger transactions of the worked day.
const DEPOSIT: Uuid = Uuid::from_u128(101);
const BOOK: Uuid = Uuid::from_u128(102);
const NEGOTIATED: Uuid = Uuid::from_u128(103);
const AUCTION: Uuid = Uuid::from_u128(104);
const WITHDRAWAL: Uuid = Uuid::from_u128(105);
const INVOICE: Uuid = Uuid::from_u128(106);
const RECLAMATION: Uuid = Uuid::from_u128(107);
const ORDER_HOLD: Uuid = Uuid::from_u128(108);
const BID_HOLD: Uuid = Uuid::from_u128(109);
const IDLE_HOLD: Uuid = Uuid::from_u128(110);

struct NewTrade {
    id: u128,
    method: TradeMethod,
    quantity: &'static str,
    price: &'static str,
    value: &'static str,
    buyer: Uuid,
    seller: Option<Uuid>,
    commissions: (&'static str, &'static str),
    at: DateTime<Utc>,
    transaction: Uuid,
}

fn trade(new: NewTrade) -> Trade {
    Trade {
        id: Uuid::from_u128(new.id),
        instrument: so2(),
        method: new.method,
        quantity: dec(new.quantity),
        price: dec(new.price),
        value: dec(new.value),
        buyer_id: new.buyer,
        seller_id: new.seller,
        buy_order_id: None,
        sell_order_id: None,
        buyer_commission: dec(new.commissions.0),
        seller_commission: dec(new.commissions.1),
        executed_at: new.at,
        business_date: business_date(new.at),
        transaction_id: new.transaction,
    }
}

fn posting(transaction_id: Uuid, kind: &str, amount: &str) -> CashPosting {
    CashPosting {
        transaction_id,
        kind: kind.to_owned(),
        amount: dec(amount),
    }
}

fn cash(participant_id: Uuid, name: &str, opening: &str, closing: &str) -> CashDay {
    CashDay {
        participant_id,
        name: name.to_owned(),
        opening: dec(opening),
        closing: dec(closing),
        postings: Vec::new(),
    }
}

/// The day's trades, not in time order:
/// - 10:00, order book: 苏州甲 buys 10 t from Wu at 120.50 = 1205.00;
///   commission 0.1 % a side, 1.205 → 1.21 each;
/// - 11:30, negotiated: Wu buys 2.5 t from 苏州甲 at 301.07 = 752.675 →
///   752.68; commission 0.75268 → 0.75 each;
/// - 15:00, auction: Changzhou is awarded 5 t at 98.00 = 490.00; the
///   authority sells, no commission.
fn worked_trades() -> Vec<Trade> {
    vec![
        trade(NewTrade {
            id: 203,
            method: TradeMethod::Auction,
            quantity: "5.0000",
            price: "98.00",
            value: "490.00",
            buyer: CHANG,
            seller: None,
            commissions: ("0.00", "0.00"),
            at: suzhou("15:00:00"),
            transaction: AUCTION,
        }),
        trade(NewTrade {
            id: 201,
            method: TradeMethod::OrderBook,
            quantity: "10.0000",
            price: "120.50",
            value: "1205.00",
            buyer: ZHEN,
            seller: Some(WU),
            commissions: ("1.21", "1.21"),
            at: suzhou("10:00:00"),
            transaction: BOOK,
        }),
        trade(NewTrade {
            id: 202,
            method: TradeMethod::Negotiated,
            quantity: "2.5000",
            price: "301.07",
            value: "752.68",
            buyer: WU,
            seller: Some(ZHEN),
            commissions: ("0.75", "0.75"),
            at: suzhou("11:30:00"),
            transaction: NEGOTIATED,
        }),
    ]
}

/// Each participant's cash on the worked day. Closings worked by hand:
/// - 苏州甲: 5000.00 + 10000.00 deposit − 1205.00 − 1.21 + 752.68 − 0.75
///   + 88.88 compensation = 14634.60 (and a hold placed: 0);
/// - Wu: 20000.00 + 1205.00 − 1.21 − 752.68 − 0.75 − 300.00 withdrawn
///   = 20150.36;
/// - Changzhou: 3000.00 − 490.00 award − 1234.56 invoice = 1275.44 (and a
///   bid's hold: 0);
/// - Idle: 700.00, only a hold placed.
fn worked_cash() -> Vec<CashDay> {
    let mut zhen = cash(ZHEN, "苏州甲化工有限公司", "5000.00", "14634.60");
    zhen.postings = vec![
        posting(DEPOSIT, "cash.deposit", "10000.00"),
        posting(ORDER_HOLD, "order.placed", "0.00"),
        posting(BOOK, "order.placed", "-1205.00"),
        posting(BOOK, "order.placed", "-1.21"),
        posting(NEGOTIATED, "negotiated.settled", "752.68"),
        posting(NEGOTIATED, "negotiated.settled", "-0.75"),
        posting(RECLAMATION, "reclamation.created", "88.88"),
    ];
    let mut wu = cash(WU, "Wu, \"East\" Steel", "20000.00", "20150.36");
    wu.postings = vec![
        posting(BOOK, "order.placed", "1205.00"),
        posting(BOOK, "order.placed", "-1.21"),
        posting(NEGOTIATED, "negotiated.settled", "-752.68"),
        posting(NEGOTIATED, "negotiated.settled", "-0.75"),
        posting(WITHDRAWAL, "cash.withdrawal", "-300.00"),
    ];
    let mut chang = cash(CHANG, "Changzhou Auction Buyer Co.", "3000.00", "1275.44");
    chang.postings = vec![
        posting(BID_HOLD, "auction.bid", "0.00"),
        posting(AUCTION, "auction.cleared", "-490.00"),
        posting(INVOICE, "invoice.paid", "-1234.56"),
    ];
    let mut idle = cash(IDLE, "Idle Dyeworks", "700.00", "700.00");
    idle.postings = vec![posting(IDLE_HOLD, "order.placed", "0.00")];
    vec![zhen, wu, chang, idle]
}

fn cash_with(change: impl FnOnce(&mut Vec<CashDay>)) -> Vec<CashDay> {
    let mut cash = worked_cash();
    change(&mut cash);
    cash
}

fn day_of(participant: Uuid, cash: &mut [CashDay]) -> &mut CashDay {
    cash.iter_mut()
        .find(|day| day.participant_id == participant)
        .expect("a participant of the worked day")
}

/// A row from its figures: opening, bought, sold, commissions, fees_paid,
/// deposits, withdrawals, other, closing.
fn row(participant_id: Uuid, name: &str, figures: [&str; 9]) -> ParticipantSettlement {
    let [
        opening,
        bought,
        sold,
        commissions,
        fees,
        deposits,
        withdrawals,
        other,
        closing,
    ] = figures;
    ParticipantSettlement {
        participant_id,
        name: name.to_owned(),
        opening_cash: dec(opening),
        bought_value: dec(bought),
        sold_value: dec(sold),
        commissions: dec(commissions),
        fees_paid: dec(fees),
        deposits: dec(deposits),
        withdrawals: dec(withdrawals),
        other: dec(other),
        closing_cash: dec(closing),
    }
}

fn worked_settlement() -> Settlement {
    settle_day(day(), worked_cash(), &worked_trades()).expect("the worked day reconciles")
}

#[test]
fn a_day_of_every_kind_of_cash_movement_settles_column_by_column() {
    let settlement = worked_settlement();

    // By name: ASCII before Chinese. Idle Dyeworks only placed a hold.
    assert_eq!(
        settlement.participants,
        [
            row(
                CHANG,
                "Changzhou Auction Buyer Co.",
                [
                    "3000.00", "490.00", "0.00", "0.00", "1234.56", "0.00", "0.00", "0.00",
                    "1275.44"
                ]
            ),
            row(
                WU,
                "Wu, \"East\" Steel",
                [
                    "20000.00", "752.68", "1205.00", "1.96", "0.00", "0.00", "300.00", "0.00",
                    "20150.36"
                ]
            ),
            row(
                ZHEN,
                "苏州甲化工有限公司",
                [
                    "5000.00", "1205.00", "752.68", "1.96", "0.00", "10000.00", "0.00", "88.88",
                    "14634.60"
                ]
            ),
        ]
    );
    for row in &settlement.participants {
        assert_eq!(row.closing_from_columns(), row.closing_cash);
    }
}

#[test]
fn the_totals_are_the_column_sums() {
    // Opening 3000.00 + 20000.00 + 5000.00 = 28000.00; bought 490.00 +
    // 752.68 + 1205.00 = 2447.68; sold 1205.00 + 752.68 = 1957.68; and
    // 28000.00 − 2447.68 + 1957.68 − 3.92 − 1234.56 + 10000.00 − 300.00
    // + 88.88 = 36060.40 = 1275.44 + 20150.36 + 14634.60.
    let totals = serde_json::to_value(worked_settlement().totals).expect("json");
    assert_eq!(
        totals,
        json!({
            "opening_cash": "28000.00",
            "bought_value": "2447.68",
            "sold_value": "1957.68",
            "commissions": "3.92",
            "fees_paid": "1234.56",
            "deposits": "10000.00",
            "withdrawals": "300.00",
            "other": "88.88",
            "closing_cash": "36060.40",
        })
    );
}

#[test]
fn the_json_writes_money_at_two_places_and_the_trades_in_time_order() {
    let json = serde_json::to_value(worked_settlement()).expect("json");
    assert_eq!(json["date"], "2026-06-01");
    assert_eq!(
        json["participants"][0],
        json!({
            "participant_id": "00000000-0000-0000-0000-000000000003",
            "name": "Changzhou Auction Buyer Co.",
            "opening_cash": "3000.00",
            "bought_value": "490.00",
            "sold_value": "0.00",
            "commissions": "0.00",
            "fees_paid": "1234.56",
            "deposits": "0.00",
            "withdrawals": "0.00",
            "other": "0.00",
            "closing_cash": "1275.44",
        })
    );
    let methods: Vec<&Value> = (0..3).map(|i| &json["trades"][i]["method"]).collect();
    assert_eq!(methods, ["order_book", "negotiated", "auction"]);
    assert_eq!(
        json["trades"][2],
        json!({
            "trade_id": "00000000-0000-0000-0000-0000000000cb",
            "executed_at": "2026-06-01T07:00:00.000000Z",
            "instrument": "SO2-320500-2026",
            "method": "auction",
            "quantity": "5.0000",
            "price": "98.00",
            "value": "490.00",
            "buyer_participant_id": "00000000-0000-0000-0000-000000000003",
            "seller_participant_id": null,
            "buyer_commission": "0.00",
            "seller_commission": "0.00",
        })
    );
}

#[test]
fn the_json_written_piece_by_piece_is_the_settlement_byte_for_byte() {
    // A day too large to hold is written as the head's opening, each trade
    // line as it is read, and the head's closing; a reader must not be able
    // to tell it from the settlement serialized whole.
    let whole = worked_settlement();
    let head = SettlementHead {
        date: whole.date,
        participants: whole.participants.clone(),
        totals: whole.totals.clone(),
    };
    let mut pieces = json_opening(whole.date);
    for (n, line) in whole.trades.iter().enumerate() {
        pieces.extend(json_trade_line(line, n == 0));
    }
    pieces.extend(head.json_closing());
    assert_eq!(
        String::from_utf8(pieces).expect("UTF-8"),
        serde_json::to_string(&whole).expect("json")
    );
    let empty = SettlementHead {
        date: day(),
        participants: Vec::new(),
        totals: whole.totals,
    };
    let mut bytes = json_opening(empty.date);
    bytes.extend(empty.json_closing());
    let parsed: Value = serde_json::from_slice(&bytes).expect("a day without trades is JSON");
    assert_eq!(parsed["trades"], json!([]));
}

#[test]
fn trades_folded_one_by_one_settle_as_the_day_held_whole() {
    // What the store does on a large day: the cash totals folded posting by
    // posting (each marked whether its transaction is a trade's), the
    // trades in time order, then the rows.
    let trades = worked_trades();
    let mut ordered: Vec<&Trade> = trades.iter().collect();
    ordered.sort_by_key(|trade| (trade.executed_at, trade.id));
    let mut day_trades = DayTrades::new(day());
    let lines: Vec<_> = ordered
        .into_iter()
        .map(|trade| day_trades.add(trade).expect("whole fen"))
        .collect();
    let in_trade = |transaction: Uuid| trades.iter().any(|t| t.transaction_id == transaction);
    let totals = worked_cash()
        .into_iter()
        .map(|day| {
            let mut totals =
                CashTotals::new(day.participant_id, day.name, day.opening, day.closing);
            for posting in &day.postings {
                totals.add(
                    &posting.kind,
                    posting.amount,
                    in_trade(posting.transaction_id),
                );
            }
            totals
        })
        .collect();
    let head = settle_cash(totals, &day_trades).expect("reconciles");
    let whole = worked_settlement();
    assert_eq!(head.participants, whole.participants);
    assert_eq!(head.totals, whole.totals);
    assert_eq!(lines, whole.trades);
}

/// Asserts that `record` serializes to exactly the fields `columns`, in
/// that order.
fn assert_fields_in_order(record: &impl serde::Serialize, columns: &[&str]) {
    let text = serde_json::to_string(record).expect("json");
    let value: Value = serde_json::from_str(&text).expect("json");
    let names: BTreeSet<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, columns.iter().copied().collect::<BTreeSet<&str>>());
    let places: Vec<usize> = columns
        .iter()
        .map(|column| text.find(&format!("\"{column}\":")).expect("a field"))
        .collect();
    assert!(places.is_sorted(), "{text} is not in the order {columns:?}");
}

#[test]
fn the_json_field_names_are_the_csv_columns_in_spec_order() {
    let settlement = worked_settlement();
    assert_fields_in_order(&settlement.participants[0], &PARTICIPANT_COLUMNS);
    assert_fields_in_order(&settlement.trades[0], &TRADE_COLUMNS);
    // The totals are the participant columns that hold money.
    assert_fields_in_order(&settlement.totals, &PARTICIPANT_COLUMNS[2..]);
}

#[test]
fn a_participant_with_only_zero_postings_is_not_listed() {
    let settlement = settle_day(day(), vec![day_of(IDLE, &mut worked_cash()).clone()], &[])
        .expect("a quiet day reconciles");
    assert!(settlement.participants.is_empty());
    assert!(settlement.trades.is_empty());
    let totals = serde_json::to_value(settlement.totals).expect("json");
    assert_eq!(totals["closing_cash"], "0.00");
    assert_eq!(totals["other"], "0.00");
}

#[test]
fn a_closing_balance_off_by_a_fen_is_unreconciled() {
    let cash = cash_with(|cash| day_of(ZHEN, cash).closing = dec("14634.61"));
    let refused = settle_day(day(), cash, &worked_trades()).expect_err("a fen too many");
    assert_eq!(
        refused,
        Unreconciled::ClosingCash {
            participant_id: ZHEN,
            name: "苏州甲化工有限公司".to_owned(),
            closing_cash: dec("14634.61"),
            columns: dec("14634.60"),
        }
    );
    assert_eq!(
        refused.to_string(),
        "participant 00000000-0000-0000-0000-000000000001 (苏州甲化工有限公司): \
         closing_cash is 14634.61, but the columns give 14634.60"
    );
}

#[test]
fn trade_postings_that_disagree_with_the_trades_are_unreconciled() {
    // Wu was credited 1204.00 for the 1205.00 it sold, and its closing
    // balance agrees with the postings: only the trades catch it. Its trade
    // postings: 1204.00 − 1.21 − 752.68 − 0.75 = 449.36; its trades:
    // 1205.00 − 752.68 − 1.96 = 450.36.
    let cash = cash_with(|cash| {
        let wu = day_of(WU, cash);
        wu.postings[0].amount = dec("1204.00");
        wu.closing = dec("20149.36");
    });
    assert_eq!(
        settle_day(day(), cash, &worked_trades()),
        Err(Unreconciled::TradeCash {
            participant_id: WU,
            name: "Wu, \"East\" Steel".to_owned(),
            postings: dec("449.36"),
            trades: dec("450.36"),
        })
    );
}

#[test]
fn a_compensation_booked_under_a_trades_transaction_is_unreconciled() {
    // Changzhou's invoice payment carries the auction's transaction id:
    // its trade postings come to −1724.56 against the award's −490.00.
    let cash = cash_with(|cash| day_of(CHANG, cash).postings[2].transaction_id = AUCTION);
    assert!(matches!(
        settle_day(day(), cash, &worked_trades()),
        Err(Unreconciled::TradeCash {
            participant_id: CHANG,
            ..
        })
    ));
}

#[test]
fn a_trade_whose_party_was_not_read_is_unreconciled() {
    let cash = cash_with(|cash| cash.retain(|day| day.participant_id != WU));
    assert_eq!(
        settle_day(day(), cash, &worked_trades()),
        Err(Unreconciled::MissingCashDay {
            participant_id: WU,
            trade_id: Uuid::from_u128(201),
        })
    );
}

#[test]
fn a_fraction_of_a_fen_is_refused_not_rounded() {
    let cash = cash_with(|cash| day_of(ZHEN, cash).postings[6].amount = dec("88.875"));
    assert_eq!(
        settle_day(day(), cash, &worked_trades()),
        Err(Unreconciled::NotWholeFen {
            id: ZHEN,
            figure: "a posting",
            amount: dec("88.875"),
        })
    );
}

#[test]
fn the_participants_csv_is_excel_ready_byte_for_byte() {
    let expected = "\u{feff}participant_id,name,opening_cash,bought_value,sold_value,\
                    commissions,fees_paid,deposits,withdrawals,other,closing_cash\r\n\
                    00000000-0000-0000-0000-000000000003,Changzhou Auction Buyer Co.,\
                    3000.00,490.00,0.00,0.00,1234.56,0.00,0.00,0.00,1275.44\r\n\
                    00000000-0000-0000-0000-000000000002,\"Wu, \"\"East\"\" Steel\",\
                    20000.00,752.68,1205.00,1.96,0.00,0.00,300.00,0.00,20150.36\r\n\
                    00000000-0000-0000-0000-000000000001,苏州甲化工有限公司,\
                    5000.00,1205.00,752.68,1.96,0.00,10000.00,0.00,88.88,14634.60\r\n";
    let bytes = participants_csv(&worked_settlement().participants);
    assert_eq!(bytes[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(String::from_utf8(bytes).expect("UTF-8"), expected);
}

#[test]
fn the_trades_csv_leaves_an_auctions_seller_empty() {
    let expected = "\u{feff}trade_id,executed_at,instrument,method,quantity,price,value,\
                    buyer_participant_id,seller_participant_id,buyer_commission,seller_commission\r\n\
                    00000000-0000-0000-0000-0000000000c9,2026-06-01T02:00:00.000000Z,\
                    SO2-320500-2026,order_book,10.0000,120.50,1205.00,\
                    00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002,\
                    1.21,1.21\r\n\
                    00000000-0000-0000-0000-0000000000ca,2026-06-01T03:30:00.000000Z,\
                    SO2-320500-2026,negotiated,2.5000,301.07,752.68,\
                    00000000-0000-0000-0000-000000000002,00000000-0000-0000-0000-000000000001,\
                    0.75,0.75\r\n\
                    00000000-0000-0000-0000-0000000000cb,2026-06-01T07:00:00.000000Z,\
                    SO2-320500-2026,auction,5.0000,98.00,490.00,\
                    00000000-0000-0000-0000-000000000003,,0.00,0.00\r\n";
    let bytes = trades_csv(&worked_settlement().trades);
    assert_eq!(String::from_utf8(bytes).expect("UTF-8"), expected);
}

#[test]
fn a_business_day_runs_from_midnight_to_midnight_in_shanghai() {
    let (start, end) = business_day_bounds(day());
    assert_eq!(start.to_rfc3339(), "2026-05-31T16:00:00+00:00");
    assert_eq!(end.to_rfc3339(), "2026-06-01T16:00:00+00:00");
    let tick = Duration::microseconds(1);
    assert_eq!(business_date(start), day());
    assert_eq!(business_date(end - tick), day());
    assert_eq!(business_date(end), day().succ_opt().expect("a date"));
    assert_eq!(
        business_date(start - tick),
        day().pred_opt().expect("a date")
    );
}

// ---------------------------------------------------------------------------
// Random days: a model books postings and closes each balance at opening +
// Σ postings; the settlement must always reconcile.
// ---------------------------------------------------------------------------

const NAMES: [&str; 5] = [
    "苏州甲化工有限公司",
    "Wu, \"East\" Steel",
    "Idle Dyeworks",
    "Idle Dyeworks",
    "无锡乙纺织",
];

#[derive(Debug, Clone)]
enum Event {
    Deposit(Index, i64),
    Withdrawal(Index, i64),
    InvoicePaid(Index, i64),
    Compensation(Index, i64),
    HoldPlaced(Index),
    Trade(ModelTrade),
}

#[derive(Debug, Clone)]
struct ModelTrade {
    buyer: Index,
    seller: Option<Index>,
    negotiated: bool,
    value_fen: i64,
    commission_fen: (i64, i64),
    /// Settled in the same ledger transaction as the trade before it (an
    /// incoming order that matched several resting ones).
    with_previous: bool,
    second_of_day: i64,
}

fn fen(amount: i64) -> Decimal {
    Decimal::new(amount, 2)
}

fn an_event() -> impl Strategy<Value = Event> {
    let amount = 1..2_000_000_i64;
    let trade = (
        any::<Index>(),
        proptest::option::weighted(0.8, any::<Index>()),
        any::<bool>(),
        1..5_000_000_i64,
        (0..5_000_i64, 0..5_000_i64),
        any::<bool>(),
        0..86_400_i64,
    )
        .prop_map(
            |(
                buyer,
                seller,
                negotiated,
                value_fen,
                commission_fen,
                with_previous,
                second_of_day,
            )| {
                Event::Trade(ModelTrade {
                    buyer,
                    seller,
                    negotiated,
                    value_fen,
                    commission_fen,
                    with_previous,
                    second_of_day,
                })
            },
        );
    prop_oneof![
        (any::<Index>(), amount.clone()).prop_map(|(who, fen)| Event::Deposit(who, fen)),
        (any::<Index>(), amount.clone()).prop_map(|(who, fen)| Event::Withdrawal(who, fen)),
        (any::<Index>(), amount.clone()).prop_map(|(who, fen)| Event::InvoicePaid(who, fen)),
        (any::<Index>(), -2_000_000..2_000_000_i64)
            .prop_map(|(who, fen)| Event::Compensation(who, fen)),
        any::<Index>().prop_map(Event::HoldPlaced),
        trade,
    ]
}

/// The model of one day: each participant's postings, and the trades.
struct Model {
    cash: Vec<CashDay>,
    trades: Vec<Trade>,
    last_trade_transaction: Option<Uuid>,
    next_id: u128,
}

impl Model {
    fn new(openings: &[i64]) -> Self {
        let cash = openings
            .iter()
            .enumerate()
            .map(|(n, opening)| CashDay {
                participant_id: Uuid::from_u128(n as u128 + 1),
                name: NAMES[n % NAMES.len()].to_owned(),
                opening: fen(*opening),
                closing: fen(*opening),
                postings: Vec::new(),
            })
            .collect();
        Self {
            cash,
            trades: Vec::new(),
            last_trade_transaction: None,
            next_id: 1000,
        }
    }

    fn id(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(self.next_id)
    }

    /// Books a posting; the closing balance is opening + Σ postings.
    fn post(&mut self, who: usize, transaction_id: Uuid, kind: &str, amount: Decimal) {
        let day = &mut self.cash[who];
        day.closing += amount;
        day.postings.push(CashPosting {
            transaction_id,
            kind: kind.to_owned(),
            amount,
        });
    }

    fn apply(&mut self, event: &Event) {
        let n = self.cash.len();
        match event {
            Event::Deposit(who, amount) => {
                let tx = self.id();
                self.post(who.index(n), tx, "cash.deposit", fen(*amount));
            }
            Event::Withdrawal(who, amount) => {
                let tx = self.id();
                self.post(who.index(n), tx, "cash.withdrawal", -fen(*amount));
            }
            Event::InvoicePaid(who, amount) => {
                let tx = self.id();
                self.post(who.index(n), tx, "invoice.paid", -fen(*amount));
            }
            Event::Compensation(who, amount) => {
                let tx = self.id();
                self.post(who.index(n), tx, "reclamation.created", fen(*amount));
            }
            Event::HoldPlaced(who) => {
                let tx = self.id();
                self.post(who.index(n), tx, "order.placed", Decimal::ZERO);
            }
            Event::Trade(trade) => self.trade(trade),
        }
    }

    fn trade(&mut self, new: &ModelTrade) {
        let n = self.cash.len();
        let buyer = new.buyer.index(n);
        // Self-trade is prevented: the other participant, or the authority.
        let seller = new
            .seller
            .map(|seller| seller.index(n))
            .map(|seller| {
                if seller == buyer {
                    (buyer + 1) % n
                } else {
                    seller
                }
            })
            .filter(|seller| *seller != buyer);
        let method = match (seller, new.negotiated) {
            (None, _) => TradeMethod::Auction,
            (Some(_), true) => TradeMethod::Negotiated,
            (Some(_), false) => TradeMethod::OrderBook,
        };
        let (buyer_commission, seller_commission) = match seller {
            None => (Decimal::ZERO, Decimal::ZERO),
            Some(_) => (fen(new.commission_fen.0), fen(new.commission_fen.1)),
        };
        let transaction = match (new.with_previous, self.last_trade_transaction) {
            (true, Some(previous)) => previous,
            _ => self.id(),
        };
        self.last_trade_transaction = Some(transaction);
        let value = fen(new.value_fen);
        let kind = "order.placed";
        self.post(buyer, transaction, kind, -value);
        self.post(buyer, transaction, kind, -buyer_commission);
        if let Some(seller) = seller {
            self.post(seller, transaction, kind, value);
            self.post(seller, transaction, kind, -seller_commission);
        }
        let (start, _) = business_day_bounds(day());
        let at = start + Duration::seconds(new.second_of_day);
        let id = self.id();
        self.trades.push(Trade {
            id,
            instrument: so2(),
            method,
            quantity: dec("1.0000"),
            price: value,
            value,
            buyer_id: self.cash[buyer].participant_id,
            seller_id: seller.map(|seller| self.cash[seller].participant_id),
            buy_order_id: None,
            sell_order_id: None,
            buyer_commission,
            seller_commission,
            executed_at: at,
            business_date: business_date(at),
            transaction_id: transaction,
        });
    }

    /// What the model says each participant's deposits, withdrawals and
    /// fees paid are.
    fn sums(&self, kind: &str) -> BTreeMap<Uuid, Decimal> {
        self.cash
            .iter()
            .map(|day| {
                let sum = day
                    .postings
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| p.amount);
                (day.participant_id, sum.sum::<Decimal>().abs())
            })
            .collect()
    }
}

fn column_sum(
    rows: &[ParticipantSettlement],
    column: fn(&ParticipantSettlement) -> Decimal,
) -> Decimal {
    rows.iter().map(column).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_random_day_always_reconciles_row_by_row_and_in_total(
        openings in prop::collection::vec(0..100_000_000_i64, 1..=5),
        events in prop::collection::vec(an_event(), 0..40),
    ) {
        let mut model = Model::new(&openings);
        for event in &events {
            model.apply(event);
        }
        let moved: BTreeSet<Uuid> = model
            .cash
            .iter()
            .filter(|day| day.postings.iter().any(|p| !p.amount.is_zero()))
            .map(|day| day.participant_id)
            .collect();
        let closings: BTreeMap<Uuid, Decimal> =
            model.cash.iter().map(|day| (day.participant_id, day.closing)).collect();
        let deposits = model.sums("cash.deposit");
        let withdrawals = model.sums("cash.withdrawal");
        let fees = model.sums("invoice.paid");

        let settlement = settle_day(day(), model.cash.clone(), &model.trades)
            .expect("a day the model booked reconciles");

        let listed: BTreeSet<Uuid> =
            settlement.participants.iter().map(|row| row.participant_id).collect();
        prop_assert_eq!(listed, moved);
        prop_assert_eq!(settlement.trades.len(), model.trades.len());
        for row in &settlement.participants {
            prop_assert_eq!(row.closing_from_columns(), row.closing_cash);
            prop_assert_eq!(row.closing_cash, closings[&row.participant_id]);
            prop_assert_eq!(row.deposits, deposits[&row.participant_id]);
            prop_assert_eq!(row.withdrawals, withdrawals[&row.participant_id]);
            prop_assert_eq!(row.fees_paid, fees[&row.participant_id]);
        }
        let rows = &settlement.participants;
        let totals = &settlement.totals;
        prop_assert_eq!(totals.opening_cash, column_sum(rows, |r| r.opening_cash));
        prop_assert_eq!(totals.bought_value, column_sum(rows, |r| r.bought_value));
        prop_assert_eq!(totals.sold_value, column_sum(rows, |r| r.sold_value));
        prop_assert_eq!(totals.commissions, column_sum(rows, |r| r.commissions));
        prop_assert_eq!(totals.fees_paid, column_sum(rows, |r| r.fees_paid));
        prop_assert_eq!(totals.deposits, column_sum(rows, |r| r.deposits));
        prop_assert_eq!(totals.withdrawals, column_sum(rows, |r| r.withdrawals));
        prop_assert_eq!(totals.other, column_sum(rows, |r| r.other));
        prop_assert_eq!(totals.closing_cash, column_sum(rows, |r| r.closing_cash));

        // One CSV record per row after the header, whatever the names hold.
        let csv = String::from_utf8(participants_csv(&settlement.participants)).expect("UTF-8");
        prop_assert_eq!(csv.matches("\r\n").count(), rows.len() + 1);
        for row in rows {
            prop_assert!(csv.contains(&row.closing_cash.to_string()));
        }
    }

    #[test]
    fn every_instant_lies_within_the_bounds_of_its_business_day(
        seconds in 1_700_000_000_i64..1_900_000_000_i64,
        micros in 0..1_000_000_i64,
    ) {
        let at = DateTime::from_timestamp(seconds, 0).expect("a time") + Duration::microseconds(micros);
        let (start, end) = business_day_bounds(business_date(at));
        prop_assert!(start <= at && at < end);
    }
}

#[test]
fn a_cell_a_spreadsheet_would_run_is_written_as_text() {
    let mut out = String::new();
    ets_engine::settlement::write_record(
        &mut out,
        [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "@SUM(A1)",
            "-x",
            "-12.50",
            "12.50",
            "苏州钢铁",
            "a-b",
        ]
        .into_iter()
        .map(str::to_owned),
    );
    assert_eq!(
        out,
        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+1,'@SUM(A1),'-x,-12.50,12.50,苏州钢铁,a-b\r\n"
    );
}
