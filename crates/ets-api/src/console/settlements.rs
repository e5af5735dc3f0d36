//! `/console/settlements/{date}`: finance's end-of-day page (SPEC §9), the
//! day's participant rows and totals with CSV and XLSX downloads, and
//! `/console/settlements`, which leads to today's business day (or to the
//! day its date picker names).
//!
//! It adds no rule. The page reads the day as the API's CSV does
//! (`settlement::settlement_head`: one snapshot, every trade counted, every
//! participant reconciled, complete before anything is shown; memory grows
//! with the participants, never with the trades), writes the rows and
//! totals with the very functions that close the API's JSON
//! (`json_opening` + `json_closing`, the trade lines left out) and shows
//! each figure as that JSON's text, grouped for reading, never rounded. A
//! day that does not reconcile is an error page with no figure on it. The
//! downloads (`?format=csv|xlsx`) are answered by the API's own handler
//! for the person as a caller, so they are the API's bytes, content type
//! and file name.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Days, NaiveDate};
use ets_engine::settlement::{PARTICIPANT_COLUMNS, json_opening};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::lang::{Lang, grouped};
use super::session::Person;
use super::{PageLang, page as frame, refused, respond};
use crate::AppState;
use crate::problem::Problem;
use crate::settlement::{READERS, answer, parse_date, settlement_head};

/// `?date=` of the date picker, on `/console/settlements`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PickQuery {
    #[serde(default)]
    date: Option<String>,
}

/// `?format=` of a download, on `/console/settlements/{date}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    format: Option<String>,
}

/// `GET /console/settlements[?date=YYYY-MM-DD]`: 303 to the day the date
/// picker names, or to today's business day. A date that is not one is
/// answered here, as the page would answer it (422), never redirected.
pub(super) async fn today(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Query(query): Query<PickQuery>,
) -> Response {
    if !READERS.contains(&person.role) {
        return refused(&person);
    }
    let picked = query
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let date = match picked.map(parse_date) {
        Some(Ok(date)) => date,
        Some(Err(problem)) => {
            return failed(
                &person,
                picked.unwrap_or_default(),
                &problem,
                remember.as_slice(),
            );
        }
        None => state.store.business_date(state.store.now()),
    };
    let mut response = Redirect::to(&format!("/console/settlements/{date}")).into_response();
    if let Some(value) = remember.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console/settlements/{date}[?format=csv|xlsx]`: the day's page, or
/// with a format (`csv` and `xlsx` are linked; `json` is answered too)
/// what `GET /v1/settlements/{date}?format=` answers the person: the same
/// bytes, content type and attachment name. A refusal (a bad date or
/// format, a day after today, a day that does not reconcile) is a page
/// with the API's message and status.
pub(super) async fn page(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Path(date): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, Problem> {
    if !READERS.contains(&person.role) {
        return Ok(refused(&person));
    }
    if let Some(format) = query.format.as_deref().filter(|f| !f.is_empty()) {
        return Ok(
            match answer(&state, &person.caller(), &date, Some(format)).await {
                Ok(mut download) => {
                    // A file of the ledger's cash stays out of shared caches,
                    // as every console page does.
                    download
                        .headers_mut()
                        .entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("no-store"));
                    download
                }
                Err(problem) => failed(&person, &date, &problem, remember.as_slice()),
            },
        );
    }
    let day = match parse_date(&date) {
        Ok(day) => day,
        Err(problem) => return Ok(failed(&person, &date, &problem, remember.as_slice())),
    };
    let read = match settlement_head(&state.store, day).await {
        Ok(read) => read,
        Err(problem) => return Ok(failed(&person, &date, &problem, remember.as_slice())),
    };
    // The API's JSON but its trade lines: `{"date", "trades": [],
    // "participants", "totals"}`, written by the functions that write it.
    let mut json = json_opening(day);
    json.extend(read.head.json_closing());
    let settlement: Value = serde_json::from_slice(&json).map_err(|e| Problem::internal(&e))?;
    let today = state.store.business_date(state.store.now());
    let lang = person.lang;
    let body = html! {
        (picker(lang, &date, Some(day), today))
        (head(lang, &settlement, read.trades, day == today))
        (table(lang, &settlement))
    };
    let heading = heading(lang, &date);
    let markup = frame(lang, &heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

/// The page's heading: the page's name and the day asked for.
fn heading(lang: Lang, date: &str) -> String {
    format!("{} {date}", lang.pick("日终结算", "Settlement"))
}

/// The page of a day that cannot be shown: the API's message and status
/// (422 for a bad date or a day after today; 500, with no figure, for a day
/// that does not reconcile or a database that failed), and the date
/// picker to choose another day.
fn failed(person: &Person, date: &str, problem: &Problem, remember: &[String]) -> Response {
    let lang = person.lang;
    let status = problem.clone().into_response().status();
    let body = html! {
        (picker(lang, date, None, NaiveDate::MAX))
        p class="error" role="alert" id="settlement-error" data-code=(problem.code()) {
            (problem.detail())
        }
        @if status.is_server_error() {
            p class="error" {
                (lang.pick(
                    "本日结算无法生成，未显示任何数字：结算必须与台账逐分核对一致。",
                    "No figure is shown: the day's settlement could not be read and \
                     reconciled with the ledger to the fen.",
                ))
            }
        }
    };
    let markup = frame(lang, &heading(lang, date), Some(person), &body);
    respond(status, markup, remember)
}

/// The date picker (a GET form: `/console/settlements?date=…` leads to the
/// day) and, for a day shown, the days before and after it.
fn picker(lang: Lang, date: &str, shown: Option<NaiveDate>, today: NaiveDate) -> Markup {
    let before = shown.and_then(|day| day.checked_sub_days(Days::new(1)));
    let after = shown
        .and_then(|day| day.checked_add_days(Days::new(1)))
        .filter(|day| *day <= today);
    html! {
        form method="get" action="/console/settlements" class="filters" id="pick-day" {
            label {
                (lang.pick("营业日", "Business day"))
                input type="date" name="date" id="date" value=(date) required;
            }
            button type="submit" id="show-day" { (lang.pick("查看", "Show")) }
            @if let Some(day) = before {
                a id="previous-day" href={ "/console/settlements/" (day) } {
                    (lang.pick("前一日", "Previous day"))
                }
            }
            @if let Some(day) = after {
                a id="next-day" href={ "/console/settlements/" (day) } {
                    (lang.pick("后一日", "Next day"))
                }
            }
        }
    }
}

/// The settlement's head: the day, its trades and rows counted, that
/// every row reconciles, and the downloads.
fn head(lang: Lang, settlement: &Value, trades: u64, is_today: bool) -> Markup {
    let date = text(&settlement["date"]);
    let rows = settlement["participants"].as_array().map_or(0, Vec::len);
    html! {
        section id="settlement" data-date=(date) {
            dl {
                dt { (lang.pick("营业日", "Business day")) }
                dd class="date" { (date) }
                dt { (lang.pick("成交笔数", "Trades")) }
                dd class="trades" { (grouped(&trades.to_string())) }
                dt { (lang.pick("资金变动的参与方", "Participants whose cash moved")) }
                dd class="rows" { (grouped(&rows.to_string())) }
                dt { (lang.pick("对账", "Reconciliation")) }
                dd class="reconciled" {
                    (lang.pick(
                        "每一行均与台账逐分核对一致：期末 = 期初 − 买入 + 卖出 − 手续费 − 缴费 + 入金 − 出金 + 其他。",
                        "Every row reconciles with the ledger to the fen: closing = opening − bought \
                         + sold − commissions − fees paid + deposits − withdrawals + other.",
                    ))
                }
            }
            @if is_today {
                p class="so-far" {
                    (lang.pick("今日结算为截至目前的数字。", "Today's settlement is the day so far."))
                }
            }
            p class="downloads" {
                a id="download-csv" href={ "/console/settlements/" (date) "?format=csv" } {
                    (lang.pick("下载 CSV（参与方）", "Download CSV (participants)"))
                }
                " · "
                a id="download-xlsx" href={ "/console/settlements/" (date) "?format=xlsx" } {
                    (lang.pick("下载 XLSX（参与方与成交）", "Download XLSX (participants and trades)"))
                }
            }
        }
    }
}

/// The name of a money column of the participant rows.
fn column_name(lang: Lang, column: &str) -> &'static str {
    match column {
        "opening_cash" => lang.pick("期初资金", "Opening cash"),
        "bought_value" => lang.pick("买入金额", "Bought"),
        "sold_value" => lang.pick("卖出金额", "Sold"),
        "commissions" => lang.pick("手续费", "Commissions"),
        "fees_paid" => lang.pick("缴纳费用", "Fees paid"),
        "deposits" => lang.pick("入金", "Deposits"),
        "withdrawals" => lang.pick("出金", "Withdrawals"),
        "other" => lang.pick("其他", "Other"),
        "closing_cash" => lang.pick("期末资金", "Closing cash"),
        _ => lang.pick("金额", "Amount"),
    }
}

/// The money columns, in the API's order: every participant column but
/// the id and the name.
fn money_columns() -> impl Iterator<Item = &'static str> {
    PARTICIPANT_COLUMNS
        .into_iter()
        .filter(|column| !matches!(*column, "participant_id" | "name"))
}

/// The participant rows and the totals row, each cell classed by its JSON
/// field and showing that field's text, grouped.
fn table(lang: Lang, settlement: &Value) -> Markup {
    let rows = settlement["participants"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let totals = &settlement["totals"];
    html! {
        @if rows.is_empty() {
            p id="none" { (lang.pick("本日没有参与方的资金变动。", "No participant's cash moved on this day.")) }
        }
        table id="participants" {
            thead { tr {
                th scope="col" { (lang.pick("参与方", "Participant")) }
                @for column in money_columns() {
                    th scope="col" class="figure" { (column_name(lang, column)) }
                }
            } }
            tbody {
                @for row in rows {
                    @let id = text(&row["participant_id"]);
                    tr data-participant=(id) {
                        th scope="row" class="participant" {
                            span class="name" { (text(&row["name"])) }
                            br;
                            code class="id" { (id) }
                        }
                        @for column in money_columns() {
                            td class={ "figure " (column) } { (grouped(&text(&row[column]))) }
                        }
                    }
                }
            }
            tfoot {
                tr class="totals" {
                    th scope="row" { (lang.pick("合计", "Totals")) }
                    @for column in money_columns() {
                        td class={ "figure " (column) } { (grouped(&text(&totals[column]))) }
                    }
                }
            }
        }
    }
}

/// A JSON string's text; anything else as nothing.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
