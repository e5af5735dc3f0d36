//! `/console/participants` and one participant's page: holdings, the
//! movements with their running balance, open orders, pledges, invoices and
//! last year's compliance. Each section is what the API's handler answers
//! the person's role (called in the process, its JSON drawn); a section the
//! API refuses that role says so instead of its figures.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::lang::{Lang, grouped};
use super::session::Person;
use super::{PageLang, api_json, api_query, page, respond};
use crate::AppState;
use crate::extract::Params;
use crate::problem::Problem;

/// Rows a section shows.
const ROWS: &str = "50";

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// `?cursor=` of the list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /console/participants`: `GET /v1/participants`, a hundred a page.
pub(super) async fn list(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    let lang = person.lang;
    let asked = api_query(&[("limit", "100"), ("cursor", &query.cursor)])?;
    let listed = api_json(
        crate::registry::list_participants(State(state), person.caller(), Params(asked)).await,
    )
    .await?;
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    let body = html! {
        table id="participants" {
            thead { tr {
                th scope="col" { (lang.pick("名称", "Name")) }
                th scope="col" { (lang.pick("统一社会信用代码", "Credit code")) }
                th scope="col" { (lang.pick("行政区划", "Region")) }
                th scope="col" { (lang.pick("行业", "Industry")) }
            } }
            tbody {
                @for p in &items {
                    tr data-participant=(text(&p["id"])) {
                        td { a href={ "/console/participants/" (text(&p["id"])) } { (text(&p["name"])) } }
                        td { code { (text(&p["credit_code"])) } }
                        td { (text(&p["region_code"])) }
                        td { (text(&p["industry"])) }
                    }
                }
            }
        }
        @if let Some(cursor) = listed["next_cursor"].as_str() {
            p { a id="next-page" href={ "/console/participants?cursor=" (cursor) } { (lang.pick("下一页", "Next page")) } }
        }
    };
    let heading = lang.pick("参与方", "Participants");
    let markup = page(lang, heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

/// A section's answer: the API's JSON, or the refusal of the person's role.
enum Section {
    Shown(Value),
    NotForRole,
}

async fn section(answer: Result<Value, Problem>) -> Result<Section, Problem> {
    match answer {
        Ok(value) => Ok(Section::Shown(value)),
        Err(problem) if problem.status() == StatusCode::FORBIDDEN => Ok(Section::NotForRole),
        Err(problem) => Err(problem),
    }
}

/// `GET /console/participants/{id}`.
pub(super) async fn detail(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let lang = person.lang;
    let caller = person.caller();
    let participant = api_json(
        crate::registry::get_participant(State(state.clone()), caller.clone(), Path(id.clone()))
            .await,
    )
    .await?;
    let holdings = api_json(
        crate::ledger::holdings(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Params(api_query(&[])?),
        )
        .await,
    )
    .await?;
    let history = api_json(
        crate::ledger::history(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Params(api_query(&[("limit", ROWS)])?),
        )
        .await,
    )
    .await?;
    let orders = section(
        api_json(
            crate::market::list_orders(
                State(state.clone()),
                caller.clone(),
                Params(api_query(&[
                    ("participant_id", &id),
                    ("status", "open"),
                    ("limit", ROWS),
                ])?),
            )
            .await,
        )
        .await,
    )
    .await?;
    let pledges = section(
        api_json(
            crate::authority::list_pledges(
                State(state.clone()),
                caller.clone(),
                Params(api_query(&[("participant_id", &id), ("limit", ROWS)])?),
            )
            .await,
        )
        .await,
    )
    .await?;
    let invoices = section(
        api_json(
            crate::finance::invoices(
                &state,
                &caller,
                api_query(&[("participant_id", &id), ("limit", ROWS)])?,
            )
            .await
            .map(axum::Json),
        )
        .await,
    )
    .await?;
    let year = chrono::Datelike::year(&state.store.business_date(state.store.now()));
    let period = (year - 1).to_string();
    let compliance = section(
        api_json(
            crate::compliance::report(
                State(state.clone()),
                caller.clone(),
                Params(api_query(&[("period", &period), ("participant_id", &id)])?),
            )
            .await,
        )
        .await,
    )
    .await?;
    let body = html! {
        dl id="participant" {
            dt { (lang.pick("统一社会信用代码", "Credit code")) } dd { code { (text(&participant["credit_code"])) } }
            dt { (lang.pick("行政区划", "Region")) } dd { (text(&participant["region_code"])) }
            dt { (lang.pick("行业", "Industry")) } dd { (text(&participant["industry"])) }
            dt { (lang.pick("编号", "Id")) } dd { code class="id" { (text(&participant["id"])) } }
        }
        h2 { (lang.pick("持有量", "Holdings")) }
        table id="holdings" {
            thead { tr {
                th scope="col" { (lang.pick("品种", "Instrument")) }
                th scope="col" class="figure" { (lang.pick("余额", "Balance")) }
                th scope="col" class="figure" { (lang.pick("可用", "Available")) }
                th scope="col" class="figure" { (lang.pick("冻结", "Held")) }
            } }
            tbody {
                @for h in holdings["holdings"].as_array().into_iter().flatten() {
                    tr data-instrument=(text(&h["instrument"])) {
                        th scope="row" { (text(&h["instrument"])) }
                        td class="figure balance" { (grouped(&text(&h["balance"]))) }
                        td class="figure available" { (grouped(&text(&h["available"]))) }
                        td class="figure held" { (grouped(&text(&h["held"]))) }
                    }
                }
            }
        }
        h2 { (lang.pick("变动明细", "Movements")) }
        table id="history" {
            thead { tr {
                th scope="col" { (lang.pick("时间", "At")) }
                th scope="col" { (lang.pick("类别", "Kind")) }
                th scope="col" { (lang.pick("品种", "Instrument")) }
                th scope="col" class="figure" { (lang.pick("变动", "Change")) }
                th scope="col" class="figure" { (lang.pick("变动后余额", "Balance after")) }
                th scope="col" { (lang.pick("关联", "Reference")) }
            } }
            tbody {
                @for m in history["items"].as_array().into_iter().flatten() {
                    tr {
                        td { (lang.when(&text(&m["at"]), state.store.business_zone())) }
                        td { (text(&m["kind"])) }
                        td { (text(&m["instrument"])) }
                        td class="figure quantity" { (grouped(&text(&m["quantity"]))) }
                        td class="figure balance-after" { (grouped(&text(&m["balance_after"]))) }
                        td { code class="id" { (text(&m["reference"])) } }
                    }
                }
            }
        }
        (orders_section(lang, &orders))
        (pledges_section(lang, &pledges))
        (invoices_section(lang, &invoices))
        (compliance_section(lang, &compliance, &period))
    };
    let heading = text(&participant["name"]);
    let markup = page(lang, &heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

fn not_for_role(lang: Lang) -> Markup {
    html! { p class="not-for-role" { (lang.pick("您的角色无权查看此项。", "Your role may not see this.")) } }
}

fn orders_section(lang: Lang, orders: &Section) -> Markup {
    html! {
        h2 { (lang.pick("未成交委托", "Open orders")) }
        @match orders {
            Section::NotForRole => (not_for_role(lang)),
            Section::Shown(orders) => table id="orders" {
                thead { tr {
                    th scope="col" { (lang.pick("品种", "Instrument")) }
                    th scope="col" { (lang.pick("方向", "Side")) }
                    th scope="col" class="figure" { (lang.pick("价格", "Price")) }
                    th scope="col" class="figure" { (lang.pick("剩余数量", "Remaining")) }
                } }
                tbody {
                    @for o in orders["items"].as_array().into_iter().flatten() {
                        tr data-order=(text(&o["id"])) {
                            td { (text(&o["instrument"])) }
                            td { (if o["side"] == "buy" { lang.pick("买入", "buy") } else { lang.pick("卖出", "sell") }) }
                            td class="figure price" { (grouped(&text(&o["price"]))) }
                            td class="figure remaining" { (grouped(&text(&o["remaining_quantity"]))) }
                        }
                    }
                }
            },
        }
    }
}

fn pledges_section(lang: Lang, pledges: &Section) -> Markup {
    html! {
        h2 { (lang.pick("质押", "Pledges")) }
        @match pledges {
            Section::NotForRole => (not_for_role(lang)),
            Section::Shown(pledges) => table id="pledges" {
                thead { tr {
                    th scope="col" { (lang.pick("品种", "Instrument")) }
                    th scope="col" class="figure" { (lang.pick("数量", "Quantity")) }
                    th scope="col" { (lang.pick("质权人", "Pledgee")) }
                    th scope="col" { (lang.pick("状态", "Status")) }
                } }
                tbody {
                    @for p in pledges["items"].as_array().into_iter().flatten() {
                        tr {
                            td { (text(&p["instrument"])) }
                            td class="figure quantity" { (grouped(&text(&p["quantity"]))) }
                            td { (text(&p["pledgee"])) }
                            td { (text(&p["status"])) }
                        }
                    }
                }
            },
        }
    }
}

fn invoices_section(lang: Lang, invoices: &Section) -> Markup {
    html! {
        h2 { (lang.pick("缴费通知", "Invoices")) }
        @match invoices {
            Section::NotForRole => (not_for_role(lang)),
            Section::Shown(invoices) => table id="participant-invoices" {
                thead { tr {
                    th scope="col" { (lang.pick("缴费通知编号", "Invoice")) }
                    th scope="col" { (lang.pick("状态", "Status")) }
                    th scope="col" class="figure" { (lang.pick("应缴", "Amount")) }
                    th scope="col" class="figure" { (lang.pick("尚欠", "Outstanding")) }
                } }
                tbody {
                    @for i in invoices["items"].as_array().into_iter().flatten() {
                        tr {
                            td { a href={ "/console/invoices/" (text(&i["id"])) } { code class="id" { (text(&i["id"])) } } }
                            td { (text(&i["status"])) }
                            td class="figure amount" { (grouped(&text(&i["amount"]))) }
                            td class="figure outstanding" { (grouped(&text(&i["outstanding"]))) }
                        }
                    }
                }
            },
        }
    }
}

fn compliance_section(lang: Lang, compliance: &Section, period: &str) -> Markup {
    html! {
        h2 { (lang.pick("履约情况", "Compliance")) " " (period) }
        @match compliance {
            Section::NotForRole => (not_for_role(lang)),
            Section::Shown(report) => table id="participant-compliance" {
                thead { tr {
                    th scope="col" { (lang.pick("类别", "Kind")) }
                    th scope="col" class="figure" { (lang.pick("应履约量", "Obligation")) }
                    th scope="col" class="figure" { (lang.pick("已清缴", "Covered")) }
                    th scope="col" class="figure" { (lang.pick("缺口", "Shortfall")) }
                    th scope="col" { (lang.pick("状态", "Status")) }
                } }
                tbody {
                    @for r in report["items"].as_array().into_iter().flatten() {
                        tr class=(text(&r["status"])) {
                            td { (text(&r["kind"])) @if let Some(p) = r["pollutant"].as_str() { " · " (p) } }
                            td class="figure obligation" { (grouped(&text(&r["obligation"]))) }
                            td class="figure covered" { (grouped(&text(&r["covered"]))) }
                            td class="figure shortfall" { (grouped(&text(&r["shortfall"]))) }
                            td class="status" { (text(&r["status"])) }
                        }
                    }
                }
            },
        }
    }
}
