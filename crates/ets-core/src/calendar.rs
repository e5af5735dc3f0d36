//! The business calendar: which day an instant belongs to.
//!
//! A ledger counts its days (a trade's business date, the price band's
//! reference day, a settlement, an invoice's surcharge days, a pollutant
//! right's validity) in one time zone, fixed when its database is created:
//! Asia/Shanghai unless configured. Zones here are fixed offsets from UTC,
//! which is exact for China (UTC+8 all year, no daylight saving time since
//! 1991) and for any zone without daylight saving; a zone with it is not
//! supported, since a business day there would not be 24 hours.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

/// The largest offset from UTC a zone has (UTC+14, Kiribati).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// The ledger's business time zone: a fixed offset from UTC, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BusinessZone {
    offset_minutes: i32,
}

/// Why a text is not a [`BusinessZone`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a business time zone is an offset from UTC such as +08:00 (or Asia/Shanghai, UTC)")]
pub struct InvalidZone;

impl BusinessZone {
    /// Asia/Shanghai: UTC+8.
    pub const SHANGHAI: Self = Self {
        offset_minutes: 8 * 60,
    };

    /// A zone `offset_minutes` east of UTC (west when negative).
    ///
    /// # Errors
    /// [`InvalidZone`] beyond ±14 hours.
    pub fn from_offset_minutes(offset_minutes: i32) -> Result<Self, InvalidZone> {
        if offset_minutes.abs() > MAX_OFFSET_MINUTES {
            return Err(InvalidZone);
        }
        Ok(Self { offset_minutes })
    }

    /// Its offset east of UTC, in minutes.
    #[must_use]
    pub fn offset_minutes(self) -> i32 {
        self.offset_minutes
    }

    fn offset(self) -> Duration {
        Duration::minutes(i64::from(self.offset_minutes))
    }

    /// The business day of an instant: its date in this zone.
    #[must_use]
    pub fn date(self, at: DateTime<Utc>) -> NaiveDate {
        (at + self.offset()).date_naive()
    }

    /// The business day `date` as instants: its start and its end
    /// (exclusive). An instant `at` is on `date` ([`BusinessZone::date`])
    /// exactly when start ≤ `at` < end.
    #[must_use]
    pub fn day_bounds(self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = date.and_time(NaiveTime::MIN).and_utc() - self.offset();
        (start, start + Duration::days(1))
    }
}

impl Default for BusinessZone {
    /// [`BusinessZone::SHANGHAI`].
    fn default() -> Self {
        Self::SHANGHAI
    }
}

impl fmt::Display for BusinessZone {
    /// `+08:00`, `-05:30`, `+00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let minutes = self.offset_minutes.abs();
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl FromStr for BusinessZone {
    type Err = InvalidZone;

    /// `+HH:MM` or `-HH:MM`; also `UTC`, `Z` and `Asia/Shanghai`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "Asia/Shanghai" => return Ok(Self::SHANGHAI),
            "UTC" | "Z" => return Self::from_offset_minutes(0),
            _ => {}
        }
        let bytes = text.as_bytes();
        let sign = match bytes.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(InvalidZone),
        };
        let digits = |range: std::ops::Range<usize>| -> Result<i32, InvalidZone> {
            let part = text.get(range).ok_or(InvalidZone)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidZone);
            }
            part.parse().map_err(|_| InvalidZone)
        };
        if text.len() != 6 || bytes[3] != b':' {
            return Err(InvalidZone);
        }
        let (hours, minutes) = (digits(1..3)?, digits(4..6)?);
        if minutes >= 60 {
            return Err(InvalidZone);
        }
        Self::from_offset_minutes(sign * (hours * 60 + minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn shanghai_days_begin_at_sixteen_hundred_utc() {
        let zone = BusinessZone::default();
        assert_eq!(
            zone.date(at("2026-03-01T15:59:59.999999Z")),
            date("2026-03-01")
        );
        assert_eq!(zone.date(at("2026-03-01T16:00:00Z")), date("2026-03-02"));
        assert_eq!(
            zone.day_bounds(date("2026-03-02")),
            (at("2026-03-01T16:00:00Z"), at("2026-03-02T16:00:00Z"))
        );
    }

    #[test]
    fn other_zones_count_their_own_days() {
        let new_york: BusinessZone = "-05:00".parse().expect("a zone");
        assert_eq!(
            new_york.date(at("2026-03-02T04:59:59Z")),
            date("2026-03-01")
        );
        assert_eq!(
            new_york.date(at("2026-03-02T05:00:00Z")),
            date("2026-03-02")
        );
        let (start, end) = new_york.day_bounds(date("2026-03-02"));
        assert_eq!(new_york.date(start), date("2026-03-02"));
        assert_eq!(
            new_york.date(end - Duration::microseconds(1)),
            date("2026-03-02")
        );
        assert_eq!(new_york.date(end), date("2026-03-03"));
        let utc: BusinessZone = "UTC".parse().expect("a zone");
        assert_eq!(utc.date(at("2026-03-01T23:59:59Z")), date("2026-03-01"));
    }

    #[test]
    fn zones_read_and_write_as_offsets() {
        for (text, shown) in [
            ("+08:00", "+08:00"),
            ("Asia/Shanghai", "+08:00"),
            ("-05:30", "-05:30"),
            ("UTC", "+00:00"),
            ("Z", "+00:00"),
            ("+14:00", "+14:00"),
        ] {
            let zone: BusinessZone = text.parse().expect(text);
            assert_eq!(zone.to_string(), shown);
            assert_eq!(shown.parse::<BusinessZone>(), Ok(zone));
        }
        for bad in [
            "8",
            "+8:00",
            "+08:60",
            "+15:00",
            "08:00",
            "+08:00:00",
            "Europe/Paris",
            "",
            "+0８:00",
        ] {
            assert_eq!(bad.parse::<BusinessZone>(), Err(InvalidZone), "{bad:?}");
        }
    }
}
