//! The market's records and how the writer applies market commands: the
//! continuous order book (place, match, settle, cancel). Pure: the backend
//! loads the crossing part of the book into [`Loaded`], these functions
//! change the working set, and the backend persists what changed.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::matching::{self, BookOrder, Fill, OrderMoney, Side};
use ets_core::{HoldPurpose, InstrumentCode, LedgerError, Leg, Owner, RegionCode, SystemAccount};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::CommandError;
use crate::payload::{OrderCancelled, OrderPlaced, Payload};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Resting, nothing filled yet.
    Open,
    /// Resting, partly filled.
    PartiallyFilled,
    /// Wholly filled.
    Filled,
    /// Cancelled (by its owner, or its crossing remainder by self-trade
    /// prevention); what it still held was released.
    Cancelled,
}

impl OrderStatus {
    /// The stored and shown name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "partially_filled" => Some(Self::PartiallyFilled),
            "filled" => Some(Self::Filled),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the order still rests in the book.
    #[must_use]
    pub fn is_resting(self) -> bool {
        matches!(self, Self::Open | Self::PartiallyFilled)
    }
}

/// A limit order, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id; also the id of its hold.
    pub id: Uuid,
    /// Whose order.
    pub participant_id: Uuid,
    /// What it trades.
    pub instrument: InstrumentCode,
    /// Buy or sell.
    pub side: Side,
    /// Limit price, CNY per unit.
    pub price: Decimal,
    /// Quantity asked, at the instrument's scale.
    pub quantity: Decimal,
    /// Quantity filled so far.
    pub filled: Decimal,
    /// What its hold reserved when placed: the quantity (sell), or
    /// [`matching::buy_hold`] (buy).
    pub hold_amount: Decimal,
    /// Cash paid (buy) or received (sell) and commission paid, cumulative.
    pub money: OrderMoney,
    /// Where it stands.
    pub status: OrderStatus,
    /// Arrival order in the whole ledger: the journal seq of its placement.
    pub seq: i64,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Quantity still open.
    #[must_use]
    pub fn remaining(&self) -> Decimal {
        self.quantity - self.filled
    }

    /// What the order's hold still reserves: its unspent part while the
    /// order rests; nothing once filled or cancelled (the rest was released).
    #[must_use]
    pub fn held(&self) -> Decimal {
        if self.status.is_resting() {
            self.unspent()
        } else {
            Decimal::ZERO
        }
    }

    /// What its hold has not spent: the unfilled quantity (sell) or the cash
    /// not paid in value or commission (buy).
    fn unspent(&self) -> Decimal {
        match self.side {
            Side::Sell => self.remaining(),
            Side::Buy => self.hold_amount - self.money.value - self.money.commission,
        }
    }

    fn book_entry(&self) -> BookOrder {
        BookOrder {
            id: self.id,
            participant: self.participant_id,
            price: self.price,
            remaining: self.remaining(),
            seq: self.seq,
        }
    }
}

/// How a trade came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeMethod {
    /// Matched in the continuous order book.
    OrderBook,
    /// A negotiated (bilateral) trade.
    Negotiated,
    /// Awarded in an auction.
    Auction,
}

impl TradeMethod {
    /// The stored and shown name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderBook => "order_book",
            Self::Negotiated => "negotiated",
            Self::Auction => "auction",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "order_book" => Some(Self::OrderBook),
            "negotiated" => Some(Self::Negotiated),
            "auction" => Some(Self::Auction),
            _ => None,
        }
    }
}

/// A settled trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The trade's id.
    pub id: Uuid,
    /// What was traded.
    pub instrument: InstrumentCode,
    /// How.
    pub method: TradeMethod,
    /// How much.
    pub quantity: Decimal,
    /// At which price per unit.
    pub price: Decimal,
    /// Cash the buyer paid the seller for it.
    pub value: Decimal,
    /// Who bought.
    pub buyer_id: Uuid,
    /// Who sold (none when the authority sold, in an auction).
    pub seller_id: Option<Uuid>,
    /// The buy order, for a book trade.
    pub buy_order_id: Option<Uuid>,
    /// The sell order, for a book trade.
    pub sell_order_id: Option<Uuid>,
    /// Commission the buyer paid on it.
    pub buyer_commission: Decimal,
    /// Commission the seller paid on it.
    pub seller_commission: Decimal,
    /// When it settled.
    pub executed_at: DateTime<Utc>,
    /// Its business day (Asia/Shanghai).
    pub business_date: NaiveDate,
    /// The ledger transaction that settled it.
    pub transaction_id: Uuid,
}

/// An order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The order's id (and its hold's).
    pub id: Uuid,
    /// Whose order (the caller's participant).
    pub participant_id: Uuid,
    /// What it trades.
    pub instrument: InstrumentCode,
    /// Buy or sell.
    pub side: Side,
    /// Limit price.
    pub price: Decimal,
    /// Quantity.
    pub quantity: Decimal,
}

/// What the writer must read for the book: per instrument and side to load,
/// the least aggressive price an incoming order reaches and the total
/// quantity the incoming orders could take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookNeed {
    /// Which book.
    pub instrument: InstrumentCode,
    /// Which side of it to load (opposite to the incoming orders).
    pub side: Side,
    /// Load resting orders at this price or better for the incoming side:
    /// asks at or below it, bids at or above it.
    pub limit: Decimal,
    /// Resting orders beyond this cumulative quantity (in priority order)
    /// cannot be reached by the batch.
    pub quantity: Decimal,
}

/// Resting orders read per page when a batch reads the top of a book.
pub const BOOK_PAGE: i64 = 64;

/// Takes, from one page of a book side in priority order, the orders a need
/// can reach: up to and including the one that brings the running total to
/// the quantity needed. Returns whether the next page is needed too (the
/// page was full and the quantity not reached).
pub fn take_reachable(
    need: &BookNeed,
    page: Vec<Order>,
    through: &mut Decimal,
    into: &mut BTreeMap<Uuid, Order>,
) -> bool {
    let full = i64::try_from(page.len()).is_ok_and(|n| n >= BOOK_PAGE);
    for order in page {
        if *through >= need.quantity {
            return false;
        }
        *through += order.remaining();
        into.insert(order.id, order);
    }
    full && *through < need.quantity
}

/// Adds an incoming order to the book needs of a batch. An order whose price
/// or quantity is out of bounds reads nothing: it will be refused, and its
/// numbers must not reach the loader's arithmetic.
pub fn add_book_need(needs: &mut Vec<BookNeed>, order: &NewOrder) {
    let in_bounds = matching::check_price(order.price).is_ok()
        && order.quantity > Decimal::ZERO
        && order.quantity <= ets_core::instrument::MAX_QUANTITY;
    if in_bounds {
        widen(
            needs,
            &order.instrument,
            order.side.opposite(),
            order.price,
            order.quantity,
        );
    }
}

/// Makes the batch read the book of `side` down to `limit` (asks at or
/// below it, bids at or above it) and `quantity` further along.
fn widen(
    needs: &mut Vec<BookNeed>,
    instrument: &InstrumentCode,
    side: Side,
    limit: Decimal,
    quantity: Decimal,
) {
    if let Some(need) = needs
        .iter_mut()
        .find(|n| &n.instrument == instrument && n.side == side)
    {
        need.limit = match side {
            Side::Sell => need.limit.max(limit),
            Side::Buy => need.limit.min(limit),
        };
        // At most MAX_BATCH orders of at most 10^15 each: far inside Decimal.
        need.quantity += quantity;
    } else {
        needs.push(BookNeed {
            instrument: instrument.clone(),
            side,
            limit,
            quantity,
        });
    }
}

/// Once the orders named by cancels are read: a cancel earlier in the batch
/// takes its order's quantity out of the book, so each book the batch reads
/// must reach that much further.
pub fn widen_for_cancels(needs: &mut [BookNeed], named: &BTreeMap<Uuid, Order>) {
    for order in named.values().filter(|o| o.status.is_resting()) {
        if let Some(need) = needs
            .iter_mut()
            .find(|n| n.instrument == order.instrument && n.side == order.side)
        {
            need.quantity += order.remaining();
        }
    }
}

/// What the writer read of the market for a batch.
#[derive(Debug, Default)]
pub struct Market {
    /// Orders read (the crossing part of the books, and orders named by
    /// cancels) and orders placed by this batch, by id.
    pub orders: BTreeMap<Uuid, Order>,
    /// Participants' regions (for pollutant rights).
    pub regions: BTreeMap<Uuid, RegionCode>,
    /// The previous business day's VWAP of instruments with a price band.
    pub reference_prices: BTreeMap<InstrumentCode, Decimal>,
    /// Negotiated trade proposals read (named, or due to expire), by id.
    pub proposals: BTreeMap<Uuid, crate::negotiated::Proposal>,
    /// Auctions read or created, by id.
    pub auctions: BTreeMap<Uuid, crate::auctions::Auction>,
    /// Bids of the auctions closing in this batch, and bids placed, by id.
    pub bids: BTreeMap<Uuid, crate::auctions::AuctionBid>,
    /// Pledges read or made, by id.
    pub pledges: BTreeMap<Uuid, crate::authority::Pledge>,
}

/// What a placed order did: the order as it now stands, and its trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// The trades it made, in execution order.
    pub trades: Vec<Trade>,
    /// The ledger transaction (hold, settlements, releases); its postings are
    /// in the journal entry and the postings table.
    pub transaction_id: Uuid,
}

/// Places an order: checks the rules, holds what it may spend, matches it
/// against the book (price–time priority, each fill at the resting price),
/// settles every fill (rights, cash, both commissions) and rests or cancels
/// the remainder; all in one ledger transaction.
pub(crate) fn place_order(
    new: &NewOrder,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Placed), CommandError> {
    let checked = check_order(new, loaded, changes.business_date)?;
    // The journal entry this request appends next.
    let mut order = open_order(new, &checked, changes.head.seq + 1, changes.at);
    let mut legs = vec![hold_leg(&order)];
    let book = working_book(loaded, &order);
    let matched = matching::match_incoming(
        order.side,
        order.participant_id,
        order.price,
        order.quantity,
        &book,
    );
    let (trades, touched) = settle_fills(
        &mut order,
        &matched.fills,
        checked.commission_rate,
        loaded,
        changes,
        &mut legs,
    );
    rest_or_cancel_remainder(&mut order, matched.self_trade, &mut legs);
    record_placement(order, trades, touched, &legs, loaded, changes)
}

/// An incoming order's numbers once its checks passed.
struct CheckedOrder {
    /// At the instrument's scale.
    quantity: Decimal,
    /// In whole fen.
    price: Decimal,
    /// The instrument's commission rate, for both sides of every fill.
    commission_rate: Decimal,
}

/// Checks an incoming order, in the order that decides its error: the
/// instrument exists, the quantity fits its scale, the price is in whole
/// fen, the participant may trade it today (region, validity), the price is
/// inside the day's band, and the order is worth at least a fen.
fn check_order(
    new: &NewOrder,
    loaded: &Loaded,
    today: NaiveDate,
) -> Result<CheckedOrder, CommandError> {
    let instrument = loaded
        .ledger
        .instrument(&new.instrument)
        .ok_or(LedgerError::UnknownInstrument)?;
    let quantity = instrument.check_quantity(new.quantity)?;
    let price = matching::check_price(new.price)?;
    let region = loaded
        .market
        .regions
        .get(&new.participant_id)
        .ok_or(CommandError::UnknownParticipant)?;
    instrument.check_tradable(region, today)?;
    instrument.check_band(
        price,
        loaded.market.reference_prices.get(&new.instrument).copied(),
    )?;
    let value = ets_core::fees::round_money(quantity * price);
    if value.is_zero() {
        return Err(LedgerError::ValueTooSmall.into());
    }
    Ok(CheckedOrder {
        quantity,
        price,
        commission_rate: instrument.commission_rate,
    })
}

/// The order as it enters the book, nothing filled. Its hold reserves the
/// quantity (sell) or the most it can pay, commission included (buy).
fn open_order(new: &NewOrder, checked: &CheckedOrder, seq: i64, at: DateTime<Utc>) -> Order {
    let hold_amount = match new.side {
        Side::Sell => checked.quantity,
        Side::Buy => matching::buy_hold(checked.quantity, checked.price, checked.commission_rate),
    };
    Order {
        id: new.id,
        participant_id: new.participant_id,
        instrument: new.instrument.clone(),
        side: new.side,
        price: checked.price,
        quantity: checked.quantity,
        filled: Decimal::ZERO,
        hold_amount,
        money: OrderMoney::default(),
        status: OrderStatus::Open,
        seq,
        created_at: at,
        updated_at: at,
    }
}

/// The hold an order places under its own id: rights for a sell, cash for a
/// buy.
fn hold_leg(order: &Order) -> Leg {
    let instrument = match order.side {
        Side::Sell => order.instrument.clone(),
        Side::Buy => InstrumentCode::cny(),
    };
    Leg::PlaceHold {
        hold: order.id,
        instrument,
        owner: Owner::Participant(order.participant_id),
        quantity: order.hold_amount,
        purpose: HoldPurpose::Order,
    }
}

/// The resting orders an incoming order can meet: the other side of its
/// instrument's book, as far as the batch read it.
fn working_book(loaded: &Loaded, order: &Order) -> Vec<BookOrder> {
    loaded
        .market
        .orders
        .values()
        .filter(|o| {
            o.instrument == order.instrument
                && o.side == order.side.opposite()
                && o.status.is_resting()
        })
        .map(Order::book_entry)
        .collect()
}

/// Settles the fills of an incoming order, in execution order: fills both
/// orders, records a trade (its transaction is known later), adds the
/// settlement legs, and releases what a resting order that is now filled
/// did not spend. Returns the trades and the resting orders as they now
/// stand.
fn settle_fills(
    order: &mut Order,
    fills: &[Fill],
    commission_rate: Decimal,
    loaded: &Loaded,
    changes: &mut Changes,
    legs: &mut Vec<Leg>,
) -> (Vec<Trade>, Vec<Order>) {
    let mut touched: Vec<Order> = Vec::with_capacity(fills.len());
    let mut trades: Vec<Trade> = Vec::with_capacity(fills.len());
    for fill in fills {
        let mut resting = loaded.market.orders[&fill.resting].clone();
        let (buy, sell) = match order.side {
            Side::Buy => (&mut *order, &mut resting),
            Side::Sell => (&mut resting, &mut *order),
        };
        let trade = fill_orders(buy, sell, fill, commission_rate, changes);
        settle_fill(legs, &trade, buy.id, sell.id, sell.participant_id);
        if resting.status == OrderStatus::Filled {
            release_rest(legs, &resting);
        }
        trades.push(trade);
        touched.push(resting);
    }
    (trades, touched)
}

/// Fills both sides of one fill at the resting price: each order's filled
/// quantity, status and money (value, commissions), and the trade it makes.
fn fill_orders(
    buy: &mut Order,
    sell: &mut Order,
    fill: &Fill,
    commission_rate: Decimal,
    changes: &mut Changes,
) -> Trade {
    let at = changes.at;
    let (value, buyer_commission) = buy
        .money
        .buy_fill(fill.quantity, fill.price, commission_rate);
    let seller_commission = sell
        .money
        .sell_fill(fill.quantity, fill.price, value, commission_rate);
    for filled in [&mut *buy, &mut *sell] {
        filled.filled += fill.quantity;
        filled.status = if filled.remaining().is_zero() {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        filled.updated_at = at;
    }
    Trade {
        id: changes.ids.next_id(),
        instrument: buy.instrument.clone(),
        method: TradeMethod::OrderBook,
        quantity: fill.quantity,
        price: fill.price,
        value,
        buyer_id: buy.participant_id,
        seller_id: Some(sell.participant_id),
        buy_order_id: Some(buy.id),
        sell_order_id: Some(sell.id),
        buyer_commission,
        seller_commission,
        executed_at: at,
        business_date: changes.business_date,
        // Known once the legs are applied.
        transaction_id: Uuid::nil(),
    }
}

/// What becomes of an incoming order's remainder: it rests, unless matching
/// stopped at the participant's own order (self-trade prevention cancels
/// it). An order that stops resting releases what it did not spend.
fn rest_or_cancel_remainder(order: &mut Order, self_trade: bool, legs: &mut Vec<Leg>) {
    if self_trade && order.remaining() > Decimal::ZERO {
        order.status = OrderStatus::Cancelled;
    }
    if !order.status.is_resting() {
        release_rest(legs, order);
    }
}

/// Applies the placement's legs as one transaction (refused as a whole if
/// any leg fails) and records the order, the resting orders it filled and
/// its trades in the working set and the batch's changes.
fn record_placement(
    order: Order,
    mut trades: Vec<Trade>,
    touched: Vec<Order>,
    legs: &[Leg],
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Placed), CommandError> {
    let mut transaction = apply_legs(
        loaded,
        legs,
        "order.placed",
        Some(order.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = order.seq;
    for trade in &mut trades {
        trade.transaction_id = transaction.id;
    }
    for resting in touched {
        changes.orders.insert(resting.id, resting.clone());
        loaded.market.orders.insert(resting.id, resting);
    }
    changes.orders.insert(order.id, order.clone());
    loaded.market.orders.insert(order.id, order.clone());
    changes.trades.extend(trades.iter().cloned());
    let payload = Payload::OrderPlaced(OrderPlaced::new(&order, &trades, &transaction));
    let transaction_id = transaction.id;
    changes.transactions.push(transaction);
    Ok((
        "order.placed",
        payload,
        Placed {
            order,
            trades,
            transaction_id,
        },
    ))
}

/// The legs of one fill: the seller's held rights to the buyer; the buyer's
/// held cash to the seller (the trade value) and to fee income (the buyer's
/// commission); the seller's commission from its cash, which the value just
/// credited covers.
fn settle_fill(
    legs: &mut Vec<Leg>,
    trade: &Trade,
    buy_order: Uuid,
    sell_order: Uuid,
    seller: Uuid,
) {
    let buyer = Owner::Participant(trade.buyer_id);
    let seller = Owner::Participant(seller);
    let fees = Owner::System(SystemAccount::FeeIncome);
    legs.push(Leg::SettleHold {
        hold: sell_order,
        to: buyer,
        quantity: trade.quantity,
    });
    if trade.value > Decimal::ZERO {
        legs.push(Leg::SettleHold {
            hold: buy_order,
            to: seller,
            quantity: trade.value,
        });
    }
    if trade.buyer_commission > Decimal::ZERO {
        legs.push(Leg::SettleHold {
            hold: buy_order,
            to: fees,
            quantity: trade.buyer_commission,
        });
    }
    if trade.seller_commission > Decimal::ZERO {
        legs.push(Leg::Transfer {
            instrument: InstrumentCode::cny(),
            from: seller,
            to: fees,
            quantity: trade.seller_commission,
        });
    }
}

/// Releases what an order that stops resting has not spent (a buy filled
/// below its limit, a cancelled remainder). Nothing, when fills used the
/// whole hold: it is already settled.
fn release_rest(legs: &mut Vec<Leg>, order: &Order) {
    if order.unspent() > Decimal::ZERO {
        legs.push(Leg::ReleaseHold { hold: order.id });
    }
}

/// Cancels a resting order and releases what it still holds. `owner`, when
/// given, must be the order's participant (an enterprise cancelling).
pub(crate) fn cancel_order(
    id: Uuid,
    owner: Option<Uuid>,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Order), CommandError> {
    let mut order = loaded
        .market
        .orders
        .get(&id)
        .filter(|o| owner.is_none_or(|p| p == o.participant_id))
        .cloned()
        .ok_or(CommandError::UnknownOrder)?;
    if !order.status.is_resting() {
        return Err(CommandError::OrderNotOpen);
    }
    let mut legs = Vec::new();
    release_rest(&mut legs, &order);
    let mut transaction = apply_legs(
        loaded,
        &legs,
        "order.cancelled",
        Some(order.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    order.status = OrderStatus::Cancelled;
    order.updated_at = changes.at;
    changes.orders.insert(order.id, order.clone());
    loaded.market.orders.insert(order.id, order.clone());
    let payload = Payload::OrderCancelled(OrderCancelled::new(&order, &transaction));
    changes.transactions.push(transaction);
    Ok(("order.cancelled", payload, order))
}

/// The quantity-weighted average price of trades, rounded half-up to the
/// fen (the price tick), or `None` without trades.
#[must_use]
pub fn vwap(trades: impl IntoIterator<Item = (Decimal, Decimal)>) -> Option<Decimal> {
    let (quantity, value) = trades.into_iter().fold(
        (Decimal::ZERO, Decimal::ZERO),
        |(q, v), (quantity, price)| (q + quantity, v + quantity * price),
    );
    (quantity > Decimal::ZERO).then(|| ets_core::fees::round_money(value / quantity))
}

/// Accounts an order book batch touches beyond the holds: every
/// participant's rights and cash accounts (fills credit both), fee income.
pub(crate) fn book_accounts(
    orders: impl IntoIterator<Item = (Uuid, InstrumentCode)>,
) -> Vec<ets_core::AccountKey> {
    let mut keys = vec![ets_core::AccountKey::new(
        Owner::System(SystemAccount::FeeIncome),
        InstrumentCode::cny(),
    )];
    for (participant, instrument) in orders {
        keys.push(ets_core::AccountKey::new(
            Owner::Participant(participant),
            instrument,
        ));
        keys.push(ets_core::AccountKey::new(
            Owner::Participant(participant),
            InstrumentCode::cny(),
        ));
    }
    keys
}
