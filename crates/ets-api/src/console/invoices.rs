//! `/console/invoices`: finance's paid-use invoices, as `GET /v1/invoices`
//! lists them (the same reads, each row the API's invoice body), one
//! invoice with its payments, and recording a payment: the form builds the
//! `Command::PayInvoice` that `POST /v1/invoices/{id}/payments` builds,
//! submitted through the same writer with actor `person:LOGIN`. Each form
//! carries an idempotency key of its own, so a form sent twice (a double
//! click, a reload) pays once.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ets_core::Role;
use ets_engine::{Command, IdempotencyKey, NewPayment, PaymentSource};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::lang::{Lang, grouped};
use super::session::Person;
use super::{PageLang, page, refused, refused_with, respond};
use crate::AppState;
use crate::body::money;
use crate::finance::{InvoicesQuery, invoice, invoices};
use crate::problem::Problem;

/// Invoices a page shows.
const PAGE: i64 = 50;

/// `?status=&participant_id=&cursor=` as the list's form sends them.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct ListQuery {
    #[serde(default, skip_serializing_if = "blank")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    participant_id: Option<String>,
    #[serde(default, skip_serializing_if = "blank")]
    cursor: Option<String>,
}

#[allow(clippy::ref_option)]
fn blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

fn given(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// An invoice status's name.
fn status_name(lang: Lang, status: &str) -> &'static str {
    match status {
        "open" => lang.pick("待缴", "open"),
        "partially_paid" => lang.pick("部分缴纳", "partially paid"),
        "paid" => lang.pick("已缴清", "paid"),
        "overdue" => lang.pick("逾期", "overdue"),
        "cancelled" => lang.pick("已作废", "cancelled"),
        _ => "—",
    }
}

const STATUSES: [&str; 5] = ["open", "partially_paid", "paid", "overdue", "cancelled"];

/// `GET /console/invoices`.
pub(super) async fn list(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    let lang = person.lang;
    let heading = lang.pick("缴费通知", "Invoices");
    let asked = InvoicesQuery {
        participant_id: given(query.participant_id.as_ref()),
        status: given(query.status.as_ref()),
        limit: Some(PAGE),
        cursor: given(query.cursor.as_ref()),
        ..InvoicesQuery::default()
    };
    let listed = match invoices(&state, &person.caller(), asked).await {
        Ok(listed) => listed,
        Err(problem) if problem.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let body = html! {
                (list_form(lang, &query))
                p class="error" role="alert" { (lang.problem(&problem)) }
            };
            let markup = page(lang, heading, Some(&person), &body);
            return Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup, &[]));
        }
        Err(problem) => return Err(problem),
    };
    let items: Vec<Value> = listed
        .items
        .iter()
        .map(|body| serde_json::to_value(body).unwrap_or(Value::Null))
        .collect();
    let ids = items.iter().filter_map(|i| {
        i["participant_id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
    });
    let names = super::participant_names(&state, ids.collect()).await?;
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let body = html! {
        (list_form(lang, &query))
        @if items.is_empty() {
            p id="none" { (lang.pick(
                "没有符合条件的缴费通知，请放宽或清除筛选条件。",
                "No invoice matches: widen or clear the filters.",
            )) }
        } @else {
            table id="invoices" {
                thead { tr {
                    th scope="col" { (lang.pick("缴费通知编号", "Invoice")) }
                    th scope="col" { (lang.pick("参与方", "Participant")) }
                    th scope="col" { (lang.pick("状态", "Status")) }
                    th scope="col" { (lang.pick("缴费期限", "Due")) }
                    th scope="col" class="figure" { (lang.pick("应缴", "Amount")) }
                    th scope="col" class="figure" { (lang.pick("已缴", "Paid")) }
                    th scope="col" class="figure" { (lang.pick("滞纳金", "Late fee")) }
                    th scope="col" class="figure" { (lang.pick("尚欠", "Outstanding")) }
                } }
                tbody {
                    @for item in &items {
                        @let id = text(&item["id"]);
                        tr data-invoice=(id) {
                            td { a href={ "/console/invoices/" (id) } { code class="id" { (id) } } }
                            td { (names.get(&text(&item["participant_id"])).cloned().unwrap_or_default()) }
                            td class="status" { (status_name(lang, &text(&item["status"]))) }
                            td { (lang.day(&text(&item["due_date"]))) }
                            td class="figure amount" { (grouped(&text(&item["amount"]))) }
                            td class="figure paid" { (grouped(&text(&item["paid"]))) }
                            td class="figure late-fee" { (grouped(&text(&item["late_fee"]))) }
                            td class="figure outstanding" { (grouped(&text(&item["outstanding"]))) }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = &listed.next_cursor {
            @let next = ListQuery { cursor: Some(cursor.clone()), ..query.clone() };
            p { a id="next-page" href={ "/console/invoices?" (serde_urlencoded::to_string(&next).unwrap_or_default()) } {
                (lang.pick("下一页", "Next page"))
            } }
        }
    };
    let markup = page(lang, heading, Some(&person), &body);
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

fn list_form(lang: Lang, query: &ListQuery) -> Markup {
    let status = query.status.clone().unwrap_or_default();
    html! {
        form method="get" action="/console/invoices" class="filters" {
            label { (lang.pick("状态", "Status"))
                select name="status" {
                    option value="" { (lang.pick("全部", "Any")) }
                    @for s in STATUSES {
                        option value=(s) selected[status == s] { (status_name(lang, s)) }
                    }
                }
            }
            label { (lang.pick("参与方编号", "Participant id"))
                input name="participant_id" value=(query.participant_id.clone().unwrap_or_default());
            }
            button type="submit" id="filter" { (lang.pick("筛选", "Filter")) }
        }
    }
}

/// What the payment form had, to show it again beside a refusal.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PaymentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    reference: String,
}

/// `GET /console/invoices/{id}`.
pub(super) async fn detail(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let form = PaymentForm::default();
    let markup = invoice_page(&state, &person, &id, &form, None).await?;
    Ok(respond(StatusCode::OK, markup, remember.as_slice()))
}

/// The invoice's page, its payment form showing `form` and, when a payment
/// was refused, why.
async fn invoice_page(
    state: &AppState,
    person: &Person,
    id: &str,
    form: &PaymentForm,
    refusal: Option<&Problem>,
) -> Result<Markup, Problem> {
    let lang = person.lang;
    let (stored, body) = invoice(state, &person.caller(), id, None).await?;
    let body = serde_json::to_value(body).unwrap_or(Value::Null);
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let participant = state
        .store
        .participant(stored.invoice.participant_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    // A fresh key for each form shown: the same form sent twice pays once.
    let key = if form.key.is_empty() {
        Uuid::new_v4().to_string()
    } else {
        form.key.clone()
    };
    let heading = lang.pick("缴费通知", "Invoice");
    let content = html! {
        dl id="invoice" {
            dt { (lang.pick("编号", "Id")) } dd { code class="id" { (text("id")) } }
            dt { (lang.pick("参与方", "Participant")) } dd { (participant) }
            dt { (lang.pick("类别", "Kind")) } dd { (kind_name(lang, &text("kind"))) }
            dt { (lang.pick("状态", "Status")) } dd class="status" { (status_name(lang, &text("status"))) }
            dt { (lang.pick("缴费期限", "Due")) } dd { (lang.day(&text("due_date"))) }
            dt { (lang.pick("应缴", "Amount")) } dd class="amount" { (grouped(&text("amount"))) }
            dt { (lang.pick("已缴", "Paid")) } dd class="paid" { (grouped(&text("paid"))) }
            dt { (lang.pick("滞纳金", "Late fee")) } dd class="late-fee" { (grouped(&text("late_fee"))) }
            dt { (lang.pick("已缴滞纳金", "Surcharge paid")) } dd class="surcharge-paid" { (grouped(&text("surcharge_paid"))) }
            dt { (lang.pick("尚欠", "Outstanding")) } dd class="outstanding" { (grouped(&text("outstanding"))) }
        }
        h2 { (lang.pick("缴费记录", "Payments")) }
        @if stored.payments.is_empty() {
            p id="no-payments" { (lang.pick("尚无缴费。", "No payment yet.")) }
        } @else {
            table id="payments" {
                thead { tr {
                    th scope="col" { (lang.pick("日期", "Date")) }
                    th scope="col" { (lang.pick("来源", "Source")) }
                    th scope="col" { (lang.pick("凭证号", "Reference")) }
                    th scope="col" class="figure" { (lang.pick("金额", "Amount")) }
                    th scope="col" class="figure" { (lang.pick("其中滞纳金", "Surcharge")) }
                    th scope="col" class="figure" { (lang.pick("其中本金", "Principal")) }
                } }
                tbody {
                    @for payment in &stored.payments {
                        tr {
                            td { (lang.day(&payment.business_date.to_string())) }
                            td { (source_name(lang, payment.source)) }
                            td class="reference" { (payment.reference) }
                            td class="figure amount" { (grouped(&money(payment.amount))) }
                            td class="figure" { (grouped(&money(payment.surcharge))) }
                            td class="figure" { (grouped(&money(payment.principal))) }
                        }
                    }
                }
            }
        }
        @if person.role == Role::Finance {
            h2 { (lang.pick("登记缴费", "Record a payment")) }
            @if let Some(refusal) = refusal.filter(|p| field_of(p).is_none()) {
                p class="error" role="alert" id="payment-error" { (lang.problem(refusal)) }
            }
            form method="post" action={ "/console/invoices/" (text("id")) "/payments" } class="filters" id="pay" {
                input type="hidden" name="csrf" value=(person.csrf);
                input type="hidden" name="key" value=(key);
                label { (lang.pick("金额（元）", "Amount (CNY)"))
                    input name="amount" inputmode="decimal" required value=(form.amount)
                        aria-invalid=[refusal.filter(|p| field_of(p) == Some("amount")).map(|_| "true")];
                    @if let Some(refusal) = refusal.filter(|p| field_of(p) == Some("amount")) {
                        span class="error field-error" role="alert" id="payment-error" { (lang.problem(refusal)) }
                    }
                }
                label { (lang.pick("来源", "Source"))
                    select name="source" {
                        @for source in [PaymentSource::External, PaymentSource::CashAccount] {
                            option value=(source.as_str()) selected[form.source == source.as_str()] {
                                (source_name(lang, source))
                            }
                        }
                    }
                }
                label { (lang.pick("凭证号", "Reference"))
                    input name="reference" required value=(form.reference)
                        aria-invalid=[refusal.filter(|p| field_of(p) == Some("reference")).map(|_| "true")];
                    @if let Some(refusal) = refusal.filter(|p| field_of(p) == Some("reference")) {
                        span class="error field-error" role="alert" id="payment-error" { (lang.problem(refusal)) }
                    }
                }
                button type="submit" id="record-payment" { (lang.pick("登记", "Record")) }
            }
        }
    };
    Ok(page(lang, heading, Some(person), &content))
}

/// An invoice kind's name (the API's code when the console has none).
fn kind_name(lang: Lang, kind: &str) -> String {
    match kind {
        "paid_use" => lang.pick("排污权有偿使用费", "paid-use fee").to_owned(),
        other => other.to_owned(),
    }
}

/// The field of the payment form a refusal is about, by its code.
fn field_of(problem: &Problem) -> Option<&'static str> {
    match problem.code() {
        "invalid_decimal" | "scale_exceeded" | "amount_must_be_positive" | "overpayment" => {
            Some("amount")
        }
        "invalid_reference" | "invalid_text" => Some("reference"),
        _ => None,
    }
}

fn source_name(lang: Lang, source: PaymentSource) -> &'static str {
    match source {
        PaymentSource::CashAccount => lang.pick("账户资金划扣", "from the ledger cash account"),
        PaymentSource::External => lang.pick("银行缴款", "bank payment"),
    }
}

/// `POST /console/invoices/{id}/payments` (finance): the API's command,
/// the API's checks; a refusal shows the form again with the API's reason,
/// and nothing is written.
pub(super) async fn pay(
    State(state): State<AppState>,
    person: Person,
    Path(id): Path<String>,
    Form(form): Form<PaymentForm>,
) -> Result<Response, Problem> {
    if form.csrf != person.csrf {
        return Ok(refused_with(&person, super::lang::Text::FormExpired));
    }
    if person.role != Role::Finance {
        return Ok(refused(&person));
    }
    match record(&state, &person, &id, &form).await {
        Ok(()) => Ok(Redirect::to(&format!("/console/invoices/{id}")).into_response()),
        Err(problem)
            if problem.status().is_client_error() && problem.status() != StatusCode::NOT_FOUND =>
        {
            let markup = invoice_page(&state, &person, &id, &form, Some(&problem)).await?;
            Ok(respond(problem.status(), markup, &[]))
        }
        Err(problem) => Err(problem),
    }
}

/// Parses the form as the API parses its body and submits the payment.
async fn record(
    state: &AppState,
    person: &Person,
    id: &str,
    form: &PaymentForm,
) -> Result<(), Problem> {
    let invoice_id = Uuid::parse_str(id).map_err(|_| Problem::not_found("invoice"))?;
    let amount: crate::dto::DecimalString =
        serde_json::from_value(Value::String(form.amount.trim().to_owned()))
            .map_err(|error| Problem::unprocessable("invalid_decimal", error.to_string()))?;
    let source: PaymentSource = form.source.parse()?;
    if form.reference.chars().any(crate::text::forbidden) {
        return Err(crate::text::invalid_text("reference"));
    }
    let key = Uuid::parse_str(&form.key).map_err(|_| {
        Problem::unprocessable("invalid_request", "The form lost its key; reload it.")
    })?;
    let caller = person.caller();
    let body = serde_json::json!({
        "amount": amount.0.to_string(),
        "source": source.as_str(),
        "reference": form.reference,
    });
    let path = format!("/console/invoices/{id}/payments");
    let idempotency = IdempotencyKey {
        scope: caller.client_id.clone(),
        key: key.to_string(),
        fingerprint: crate::extract::fingerprint("POST", &path, body.to_string().as_bytes()),
    };
    let payment = NewPayment {
        id: Uuid::now_v7(),
        invoice_id,
        amount: amount.0,
        source,
        reference: form.reference.clone(),
    };
    crate::submit::submit(
        state,
        &caller,
        Some(idempotency),
        Command::PayInvoice(payment),
    )
    .await?;
    Ok(())
}
