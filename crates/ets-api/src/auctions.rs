//! Sealed-bid auctions over HTTP. Bids are sealed: an enterprise sees only
//! its own bids and award, before and after the close.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use ets_core::{Decimal, InstrumentCode, Role};
use ets_engine::{
    Auction, AuctionBid, AuctionStatus, Command, NewAuction, NewBid, Outcome, Source,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::dto::{DecimalString, fixed, instant, time};
use crate::extract::{Caller, Creating, Params};
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::registry::unexpected;
use crate::submit::submit_created;

/// `POST /v1/auctions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuctionRequest {
    instrument: String,
    quantity: DecimalString,
    reserve_price: DecimalString,
    source: String,
    lot_size: Option<DecimalString>,
    max_bidder_share: Option<DecimalString>,
    closes_at: Option<String>,
}

/// `POST /v1/auctions` (admin): offers a quantity from the reserve (held
/// there until the close) or to be newly issued.
pub(crate) async fn create(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<AuctionRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let source = Source::parse(&request.source).ok_or_else(|| {
        Problem::unprocessable("invalid_body", "source must be reserve or issuance.")
    })?;
    let closes_at = request
        .closes_at
        .as_deref()
        .map(|text| {
            instant(
                text,
                "invalid_expiry",
                "closes_at must be an RFC 3339 time.",
            )
        })
        .transpose()?;
    let auction = NewAuction {
        id: Uuid::now_v7(),
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        reserve_price: request.reserve_price.0,
        source,
        lot_size: request.lot_size.as_ref().map(|d| d.0),
        max_bidder_share: request.max_bidder_share.as_ref().map(|d| d.0),
        closes_at,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::CreateAuction(auction),
        |outcome| match outcome {
            Outcome::Auction(auction) => Some(auction_body(auction)),
            _ => None,
        },
    )
    .await
}

/// `POST /v1/auctions/{id}/bids`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BidRequest {
    quantity: DecimalString,
    price: DecimalString,
}

/// `POST /v1/auctions/{id}/bids` (enterprise): a sealed bid; quantity ×
/// price of the bidder's cash is held until the close.
pub(crate) async fn place_bid(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        path: Path(id),
        body,
    }: Creating<BidRequest, Path<String>>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Enterprise])?;
    let participant_id = caller.participant_id.ok_or_else(Problem::forbidden)?;
    let auction_id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("auction"))?;
    let bid = NewBid {
        id: Uuid::now_v7(),
        auction_id,
        participant_id,
        quantity: body.quantity.0,
        price: body.price.0,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::PlaceBid(bid),
        |outcome| match outcome {
            Outcome::Bid(bid) => Some(bid_body(bid)),
            _ => None,
        },
    )
    .await
}

/// `POST /v1/auctions/{id}/close` (admin): clears and settles, or fails.
pub(crate) async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Role::Admin])?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("auction"))?;
    let committed = state
        .store
        .execute(caller.actor(), Command::CloseAuction { id })
        .await?;
    let Outcome::AuctionClosed(closed) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    Ok(Json(auction_view(&closed.auction, &closed.bids, &caller)))
}

/// `GET /v1/auctions/{id}` (any role): the auction, with the bids and
/// awards the caller may see.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let not_found = || Problem::not_found("auction");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let auction = state.store.auction(id).await?.ok_or_else(not_found)?;
    let bids = state.store.bids(id).await?;
    Ok(Json(auction_view(&auction, &bids, &caller)))
}

/// `?status=&limit=&cursor=` of auctions.
#[derive(Debug, Deserialize)]
pub(crate) struct AuctionsQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/auctions` (any role): auctions without their bids.
pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Params(query): Params<AuctionsQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let limit = checked_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    if let Some(status) = &query.status
        && AuctionStatus::parse(status).is_none()
    {
        return Err(Problem::unprocessable(
            "invalid_query",
            "status must be open, cleared or failed.",
        ));
    }
    let auctions = state
        .store
        .auctions(query.status.as_deref(), after, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(
        auctions,
        limit,
        |a| a.id,
        auction_body,
    )))
}

/// The auction with the bids and awards `caller` may see: staff all of
/// them, an enterprise only its own.
fn auction_view(auction: &Auction, bids: &[AuctionBid], caller: &Caller) -> Value {
    let visible: Vec<&AuctionBid> = bids
        .iter()
        .filter(|b| {
            caller.role != Role::Enterprise || caller.participant_id == Some(b.participant_id)
        })
        .collect();
    let mut awards: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for bid in &visible {
        if let Some(awarded) = bid.awarded.filter(|q| *q > Decimal::ZERO) {
            *awards.entry(bid.participant_id).or_default() += awarded;
        }
    }
    let mut body = auction_body(auction);
    body["bids"] = visible.iter().map(|b| bid_body(b)).collect();
    body["awards"] = awards
        .iter()
        .map(|(participant, quantity)| json!({"participant_id": participant, "quantity": quantity.to_string()}))
        .collect();
    body
}

fn auction_body(auction: &Auction) -> Value {
    let price = |p: Decimal| fixed(p, ets_core::matching::PRICE_SCALE);
    json!({
        "id": auction.id,
        "instrument": auction.instrument,
        "quantity": auction.quantity.to_string(),
        "reserve_price": price(auction.reserve_price),
        "source": auction.source.as_str(),
        "lot_size": auction.lot_size.map(|d| d.to_string()),
        "max_bidder_share": auction.max_bidder_share.map(|d| d.to_string()),
        "closes_at": auction.closes_at.map(time),
        "status": auction.status.as_str(),
        "clearing_price": auction.clearing_price.map(price),
        "sold_quantity": auction.sold_quantity.map(|d| d.to_string()),
        "created_at": time(auction.created_at),
        "closed_at": auction.closed_at.map(time),
    })
}

fn bid_body(bid: &AuctionBid) -> Value {
    json!({
        "id": bid.id,
        "auction_id": bid.auction_id,
        "participant_id": bid.participant_id,
        "quantity": bid.quantity.to_string(),
        "price": fixed(bid.price, ets_core::matching::PRICE_SCALE),
        "awarded": bid.awarded.map(|d| d.to_string()),
        "created_at": time(bid.created_at),
    })
}
