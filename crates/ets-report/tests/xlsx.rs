//! The settlement as an XLSX workbook, read back with calamine as Excel
//! would read it: the sheets and their headers, every cell saying what the
//! JSON says (text as text, money, quantities and prices as numbers equal to
//! the exact decimals, formatted to their places), the totals row, and the
//! sheets that continue a sheet past its row limit.
//!
//! The days are built as `ets-engine`'s settlement tests build them, and
//! settled by `settle_day`.

use std::io::Cursor;
use std::str::FromStr;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::{DateTime, NaiveDate, Utc};
use ets_core::BusinessZone;
use ets_core::{Decimal, InstrumentCode};
use ets_engine::settlement::{PARTICIPANT_COLUMNS, TRADE_COLUMNS};
use ets_engine::{CashDay, CashPosting, Settlement, Trade, TradeMethod, settle_day};
use ets_report::{TOTALS_LABEL, settlement_xlsx, settlement_xlsx_with_limit};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Days to settle.

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

const ZHEN: Uuid = Uuid::from_u128(1);
const ZHEN_NAME: &str = "苏州甲化工有限公司";
const WU: Uuid = Uuid::from_u128(2);
const WU_NAME: &str = "Wu, \"East\" Steel";
const CHANG: Uuid = Uuid::from_u128(3);
const CHANG_NAME: &str = "Changzhou Auction Buyer Co.";

const DEPOSIT: Uuid = Uuid::from_u128(101);
const BOOK: Uuid = Uuid::from_u128(102);
const NEGOTIATED: Uuid = Uuid::from_u128(103);
const AUCTION: Uuid = Uuid::from_u128(104);
const WITHDRAWAL: Uuid = Uuid::from_u128(105);
const INVOICE: Uuid = Uuid::from_u128(106);
const RECLAMATION: Uuid = Uuid::from_u128(107);

struct NewTrade {
    id: Uuid,
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
        id: new.id,
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
        business_date: BusinessZone::SHANGHAI.date(new.at),
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

/// `ets-engine`'s worked day: an order-book trade (10:00, 苏州甲 buys 10 t
/// from Wu at 120.50), a negotiated one (11:30, Wu buys 2.5 t from 苏州甲 at
/// 301.07) and an auction award (15:00, Changzhou, 5 t at 98.00, sold by
/// the authority); a deposit, a withdrawal, an invoice paid and a
/// reclamation's compensation. Closings worked by hand there:
/// 苏州甲 14634.60, Wu 20150.36, Changzhou 1275.44.
fn worked_settlement() -> Settlement {
    let trades = [
        trade(NewTrade {
            id: Uuid::from_u128(201),
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
            id: Uuid::from_u128(202),
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
        trade(NewTrade {
            id: Uuid::from_u128(203),
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
    ];
    let mut zhen = cash(ZHEN, ZHEN_NAME, "5000.00", "14634.60");
    zhen.postings = vec![
        posting(DEPOSIT, "cash.deposit", "10000.00"),
        posting(BOOK, "order.placed", "-1205.00"),
        posting(BOOK, "order.placed", "-1.21"),
        posting(NEGOTIATED, "negotiated.settled", "752.68"),
        posting(NEGOTIATED, "negotiated.settled", "-0.75"),
        posting(RECLAMATION, "reclamation.created", "88.88"),
    ];
    let mut wu = cash(WU, WU_NAME, "20000.00", "20150.36");
    wu.postings = vec![
        posting(BOOK, "order.placed", "1205.00"),
        posting(BOOK, "order.placed", "-1.21"),
        posting(NEGOTIATED, "negotiated.settled", "-752.68"),
        posting(NEGOTIATED, "negotiated.settled", "-0.75"),
        posting(WITHDRAWAL, "cash.withdrawal", "-300.00"),
    ];
    let mut chang = cash(CHANG, CHANG_NAME, "3000.00", "1275.44");
    chang.postings = vec![
        posting(AUCTION, "auction.cleared", "-490.00"),
        posting(INVOICE, "invoice.paid", "-1234.56"),
    ];
    settle_day(day(), vec![zhen, wu, chang], &trades).expect("the worked day reconciles")
}

/// The id of the `index`th order-book trade of [`day_of_book_trades`].
fn book_trade_id(index: u32) -> Uuid {
    Uuid::from_u128(300 + u128::from(index))
}

/// `count` order-book trades, a minute apart from 10:00: 苏州甲 buys 1.5 t
/// from Wu at 100.25 = 150.375 → 150.38, commission 0.15 a side.
fn day_of_book_trades(count: u32) -> Settlement {
    let mut trades = Vec::new();
    let mut zhen = cash(ZHEN, ZHEN_NAME, "10000.00", "10000.00");
    let mut wu = cash(WU, WU_NAME, "5000.00", "5000.00");
    for index in 0..count {
        let transaction = Uuid::from_u128(400 + u128::from(index));
        trades.push(trade(NewTrade {
            id: book_trade_id(index),
            method: TradeMethod::OrderBook,
            quantity: "1.5000",
            price: "100.25",
            value: "150.38",
            buyer: ZHEN,
            seller: Some(WU),
            commissions: ("0.15", "0.15"),
            at: suzhou(&format!("10:{index:02}:00")),
            transaction,
        }));
        zhen.postings
            .push(posting(transaction, "order.placed", "-150.38"));
        zhen.postings
            .push(posting(transaction, "order.placed", "-0.15"));
        zhen.closing -= dec("150.53");
        wu.postings
            .push(posting(transaction, "order.placed", "150.38"));
        wu.postings
            .push(posting(transaction, "order.placed", "-0.15"));
        wu.closing += dec("150.23");
    }
    settle_day(day(), vec![zhen, wu], &trades).expect("a day of book trades reconciles")
}

// ---------------------------------------------------------------------------
// Reading the workbook back.

fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes)).expect("calamine opens the workbook")
}

/// Every row of sheet `name`, from its first row and first column.
fn rows(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<Data>> {
    let range = book.worksheet_range(name).expect("the sheet");
    assert_eq!(range.start(), Some((0, 0)), "{name} starts at A1");
    range.rows().map(<[Data]>::to_vec).collect()
}

fn header(columns: &[&str]) -> Vec<Data> {
    columns
        .iter()
        .map(|column| Data::String((*column).to_owned()))
        .collect()
}

/// A number cell read back as a decimal rounded to `places`: the float's
/// shortest text, parsed.
fn number(cell: &Data, places: u32) -> Decimal {
    let Data::Float(float) = cell else {
        panic!("{cell:?} is not a number");
    };
    Decimal::from_str(&format!("{float}"))
        .expect("a float's text is a decimal")
        .round_dp(places)
}

/// Each cell of `row` says what the JSON object `json` says under its
/// column: a string of a text column as the same text, a decimal string of
/// a `numbers` column as a number equal to it at its places, `null` as an
/// empty cell.
fn assert_row_says(row: &[Data], json: &Value, columns: &[&str], numbers: &[&str]) {
    assert_eq!(row.len(), columns.len(), "one cell per column in {row:?}");
    for (cell, column) in row.iter().zip(columns) {
        let value = &json[*column];
        match value {
            Value::String(text) if numbers.contains(column) => {
                let exact = dec(text);
                assert_eq!(number(cell, exact.scale()), exact, "{column} of {json}");
            }
            Value::String(text) => {
                assert_eq!(cell, &Data::String(text.clone()), "{column} of {json}");
            }
            Value::Null => assert_eq!(cell, &Data::Empty, "{column} of {json}"),
            other => panic!("{column} of {json} is {other}, neither a string nor null"),
        }
    }
}

/// The participant columns that are money: all but the id and the name.
fn participant_money() -> Vec<&'static str> {
    PARTICIPANT_COLUMNS[2..].to_vec()
}

/// The trade columns that are numbers.
const TRADE_NUMBERS: [&str; 5] = [
    "quantity",
    "price",
    "value",
    "buyer_commission",
    "seller_commission",
];

/// The totals as the row the workbook writes: the label, no name, the sums.
fn totals_json(settlement: &Settlement) -> Value {
    let mut totals = serde_json::to_value(&settlement.totals).expect("totals as JSON");
    totals["participant_id"] = json!(TOTALS_LABEL);
    totals["name"] = Value::Null;
    totals
}

/// The trade ids on the trades sheets `names`, in order, each sheet's
/// header checked.
fn trade_ids_on(book: &mut Xlsx<Cursor<Vec<u8>>>, names: &[&str]) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .map(|name| {
            let rows = rows(book, name);
            assert_eq!(
                rows[0],
                header(&TRADE_COLUMNS),
                "{name} starts with its header"
            );
            let ids = rows[1..]
                .iter()
                .map(|row| match &row[0] {
                    Data::String(id) => id.clone(),
                    other => panic!("a trade id is text, not {other:?}"),
                })
                .collect();
            ((*name).to_owned(), ids)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn the_workbook_has_a_participants_sheet_and_a_trades_sheet_each_starting_with_its_header() {
    let mut book = open(settlement_xlsx(&worked_settlement()).expect("written"));

    assert_eq!(book.sheet_names(), ["participants", "trades"]);
    assert_eq!(
        rows(&mut book, "participants")[0],
        header(&PARTICIPANT_COLUMNS)
    );
    assert_eq!(rows(&mut book, "trades")[0], header(&TRADE_COLUMNS));
}

#[test]
fn every_participant_row_and_the_totals_row_say_what_the_json_says() {
    let settlement = worked_settlement();
    let mut book = open(settlement_xlsx(&settlement).expect("written"));
    let rows = rows(&mut book, "participants");

    // The header, three participants, the totals.
    assert_eq!(rows.len(), 5);
    for (row, participant) in rows[1..4].iter().zip(&settlement.participants) {
        let json = serde_json::to_value(participant).expect("a row as JSON");
        assert_row_says(row, &json, &PARTICIPANT_COLUMNS, &participant_money());
    }
    assert_row_says(
        &rows[4],
        &totals_json(&settlement),
        &PARTICIPANT_COLUMNS,
        &participant_money(),
    );
}

#[test]
fn names_are_text_intact_and_money_is_numbers_equal_to_the_exact_decimals() {
    let mut book = open(settlement_xlsx(&worked_settlement()).expect("written"));
    let rows = rows(&mut book, "participants");

    // By name: ASCII before Chinese.
    let names: Vec<&Data> = rows[1..4].iter().map(|row| &row[1]).collect();
    assert_eq!(
        names,
        [
            &Data::String(CHANG_NAME.to_owned()),
            &Data::String(WU_NAME.to_owned()),
            &Data::String(ZHEN_NAME.to_owned()),
        ]
    );
    let zhen = &rows[3];
    assert_eq!(zhen[0], Data::String(ZHEN.to_string()));
    // opening, bought, sold, commissions, fees_paid, deposits, withdrawals,
    // other, closing.
    let expected = [
        "5000.00", "1205.00", "752.68", "1.96", "0.00", "10000.00", "0.00", "88.88", "14634.60",
    ];
    for (cell, figure) in zhen[2..].iter().zip(expected) {
        assert!(matches!(cell, Data::Float(_)), "{cell:?} is a number");
        assert_eq!(number(cell, 2), dec(figure));
    }
}

#[test]
fn the_totals_row_is_labelled_totals_and_sums_each_money_column() {
    let mut book = open(settlement_xlsx(&worked_settlement()).expect("written"));
    let rows = rows(&mut book, "participants");
    let totals = rows.last().expect("a totals row");

    assert_eq!(totals[0], Data::String("totals".to_owned()));
    assert_eq!(totals[1], Data::Empty);
    // 3000.00 + 20000.00 + 5000.00 opening; 1275.44 + 20150.36 + 14634.60
    // closing; 1.21 + 0.75 twice in commissions.
    assert_eq!(number(&totals[2], 2), dec("28000.00"));
    assert_eq!(number(&totals[5], 2), dec("3.92"));
    assert_eq!(number(&totals[10], 2), dec("36060.40"));
}

#[test]
fn every_trade_line_says_what_the_json_says_and_an_auctions_seller_is_an_empty_cell() {
    let settlement = worked_settlement();
    let mut book = open(settlement_xlsx(&settlement).expect("written"));
    let rows = rows(&mut book, "trades");

    assert_eq!(rows.len(), 1 + settlement.trades.len());
    for (row, line) in rows[1..].iter().zip(&settlement.trades) {
        let json = serde_json::to_value(line).expect("a line as JSON");
        assert_row_says(row, &json, &TRADE_COLUMNS, &TRADE_NUMBERS);
    }
    let auction = &rows[3];
    assert_eq!(auction[3], Data::String("auction".to_owned()));
    assert_eq!(auction[8], Data::Empty);
    let book_trade = &rows[1];
    assert_eq!(
        book_trade[1],
        Data::String("2026-06-01T02:00:00.000000Z".to_owned())
    );
    assert_eq!(book_trade[2], Data::String("SO2-320500-2026".to_owned()));
    assert_eq!(number(&book_trade[4], 4), dec("10.0000"));
    assert_eq!(number(&book_trade[5], 2), dec("120.50"));
    assert_eq!(number(&book_trade[6], 2), dec("1205.00"));
}

#[test]
fn amounts_of_fifteen_digits_are_exact_in_their_cells() {
    // Just under 10^13 CNY: 9999999999000.00 + 999.99 deposited.
    let mut rich = cash(ZHEN, ZHEN_NAME, "9999999999000.00", "9999999999999.99");
    rich.postings = vec![posting(DEPOSIT, "cash.deposit", "999.99")];
    let settlement = settle_day(day(), vec![rich], &[]).expect("reconciles");
    let mut book = open(settlement_xlsx(&settlement).expect("written"));
    let rows = rows(&mut book, "participants");

    for row in &rows[1..] {
        assert_eq!(number(&row[2], 2), dec("9999999999000.00"));
        assert_eq!(number(&row[7], 2), dec("999.99"));
        assert_eq!(number(&row[10], 2), dec("9999999999999.99"));
        // Not only after rounding: the float's own text is the decimal's.
        assert!(matches!(row[10], Data::Float(float) if float.to_string() == "9999999999999.99"));
    }
}

#[test]
fn money_shows_two_places_quantities_and_prices_their_own_and_the_header_is_bold() {
    let mut book = open(settlement_xlsx(&worked_settlement()).expect("written"));
    let format_of = |book: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str, cell: (u32, u32)| {
        let styles = book.worksheet_style(sheet).expect("the sheet's styles");
        let style = styles.get(cell).expect("a styled cell");
        style
            .number_format
            .as_ref()
            .map(|format| format.format_code.clone())
    };
    let bold = |book: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str, cell: (u32, u32)| {
        let styles = book.worksheet_style(sheet).expect("the sheet's styles");
        styles
            .get(cell)
            .and_then(|style| style.font.as_ref())
            .is_some_and(calamine::Font::is_bold)
    };

    for column in 2..11 {
        assert_eq!(
            format_of(&mut book, "participants", (1, column)).as_deref(),
            Some("#,##0.00"),
            "participant column {column}"
        );
    }
    // The totals row too.
    assert_eq!(
        format_of(&mut book, "participants", (4, 10)).as_deref(),
        Some("#,##0.00")
    );
    // quantity 10.0000, price 120.50, value, the commissions.
    let trade_formats = [
        (4, "0.0000"),
        (5, "0.00"),
        (6, "#,##0.00"),
        (9, "#,##0.00"),
        (10, "#,##0.00"),
    ];
    for (column, code) in trade_formats {
        assert_eq!(
            format_of(&mut book, "trades", (1, column)).as_deref(),
            Some(code),
            "trade column {column}"
        );
    }
    for sheet in ["participants", "trades"] {
        assert!(bold(&mut book, sheet, (0, 0)), "{sheet}'s header is bold");
        assert!(!bold(&mut book, sheet, (1, 0)), "{sheet}'s rows are not");
    }
}

#[test]
fn past_the_row_limit_trades_continue_on_further_sheets_each_with_its_header() {
    // Three rows a sheet: the header and two trades.
    let settlement = day_of_book_trades(5);
    let mut book = open(settlement_xlsx_with_limit(&settlement, 3).expect("written"));

    assert_eq!(
        book.sheet_names(),
        [
            "participants",
            "participants (2)",
            "trades",
            "trades (2)",
            "trades (3)"
        ]
    );
    let id = |index| book_trade_id(index).to_string();
    assert_eq!(
        trade_ids_on(&mut book, &["trades", "trades (2)", "trades (3)"]),
        [
            ("trades".to_owned(), vec![id(0), id(1)]),
            ("trades (2)".to_owned(), vec![id(2), id(3)]),
            ("trades (3)".to_owned(), vec![id(4)]),
        ]
    );
}

#[test]
fn a_sheet_filled_exactly_to_the_limit_is_not_followed_by_an_empty_one() {
    let settlement = day_of_book_trades(4);
    let mut book = open(settlement_xlsx_with_limit(&settlement, 3).expect("written"));

    assert_eq!(
        book.sheet_names(),
        ["participants", "participants (2)", "trades", "trades (2)"]
    );
    let on_sheets: Vec<String> = trade_ids_on(&mut book, &["trades", "trades (2)"])
        .into_iter()
        .flat_map(|(_, ids)| ids)
        .collect();
    let all: Vec<String> = (0..4)
        .map(|index| book_trade_id(index).to_string())
        .collect();
    assert_eq!(on_sheets, all);
}

#[test]
fn past_the_row_limit_the_totals_row_follows_the_last_participant_on_the_next_sheet() {
    let settlement = worked_settlement();
    let mut book = open(settlement_xlsx_with_limit(&settlement, 3).expect("written"));

    let first = rows(&mut book, "participants");
    let second = rows(&mut book, "participants (2)");
    assert_eq!(first[0], header(&PARTICIPANT_COLUMNS));
    assert_eq!(second[0], header(&PARTICIPANT_COLUMNS));
    let ids: Vec<&Data> = first[1..]
        .iter()
        .chain(&second[1..])
        .map(|row| &row[0])
        .collect();
    assert_eq!(
        ids,
        [
            &Data::String(CHANG.to_string()),
            &Data::String(WU.to_string()),
            &Data::String(ZHEN.to_string()),
            &Data::String("totals".to_owned()),
        ]
    );
    assert_row_says(
        &second[2],
        &totals_json(&settlement),
        &PARTICIPANT_COLUMNS,
        &participant_money(),
    );
}

#[test]
fn a_day_without_trades_has_a_trades_sheet_with_only_its_header() {
    let mut deposit = cash(ZHEN, ZHEN_NAME, "0.00", "500.00");
    deposit.postings = vec![posting(DEPOSIT, "cash.deposit", "500.00")];
    let settlement = settle_day(day(), vec![deposit], &[]).expect("reconciles");
    let mut book = open(settlement_xlsx(&settlement).expect("written"));

    assert_eq!(book.sheet_names(), ["participants", "trades"]);
    assert_eq!(rows(&mut book, "trades"), [header(&TRADE_COLUMNS)]);
}

#[test]
fn the_same_settlement_gives_the_same_bytes_created_on_its_business_day() {
    let settlement = worked_settlement();
    let bytes = settlement_xlsx(&settlement).expect("written");

    assert_eq!(settlement_xlsx(&settlement).expect("written again"), bytes);
    let properties = open(bytes)
        .workbook_properties()
        .expect("the workbook's properties");
    assert_eq!(properties.created.as_deref(), Some("2026-06-01T00:00:00Z"));
    assert_eq!(properties.title.as_deref(), Some("Settlement 2026-06-01"));
}

#[test]
#[should_panic(expected = "a sheet holds a header and at least one row")]
fn a_limit_that_leaves_no_room_under_the_header_is_refused() {
    let _ = settlement_xlsx_with_limit(&worked_settlement(), 1);
}
