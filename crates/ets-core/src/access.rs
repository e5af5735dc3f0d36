//! Roles and participants.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::LedgerError;
use crate::ids::{CreditCode, RegionCode};

/// What a credential may do (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The registry operator.
    Admin,
    /// One enterprise, bound to its participant.
    Enterprise,
    /// Environment bureau inspectors.
    Regulator,
    /// Finance staff.
    Finance,
}

impl Role {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Enterprise => "enterprise",
            Self::Regulator => "regulator",
            Self::Finance => "finance",
        }
    }

    /// Parses the snake_case name.
    ///
    /// # Errors
    /// `invalid_role` for anything else.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        [
            Self::Admin,
            Self::Enterprise,
            Self::Regulator,
            Self::Finance,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
        .ok_or(LedgerError::InvalidRole)
    }
}

/// A registered emitting enterprise (or any other account holder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The participant's id.
    pub id: Uuid,
    /// Registered name, e.g. `苏州华能发电有限公司`.
    pub name: String,
    /// Unified social credit code, unique in the registry.
    pub credit_code: CreditCode,
    /// Where it operates (decides which regional rights it may trade).
    pub region_code: RegionCode,
    /// Free-text industry, e.g. `thermal_power`.
    pub industry: Option<String>,
}

impl Participant {
    /// A new participant.
    ///
    /// # Errors
    /// `invalid_name` when the name is blank or longer than 200 characters, or
    /// the industry longer than 100.
    pub fn new(
        id: Uuid,
        name: &str,
        credit_code: CreditCode,
        region_code: RegionCode,
        industry: Option<String>,
    ) -> Result<Self, LedgerError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(LedgerError::InvalidName);
        }
        if industry.as_ref().is_some_and(|i| i.chars().count() > 100) {
            return Err(LedgerError::InvalidName);
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            credit_code,
            region_code,
            industry,
        })
    }
}
