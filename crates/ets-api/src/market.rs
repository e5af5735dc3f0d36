//! The market over HTTP: orders, the book, trades, negotiated trades.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use ets_core::matching::Side;
use ets_core::{InstrumentCode, Role};
use ets_engine::{
    Answer, Command, NewOrder, NewProposal, Order, OrderStatus, Outcome, ProposalStatus,
    TradeMethod,
};
use ets_store::{OrderFilter, ProposalFilter, TradeFilter};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::body::{
    BookBody, NegotiatedTradeBody, OrderBody, OrderPlacedBody, StatsBody, TradeBody,
};
use crate::dto::{DecimalString, instant};
use crate::extract::{Caller, Creating, Params};
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::registry::{known_instrument, unexpected};
use crate::submit::submit_created;

/// `POST /v1/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderRequest {
    instrument: String,
    side: String,
    quantity: DecimalString,
    price: DecimalString,
}

/// `POST /v1/orders` (enterprise): a limit order for the caller's
/// participant, matched at once; answers the order and its trades.
pub(crate) async fn place_order(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<OrderRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Enterprise])?;
    let participant_id = caller.participant_id.ok_or_else(Problem::forbidden)?;
    let side = Side::parse(&request.side)
        .ok_or_else(|| Problem::unprocessable("invalid_body", "side must be buy or sell."))?;
    let order = NewOrder {
        id: Uuid::now_v7(),
        participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        side,
        quantity: request.quantity.0,
        price: request.price.0,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::PlaceOrder(order),
        |outcome| match outcome {
            Outcome::Order(placed) => Some(OrderPlacedBody::new(placed, &caller)),
            _ => None,
        },
    )
    .await
}

/// `?instrument=&status=&participant_id=&limit=&cursor=` of orders.
#[derive(Debug, Deserialize)]
pub(crate) struct OrdersQuery {
    instrument: Option<String>,
    status: Option<String>,
    participant_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/orders`: an enterprise its own; admin and regulator everyone's.
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<OrdersQuery>,
) -> Result<Json<Page<OrderBody>>, Problem> {
    caller.require(&[Role::Enterprise, Role::Admin, Role::Regulator])?;
    let limit = checked_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    if let Some(status) = &query.status
        && OrderStatus::parse(status).is_none()
    {
        return Err(invalid_query(
            "status must be open, partially_filled, filled or cancelled.",
        ));
    }
    let filter = OrderFilter {
        participant: participant_filter(&caller, query.participant_id.as_deref())?,
        instrument: instrument_filter(query.instrument.as_deref())?,
        status: query.status,
        after,
        limit: limit + 1,
    };
    let orders = state.store.orders(&filter).await?;
    Ok(Json(Page::from_rows(
        orders,
        limit,
        |o| o.id,
        |o| OrderBody::from(o),
    )))
}

/// `GET /v1/orders/{id}`: the owner, admin and regulator.
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderBody>, Problem> {
    caller.require(&[Role::Enterprise, Role::Admin, Role::Regulator])?;
    let order = visible_order(&state, &caller, &id).await?;
    Ok(Json(OrderBody::from(&order)))
}

/// `DELETE /v1/orders/{id}` (the owner): cancels the order and releases
/// what it still holds.
pub(crate) async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderBody>, Problem> {
    caller.require(&[Role::Enterprise])?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("order"))?;
    let committed = state
        .store
        .execute(
            caller.actor(),
            Command::CancelOrder {
                id,
                owner: caller.participant_id,
            },
        )
        .await?;
    let Outcome::OrderCancelled(order) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    Ok(Json(OrderBody::from(&order)))
}

/// `?depth=` of the book.
#[derive(Debug, Deserialize)]
pub(crate) struct BookQuery {
    depth: Option<i64>,
}

/// The most price levels a side of the book shows by default, and at most.
const DEFAULT_DEPTH: i64 = 50;
const MAX_DEPTH: i64 = 500;

/// `GET /v1/markets/{instrument}/book` (any role): open quantity per price,
/// best first; no orders, no participants.
pub(crate) async fn book(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    Params(query): Params<BookQuery>,
) -> Result<Json<BookBody>, Problem> {
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(invalid_query("depth must be 1 to 500."));
    }
    let instrument = known_instrument(&state.store, &code).await?;
    let book = state
        .store
        .book(
            &instrument.code,
            usize::try_from(depth).unwrap_or(usize::MAX),
        )
        .await?;
    Ok(Json(BookBody::new(&instrument, &book)))
}

/// `?from=&to=` of the market's daily statistics: business days.
#[derive(Debug, Deserialize)]
pub(crate) struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Days the statistics cover without `from`: the console's 90.
const STATS_DEFAULT_DAYS: u64 = 90;
/// The longest period one request may ask for.
const STATS_MAX_DAYS: i64 = 366;

/// `GET /v1/markets/{instrument}/stats` (any role): per business day from
/// `from` to `to` (both included; by default the 90 days to today), the
/// open, high, low and close prices, the volume-weighted average, the
/// quantity and value traded and the trades, every method; days without
/// trades omitted. Market-wide figures: no participant appears.
pub(crate) async fn stats(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    Params(query): Params<StatsQuery>,
) -> Result<Json<StatsBody>, Problem> {
    let date = |text: &Option<String>| -> Result<Option<NaiveDate>, Problem> {
        text.as_deref()
            .map(|text| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .filter(|date| (1..=9999).contains(&date.year()))
                    .ok_or_else(|| invalid_query("from and to must be dates, YYYY-MM-DD."))
            })
            .transpose()
    };
    let store = &state.store;
    let to = date(&query.to)?.unwrap_or_else(|| store.business_date(store.now()));
    let from = match date(&query.from)? {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(STATS_DEFAULT_DAYS - 1))
            .unwrap_or(NaiveDate::MIN),
    };
    if from > to || (to - from).num_days() >= STATS_MAX_DAYS {
        return Err(invalid_query(
            "from must not be after to, and a period is at most 366 days.",
        ));
    }
    let instrument = known_instrument(store, &code).await?;
    let days = store.daily_stats(&instrument.code, from, to).await?;
    Ok(Json(StatsBody::new(&instrument, &days)))
}

/// `?instrument=&participant_id=&method=&from=&to=&limit=&cursor=` of trades.
#[derive(Debug, Deserialize)]
pub(crate) struct TradesQuery {
    instrument: Option<String>,
    participant_id: Option<String>,
    method: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/trades`: an enterprise its own trades only, never the
/// counterparty of a book or auction trade; the other roles every trade.
pub(crate) async fn list_trades(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<TradesQuery>,
) -> Result<Json<Page<TradeBody>>, Problem> {
    let limit = checked_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let filter = TradeFilter {
        after,
        limit: limit + 1,
        ..trade_filter(
            &caller,
            query.participant_id.as_deref(),
            query.instrument.as_deref(),
            query.method,
            query.from.as_deref(),
            query.to.as_deref(),
        )?
    };
    let trades = state.store.trades(&filter).await?;
    Ok(Json(Page::from_rows(
        trades,
        limit,
        |t| t.id,
        |t| TradeBody::seen_by(t, &caller),
    )))
}

async fn visible_order(state: &AppState, caller: &Caller, id: &str) -> Result<Order, Problem> {
    let id = Uuid::parse_str(id).map_err(|_| Problem::not_found("order"))?;
    let order = state
        .store
        .order(id)
        .await?
        .ok_or_else(|| Problem::not_found("order"))?;
    caller.may_see(order.participant_id, "order")?;
    Ok(order)
}

/// The participant a list is narrowed to: an enterprise always its own (and
/// naming another is 404); other roles whoever they name, or everyone.
pub(crate) fn participant_filter(
    caller: &Caller,
    named: Option<&str>,
) -> Result<Option<Uuid>, Problem> {
    let named = named
        .map(Uuid::parse_str)
        .transpose()
        .map_err(|_| invalid_query("participant_id must be a UUID."))?;
    if caller.role != Role::Enterprise {
        return Ok(named);
    }
    let own = caller.participant_id.ok_or_else(Problem::forbidden)?;
    if let Some(named) = named {
        caller.may_see(named, "participant")?;
    }
    Ok(Some(own))
}

pub(crate) fn instrument_filter(code: Option<&str>) -> Result<Option<InstrumentCode>, Problem> {
    code.map(InstrumentCode::parse)
        .transpose()
        .map_err(|_| invalid_query("instrument is not an instrument code."))
}

/// The trades a list (`GET /v1/trades`) or the regulator's export keeps:
/// an enterprise its own; `method` one of the three; `from` and `to` RFC
/// 3339 times. No paging (`after` none, `limit` 0): a list sets its own.
pub(crate) fn trade_filter(
    caller: &Caller,
    participant_id: Option<&str>,
    instrument: Option<&str>,
    method: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<TradeFilter, Problem> {
    if let Some(method) = &method
        && TradeMethod::parse(method).is_none()
    {
        return Err(invalid_query(
            "method must be order_book, negotiated or auction.",
        ));
    }
    Ok(TradeFilter {
        participant: participant_filter(caller, participant_id)?,
        instrument: instrument_filter(instrument)?,
        method,
        from: from.map(bound).transpose()?,
        to: to.map(bound).transpose()?,
        after: None,
        limit: 0,
    })
}

fn bound(text: &str) -> Result<DateTime<Utc>, Problem> {
    instant(
        text,
        "invalid_query",
        "from and to must be RFC 3339 times, e.g. 2026-01-31T16:00:00Z.",
    )
}

fn invalid_query(detail: &'static str) -> Problem {
    Problem::unprocessable("invalid_query", detail)
}

/// `POST /v1/negotiated-trades`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposalRequest {
    buyer_participant_id: Uuid,
    instrument: String,
    quantity: DecimalString,
    price: DecimalString,
    expires_at: Option<String>,
}

/// How long a proposal stays open when the seller names no expiry.
const DEFAULT_PROPOSAL_HOURS: i64 = 24;

/// `POST /v1/negotiated-trades` (enterprise, the seller): holds the rights
/// and offers them to the named buyer.
pub(crate) async fn propose(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<ProposalRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Enterprise])?;
    let seller_id = caller.participant_id.ok_or_else(Problem::forbidden)?;
    let expires_at = match &request.expires_at {
        Some(text) => instant(
            text,
            "invalid_expiry",
            "expires_at must be an RFC 3339 time.",
        )?,
        None => state.store.now() + chrono::Duration::hours(DEFAULT_PROPOSAL_HOURS),
    };
    let proposal = NewProposal {
        id: Uuid::now_v7(),
        seller_id,
        buyer_id: request.buyer_participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        price: request.price.0,
        expires_at,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::Propose(proposal),
        |outcome| match outcome {
            Outcome::Proposal(proposal) => Some(NegotiatedTradeBody::from(proposal)),
            _ => None,
        },
    )
    .await
}

/// `POST /v1/negotiated-trades/{id}/accept` (the buyer): settles the trade.
pub(crate) async fn accept(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<Json<NegotiatedTradeBody>, Problem> {
    answer(state, caller, id, Answer::Accept).await
}

/// `POST /v1/negotiated-trades/{id}/reject` (the buyer).
pub(crate) async fn reject(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<Json<NegotiatedTradeBody>, Problem> {
    answer(state, caller, id, Answer::Reject).await
}

/// `POST /v1/negotiated-trades/{id}/cancel` (the seller).
pub(crate) async fn cancel_proposal(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<Json<NegotiatedTradeBody>, Problem> {
    answer(state, caller, id, Answer::Cancel).await
}

async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    answer: Answer,
) -> Result<Json<NegotiatedTradeBody>, Problem> {
    caller.require(&[Role::Enterprise])?;
    let by = caller.participant_id.ok_or_else(Problem::forbidden)?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("negotiated trade"))?;
    let committed = state
        .store
        .execute(caller.actor(), Command::AnswerProposal { id, answer, by })
        .await?;
    let Outcome::ProposalAnswered(resolved) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    Ok(Json(NegotiatedTradeBody::from(&resolved.proposal)))
}

/// `?status=&participant_id=&limit=&cursor=` of negotiated trades.
#[derive(Debug, Deserialize)]
pub(crate) struct ProposalsQuery {
    status: Option<String>,
    participant_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/negotiated-trades`: an enterprise those it sells or is offered;
/// admin and regulator all.
pub(crate) async fn list_proposals(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ProposalsQuery>,
) -> Result<Json<Page<NegotiatedTradeBody>>, Problem> {
    caller.require(&[Role::Enterprise, Role::Admin, Role::Regulator])?;
    let limit = checked_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    if let Some(status) = &query.status
        && ProposalStatus::parse(status).is_none()
    {
        return Err(invalid_query(
            "status must be proposed, settled, rejected, cancelled or expired.",
        ));
    }
    let filter = ProposalFilter {
        participant: participant_filter(&caller, query.participant_id.as_deref())?,
        status: query.status,
        after,
        limit: limit + 1,
    };
    let proposals = state.store.proposals(&filter).await?;
    Ok(Json(Page::from_rows(
        proposals,
        limit,
        |p| p.id,
        |p| NegotiatedTradeBody::from(p),
    )))
}

/// `GET /v1/negotiated-trades/{id}`: its parties, admin and regulator.
pub(crate) async fn get_proposal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NegotiatedTradeBody>, Problem> {
    caller.require(&[Role::Enterprise, Role::Admin, Role::Regulator])?;
    let not_found = || Problem::not_found("negotiated trade");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let proposal = state.store.proposal(id).await?.ok_or_else(not_found)?;
    if caller.role == Role::Enterprise
        && caller.participant_id != Some(proposal.seller_id)
        && caller.participant_id != Some(proposal.buyer_id)
    {
        return Err(not_found());
    }
    Ok(Json(NegotiatedTradeBody::from(&proposal)))
}
