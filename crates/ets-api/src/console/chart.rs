//! The overview's charts as SVG drawn on the server: a line of daily VWAPs
//! and bars of daily quantities over a window of days. Coordinates are
//! computed from the exact figures in decimals and rounded to a tenth of a
//! pixel only for drawing; the figures themselves are printed beside the
//! chart (its lowest and highest), never read back from it.

use chrono::NaiveDate;
use ets_core::Decimal;
use maud::{Markup, html};

/// The drawing's size in SVG units.
const WIDTH: i64 = 600;
const HEIGHT: i64 = 160;

/// One figure a day, oldest first, within `from..from + days`.
pub(crate) struct Series<'a> {
    pub(crate) from: NaiveDate,
    pub(crate) days: i64,
    pub(crate) points: &'a [(NaiveDate, Decimal)],
}

impl Series<'_> {
    /// Where day `date` falls across the width.
    fn x(&self, date: NaiveDate) -> Decimal {
        let index = (date - self.from).num_days();
        let span = (self.days - 1).max(1);
        (Decimal::from(index * WIDTH) / Decimal::from(span)).round_dp(1)
    }

    fn range(&self, floor_at_zero: bool) -> Option<(Decimal, Decimal)> {
        let mut values = self.points.iter().map(|(_, v)| *v);
        let first = values.next()?;
        let (low, high) = values.fold((first, first), |(l, h), v| (l.min(v), h.max(v)));
        Some((if floor_at_zero { Decimal::ZERO } else { low }, high))
    }

    /// Where `value` falls up the height between `low` and `high` (the
    /// middle when they are one).
    fn y(value: Decimal, low: Decimal, high: Decimal) -> Decimal {
        let height = Decimal::from(HEIGHT);
        if high == low {
            return height / Decimal::TWO;
        }
        (height - (value - low) * height / (high - low)).round_dp(1)
    }

    /// The points of a line through each day's figure.
    pub(crate) fn line(&self) -> Option<String> {
        let dots = self.dots();
        (!dots.is_empty()).then(|| {
            let points: Vec<String> = dots.iter().map(|(x, y)| format!("{x},{y}")).collect();
            points.join(" ")
        })
    }

    /// Each day's point of the line (a day alone in the window shows as
    /// its dot).
    pub(crate) fn dots(&self) -> Vec<(Decimal, Decimal)> {
        let Some((low, high)) = self.range(false) else {
            return Vec::new();
        };
        self.points
            .iter()
            .map(|(date, value)| (self.x(*date), Self::y(*value, low, high)))
            .collect()
    }

    /// Each day's bar: its x, its top and its height.
    pub(crate) fn bars(&self) -> Vec<(Decimal, Decimal, Decimal)> {
        let Some((low, high)) = self.range(true) else {
            return Vec::new();
        };
        self.points
            .iter()
            .map(|(date, value)| {
                let top = Self::y(*value, low, high);
                (self.x(*date), top, Decimal::from(HEIGHT) - top)
            })
            .collect()
    }
}

/// A chart, titled `title` for readers of the page and of screen readers,
/// with its lowest and highest figures printed as the API gives them.
pub(crate) fn chart(
    title: &str,
    series: &Series<'_>,
    bars: bool,
    low_high: Option<(String, String)>,
) -> Markup {
    let view = format!("0 0 {WIDTH} {HEIGHT}");
    html! {
        figure class="chart" {
            figcaption { (title) }
            svg viewBox=(view) role="img" aria-label=(title) preserveAspectRatio="none" {
                @if bars {
                    @for (x, top, height) in series.bars() {
                        rect x=(x - Decimal::TWO) y=(top) width="4" height=(height) {}
                    }
                } @else if let Some(points) = series.line() {
                    polyline points=(points) fill="none" {}
                    @for (x, y) in series.dots() {
                        circle cx=(x) cy=(y) r="3" {}
                    }
                }
            }
            @if let Some((low, high)) = low_high {
                p class="range" { (low) " – " (high) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, n).expect("a day")
    }

    fn dec(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn the_line_spans_the_window_lowest_at_the_bottom() {
        let points = [
            (day(1), dec("10.00")),
            (day(2), dec("12.00")),
            (day(3), dec("11.00")),
        ];
        let series = Series {
            from: day(1),
            days: 3,
            points: &points,
        };
        assert_eq!(series.line().as_deref(), Some("0,160 300,0 600,80"));
    }

    #[test]
    fn one_price_all_window_long_is_a_flat_line_in_the_middle() {
        let points = [(day(1), dec("218.00")), (day(30), dec("218.00"))];
        let series = Series {
            from: day(1),
            days: 90,
            points: &points,
        };
        assert_eq!(series.line().as_deref(), Some("0,80 195.5,80"));
    }

    #[test]
    fn bars_stand_on_zero() {
        let points = [(day(1), dec("5")), (day(2), dec("20"))];
        let series = Series {
            from: day(1),
            days: 2,
            points: &points,
        };
        assert_eq!(
            series.bars(),
            vec![
                (dec("0"), dec("120"), dec("40")),
                (dec("600"), dec("0"), dec("160"))
            ]
        );
    }

    #[test]
    fn no_trades_draw_nothing() {
        let series = Series {
            from: day(1),
            days: 90,
            points: &[],
        };
        assert_eq!(series.line(), None);
        assert!(series.bars().is_empty());
    }
}
