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
/// Prefix of serde error messages that the error mapping turns into the
/// `scale_exceeded` code.
pub(crate) const SCALE_EXCEEDED: &str = "scale_exceeded:";

/// The most significant digits a decimal keeps exactly (rust_decimal's 96-bit
/// mantissa holds any 28).
const MAX_DIGITS: usize = 28;

/// A decimal sent as a JSON string: `"12.5"`, `"-3"`, `"0.001"`. No
/// exponents, no JSON numbers, at most 28 significant digits: more decimal
/// places than that are `scale_exceeded` whatever the field (no field
/// allows them), never rounded; trailing zeros beyond them are dropped.
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
                match parse_decimal(text) {
                    Ok(value) => Ok(DecimalString(value)),
                    Err(DecimalError::Plain) => Err(E::custom(format!(
                        "{INVALID_DECIMAL} {text:?} is not a plain decimal"
                    ))),
                    Err(DecimalError::TooPrecise) => Err(E::custom(format!(
                        "{SCALE_EXCEEDED} {text:?} has more decimal places than any field allows"
                    ))),
                }
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

/// Why a text is not a [`DecimalString`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalError {
    /// Not `-?digits(.digits)?`, or too large.
    Plain,
    /// More significant digits than a decimal keeps, in its places.
    TooPrecise,
}

/// Parses `-?digits(.digits)?` exactly: never rounded. Trailing zeros of the
/// fraction beyond what a decimal keeps are dropped; a non-zero digit
/// beyond it is [`DecimalError::TooPrecise`].
fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return Err(DecimalError::Plain),
        None => (unsigned, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
        return Err(DecimalError::Plain);
    }
    let significant_whole = whole.trim_start_matches('0').len();
    if significant_whole > MAX_DIGITS {
        return Err(DecimalError::Plain);
    }
    let room = MAX_DIGITS - significant_whole;
    // The places that fit, as the client wrote them; what is cut is zeros.
    let fraction = if fraction.len() > room {
        if fraction.trim_end_matches('0').len() > room {
            return Err(DecimalError::TooPrecise);
        }
        &fraction[..room]
    } else {
        fraction
    };
    let sign = if negative { "-" } else { "" };
    let exact = if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    };
    Decimal::from_str(&exact).map_err(|_| DecimalError::Plain)
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

    #[test]
    fn decimals_are_never_rounded() {
        let read = |text: &str| serde_json::from_str::<DecimalString>(&format!("\"{text}\""));
        // 29 places, the last not zero: no field allows it, and it is not
        // rounded to 1.0000… and accepted.
        for too_precise in [
            "0.99999999999999999999999999999",
            "1.0000000000000000000000000001",
            "123456789012345678901234567.89",
            "-0.00000000000000000000000000001",
        ] {
            let error = read(too_precise).expect_err(too_precise).to_string();
            assert!(error.contains(SCALE_EXCEEDED), "{too_precise}: {error}");
        }
        // Trailing zeros beyond the 28 digits are dropped, nothing else.
        let zeros = read("1.000000000000000000000000000000000").expect("trailing zeros");
        assert_eq!(zeros.0, Decimal::ONE);
        assert_eq!(zeros.0.to_string(), format!("1.{}", "0".repeat(27)));
        let exact = read("0.1234567890123456789012345678").expect("28 places");
        assert_eq!(exact.0.to_string(), "0.1234567890123456789012345678");
        assert_eq!(read("-12.5000").expect("kept").0.to_string(), "-12.5000");
        assert_eq!(read("10").expect("whole").0.to_string(), "10");
        assert_eq!(read("0").expect("zero").0.to_string(), "0");
        let error = read("12345678901234567890123456789")
            .expect_err("29 digits")
            .to_string();
        assert!(error.contains(INVALID_DECIMAL), "{error}");
    }
}
