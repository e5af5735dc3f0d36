//! Sealed-bid auctions over HTTP. Bids are sealed: an enterprise sees only
//! its own bids and award, before and after the close.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use ets_core::{InstrumentCode, Role};
use ets_engine::{AuctionStatus, Command, NewAuction, NewBid, Outcome, Source};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::body::{AuctionBody, AuctionViewBody, BidBody};
use crate::dto::{DecimalString, instant};
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
            Outcome::Auction(auction) => Some(AuctionBody::from(auction)),
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
            Outcome::Bid(bid) => Some(BidBody::from(bid)),
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
) -> Result<Json<AuctionViewBody>, Problem> {
    caller.require(&[Role::Admin])?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("auction"))?;
    let committed = state
        .store
        .execute(caller.actor(), Command::CloseAuction { id })
        .await?;
    let Outcome::AuctionClosed(closed) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    Ok(Json(AuctionViewBody::seen_by(
        &closed.auction,
        &closed.bids,
        &caller,
    )))
}

/// `GET /v1/auctions/{id}` (any role): the auction, with the bids and
/// awards the caller may see.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AuctionViewBody>, Problem> {
    let not_found = || Problem::not_found("auction");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let auction = state.store.auction(id).await?.ok_or_else(not_found)?;
    let bids = state.store.bids(id).await?;
    Ok(Json(AuctionViewBody::seen_by(&auction, &bids, &caller)))
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
) -> Result<Json<Page<AuctionBody>>, Problem> {
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
        |a| AuctionBody::from(a),
    )))
}
