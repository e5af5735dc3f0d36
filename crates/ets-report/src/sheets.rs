//! A run of sheets of one kind of row: `trades`, `trades (2)`, …, each
//! starting with the header, a new one begun when a sheet is full. The
//! sheets are the workbook's, in constant-memory mode: each row goes to the
//! sheet's temporary file once the next one begins, so a sheet of a million
//! rows never sits in memory.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

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
    /// The workbook's indices of the sheets of this series begun so far.
    sheets: Vec<usize>,
    /// The workbook's index of the sheet being filled and the index of its
    /// next row.
    current: Option<(usize, u32)>,
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
            sheets: Vec::new(),
            current: None,
        }
    }

    /// Writes `cells` as the next row, on a new sheet (at the end of the
    /// workbook) when the current one is full.
    pub(crate) fn push(
        &mut self,
        workbook: &mut Workbook,
        cells: &[Cell],
        formats: &mut NumberFormats,
    ) -> Result<(), XlsxError> {
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        let (index, row) = match self.current {
            Some((index, row)) if row < self.rows_per_sheet => (index, row),
            _ => (self.begin_sheet(workbook)?, 1),
        };
        self.current = Some((index, row + 1));
        let sheet = workbook.worksheet_from_index(index)?;
        for (column, cell) in (0_u16..).zip(cells) {
            cell.write(sheet, row, column, formats)?;
        }
        Ok(())
    }

    /// Begins the series' first sheet now, so that it takes its place in
    /// the workbook before sheets begun later, whenever its rows come.
    pub(crate) fn begin(&mut self, workbook: &mut Workbook) -> Result<(), XlsxError> {
        if self.current.is_none() {
            let index = self.begin_sheet(workbook)?;
            self.current = Some((index, 1));
        }
        Ok(())
    }

    /// Ends the series: a series that had no row gets one sheet with its
    /// header.
    pub(crate) fn finish(&mut self, workbook: &mut Workbook) -> Result<(), XlsxError> {
        self.begin(workbook)
    }

    /// A new sheet at the end of the workbook, named for its place in the
    /// series, with the header in bold, the panes frozen below it and the
    /// columns' widths set; answers its index.
    fn begin_sheet(&mut self, workbook: &mut Workbook) -> Result<usize, XlsxError> {
        let number = self.sheets.len() + 1;
        let name = if number == 1 {
            self.name.to_owned()
        } else {
            format!("{} ({number})", self.name)
        };
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        for (column, (title, width)) in (0_u16..).zip(self.columns.iter().zip(self.widths)) {
            sheet.write_string_with_format(0, column, *title, &self.header)?;
            sheet.set_column_width(column, *width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        let index = workbook.worksheets().len() - 1;
        self.sheets.push(index);
        Ok(index)
    }

    /// The workbook's indices of this series' sheets, in order.
    pub(crate) fn sheets(&self) -> &[usize] {
        &self.sheets
    }
}
