//! Reports a person opens in a spreadsheet: the settlement of a business day
//! (SPEC §5) as an XLSX workbook, for the finance department's Excel.
//!
//! [`settlement_xlsx`] writes a sheet `participants` (a header of
//! [`PARTICIPANT_COLUMNS`], one row per participant, then a row of the
//! totals labelled `totals`) and a sheet `trades` (a header of
//! [`TRADE_COLUMNS`], one row per trade line). A sheet that would pass
//! Excel's row limit goes on in `participants (2)`, `trades (2)`, …, each
//! with its header again.
//!
//! Ids, names, instruments, methods and times are text cells holding exactly
//! the text of the JSON settlement. Money, quantities and prices are number
//! cells, written from the exact decimals and shown to their places: money as
//! `#,##0.00`, a quantity or a price kept at four places as `0.0000`. Excel
//! keeps a number as a binary float of 15 to 17 significant digits, so a
//! cell is exact for every amount of up to 15 digits (below 10^13 CNY with
//! its fen); the JSON and the CSV carry the exact text whatever its length.
//!
//! The bytes depend on the settlement alone: the workbook's creation date is
//! the business day, not the wall clock, so the same settlement gives the
//! same file from the HTTP answer and from the command line.
//!
//! [`PARTICIPANT_COLUMNS`]: ets_engine::settlement::PARTICIPANT_COLUMNS
//! [`TRADE_COLUMNS`]: ets_engine::settlement::TRADE_COLUMNS

mod cells;
mod sheets;

use chrono::{Datelike, NaiveDate};
use ets_core::journal::format_time;
use ets_engine::settlement::{
    PARTICIPANT_COLUMNS, ParticipantSettlement, Settlement, SettlementHead, SettlementTotals,
    TRADE_COLUMNS, TradeLine,
};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook, Worksheet, XlsxError};

use crate::cells::{Cell, NumberFormats};
use crate::sheets::SheetSeries;

/// Rows on one Excel worksheet, its header row included: Excel's limit.
pub const EXCEL_ROWS_PER_SHEET: u32 = 1_048_576;

/// The label in the first column of the participants' totals row.
pub const TOTALS_LABEL: &str = "totals";

/// Column widths of the participants' sheets, in characters: a uuid is 36,
/// a name gets room for about twenty Chinese characters, money for
/// `999,999,999,999.99`.
const PARTICIPANT_WIDTHS: [u16; PARTICIPANT_COLUMNS.len()] =
    [38, 40, 18, 18, 18, 18, 18, 18, 18, 18, 18];

/// Column widths of the trades' sheets, in characters: a time as
/// [`format_time`] writes it is 27.
const TRADE_WIDTHS: [u16; TRADE_COLUMNS.len()] = [38, 29, 20, 12, 14, 14, 18, 38, 38, 18, 18];

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The XLSX writer refused a cell or a sheet: a text longer than
    /// Excel's 32,767 characters, or a business day outside Excel's years
    /// 1900 to 9999.
    #[error("the XLSX workbook could not be written")]
    Xlsx(#[from] XlsxError),
}

/// The settlement as an XLSX workbook, each sheet up to Excel's
/// [`EXCEL_ROWS_PER_SHEET`] rows.
///
/// # Errors
/// [`ReportError::Xlsx`] when a name is longer than a cell holds (32,767
/// characters) or the business day lies outside Excel's years 1900 to 9999.
pub fn settlement_xlsx(settlement: &Settlement) -> Result<Vec<u8>, ReportError> {
    settlement_xlsx_with_limit(settlement, EXCEL_ROWS_PER_SHEET)
}

/// The settlement as an XLSX workbook, each sheet up to `rows_per_sheet`
/// rows, its header included: [`settlement_xlsx`] with a smaller limit, so
/// the continuation sheets can be seen without a million rows.
///
/// # Panics
/// When `rows_per_sheet` leaves no room for a row under the header (below
/// 2) or passes Excel's [`EXCEL_ROWS_PER_SHEET`].
///
/// # Errors
/// As [`settlement_xlsx`].
pub fn settlement_xlsx_with_limit(
    settlement: &Settlement,
    rows_per_sheet: u32,
) -> Result<Vec<u8>, ReportError> {
    let head = SettlementHead {
        date: settlement.date,
        participants: settlement.participants.clone(),
        totals: settlement.totals.clone(),
    };
    let mut workbook = SettlementWorkbook::with_limit(settlement.date, rows_per_sheet)?;
    for line in &settlement.trades {
        workbook.push_trade(line)?;
    }
    let mut bytes = Vec::new();
    workbook.finish(&head, &mut bytes)?;
    Ok(bytes)
}

/// A settlement workbook written as the day is read: each trade line as it
/// comes, then the participants' rows once they are known, then the file.
/// Every sheet is in the XLSX writer's constant-memory mode (its rows in a
/// temporary file of the system's temporary directory), and the file is
/// streamed into the writer [`SettlementWorkbook::finish`] is given, so a
/// day of a million trades is never held in memory.
///
/// The participants' sheets come first in the file, as in a workbook
/// written whole, though their rows are written last.
pub struct SettlementWorkbook {
    workbook: Workbook,
    formats: NumberFormats,
    participants: SheetSeries<'static>,
    trades: SheetSeries<'static>,
}

impl SettlementWorkbook {
    /// The workbook of business day `date`, each sheet up to Excel's
    /// [`EXCEL_ROWS_PER_SHEET`] rows.
    ///
    /// # Errors
    /// As [`settlement_xlsx`]; also when a temporary file cannot be made.
    pub fn new(date: NaiveDate) -> Result<Self, ReportError> {
        Self::with_limit(date, EXCEL_ROWS_PER_SHEET)
    }

    /// [`SettlementWorkbook::new`] with each sheet up to `rows_per_sheet`
    /// rows, its header included.
    ///
    /// # Panics
    /// As [`settlement_xlsx_with_limit`].
    ///
    /// # Errors
    /// As [`SettlementWorkbook::new`].
    pub fn with_limit(date: NaiveDate, rows_per_sheet: u32) -> Result<Self, ReportError> {
        assert!(
            (2..=EXCEL_ROWS_PER_SHEET).contains(&rows_per_sheet),
            "a sheet holds a header and at least one row, and at most {EXCEL_ROWS_PER_SHEET} \
             rows, not {rows_per_sheet}"
        );
        let mut workbook = Workbook::new();
        workbook.set_properties(&properties(date)?);
        let mut participants = SheetSeries::new(
            "participants",
            &PARTICIPANT_COLUMNS,
            &PARTICIPANT_WIDTHS,
            rows_per_sheet,
        );
        participants.begin(&mut workbook)?;
        Ok(Self {
            workbook,
            formats: NumberFormats::default(),
            participants,
            trades: SheetSeries::new("trades", &TRADE_COLUMNS, &TRADE_WIDTHS, rows_per_sheet),
        })
    }

    /// Writes the next trade line.
    ///
    /// # Errors
    /// [`ReportError::Xlsx`] when the writer refuses the row.
    pub fn push_trade(&mut self, line: &TradeLine) -> Result<(), ReportError> {
        self.trades
            .push(&mut self.workbook, &trade_cells(line), &mut self.formats)?;
        Ok(())
    }

    /// Writes the participants' rows and their totals, then the file into
    /// `out`.
    ///
    /// # Errors
    /// [`ReportError::Xlsx`] when a row is refused, the file cannot be put
    /// together or `out` refuses a write.
    pub fn finish(
        mut self,
        head: &SettlementHead,
        out: impl std::io::Write + Send,
    ) -> Result<(), ReportError> {
        self.trades.finish(&mut self.workbook)?;
        let (workbook, formats) = (&mut self.workbook, &mut self.formats);
        for row in &head.participants {
            self.participants
                .push(workbook, &participant_cells(row), formats)?;
        }
        self.participants
            .push(workbook, &totals_cells(&head.totals), formats)?;
        let order: Vec<usize> = self
            .participants
            .sheets()
            .iter()
            .chain(self.trades.sheets())
            .copied()
            .collect();
        reorder(workbook.worksheets_mut(), &order);
        workbook.save_to_writer(out)?;
        Ok(())
    }
}

/// Puts the sheets in `order` (each index once): the participants' sheets
/// begun after the trades' move before them.
fn reorder(sheets: &mut Vec<Worksheet>, order: &[usize]) {
    let mut taken: Vec<Option<Worksheet>> = std::mem::take(sheets).into_iter().map(Some).collect();
    assert_eq!(taken.len(), order.len(), "every sheet placed once");
    sheets.extend(
        order
            .iter()
            .map(|index| taken[*index].take().expect("every sheet placed once")),
    );
}

/// The workbook's properties: a title naming the day, and the day itself as
/// the creation date, so that the bytes do not depend on when they were
/// written.
fn properties(date: NaiveDate) -> Result<DocProperties, XlsxError> {
    // A year that does not fit a u16 is past Excel's 9999, which `from_ymd`
    // refuses like any other year out of its range.
    let year = u16::try_from(date.year()).unwrap_or(u16::MAX);
    let month = u8::try_from(date.month()).expect("a month is 1 to 12");
    let day = u8::try_from(date.day()).expect("a day of the month is 1 to 31");
    let created = ExcelDateTime::from_ymd(year, month, day)?;
    Ok(DocProperties::new()
        .set_title(format!("Settlement {date}"))
        .set_creation_datetime(&created))
}

/// A participant's row, in [`PARTICIPANT_COLUMNS`] order.
fn participant_cells(row: &ParticipantSettlement) -> [Cell; PARTICIPANT_COLUMNS.len()] {
    [
        Cell::Text(row.participant_id.to_string()),
        Cell::Text(row.name.clone()),
        Cell::Money(row.opening_cash),
        Cell::Money(row.bought_value),
        Cell::Money(row.sold_value),
        Cell::Money(row.commissions),
        Cell::Money(row.fees_paid),
        Cell::Money(row.deposits),
        Cell::Money(row.withdrawals),
        Cell::Money(row.other),
        Cell::Money(row.closing_cash),
    ]
}

/// The totals row: [`TOTALS_LABEL`] under `participant_id`, nothing under
/// `name`, each money column's sum under it.
fn totals_cells(totals: &SettlementTotals) -> [Cell; PARTICIPANT_COLUMNS.len()] {
    [
        Cell::Text(TOTALS_LABEL.to_owned()),
        Cell::Empty,
        Cell::Money(totals.opening_cash),
        Cell::Money(totals.bought_value),
        Cell::Money(totals.sold_value),
        Cell::Money(totals.commissions),
        Cell::Money(totals.fees_paid),
        Cell::Money(totals.deposits),
        Cell::Money(totals.withdrawals),
        Cell::Money(totals.other),
        Cell::Money(totals.closing_cash),
    ]
}

/// A trade line, in [`TRADE_COLUMNS`] order; an auction's seller (the
/// authority, `null` in the JSON) is an empty cell.
fn trade_cells(line: &TradeLine) -> [Cell; TRADE_COLUMNS.len()] {
    [
        Cell::Text(line.trade_id.to_string()),
        Cell::Text(format_time(line.executed_at)),
        Cell::Text(line.instrument.as_str().to_owned()),
        Cell::Text(line.method.as_str().to_owned()),
        Cell::Measure(line.quantity),
        Cell::Measure(line.price),
        Cell::Money(line.value),
        Cell::Text(line.buyer_participant_id.to_string()),
        line.seller_participant_id
            .map_or(Cell::Empty, |seller| Cell::Text(seller.to_string())),
        Cell::Money(line.buyer_commission),
        Cell::Money(line.seller_commission),
    ]
}
