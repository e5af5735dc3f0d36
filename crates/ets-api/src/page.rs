//! Pagination: `limit` and an opaque `cursor`; answers are
//! `{"items": [...], "next_cursor": ...}`. A cursor names the last item
//! returned, so pages stay stable when rows are inserted meanwhile.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page size.
pub const MAX_LIMIT: i64 = 500;

/// `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Page size, 1 to 500.
    pub limit: Option<i64>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size asked for.
    ///
    /// # Errors
    /// 422 `invalid_query` outside 1..=500.
    pub fn limit(&self) -> Result<i64, Problem> {
        checked_limit(self.limit)
    }

    /// The decoded cursor.
    ///
    /// # Errors
    /// 422 `invalid_cursor` when it is not one this server made.
    pub fn cursor<T: DeserializeOwned>(&self) -> Result<Option<T>, Problem> {
        decode_cursor(self.cursor.as_deref())
    }
}

/// Checks a page size.
///
/// # Errors
/// 422 `invalid_query` outside 1..=500.
pub fn checked_limit(limit: Option<i64>) -> Result<i64, Problem> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Problem::unprocessable(
            "invalid_query",
            "limit must be 1 to 500.",
        )),
    }
}

/// Decodes a cursor.
///
/// # Errors
/// 422 `invalid_cursor`.
pub fn decode_cursor<T: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<T>, Problem> {
    cursor
        .map(|text| {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .filter(|bytes| !crate::text::json_has_forbidden(bytes))
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    Problem::unprocessable(
                        "invalid_cursor",
                        "The cursor is not one this server made.",
                    )
                })
        })
        .transpose()
}

/// Encodes a cursor.
#[must_use]
pub fn encode_cursor<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page with its items and next cursor.
    #[must_use]
    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }

    /// A page from `limit + 1` rows fetched: the extra row only tells that
    /// there is a next page, whose cursor is the last returned row's key.
    pub fn from_rows<R, K: Serialize>(
        mut rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> K,
        body: impl Fn(&R) -> T,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Self {
            items: rows.iter().map(body).collect(),
            next_cursor,
        }
    }
}
