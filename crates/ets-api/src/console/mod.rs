//! The web console of SPEC §9: pages for people at desks (administrators,
//! regulators, finance staff), rendered on the server, every asset in the
//! binary. It adds no rule of its own: each page reads what the API's
//! handler for the same data reads and prints its figures as the API
//! answers them (digits grouped for reading, never rounded).
//!
//! Built so far: logging in with a password and a TOTP code (RFC 6238),
//! sessions, logging out, and the market at a glance.

mod chart;
mod compliance;
mod invoices;
mod journal;
mod lang;
mod participants;
mod session;
mod settlements;
mod trades;

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Days;
use ets_core::{Decimal, Role};
use ets_engine::people::{LOCKOUT_WINDOW, locked_out};
use ets_engine::stats::VWAP_PLACES;
use ets_store::LoginOutcome;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use self::chart::{Series, chart};
use self::lang::{Lang, Text, grouped};
use self::session::{Person, SESSION_COOKIE, language, over_tls, remember_language, token_hash};
use crate::AppState;
use crate::body::price;
use crate::dto::fixed;
use crate::extract::PeerAddress;
use crate::problem::Problem;

/// The console's pages in its menu: where, the name in each language, and
/// the roles that may use it (a page refuses the others with a 403 page;
/// the menu only spares them the click).
const PAGES: [(&str, &str, &str, &[Role]); 7] = [
    (
        "/console/",
        "市场概览",
        "Overview",
        &[Role::Admin, Role::Regulator, Role::Finance],
    ),
    (
        "/console/trades",
        "成交记录",
        "Trades",
        &[Role::Admin, Role::Regulator, Role::Finance],
    ),
    (
        "/console/participants",
        "参与方",
        "Participants",
        &[Role::Admin, Role::Regulator, Role::Finance],
    ),
    (
        "/console/invoices",
        "缴费通知",
        "Invoices",
        &[Role::Admin, Role::Regulator, Role::Finance],
    ),
    (
        "/console/settlements",
        "日终结算",
        "Settlements",
        &[Role::Admin, Role::Regulator, Role::Finance],
    ),
    (
        "/console/compliance",
        "履约情况",
        "Compliance",
        &[Role::Admin, Role::Regulator],
    ),
    (
        "/console/journal",
        "审计日志",
        "Journal",
        &[Role::Admin, Role::Regulator],
    ),
];

/// The largest JSON answer a page reads from an API handler.
const MAX_ANSWER: usize = 16 << 20;

/// What an API handler answered, as the JSON it would have sent: a page
/// that calls the handler in the process draws exactly the API's figures.
async fn api_json<R: IntoResponse>(
    answer: Result<R, Problem>,
) -> Result<serde_json::Value, Problem> {
    let response = answer?.into_response();
    let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
        .await
        .map_err(|error| Problem::internal(&error))?;
    serde_json::from_slice(&bytes).map_err(|error| Problem::internal(&error))
}

/// The names of these participants, by id text, for a list that shows
/// who is who.
async fn participant_names(
    state: &AppState,
    ids: Vec<uuid::Uuid>,
) -> Result<std::collections::HashMap<String, String>, Problem> {
    let mut names = std::collections::HashMap::new();
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(entry) = names.entry(id.to_string())
            && let Some(participant) = state.store.participant(id).await?
        {
            entry.insert(participant.name);
        }
    }
    Ok(names)
}

/// An API handler's query from these pairs (empty values left out), read
/// as the API reads its query string.
fn api_query<T: serde::de::DeserializeOwned>(pairs: &[(&str, &str)]) -> Result<T, Problem> {
    let given: Vec<&(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    let text = serde_urlencoded::to_string(&given).unwrap_or_default();
    serde_urlencoded::from_str(&text)
        .map_err(|error| Problem::unprocessable("invalid_query", error.to_string()))
}

/// The days the overview's charts cover, today included.
const CHART_DAYS: u64 = 90;
/// The instruments the overview shows, in code order.
const OVERVIEW_INSTRUMENTS: i64 = 50;

/// The console's routes, under `/console`.
pub(crate) fn routes() -> Router<AppState> {
    let router = Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(overview))
        .route("/console/login", get(login_page).post(sign_in))
        .route("/console/logout", post(sign_out))
        .route("/console/trades", get(trades::list))
        .route("/console/trades.csv", get(trades::download))
        .route("/console/invoices", get(invoices::list))
        .route("/console/invoices/{id}", get(invoices::detail))
        .route("/console/invoices/{id}/payments", post(invoices::pay))
        .route("/console/compliance", get(compliance::page_of))
        .route("/console/participants", get(participants::list))
        .route("/console/participants/{id}", get(participants::detail))
        .route("/console/journal", get(journal::page))
        .route("/console/journal/verify", post(journal::verify_now))
        .route("/console/journal/checkpoint.json", get(journal::checkpoint))
        .route("/console/settlements", get(settlements::today))
        .route("/console/settlements/{date}", get(settlements::page))
        .route("/console/assets/console.css", get(stylesheet));
    router.layer(axum::middleware::from_fn(same_site_posts))
}

/// A console form posted from another site is refused before any handler
/// runs: the browser says so (`Sec-Fetch-Site: cross-site`), or the
/// `Origin` it sends is not this server. Without this a page elsewhere
/// could post five wrong logins and lock a person out of their own
/// address, or log them in as someone else. (The session cookie is
/// `SameSite=Strict` and forms carry a CSRF token besides.)
async fn same_site_posts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == axum::http::Method::POST && cross_site(request.headers()) {
        let body = html! { p class="error" { "Cross-site form refused." } };
        return respond(
            StatusCode::FORBIDDEN,
            page(Lang::Zh, "403", None, &body),
            &[],
        );
    }
    next.run(request).await
}

/// Whether a request's headers say it came from another site's page.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// The page's language, from `?lang=`, the cookie, or Chinese.
struct PageLang(Lang, Option<String>);

impl axum::extract::FromRequestParts<AppState> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(language(parts), remember_language(parts.uri.query())))
    }
}

/// Whether the session cookie must be `Secure`.
struct Tls(bool);

impl axum::extract::FromRequestParts<AppState> for Tls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(over_tls(parts, state)))
    }
}

/// A console page: never cached, never framed, no script or style but its
/// own.
fn respond(status: StatusCode, markup: Markup, cookies: &[String]) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The frame of every page: the title, the language switch and, signed in,
/// who is at the desk and the way out.
fn page(lang: Lang, heading: &str, person: Option<&Person>, body: &Markup) -> Markup {
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (heading) " · " (lang.text(Text::Title)) }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                a class="skip" href="#main" { (lang.pick("跳到正文", "Skip to content")) }
                header {
                    span class="brand" { (lang.text(Text::Title)) }
                    @if let Some(person) = person {
                        nav class="pages" {
                            @for (href, zh, en, roles) in PAGES {
                                @if roles.contains(&person.role) {
                                    a href=(href) { (lang.pick(zh, en)) }
                                }
                            }
                        }
                    }
                    nav {
                        a href={ "?lang=" (other.key()) } hreflang=(other.code()) lang=(other.code()) {
                            (lang.text(Text::Language))
                        }
                        @if let Some(person) = person {
                            span class="who" { (person.name) " · " (lang.role(person.role)) }
                            form method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(person.csrf);
                                button type="submit" id="sign-out" { (lang.text(Text::SignOut)) }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (heading) }
                    (body)
                }
            }
        }
    }
}

fn login_form(lang: Lang, message: Option<&str>, login: &str) -> Markup {
    html! {
        @if let Some(message) = message {
            p class="error" role="alert" id="login-error" { (message) }
        }
        form method="post" action="/console/login" class="login" {
            label for="login" { (lang.text(Text::Login)) }
            input id="login" name="login" type="text" value=(login) autocomplete="username" required autofocus;
            label for="password" { (lang.text(Text::Password)) }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            label for="totp" { (lang.text(Text::Totp)) }
            input id="totp" name="totp" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required;
            button type="submit" id="sign-in" { (lang.text(Text::SignIn)) }
        }
    }
}

/// `GET /console/login`.
async fn login_page(PageLang(lang, remember): PageLang) -> Response {
    let heading = lang.text(Text::LoginHeading);
    let markup = page(lang, heading, None, &login_form(lang, None, ""));
    respond(StatusCode::OK, markup, remember.as_slice())
}

/// The login form as posted; a missing field is an empty one.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

/// `POST /console/login`: a password checked like an API secret (on the
/// hashing threads, a made-up hash for an unknown login), then the TOTP
/// code, accepted once. Every attempt is recorded before it is checked;
/// five failures of a login from one address in 15 minutes lock it there.
async fn sign_in(
    State(state): State<AppState>,
    PageLang(lang, _): PageLang,
    PeerAddress(peer): PeerAddress,
    Tls(tls): Tls,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Problem> {
    // A session this browser had is ended by a new login, never kept beside it.
    let earlier_session = session::cookie(&headers, SESSION_COOKIE).map(str::to_owned);
    let store = &state.store;
    let now = store.now();
    let address = peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string());
    let refuse = |status: StatusCode, text: Text| {
        let heading = lang.text(Text::LoginHeading);
        let form = login_form(lang, Some(lang.text(text)), &form.login);
        respond(status, page(lang, heading, None, &form), &[])
    };
    if !ets_engine::people::valid_login(&form.login) {
        return Ok(refuse(StatusCode::UNAUTHORIZED, Text::WrongCredentials));
    }
    let attempt = store
        .record_login(now, &form.login, &address, LoginOutcome::WrongPassword)
        .await?;
    let failures = store
        .login_failures(&form.login, &address, now - LOCKOUT_WINDOW)
        .await?;
    // The count includes this attempt.
    if locked_out(failures - 1) {
        store
            .set_login_outcome(attempt, LoginOutcome::Locked)
            .await?;
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, Text::Locked));
    }
    let person = store.person(&form.login).await?.filter(|p| !p.disabled);
    // Unknown logins from one address share the API's limit on unknown
    // client ids (the hashing threads serve both): a run of made-up names
    // cannot keep them busy. A known login is limited by its own lockout,
    // so others' failures never lock it out of an address.
    if person.is_none()
        && state
            .limits
            .by_address
            .reserve(&address, std::time::Instant::now())
            .is_err()
    {
        store
            .set_login_outcome(attempt, LoginOutcome::Locked)
            .await?;
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, Text::Locked));
    }
    let stored_hash = person.as_ref().map_or_else(
        || crate::auth::dummy_hash().to_owned(),
        |p| p.password_hash.clone(),
    );
    let password = form.password.clone();
    let password_right =
        crate::secret::run_hashing(move || crate::secret::verify_secret(&password, &stored_hash))
            .await?;
    let Some(person) = person.filter(|_| password_right) else {
        return Ok(refuse(StatusCode::UNAUTHORIZED, Text::WrongCredentials));
    };
    let step = ets_core::totp::from_base32(&person.totp_secret)
        .and_then(|secret| ets_core::totp::accept(&secret, &form.totp, now.timestamp(), None));
    let code_right = match step {
        Some(step) => store.use_totp_step(&person.login, step).await?,
        None => false,
    };
    if !code_right {
        store
            .set_login_outcome(attempt, LoginOutcome::WrongCode)
            .await?;
        return Ok(refuse(StatusCode::UNAUTHORIZED, Text::WrongCredentials));
    }
    if let Some(earlier) = earlier_session {
        store.end_session(&token_hash(&earlier), now).await?;
    }
    let token = crate::secret::new_secret().map_err(|e| Problem::internal(&e))?;
    store
        .open_session(&token_hash(&token), &person.login, &address, now)
        .await?;
    store
        .set_login_outcome(attempt, LoginOutcome::Success)
        .await?;
    tracing::info!(login = %person.login, "console login");
    let secure = if tls { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/console/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A page or action the person's role may not use, or a form whose CSRF
/// token is not its session's: 403, nothing done.
fn refused(person: &Person) -> Response {
    refused_with(person, Text::Forbidden)
}

/// [`refused`], saying `why`.
fn refused_with(person: &Person, why: Text) -> Response {
    let lang = person.lang;
    let body = html! { p class="error" id="forbidden" { (lang.text(why)) } };
    let heading = lang.text(why);
    respond(
        StatusCode::FORBIDDEN,
        page(lang, heading, Some(person), &body),
        &[],
    )
}

/// `POST /console/logout`: ends the session and forgets the cookie.
async fn sign_out(
    State(state): State<AppState>,
    person: Person,
    PeerAddress(peer): PeerAddress,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    if form.csrf != person.csrf {
        return Ok(refused_with(&person, Text::FormExpired));
    }
    let store = &state.store;
    let now = store.now();
    store.end_session(&person.token_hash, now).await?;
    let address = peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string());
    store
        .record_login(now, &person.login, &address, LoginOutcome::Logout)
        .await?;
    let mut response = Redirect::to("/console/login").into_response();
    let forget = format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&forget) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// One instrument's row of the overview and its charts.
struct InstrumentView {
    code: String,
    unit: String,
    last_price: Option<String>,
    today: Option<(String, String)>,
    vwaps: Vec<(chrono::NaiveDate, Decimal)>,
    quantities: Vec<(chrono::NaiveDate, Decimal)>,
    vwap_range: Option<(String, String)>,
    quantity_high: Option<String>,
}

/// `GET /console/`: per instrument the last price, today's VWAP and
/// quantity, and charts of the last 90 days, read as
/// `GET /v1/markets/{instrument}/stats` reads them; the journal's size and
/// head.
async fn overview(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
) -> Result<Response, Problem> {
    let store = &state.store;
    let today = store.business_date(store.now());
    let from = today
        .checked_sub_days(Days::new(CHART_DAYS - 1))
        .unwrap_or(today);
    let mut views = Vec::new();
    for instrument in store.instruments(None, OVERVIEW_INSTRUMENTS).await? {
        let days = store.daily_stats(&instrument.code, from, today).await?;
        let vwaps: Vec<_> = days.iter().map(|d| (d.date, d.vwap)).collect();
        let quantities: Vec<_> = days.iter().map(|d| (d.date, d.quantity)).collect();
        let vwap_text = |v: Decimal| grouped(&fixed(v, VWAP_PLACES));
        let quantity_text = |q: Decimal| grouped(&fixed(q, instrument.scale));
        let low = vwaps.iter().map(|(_, v)| *v).min();
        let high = vwaps.iter().map(|(_, v)| *v).max();
        views.push(InstrumentView {
            code: instrument.code.as_str().to_owned(),
            unit: instrument.unit.clone(),
            last_price: days.last().map(|d| grouped(&price(d.close))),
            today: days
                .last()
                .filter(|d| d.date == today)
                .map(|d| (vwap_text(d.vwap), quantity_text(d.quantity))),
            vwap_range: low.zip(high).map(|(l, h)| (vwap_text(l), vwap_text(h))),
            quantity_high: quantities.iter().map(|(_, q)| *q).max().map(quantity_text),
            vwaps,
            quantities,
        });
    }
    let head = store.journal_head().await?;
    let last = store.last_verification().await?;
    let lang = person.lang;
    let days = i64::try_from(CHART_DAYS).unwrap_or(90);
    let dash = lang.text(Text::NoTrades);
    let body = html! {
        table id="instruments" {
            thead {
                tr {
                    th scope="col" { (lang.text(Text::Instrument)) }
                    th scope="col" class="figure" { (lang.text(Text::LastPrice)) }
                    th scope="col" class="figure" { (lang.text(Text::TodayVwap)) }
                    th scope="col" class="figure" { (lang.text(Text::TodayQuantity)) }
                }
            }
            tbody {
                @for view in &views {
                    tr data-instrument=(view.code) {
                        th scope="row" { (view.code) }
                        td class="figure last-price" { (view.last_price.as_deref().unwrap_or(dash)) }
                        td class="figure today-vwap" { (view.today.as_ref().map_or(dash, |t| t.0.as_str())) }
                        td class="figure today-quantity" {
                            @if let Some((_, quantity)) = &view.today { (quantity) " " (view.unit) } @else { (dash) }
                        }
                    }
                }
            }
        }
        @for view in views.iter().filter(|view| !view.vwaps.is_empty()) {
            section class="charts" data-instrument=(view.code) {
                h2 { (view.code) }
                (chart(
                    lang.text(Text::VwapChart),
                    &Series { from, days, points: &view.vwaps },
                    false,
                    view.vwap_range.clone(),
                ))
                (chart(
                    lang.text(Text::QuantityChart),
                    &Series { from, days, points: &view.quantities },
                    true,
                    view.quantity_high.clone().map(|high| ("0".to_owned(), high)),
                ))
            }
        }
        section id="journal" {
            h2 { (lang.text(Text::Journal)) }
            dl {
                dt { (lang.text(Text::Entries)) }
                dd class="entries" { (grouped(&head.seq.to_string())) }
                dt { (lang.text(Text::HeadHash)) }
                dd class="hash" { code { (head.hash) } }
                dt { (lang.pick("上次校验", "Last verified")) }
                @match &last {
                    None => dd class="last-verification never" {
                        (lang.pick("尚未校验", "never")) " · "
                        a href="/console/journal" { (lang.pick("前往校验", "verify it")) }
                    },
                    Some(last) => dd class=(if last.verification.ok { "last-verification ok" } else { "last-verification broken error" }) {
                        (if last.verification.ok { lang.pick("完整", "intact") } else { lang.pick("已损坏", "BROKEN") })
                        " · " (grouped(&last.verification.entries.to_string())) " "
                        (lang.pick("条", "entries")) " · "
                        (lang.when(&crate::dto::time(last.at), store.business_zone()))
                    },
                }
            }
        }
    };
    let heading = lang.text(Text::Overview);
    Ok(respond(
        StatusCode::OK,
        page(lang, heading, Some(&person), &body),
        remember.as_slice(),
    ))
}

/// `GET /console/assets/console.css`.
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::cross_site;
    use super::session::csrf_of;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_form_from_another_site_is_told_apart() {
        let host = ("host", "ledger.example:8080");
        assert!(
            !cross_site(&headers(&[host])),
            "no Origin: a tool, not a page"
        );
        assert!(!cross_site(&headers(&[
            host,
            ("origin", "https://ledger.example:8080")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(cross_site(&headers(&[host, ("origin", "null")])));
        assert!(cross_site(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!cross_site(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_eq!(csrf_of("a").len(), 64);
    }
}
