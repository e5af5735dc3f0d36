//! Sealed-bid uniform-price auctions in the ledger: the authority offers a
//! quantity (held on the reserve, or to be newly issued); enterprises bid
//! with their cash held; the close clears the bids with
//! [`ets_core::auction::clear`] and settles every award at the one clearing
//! price in one transaction, or, when no bid is valid, releases everything.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ets_core::auction::{self, Award, Clearing, Offering};
use ets_core::fees::round_money;
use ets_core::{HoldPurpose, InstrumentCode, LedgerError, Leg, Owner, SystemAccount, matching};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::CommandError;
use crate::market::{Trade, TradeMethod};
use crate::payload::{AuctionClosed, AuctionCreated, BidPlaced, Payload};

/// Where the offered quantity comes from, and where what is unsold returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The government reserve (held there until the close).
    Reserve,
    /// Newly issued at the close (unsold quantity is simply not issued).
    Issuance,
}

impl Source {
    /// The stored and shown name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Issuance => "issuance",
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reserve" => Some(Self::Reserve),
            "issuance" => Some(Self::Issuance),
            _ => None,
        }
    }

    fn owner(self) -> Owner {
        Owner::System(match self {
            Self::Reserve => SystemAccount::Reserve,
            Self::Issuance => SystemAccount::Issuance,
        })
    }
}

/// Where an auction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionStatus {
    /// Taking bids.
    Open,
    /// Closed with at least one award.
    Cleared,
    /// Closed without a valid bid; nothing moved.
    Failed,
}

impl AuctionStatus {
    /// The stored and shown name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Cleared => "cleared",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "cleared" => Some(Self::Cleared),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An auction, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    /// Its id; also the id of the hold on the reserve.
    pub id: Uuid,
    /// What is offered.
    pub instrument: InstrumentCode,
    /// How much, at the instrument's scale.
    pub quantity: Decimal,
    /// The lowest price accepted, CNY per unit (fen).
    pub reserve_price: Decimal,
    /// From the reserve or newly issued.
    pub source: Source,
    /// Bids and awards are whole lots of this size, if set.
    pub lot_size: Option<Decimal>,
    /// The largest share of the quantity one bidder may win, if set.
    pub max_bidder_share: Option<Decimal>,
    /// After this no bid is taken.
    pub closes_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: AuctionStatus,
    /// The one price every winner paid, once cleared.
    pub clearing_price: Option<Decimal>,
    /// What was sold, once closed.
    pub sold_quantity: Option<Decimal>,
    /// When offered.
    pub created_at: DateTime<Utc>,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Auction {
    fn offering(&self, scale: u32) -> Offering {
        Offering {
            quantity: self.quantity,
            reserve_price: self.reserve_price,
            lot_size: self.lot_size,
            max_bidder_share: self.max_bidder_share,
            scale,
        }
    }

    fn takes_bids(&self, at: DateTime<Utc>) -> bool {
        self.status == AuctionStatus::Open && self.closes_at.is_none_or(|close| at < close)
    }
}

/// A sealed bid, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionBid {
    /// Its id; also the id of the hold on the bidder's cash.
    pub id: Uuid,
    /// Which auction.
    pub auction_id: Uuid,
    /// Who bids.
    pub participant_id: Uuid,
    /// How much it asks for.
    pub quantity: Decimal,
    /// The most it pays per unit.
    pub price: Decimal,
    /// Arrival order (the journal seq of its placement).
    pub seq: i64,
    /// What it won, once the auction closed.
    pub awarded: Option<Decimal>,
    /// When placed.
    pub created_at: DateTime<Utc>,
}

/// An auction to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuction {
    /// Its id.
    pub id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// The lowest price accepted.
    pub reserve_price: Decimal,
    /// From where.
    pub source: Source,
    /// Lot size, if any.
    pub lot_size: Option<Decimal>,
    /// Per-bidder cap as a share of the quantity, if any.
    pub max_bidder_share: Option<Decimal>,
    /// When bidding ends, if set.
    pub closes_at: Option<DateTime<Utc>>,
}

/// A bid to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBid {
    /// Its id (and its hold's).
    pub id: Uuid,
    /// Which auction.
    pub auction_id: Uuid,
    /// The bidder (the caller's participant).
    pub participant_id: Uuid,
    /// How much.
    pub quantity: Decimal,
    /// The most it pays per unit.
    pub price: Decimal,
}

/// A closed auction with its bids (awards filled in) and trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// The auction as it now stands.
    pub auction: Auction,
    /// Every bid, with what it won.
    pub bids: Vec<AuctionBid>,
    /// One trade per winning bid.
    pub trades: Vec<Trade>,
}

/// Offers an auction; from the reserve, its quantity is held there.
pub(crate) fn create(
    new: &NewAuction,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Auction), CommandError> {
    let at = changes.at;
    let instrument = loaded
        .ledger
        .instrument(&new.instrument)
        .ok_or(LedgerError::UnknownInstrument)?
        .clone();
    if instrument.kind == ets_core::InstrumentKind::Cash {
        return Err(LedgerError::InstrumentNotTradable.into());
    }
    let quantity = instrument.check_quantity(new.quantity)?;
    // No reserve (zero) is allowed; otherwise a price in whole fen.
    if !new.reserve_price.is_zero() {
        matching::check_price(new.reserve_price)?;
    }
    if new.closes_at.is_some_and(|close| close <= at) {
        return Err(CommandError::InvalidExpiry);
    }
    let auction = Auction {
        id: new.id,
        instrument: new.instrument.clone(),
        quantity,
        reserve_price: new.reserve_price,
        source: new.source,
        lot_size: new.lot_size,
        max_bidder_share: new.max_bidder_share,
        closes_at: new.closes_at.map(ets_core::journal::truncate_to_micros),
        status: AuctionStatus::Open,
        clearing_price: None,
        sold_quantity: None,
        created_at: at,
        closed_at: None,
    };
    auction.offering(instrument.scale).validate()?;
    let transaction = match new.source {
        Source::Reserve => {
            let mut transaction = apply_legs(
                loaded,
                &[Leg::PlaceHold {
                    hold: auction.id,
                    instrument: auction.instrument.clone(),
                    owner: Source::Reserve.owner(),
                    quantity,
                    purpose: HoldPurpose::Other,
                }],
                "auction.created",
                Some(auction.id.to_string()),
                changes,
            )?;
            transaction.journal_seq = changes.head.seq + 1;
            Some(transaction)
        }
        Source::Issuance => None,
    };
    let payload = Payload::AuctionCreated(AuctionCreated::new(&auction, transaction.as_ref()));
    changes.transactions.extend(transaction);
    loaded.market.auctions.insert(auction.id, auction.clone());
    changes.auctions.insert(auction.id, auction.clone());
    Ok(("auction.created", payload, auction))
}

/// Places a sealed bid, holding quantity × price of the bidder's cash.
pub(crate) fn bid(
    new: &NewBid,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, AuctionBid), CommandError> {
    let at = changes.at;
    let auction = loaded
        .market
        .auctions
        .get(&new.auction_id)
        .cloned()
        .ok_or(CommandError::UnknownAuction)?;
    if !auction.takes_bids(at) {
        return Err(CommandError::AuctionClosed);
    }
    let instrument = loaded
        .ledger
        .instrument(&auction.instrument)
        .ok_or(LedgerError::UnknownInstrument)?
        .clone();
    let price = matching::check_price(new.price)?;
    if price < auction.reserve_price {
        return Err(CommandError::BidBelowReserve);
    }
    let region = loaded
        .market
        .regions
        .get(&new.participant_id)
        .ok_or(CommandError::UnknownParticipant)?;
    instrument.check_tradable(region, changes.business_date)?;
    let seq = changes.head.seq + 1;
    let mut core_bid = auction::Bid {
        id: new.id,
        bidder: new.participant_id,
        quantity: new.quantity,
        price,
        seq: u64::try_from(seq).unwrap_or_default(),
    };
    auction.offering(instrument.scale).check_bid(&core_bid)?;
    core_bid.quantity = instrument.check_quantity(new.quantity)?;
    let hold = round_money(core_bid.quantity * price);
    if hold.is_zero() {
        return Err(LedgerError::ValueTooSmall.into());
    }
    let mut transaction = apply_legs(
        loaded,
        &[Leg::PlaceHold {
            hold: new.id,
            instrument: InstrumentCode::cny(),
            owner: Owner::Participant(new.participant_id),
            quantity: hold,
            purpose: HoldPurpose::Bid,
        }],
        "auction.bid",
        Some(auction.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = seq;
    let bid = AuctionBid {
        id: new.id,
        auction_id: auction.id,
        participant_id: new.participant_id,
        quantity: core_bid.quantity,
        price,
        seq,
        awarded: None,
        created_at: at,
    };
    // The journal keeps the bid (it is the audit trail); the API keeps it
    // sealed from other enterprises.
    let payload = Payload::BidPlaced(BidPlaced::new(&bid, &transaction));
    changes.transactions.push(transaction);
    loaded.market.bids.insert(bid.id, bid.clone());
    changes.bids.insert(bid.id, bid.clone());
    Ok(("auction.bid", payload, bid))
}

/// Closes an auction: clears its bids and settles the awards, or fails.
pub(crate) fn close(
    id: Uuid,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Closed), CommandError> {
    let (auction, scale) = closing_auction(id, loaded)?;
    let mut bids = sealed_bids(id, loaded);
    let core_bids: Vec<auction::Bid> = bids.iter().map(core_bid).collect();
    let clearing = auction::clear(&auction.offering(scale), &core_bids)?;
    let mut settlement = settle_awards(&auction, &clearing, changes);
    release_unspent(&auction, &mut bids, &mut settlement, loaded);
    record_close(auction, bids, settlement, loaded, changes)
}

/// The auction to close and its instrument's scale: it must exist and still
/// be open.
fn closing_auction(id: Uuid, loaded: &Loaded) -> Result<(Auction, u32), CommandError> {
    let auction = loaded
        .market
        .auctions
        .get(&id)
        .cloned()
        .ok_or(CommandError::UnknownAuction)?;
    if auction.status != AuctionStatus::Open {
        return Err(CommandError::AuctionClosed);
    }
    let instrument = loaded
        .ledger
        .instrument(&auction.instrument)
        .ok_or(LedgerError::UnknownInstrument)?;
    Ok((auction, instrument.scale))
}

/// An auction's bids in arrival order (clearing breaks price ties by it).
fn sealed_bids(id: Uuid, loaded: &Loaded) -> Vec<AuctionBid> {
    let mut bids: Vec<AuctionBid> = loaded
        .market
        .bids
        .values()
        .filter(|b| b.auction_id == id)
        .cloned()
        .collect();
    bids.sort_by_key(|b| b.seq);
    bids
}

/// A stored bid as the clearing sees it.
fn core_bid(bid: &AuctionBid) -> auction::Bid {
    auction::Bid {
        id: bid.id,
        bidder: bid.participant_id,
        quantity: bid.quantity,
        price: bid.price,
        seq: u64::try_from(bid.seq).unwrap_or_default(),
    }
}

/// What a close settles in its one transaction.
struct Settlement {
    /// The journal kind: cleared or failed.
    kind: &'static str,
    /// The one price every winner pays, when cleared.
    clearing_price: Option<Decimal>,
    /// The quantity awarded (zero when failed).
    sold: Decimal,
    /// The transaction's legs.
    legs: Vec<Leg>,
    /// One trade per award, its transaction known once the legs are applied.
    trades: Vec<Trade>,
    /// Per winning bid: what it won and what it pays.
    won: HashMap<Uuid, (Decimal, Decimal)>,
}

/// The legs and trades of a clearing's awards, each paid at the clearing
/// price; nothing when the auction failed.
fn settle_awards(auction: &Auction, clearing: &Clearing, changes: &mut Changes) -> Settlement {
    let mut settlement = Settlement {
        kind: "auction.failed",
        clearing_price: None,
        sold: Decimal::ZERO,
        legs: Vec::new(),
        trades: Vec::new(),
        won: HashMap::new(),
    };
    let Clearing::Cleared {
        clearing_price,
        sold,
        awards,
        ..
    } = clearing
    else {
        return settlement;
    };
    for award in awards {
        let pay = round_money(award.quantity * *clearing_price);
        award_legs(&mut settlement.legs, auction, award, pay);
        let trade = award_trade(auction, award, *clearing_price, pay, changes);
        settlement.trades.push(trade);
        settlement.won.insert(award.bid, (award.quantity, pay));
    }
    settlement.kind = "auction.cleared";
    settlement.clearing_price = Some(*clearing_price);
    settlement.sold = *sold;
    settlement
}

/// The legs of one award: the rights to the winner (out of the auction's
/// hold on the reserve, or newly issued), and its payment out of the bid's
/// hold to the auction proceeds.
fn award_legs(legs: &mut Vec<Leg>, auction: &Auction, award: &Award, pay: Decimal) {
    let winner = Owner::Participant(award.bidder);
    legs.push(match auction.source {
        Source::Reserve => Leg::SettleHold {
            hold: auction.id,
            to: winner,
            quantity: award.quantity,
        },
        Source::Issuance => Leg::Transfer {
            instrument: auction.instrument.clone(),
            from: auction.source.owner(),
            to: winner,
            quantity: award.quantity,
        },
    });
    if pay > Decimal::ZERO {
        legs.push(Leg::SettleHold {
            hold: award.bid,
            to: Owner::System(SystemAccount::AuctionProceeds),
            quantity: pay,
        });
    }
}

/// The trade of one award: the authority sells, so it has no seller, and
/// no commission is charged.
fn award_trade(
    auction: &Auction,
    award: &Award,
    clearing_price: Decimal,
    pay: Decimal,
    changes: &mut Changes,
) -> Trade {
    let at = changes.at;
    Trade {
        id: changes.ids.next_id(),
        instrument: auction.instrument.clone(),
        method: TradeMethod::Auction,
        quantity: award.quantity,
        price: clearing_price,
        value: pay,
        buyer_id: award.bidder,
        seller_id: None,
        buy_order_id: Some(award.bid),
        sell_order_id: None,
        buyer_commission: Decimal::ZERO,
        seller_commission: Decimal::ZERO,
        executed_at: at,
        business_date: changes.business_date,
        transaction_id: Uuid::nil(),
    }
}

/// What was not spent or sold goes back: what each bid's hold keeps beyond
/// its payment (every losing bid's whole hold), and the unsold quantity to
/// the reserve. Fills in what each bid was awarded.
fn release_unspent(
    auction: &Auction,
    bids: &mut [AuctionBid],
    settlement: &mut Settlement,
    loaded: &Loaded,
) {
    for bid in bids {
        let (awarded, pay) = settlement.won.get(&bid.id).copied().unwrap_or_default();
        bid.awarded = Some(awarded);
        let held = loaded
            .ledger
            .hold(&bid.id)
            .map_or(Decimal::ZERO, |h| h.remaining);
        if held > pay {
            settlement.legs.push(Leg::ReleaseHold { hold: bid.id });
        }
    }
    if auction.source == Source::Reserve && settlement.sold < auction.quantity {
        settlement.legs.push(Leg::ReleaseHold { hold: auction.id });
    }
}

/// Applies the close's legs as one transaction (none when nothing moves)
/// and records the auction as cleared or failed, its bids with their awards
/// and its trades, in the working set and the batch's changes.
fn record_close(
    mut auction: Auction,
    bids: Vec<AuctionBid>,
    settlement: Settlement,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Closed), CommandError> {
    let Settlement {
        kind,
        clearing_price,
        sold,
        legs,
        mut trades,
        ..
    } = settlement;
    let transaction = if legs.is_empty() {
        None
    } else {
        let mut transaction =
            apply_legs(loaded, &legs, kind, Some(auction.id.to_string()), changes)?;
        transaction.journal_seq = changes.head.seq + 1;
        for trade in &mut trades {
            trade.transaction_id = transaction.id;
        }
        Some(transaction)
    };
    auction.status = if clearing_price.is_some() {
        AuctionStatus::Cleared
    } else {
        AuctionStatus::Failed
    };
    auction.clearing_price = clearing_price;
    auction.sold_quantity = Some(sold);
    auction.closed_at = Some(changes.at);
    let payload = Payload::AuctionClosed(AuctionClosed::new(&auction, &bids, transaction.as_ref()));
    changes.transactions.extend(transaction);
    changes.trades.extend(trades.iter().cloned());
    for bid in &bids {
        loaded.market.bids.insert(bid.id, bid.clone());
        changes.bids.insert(bid.id, bid.clone());
    }
    loaded.market.auctions.insert(auction.id, auction.clone());
    changes.auctions.insert(auction.id, auction.clone());
    Ok((
        kind,
        payload,
        Closed {
            auction,
            bids,
            trades,
        },
    ))
}
