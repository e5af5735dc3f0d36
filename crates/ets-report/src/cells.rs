//! One cell of a sheet: text, nothing, or a decimal written as a number and
//! shown to its places.

use std::collections::BTreeMap;

use ets_core::Decimal;
use rust_xlsxwriter::{Format, Worksheet, XlsxError};

/// What goes in one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// Text, as the JSON writes it.
    Text(String),
    /// Nothing: the JSON's `null`, or the totals row's name.
    Empty,
    /// CNY, shown with thousands separators and its places (`#,##0.00`).
    Money(Decimal),
    /// A quantity or a price, shown with as many places as it is kept with
    /// (`0.0000` for four).
    Measure(Decimal),
}

impl Cell {
    /// Writes the cell at (`row`, `column`) of `sheet`.
    pub(crate) fn write(
        &self,
        sheet: &mut Worksheet,
        row: u32,
        column: u16,
        formats: &mut NumberFormats,
    ) -> Result<(), XlsxError> {
        match self {
            Self::Text(text) => {
                sheet.write_string(row, column, text)?;
            }
            Self::Empty => {}
            Self::Money(amount) => {
                let format = formats.get(Grouping::Thousands, amount.scale());
                sheet.write_number_with_format(row, column, excel_number(*amount), format)?;
            }
            Self::Measure(amount) => {
                let format = formats.get(Grouping::None, amount.scale());
                sheet.write_number_with_format(row, column, excel_number(*amount), format)?;
            }
        }
        Ok(())
    }
}

/// The number Excel keeps for `amount`: the float nearest its exact text.
///
/// The only place in the project where money becomes a float: Excel keeps
/// every number as an IEEE 754 double, and rust_xlsxwriter takes an `f64`.
/// A double holds 15 to 17 significant decimal digits: every decimal of at
/// most 15 significant digits goes to the nearest double and comes back as
/// the same digits. Every amount below 10^13 CNY with its fen
/// (9,999,999,999,999.99) has at most 15, so its cell is exact: the writer
/// writes the double's shortest text, which is the decimal's own digits, and
/// Excel shows them through the cell's format. Longer figures are rounded
/// here only; the JSON and the CSV carry the exact strings.
///
/// Going through the decimal's text makes this one correctly rounded
/// conversion (Rust's float parser), where arithmetic on the decimal's
/// mantissa and scale would round twice.
fn excel_number(amount: Decimal) -> f64 {
    amount
        .to_string()
        .parse::<f64>()
        .expect("a decimal's text is a float's text")
}

/// Whether a number format groups thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grouping {
    /// `#,##0`: money.
    Thousands,
    /// `0`: quantities and prices.
    None,
}

/// The number formats made so far, one per grouping and count of places:
/// a million cells share a handful of formats.
#[derive(Debug, Default)]
pub(crate) struct NumberFormats {
    made: BTreeMap<(Grouping, u32), Format>,
}

impl NumberFormats {
    /// The format showing a number with `places` decimal places.
    fn get(&mut self, grouping: Grouping, places: u32) -> &Format {
        self.made
            .entry((grouping, places))
            .or_insert_with(|| Format::new().set_num_format(format_code(grouping, places)))
    }
}

/// Excel's format code for `places` decimal places: `#,##0.00`, `0.0000`,
/// `0`.
fn format_code(grouping: Grouping, places: u32) -> String {
    let mut code = String::from(match grouping {
        Grouping::Thousands => "#,##0",
        Grouping::None => "0",
    });
    if places > 0 {
        code.push('.');
        code.push_str(&"0".repeat(places as usize));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_codes_show_as_many_places_as_the_decimal_keeps() {
        assert_eq!(format_code(Grouping::Thousands, 2), "#,##0.00");
        assert_eq!(format_code(Grouping::None, 4), "0.0000");
        assert_eq!(format_code(Grouping::None, 0), "0");
        assert_eq!(format_code(Grouping::Thousands, 0), "#,##0");
    }

    #[test]
    fn a_fifteen_digit_amount_becomes_a_float_whose_shortest_text_is_its_digits() {
        for text in ["9999999999999.99", "752.68", "0.01", "-1234.56", "120.5"] {
            let amount: Decimal = text.parse().expect("a decimal");
            assert_eq!(excel_number(amount).to_string(), text);
        }
    }
}
