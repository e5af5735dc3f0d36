//! Request bodies and the text forms shared with the answers (decimals,
//! times). Decimals travel as JSON strings; a JSON number where a decimal
//! belongs is refused. Unknown fields are refused. The answers' bodies are
//! in `body`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ets_core::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

/// Prefix of serde error messages that the error mapping turns into the
/// `invalid_decimal` code.
pub(crate) const INVALID_DECIMAL: &str = "invalid_decimal:";

/// A decimal sent as a JSON string: `"12.5"`, `"-3"`, `"0.001"`. No
/// exponents, no JSON numbers, at most 28 significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalString(pub Decimal);

impl<'de> Deserialize<'de> for DecimalString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;
        impl Visitor<'_> for DecimalVisitor {
            type Value = DecimalString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal as a JSON string, e.g. \"12.50\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<DecimalString, E> {
                parse_decimal(text).map(DecimalString).ok_or_else(|| {
                    E::custom(format!("{INVALID_DECIMAL} {text:?} is not a plain decimal"))
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_DECIMAL} decimals are JSON strings, not numbers"
                )))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_DECIMAL} decimals are JSON strings, not numbers"
                )))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_DECIMAL} decimals are JSON strings, not numbers"
                )))
            }
        }
        deserializer.deserialize_any(DecimalVisitor)
    }
}

/// Parses `-?digits(.digits)?` exactly.
fn parse_decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    Decimal::from_str(text).ok()
}

/// RFC 3339 time as answered: UTC, microseconds.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An RFC 3339 time from a request, in UTC; anything else is 422 with this
/// code and detail.
pub(crate) fn instant(
    text: &str,
    code: &'static str,
    detail: &'static str,
) -> Result<DateTime<Utc>, crate::problem::Problem> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| crate::problem::Problem::unprocessable(code, detail))
}

/// A decimal rendered with exactly `scale` places.
pub(crate) fn fixed(value: Decimal, scale: u32) -> String {
    let mut value = value;
    value.rescale(scale);
    value.to_string()
}

/// `POST /v1/auth/token`. Its `Debug` never shows the secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The credential's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// A human name.
    pub name: String,
    /// admin, enterprise, regulator or finance.
    pub role: String,
    /// The participant of an enterprise credential.
    pub participant_id: Option<Uuid>,
}

/// `POST /v1/participants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRequest {
    /// Registered name.
    pub name: String,
    /// Unified social credit code.
    pub credit_code: String,
    /// 6-digit region.
    pub region_code: String,
    /// Industry.
    pub industry: Option<String>,
}

/// `POST /v1/instruments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentRequest {
    /// Code, e.g. `SO2-320500-2026`.
    pub code: String,
    /// pollutant_right, carbon_allowance or carbon_offset.
    pub kind: String,
    /// Pollutant of a pollutant right.
    pub pollutant: Option<String>,
    /// Unit.
    pub unit: String,
    /// Decimal places allowed.
    pub scale: u32,
    /// Region of a pollutant right.
    pub region_code: Option<String>,
    /// Vintage of carbon units.
    pub vintage: Option<i32>,
    /// Validity start.
    pub valid_from: Option<NaiveDate>,
    /// Validity end.
    pub valid_to: Option<NaiveDate>,
    /// Commission per side.
    pub commission_rate: Option<DecimalString>,
    /// Price band around the previous day's VWAP.
    pub price_band: Option<DecimalString>,
}

/// `POST /v1/allocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// Who receives.
    pub participant_id: Uuid,
    /// Instrument code.
    pub instrument: String,
    /// How much.
    pub quantity: DecimalString,
    /// free or paid.
    pub method: String,
    /// CNY per unit per year (paid).
    pub unit_fee: Option<DecimalString>,
    /// Years (paid).
    pub years: Option<u32>,
    /// Due date of the invoice (paid; default 30 days from today).
    pub due_date: Option<NaiveDate>,
}

/// `POST /v1/cash/deposits` and `/withdrawals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashRequest {
    /// Whose cash account.
    pub participant_id: Uuid,
    /// How much CNY.
    pub amount: DecimalString,
    /// The bank's reference.
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_strings_and_plain() {
        let ok: DecimalString = serde_json::from_str("\"12.50\"").expect("a decimal");
        assert_eq!(ok.0.to_string(), "12.50");
        for bad in [
            "12.5",
            "\"1e3\"",
            "\"12.\"",
            "\".5\"",
            "\"abc\"",
            "\"+1\"",
            "\" 1\"",
            "\"1_000\"",
        ] {
            let result: Result<DecimalString, _> = serde_json::from_str(bad);
            let error = result.expect_err(bad).to_string();
            assert!(error.contains(INVALID_DECIMAL), "{bad}: {error}");
        }
    }
}
