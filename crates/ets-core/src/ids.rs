//! Identifier and code value types. Each is parsed once at the boundary; a value
//! that exists is valid.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::LedgerError;

/// The alphabet of a unified social credit code (GB 32100-2015): digits and
/// upper-case letters without I, O, Z, S and V.
const CREDIT_CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weight of position `i` (0-based) is 3^i mod 31.
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// An 18-character unified social credit code (统一社会信用代码) whose check
/// character has been verified per GB 32100-2015.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses and verifies a credit code: 18 characters of the GB 32100 alphabet,
    /// a 6-digit administrative region in positions 3–8, and the check character.
    ///
    /// # Errors
    /// `invalid_credit_code` when any of those fails.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 18 {
            return Err(LedgerError::InvalidCreditCode);
        }
        let mut values = [0u32; 18];
        for (i, c) in chars.iter().enumerate() {
            values[i] = CREDIT_CODE_ALPHABET
                .find(*c)
                .ok_or(LedgerError::InvalidCreditCode)? as u32;
        }
        if !chars[2..8].iter().all(char::is_ascii_digit) {
            return Err(LedgerError::InvalidCreditCode);
        }
        if values[17] != Self::check_value(&values[..17]) {
            return Err(LedgerError::InvalidCreditCode);
        }
        Ok(Self(text.to_owned()))
    }

    /// The check character for the first 17 characters of a code (used by tests
    /// and the demo to make valid codes).
    ///
    /// # Errors
    /// `invalid_credit_code` when the prefix is not 17 characters of the alphabet.
    pub fn check_character(prefix: &str) -> Result<char, LedgerError> {
        let values = prefix
            .chars()
            .map(|c| CREDIT_CODE_ALPHABET.find(c).map(|v| v as u32))
            .collect::<Option<Vec<u32>>>()
            .ok_or(LedgerError::InvalidCreditCode)?;
        if values.len() != 17 {
            return Err(LedgerError::InvalidCreditCode);
        }
        let index = Self::check_value(&values) as usize;
        Ok(CREDIT_CODE_ALPHABET.as_bytes()[index] as char)
    }

    fn check_value(values: &[u32]) -> u32 {
        let sum: u32 = values
            .iter()
            .zip(CREDIT_CODE_WEIGHTS)
            .map(|(v, w)| v * w)
            .sum();
        (31 - sum % 31) % 31
    }

    /// The administrative region embedded in the code.
    #[must_use]
    pub fn region(&self) -> RegionCode {
        RegionCode(self.0[2..8].to_owned())
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CreditCode {
    type Error = LedgerError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CreditCode> for String {
    fn from(value: CreditCode) -> Self {
        value.0
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 6-digit administrative division code (GB/T 2260). Trailing `00` pairs
/// mean the whole city (`320500`) or province (`320000`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses a region code.
    ///
    /// # Errors
    /// `invalid_region_code` unless it is six digits with a non-zero province.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let valid =
            text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) && &text[..2] != "00";
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(LedgerError::InvalidRegionCode)
        }
    }

    /// Whether `other` lies inside this region: a province contains its cities
    /// and counties, a city its counties, and every region contains itself.
    #[must_use]
    pub fn contains(&self, other: &RegionCode) -> bool {
        let significant = if self.0.ends_with("0000") {
            2
        } else if self.0.ends_with("00") {
            4
        } else {
            6
        };
        self.0[..significant] == other.0[..significant]
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RegionCode {
    type Error = LedgerError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(value: RegionCode) -> Self {
        value.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An instrument's code, e.g. `SO2-320500-2026` or `CEA-2025`; `CNY` is the
/// built-in cash instrument. Upper-case ASCII letters, digits, `-`, `_` and
/// `.`, 1 to 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstrumentCode(String);

impl InstrumentCode {
    /// Parses an instrument code.
    ///
    /// # Errors
    /// `invalid_instrument_code` when it is empty, too long or has other characters.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let valid = !text.is_empty()
            && text.len() <= 40
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(LedgerError::InvalidInstrumentCode)
        }
    }

    /// The built-in cash instrument.
    #[must_use]
    pub fn cny() -> Self {
        Self(crate::instrument::CNY.to_owned())
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for InstrumentCode {
    type Error = LedgerError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<InstrumentCode> for String {
    fn from(value: InstrumentCode) -> Self {
        value.0
    }
}

impl fmt::Display for InstrumentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_credit_code_is_accepted() {
        // A code printed on a business licence in Fuzhou.
        let code = CreditCode::parse("91350100M000100Y43").expect("valid");
        assert_eq!(code.region().as_str(), "350100");
    }

    #[test]
    fn a_wrong_check_character_is_refused() {
        assert_eq!(
            CreditCode::parse("91350100M000100Y44"),
            Err(LedgerError::InvalidCreditCode)
        );
    }

    #[test]
    fn letters_outside_the_alphabet_and_wrong_lengths_are_refused() {
        for bad in [
            "91350100M000100YO3",
            "91350100M000100Y4",
            "",
            "9135010OM000100Y43",
            "91A50100M000100Y43",
        ] {
            assert_eq!(
                CreditCode::parse(bad),
                Err(LedgerError::InvalidCreditCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_check_character_completes_any_prefix() {
        let prefix = "91320505MA1XYW123";
        let check = CreditCode::check_character(prefix).expect("prefix");
        assert!(CreditCode::parse(&format!("{prefix}{check}")).is_ok());
    }

    #[test]
    fn a_province_contains_its_cities_and_a_city_its_counties() {
        let province = RegionCode::parse("320000").expect("valid");
        let city = RegionCode::parse("320500").expect("valid");
        let county = RegionCode::parse("320505").expect("valid");
        let other_city = RegionCode::parse("320100").expect("valid");
        assert!(province.contains(&city));
        assert!(province.contains(&county));
        assert!(city.contains(&county));
        assert!(city.contains(&city));
        assert!(!city.contains(&other_city));
        assert!(!county.contains(&city));
        assert!(RegionCode::parse("000000").is_err());
        assert!(RegionCode::parse("32050").is_err());
    }

    #[test]
    fn instrument_codes_are_upper_case_words() {
        assert!(InstrumentCode::parse("SO2-320500-2026").is_ok());
        assert!(InstrumentCode::parse("so2").is_err());
        assert!(InstrumentCode::parse("").is_err());
        assert!(InstrumentCode::parse("A B").is_err());
    }
}
