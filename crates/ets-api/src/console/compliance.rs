//! `/console/compliance?period=`: the regulator's compliance report, each
//! row the one `GET /v1/compliance` answers for the same query (the page
//! calls that handler in the process and draws its JSON), and its CSV,
//! which is that handler's `format=csv` answer as is.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lang::{Lang, grouped};
use super::session::Person;
use super::{PageLang, page, refused, respond};
use crate::AppState;
use crate::compliance::{ComplianceQuery, report};
use crate::extract::Params;
use crate::problem::Problem;

/// The page's own query: what the form sends.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct Filters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    period: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    participant_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cursor: String,
}

/// The API's query for these filters, with `format` and a page size.
fn api_query(filters: &Filters, format: Option<&str>) -> Result<ComplianceQuery, Problem> {
    super::api_query(&[
        ("period", &filters.period),
        ("status", &filters.status),
        ("participant_id", &filters.participant_id),
        ("cursor", &filters.cursor),
        ("format", format.unwrap_or_default()),
        ("limit", "100"),
    ])
}

fn status_name(lang: Lang, status: &str) -> &'static str {
    match status {
        "compliant" => lang.pick("已履约", "compliant"),
        "shortfall" => lang.pick("未足额履约", "shortfall"),
        _ => "—",
    }
}

/// `GET /console/compliance` (regulator, admin, as the API).
pub(super) async fn page_of(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    if !crate::audit::AUDITORS.contains(&person.role) {
        return Ok(refused(&person));
    }
    let lang = person.lang;
    let mut filters: Filters =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default();
    if filters.period.is_empty() {
        // Last year: the period whose obligations fall due this year.
        let year = chrono::Datelike::year(&state.store.business_date(state.store.now()));
        filters.period = (year - 1).to_string();
    }
    if raw.as_deref().is_some_and(|q| q.contains("format=csv")) {
        let query = api_query(
            &Filters {
                cursor: String::new(),
                ..filters
            },
            Some("csv"),
        )?;
        return report(State(state), person.caller(), Params(query)).await;
    }
    let heading = lang.pick("履约情况", "Compliance");
    let answer = match api_query(&filters, None) {
        Ok(query) => report(State(state), person.caller(), Params(query)).await,
        Err(problem) => Err(problem),
    };
    let rows = match super::api_json(answer).await {
        Ok(rows) => rows,
        Err(problem) if problem.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let body = html! {
                (form(lang, &filters))
                p class="error" role="alert" { (lang.problem(&problem)) }
            };
            let markup = page(lang, heading, Some(&person), &body);
            return Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup, &[]));
        }
        Err(problem) => return Err(problem),
    };
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let items = rows["items"].as_array().cloned().unwrap_or_default();
    let download = format!(
        "/console/compliance?{}&format=csv",
        serde_urlencoded::to_string(&Filters {
            cursor: String::new(),
            ..filters.clone()
        })
        .unwrap_or_default()
    );
    let body = html! {
        (form(lang, &filters))
        p { a id="download-csv" href=(download) { (lang.pick("下载 CSV", "Download CSV")) } }
        @if items.is_empty() {
            p id="none" { (lang.pick(
                "该履约期没有排放记录：请确认履约期，或待监管人员录入核查后的排放量。",
                "No emission record in this period: check the period, or record the verified emissions first.",
            )) }
        } @else {
            table id="compliance" {
                thead { tr {
                    th scope="col" { (lang.pick("参与方", "Participant")) }
                    th scope="col" { (lang.pick("类别", "Kind")) }
                    th scope="col" class="figure" { (lang.pick("应履约量", "Obligation")) }
                    th scope="col" class="figure" { (lang.pick("已清缴", "Covered")) }
                    th scope="col" class="figure" { (lang.pick("缺口", "Shortfall")) }
                    th scope="col" { (lang.pick("状态", "Status")) }
                } }
                tbody {
                    @for row in &items {
                        tr data-participant=(text(&row["participant_id"])) class=(text(&row["status"])) {
                            td { (text(&row["participant_name"])) br; code class="id" { (text(&row["participant_id"])) } }
                            td class="kind" { (text(&row["kind"])) @if let Some(p) = row["pollutant"].as_str() { " · " (p) } }
                            td class="figure obligation" { (grouped(&text(&row["obligation"]))) }
                            td class="figure covered" { (grouped(&text(&row["covered"]))) }
                            td class="figure shortfall" { (grouped(&text(&row["shortfall"]))) }
                            td class="status" { (status_name(lang, &text(&row["status"]))) }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = rows["next_cursor"].as_str() {
            @let next = Filters { cursor: cursor.to_owned(), ..filters.clone() };
            p { a id="next-page" href={ "/console/compliance?" (serde_urlencoded::to_string(&next).unwrap_or_default()) } {
                (lang.pick("下一页", "Next page"))
            } }
        }
    };
    let markup = page(lang, heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()).into_response())
}

fn form(lang: Lang, filters: &Filters) -> maud::Markup {
    html! {
        form method="get" action="/console/compliance" class="filters" {
            label { (lang.pick("履约期", "Period"))
                input name="period" required value=(filters.period);
            }
            label { (lang.pick("状态", "Status"))
                select name="status" {
                    option value="" { (lang.pick("全部", "Any")) }
                    @for s in ["compliant", "shortfall"] {
                        option value=(s) selected[filters.status == s] { (status_name(lang, s)) }
                    }
                }
            }
            label { (lang.pick("参与方编号", "Participant id"))
                input name="participant_id" value=(filters.participant_id);
            }
            button type="submit" id="filter" { (lang.pick("筛选", "Filter")) }
        }
    }
}
