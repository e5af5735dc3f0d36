//! A run of sheets of one kind of row: `trades`, `trades (2)`, …, each
//! starting with the header, a new one begun when a sheet is full.

use rust_xlsxwriter::{Format, Worksheet, XlsxError};

use crate::cells::{Cell, NumberFormats};

/// Sheets of one kind of row, filled one row at a time.
pub(crate) struct SheetSeries<'a> {
    /// The first sheet's name; the next ones add ` (2)`, ` (3)`, ….
    name: &'static str,
    /// The header row.
    columns: &'a [&'a str],
    /// Each column's width, in characters.
    widths: &'a [u16],
    /// Rows a sheet holds, its header included.
    rows_per_sheet: u32,
    /// The header's format: bold.
    header: Format,
    /// The sheets filled so far.
    full: Vec<Worksheet>,
    /// The sheet being filled and the index of its next row.
    current: Option<(Worksheet, u32)>,
}

impl<'a> SheetSeries<'a> {
    /// No sheet yet: the first is begun by the first row, or by
    /// [`SheetSeries::finish`] when there is none.
    pub(crate) fn new(
        name: &'static str,
        columns: &'a [&'a str],
        widths: &'a [u16],
        rows_per_sheet: u32,
    ) -> Self {
        assert_eq!(columns.len(), widths.len(), "one width per column");
        assert!(rows_per_sheet >= 2, "a sheet holds its header and a row");
        Self {
            name,
            columns,
            widths,
            rows_per_sheet,
            header: Format::new().set_bold(),
            full: Vec::new(),
            current: None,
        }
    }

    /// Writes `cells` as the next row, on a new sheet when the current one
    /// is full.
    pub(crate) fn push(
        &mut self,
        cells: &[Cell],
        formats: &mut NumberFormats,
    ) -> Result<(), XlsxError> {
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        let (sheet, next_row) = match self.current.take() {
            Some((sheet, next_row)) if next_row < self.rows_per_sheet => (sheet, next_row),
            Some((sheet, _)) => {
                self.full.push(sheet);
                (self.begin_sheet()?, 1)
            }
            None => (self.begin_sheet()?, 1),
        };
        let (sheet, _) = self.current.insert((sheet, next_row + 1));
        for (column, cell) in (0_u16..).zip(cells) {
            cell.write(sheet, next_row, column, formats)?;
        }
        Ok(())
    }

    /// Every sheet, in order; a series that had no row is one sheet with
    /// its header.
    pub(crate) fn finish(mut self) -> Result<Vec<Worksheet>, XlsxError> {
        let last = match self.current.take() {
            Some((sheet, _)) => sheet,
            None => self.begin_sheet()?,
        };
        self.full.push(last);
        Ok(self.full)
    }

    /// A new sheet, named for its place in the series, with the header in
    /// bold, the panes frozen below it and the columns' widths set.
    fn begin_sheet(&self) -> Result<Worksheet, XlsxError> {
        let mut sheet = Worksheet::new();
        let number = self.full.len() + 1;
        if number == 1 {
            sheet.set_name(self.name)?;
        } else {
            sheet.set_name(format!("{} ({number})", self.name))?;
        }
        for (column, (title, width)) in (0_u16..).zip(self.columns.iter().zip(self.widths)) {
            sheet.write_string_with_format(0, column, *title, &self.header)?;
            sheet.set_column_width(column, *width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(sheet)
    }
}
