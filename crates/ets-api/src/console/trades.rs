//! `/console/trades`: the trade history with both parties, filtered and
//! paged as `GET /v1/trades` is (the same filter, the same reads, each row
//! the API's own trade body), and its CSV as `GET /v1/audit/trades`
//! downloads it, for the roles that may download it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::lang::{Lang, Text, grouped};
use super::session::Person;
use super::{PageLang, page, refused, respond};
use crate::AppState;
use crate::body::TradeBody;
use crate::market::trade_filter;
use crate::page::{decode_cursor, encode_cursor};
use crate::problem::Problem;

/// Trades a page shows.
const PAGE: i64 = 50;

/// The filters, as the form sends them: days as `YYYY-MM-DD` (the
/// business days of the ledger's zone, `to` included) or RFC 3339 times as
/// the API takes them.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct TradesQuery {
    #[serde(default, skip_serializing_if = "blank")]
    instrument: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    participant_id: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    cursor: Option<String>,
}

#[allow(clippy::ref_option)]
fn blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

fn given(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

impl TradesQuery {
    /// The query string of these filters (and cursor), for links.
    fn link(&self, path: &str) -> String {
        let query = serde_urlencoded::to_string(self).unwrap_or_default();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// The API's filter of these fields: a day is its business day's
    /// bounds, `to` included.
    fn filter(&self, state: &AppState, person: &Person) -> Result<ets_store::TradeFilter, Problem> {
        let zone = state.store.business_zone();
        let bound = |text: Option<&String>, end: bool| -> Option<String> {
            let text = given(text)?;
            Some(match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(day) => {
                    let (start, next) = zone.day_bounds(day);
                    crate::dto::time(if end { next } else { start })
                }
                Err(_) => text.to_owned(),
            })
        };
        trade_filter(
            &person.caller(),
            given(self.participant_id.as_ref()),
            given(self.instrument.as_ref()),
            given(self.method.as_ref()).map(str::to_owned),
            bound(self.from.as_ref(), false).as_deref(),
            bound(self.to.as_ref(), true).as_deref(),
        )
    }
}

/// `GET /console/trades`.
pub(super) async fn list(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Query(query): Query<TradesQuery>,
) -> Result<Response, Problem> {
    let lang = person.lang;
    let heading = lang.text(Text::Trades);
    let rows = match rows(&state, &person, &query).await {
        Ok(rows) => rows,
        Err(problem) if problem.code() == "invalid_query" || problem.code() == "invalid_cursor" => {
            let body = html! {
                (form(lang, &query, &person))
                p class="error" role="alert" { (lang.problem(&problem)) }
            };
            let markup = page(lang, heading, Some(&person), &body);
            return Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup, &[]));
        }
        Err(problem) => return Err(problem),
    };
    let (trades, next, names) = rows;
    let body = html! {
        (form(lang, &query, &person))
        @if trades.is_empty() {
            p id="none" { (lang.text(Text::NoneFound)) }
        } @else {
            (table(lang, state.store.business_zone(), &trades, &names))
        }
        @if let Some(cursor) = next {
            @let next_query = TradesQuery { cursor: Some(cursor), ..query.clone() };
            p { a id="next-page" href=(next_query.link("/console/trades")) { (lang.text(Text::NextPage)) } }
        }
    };
    let markup = page(lang, heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

type Rows = (Vec<Value>, Option<String>, HashMap<String, String>);

/// A page of trades as the API's bodies, the next page's cursor, and the
/// parties' names.
async fn rows(state: &AppState, person: &Person, query: &TradesQuery) -> Result<Rows, Problem> {
    let after: Option<Uuid> = decode_cursor(given(query.cursor.as_ref()))?;
    let filter = ets_store::TradeFilter {
        after,
        limit: PAGE + 1,
        ..query.filter(state, person)?
    };
    let mut trades = state.store.trades(&filter).await?;
    let next = (trades.len() > usize::try_from(PAGE).unwrap_or(usize::MAX)).then(|| {
        trades.truncate(trades.len() - 1);
        trades.last().map(|t| encode_cursor(&t.id))
    });
    let caller = person.caller();
    let parties = trades
        .iter()
        .flat_map(|t| [Some(t.buyer_id), t.seller_id])
        .flatten()
        .collect();
    let names = super::participant_names(state, parties).await?;
    let bodies = trades
        .iter()
        .map(|t| serde_json::to_value(TradeBody::seen_by(t, &caller)).unwrap_or(Value::Null))
        .collect();
    Ok((bodies, next.flatten(), names))
}

fn form(lang: Lang, query: &TradesQuery, person: &Person) -> Markup {
    let value = |field: &Option<String>| field.clone().unwrap_or_default();
    let method = value(&query.method);
    let auditor = crate::audit::AUDITORS.contains(&person.role);
    let download = TradesQuery {
        cursor: None,
        ..query.clone()
    }
    .link("/console/trades.csv");
    html! {
        form method="get" action="/console/trades" class="filters" {
            label { (lang.text(Text::Instrument)) input name="instrument" value=(value(&query.instrument)); }
            label { (lang.text(Text::Participant)) input name="participant_id" value=(value(&query.participant_id)); }
            label { (lang.text(Text::Method))
                select name="method" {
                    option value="" { (lang.text(Text::AnyMethod)) }
                    @for m in ["order_book", "negotiated", "auction"] {
                        option value=(m) selected[method == m] { (lang.method(m)) }
                    }
                }
            }
            label { (lang.text(Text::From)) input name="from" type="date" value=(value(&query.from)); }
            label { (lang.text(Text::To)) input name="to" type="date" value=(value(&query.to)); }
            button type="submit" id="filter" { (lang.text(Text::Filter)) }
            @if auditor {
                a id="download-csv" href=(download) { (lang.text(Text::DownloadCsv)) }
            }
        }
    }
}

fn table(
    lang: Lang,
    zone: ets_core::BusinessZone,
    trades: &[Value],
    names: &HashMap<String, String>,
) -> Markup {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    // A trade with no seller sold what the authority issued (an auction).
    let party = |value: &Value| {
        let id = text(value);
        let name = names.get(&id).cloned().unwrap_or_default();
        html! {
            @if id.is_empty() { "—" } @else { span class="name" { (name) } br; code class="id" { (id) } }
        }
    };
    html! {
        table id="trades" {
            thead { tr {
                th scope="col" { (lang.text(Text::ExecutedAt)) }
                th scope="col" { (lang.text(Text::TradeId)) }
                th scope="col" { (lang.text(Text::Instrument)) }
                th scope="col" { (lang.text(Text::Method)) }
                th scope="col" { (lang.text(Text::Buyer)) }
                th scope="col" { (lang.text(Text::Seller)) }
                th scope="col" class="figure" { (lang.text(Text::Quantity)) }
                th scope="col" class="figure" { (lang.text(Text::Price)) }
                th scope="col" class="figure" { (lang.text(Text::Value)) }
            } }
            tbody {
                @for trade in trades {
                    tr data-trade=(text(&trade["id"])) {
                        td class="executed-at" { (lang.when(&text(&trade["executed_at"]), zone)) }
                        td { code class="id" { (text(&trade["id"])) } }
                        td { (text(&trade["instrument"])) }
                        td { (lang.method(trade["method"].as_str().unwrap_or_default())) }
                        td class="buyer" { (party(&trade["buyer_participant_id"])) }
                        td class="seller" { (party(&trade["seller_participant_id"])) }
                        td class="figure quantity" { (grouped(&text(&trade["quantity"]))) }
                        td class="figure price" { (grouped(&text(&trade["price"]))) }
                        td class="figure value" { (grouped(&text(&trade["value"]))) }
                    }
                }
            }
        }
    }
}

/// `GET /console/trades.csv`: what `GET /v1/audit/trades?format=csv`
/// answers for the same filters; for the roles that may download it.
pub(super) async fn download(
    State(state): State<AppState>,
    person: Person,
    Query(query): Query<TradesQuery>,
) -> Result<Response, Problem> {
    if !crate::audit::AUDITORS.contains(&person.role) {
        return Ok(refused(&person));
    }
    let filter = query.filter(&state, &person)?;
    Ok(crate::audit::trade_export(&state, filter))
}
