//! A state-machine property test of the market on the ledger in memory.
//!
//! Random sequences of orders placed and cancelled, negotiated trades
//! proposed, accepted, rejected, cancelled and expired, auctions offered,
//! bid on and closed (by hand or when due), and the clock moved on, run on
//! four participants and two instruments (a pollutant right of scale 4 and
//! a banded carbon allowance of scale 0). Some steps arrive together and are
//! applied as one batch, as the writer does; like the HTTP API, a step only
//! refers to what was committed before its batch.
//!
//! After every step the ledger's invariants hold: every instrument
//! conserves, no participant's available amount is below zero, every
//! account's held part is what its open holds reserve, each open hold
//! reserves exactly what its order, bid, proposal or auction still needs,
//! no order is filled beyond its quantity and each order's fills add up to
//! its money, and no book is crossed. A batch refused in full changes
//! nothing. At the end the journal verifies.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use ets_core::fees::round_money;
use ets_core::matching::Side;
use ets_core::{
    Decimal, HoldStatus, InstrumentCode, InstrumentKind, InstrumentSpec, Owner, SystemAccount,
};
use ets_engine::{
    Answer, AuctionStatus, Command, CommandError, Memory, NewAuction, NewBid, NewProposal, Order,
    OrderStatus, Outcome, ProposalStatus, Source, TradeMethod,
};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The world: four participants in Suzhou holding both instruments and cash,
// and a reserve stocked for auctions.
// ---------------------------------------------------------------------------

/// Prices and quantities on a small grid per instrument, so that orders
/// meet, partly fill and round.
struct Grid {
    prices: [&'static str; 5],
    quantities: [&'static str; 5],
    offerings: [&'static str; 3],
    lot: &'static str,
}

const GRIDS: [Grid; 2] = [
    Grid {
        prices: ["9.99", "10.00", "10.01", "10.03", "10.07"],
        quantities: ["0.3333", "0.5", "1", "1.25", "3"],
        offerings: ["1", "2.5", "4"],
        lot: "0.5",
    },
    Grid {
        prices: ["95.00", "97.50", "100.00", "102.50", "105.00"],
        quantities: ["1", "2", "3", "4", "5"],
        offerings: ["2", "5", "8"],
        lot: "1",
    },
];

fn cea() -> InstrumentCode {
    InstrumentCode::parse("CEA-2026").expect("code")
}

/// A carbon allowance with a commission of 0.2 % and a 10 % price band.
fn cea_spec() -> InstrumentSpec {
    InstrumentSpec {
        code: cea(),
        kind: InstrumentKind::CarbonAllowance,
        pollutant: None,
        unit: "tCO2e".to_owned(),
        scale: 0,
        region_code: None,
        vintage: Some(2026),
        valid_from: None,
        valid_to: None,
        commission_rate: dec("0.002"),
        price_band: Some(dec("0.10")),
    }
}

struct World {
    ledger: TestLedger,
    participants: [Uuid; 4],
    instruments: [InstrumentCode; 2],
}

fn world() -> World {
    let mut ledger = TestLedger::with_so2();
    ledger.create_instrument(cea_spec());
    let instruments = [so2(), cea()];
    let participants = ledger.participants([1, 2, 3, 4]);
    // Little enough that sellers and buyers run out now and then.
    for who in participants {
        ledger.allocate(who, &instruments[0], "6");
        ledger.allocate(who, &instruments[1], "12");
        ledger.deposit(who, "2000.00");
    }
    // The reserve gets 30 of each back from the fourth.
    for instrument in &instruments {
        ledger.allocate(participants[3], instrument, "30");
        ledger
            .execute(Command::reclaim(
                participants[3],
                instrument.clone(),
                dec("30"),
            ))
            .expect("reclaimed into the reserve");
    }
    World {
        ledger,
        participants,
        instruments,
    }
}

// ---------------------------------------------------------------------------
// Steps.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Place {
        who: usize,
        instrument: usize,
        side: Side,
        quantity: usize,
        price: usize,
    },
    Cancel {
        order: Index,
        by_authority: bool,
    },
    Propose {
        seller: usize,
        buyer: usize,
        instrument: usize,
        quantity: usize,
        price: usize,
        expires_minutes: i64,
    },
    Answer {
        proposal: Index,
        answer: Answer,
    },
    Expire,
    Offer {
        instrument: usize,
        quantity: usize,
        reserve: usize,
        from_reserve: bool,
        in_lots: bool,
        capped: bool,
        closes_minutes: Option<i64>,
    },
    Bid {
        auction: Index,
        who: usize,
        quantity: usize,
        price: usize,
    },
    Close {
        auction: Index,
    },
    /// What the scheduler does: close every auction whose time has come.
    CloseDue,
}

#[derive(Debug, Clone)]
enum Move {
    /// One step, applied alone.
    One(Step),
    /// Steps that arrive together, applied as one batch.
    Together(Vec<Step>),
    /// The clock moves on, by minutes (a day is 1440).
    Wait(i64),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        3 => Just(Answer::Accept),
        1 => Just(Answer::Reject),
        1 => Just(Answer::Cancel),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..4usize, 0..2usize, side(), 0..5usize, 0..5usize).prop_map(
            |(who, instrument, side, quantity, price)| Step::Place {
                who, instrument, side, quantity, price,
            }
        ),
        2 => (any::<Index>(), prop::bool::weighted(0.2))
            .prop_map(|(order, by_authority)| Step::Cancel { order, by_authority }),
        2 => (0..4usize, 1..4usize, 0..2usize, 0..5usize, 0..5usize, 1..=60i64).prop_map(
            |(seller, after, instrument, quantity, price, expires_minutes)| Step::Propose {
                seller,
                buyer: (seller + after) % 4,
                instrument, quantity, price, expires_minutes,
            }
        ),
        2 => (any::<Index>(), answer())
            .prop_map(|(proposal, answer)| Step::Answer { proposal, answer }),
        1 => Just(Step::Expire),
        1 => (
            0..2usize,
            0..3usize,
            // Reserve prices low on the grid, so that most bids clear them.
            0..3usize,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(1..=60i64),
        )
            .prop_map(
                |(instrument, quantity, reserve, from_reserve, in_lots, capped, closes_minutes)| {
                    Step::Offer {
                        instrument, quantity, reserve, from_reserve, in_lots, capped,
                        closes_minutes,
                    }
                }
            ),
        3 => (any::<Index>(), 0..4usize, 0..5usize, 0..5usize).prop_map(
            |(auction, who, quantity, price)| Step::Bid { auction, who, quantity, price }
        ),
        1 => any::<Index>().prop_map(|auction| Step::Close { auction }),
        1 => Just(Step::CloseDue),
    ]
}

fn a_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        8 => step().prop_map(Move::One),
        2 => prop::collection::vec(step(), 2..=5).prop_map(Move::Together),
        1 => prop_oneof![Just(1i64), Just(5), Just(30), Just(1440)].prop_map(Move::Wait),
    ]
}

// ---------------------------------------------------------------------------
// Running a step: commands built against what is committed, applied, and
// the outcomes checked.
// ---------------------------------------------------------------------------

impl World {
    fn memory(&self) -> &Memory {
        &self.ledger.memory
    }

    fn run(&mut self, the_move: &Move) {
        let steps = match the_move {
            Move::Wait(minutes) => {
                self.ledger.advance(Duration::minutes(*minutes));
                return;
            }
            Move::One(step) => std::slice::from_ref(step),
            Move::Together(steps) => steps.as_slice(),
        };
        let commands: Vec<Command> = steps.iter().flat_map(|s| self.commands(s)).collect();
        if commands.is_empty() {
            return;
        }
        let before = self.memory().clone();
        let results = self.ledger.batch(commands.clone());
        for (command, result) in commands.iter().zip(&results) {
            check_outcome(command, result);
        }
        if results.iter().all(Result::is_err) {
            assert_unchanged(&before, self.memory());
        }
    }

    /// The commands of a step; none when it refers to something that does
    /// not exist yet (no order to cancel, no auction to bid on).
    fn commands(&mut self, step: &Step) -> Vec<Command> {
        match step {
            Step::Place {
                who,
                instrument,
                side,
                quantity,
                price,
            } => {
                let grid = &GRIDS[*instrument];
                let order = self.ledger.order_on(
                    &self.instruments[*instrument],
                    self.participants[*who],
                    *side,
                    grid.quantities[*quantity],
                    grid.prices[*price],
                );
                vec![Command::PlaceOrder(order)]
            }
            Step::Cancel {
                order,
                by_authority,
            } => {
                let orders: Vec<&Order> = self.memory().orders().collect();
                if orders.is_empty() {
                    return vec![];
                }
                let order = orders[order.index(orders.len())];
                let owner = (!by_authority).then_some(order.participant_id);
                vec![Command::CancelOrder {
                    id: order.id,
                    owner,
                }]
            }
            Step::Propose { .. } => vec![Command::Propose(self.proposal(step))],
            Step::Answer { proposal, answer } => {
                let proposals: Vec<_> = self.memory().proposals().collect();
                if proposals.is_empty() {
                    return vec![];
                }
                let proposal = proposals[proposal.index(proposals.len())];
                let by = match answer {
                    Answer::Accept | Answer::Reject => proposal.buyer_id,
                    Answer::Cancel => proposal.seller_id,
                };
                vec![Command::AnswerProposal {
                    id: proposal.id,
                    answer: *answer,
                    by,
                }]
            }
            Step::Expire => vec![Command::ExpireProposals],
            Step::Offer { .. } => vec![Command::CreateAuction(self.offering(step))],
            Step::Bid {
                auction,
                who,
                quantity,
                price,
            } => {
                // Mostly on an open auction; on a closed one only if none is open.
                let all: Vec<_> = self.memory().auctions().collect();
                let open: Vec<_> = all
                    .iter()
                    .copied()
                    .filter(|a| a.status == AuctionStatus::Open)
                    .collect();
                let auctions = if open.is_empty() { all } else { open };
                if auctions.is_empty() {
                    return vec![];
                }
                let auction = auctions[auction.index(auctions.len())];
                let (auction, grid) = (auction.id, &GRIDS[self.grid_of(&auction.instrument)]);
                let bid = NewBid {
                    id: self.ledger.id(),
                    auction_id: auction,
                    participant_id: self.participants[*who],
                    quantity: dec(grid.quantities[*quantity]),
                    price: dec(grid.prices[*price]),
                };
                vec![Command::PlaceBid(bid)]
            }
            Step::Close { auction } => {
                let auctions: Vec<_> = self.memory().auctions().collect();
                if auctions.is_empty() {
                    return vec![];
                }
                let id = auctions[auction.index(auctions.len())].id;
                vec![Command::CloseAuction { id }]
            }
            Step::CloseDue => self
                .memory()
                .auctions_due(self.ledger.now())
                .into_iter()
                .map(|id| Command::CloseAuction { id })
                .collect(),
        }
    }

    fn proposal(&mut self, step: &Step) -> NewProposal {
        let Step::Propose {
            seller,
            buyer,
            instrument,
            quantity,
            price,
            expires_minutes,
        } = step
        else {
            unreachable!("a proposal step")
        };
        let grid = &GRIDS[*instrument];
        NewProposal {
            id: self.ledger.id(),
            seller_id: self.participants[*seller],
            buyer_id: self.participants[*buyer],
            instrument: self.instruments[*instrument].clone(),
            quantity: dec(grid.quantities[*quantity]),
            price: dec(grid.prices[*price]),
            expires_at: self.ledger.now() + Duration::minutes(*expires_minutes),
        }
    }

    fn offering(&mut self, step: &Step) -> NewAuction {
        let Step::Offer {
            instrument,
            quantity,
            reserve,
            from_reserve,
            in_lots,
            capped,
            closes_minutes,
        } = step
        else {
            unreachable!("an offer step")
        };
        let grid = &GRIDS[*instrument];
        NewAuction {
            id: self.ledger.id(),
            instrument: self.instruments[*instrument].clone(),
            quantity: dec(grid.offerings[*quantity]),
            reserve_price: dec(grid.prices[*reserve]),
            source: if *from_reserve {
                Source::Reserve
            } else {
                Source::Issuance
            },
            lot_size: in_lots.then(|| dec(grid.lot)),
            max_bidder_share: capped.then(|| dec("0.5")),
            closes_at: closes_minutes.map(|m| self.ledger.now() + Duration::minutes(m)),
        }
    }

    fn grid_of(&self, instrument: &InstrumentCode) -> usize {
        self.instruments
            .iter()
            .position(|i| i == instrument)
            .expect("one of the world's instruments")
    }
}

/// What each accepted command answered is consistent with what it asked.
fn check_outcome(command: &Command, result: &Result<Outcome, CommandError>) {
    let (Command::PlaceOrder(new), Ok(Outcome::Order(placed))) = (command, result) else {
        return;
    };
    for trade in &placed.trades {
        assert_ne!(
            Some(trade.buyer_id),
            trade.seller_id,
            "a self-trade: {trade:?}"
        );
        let within = match new.side {
            Side::Buy => trade.price <= new.price,
            Side::Sell => trade.price >= new.price,
        };
        assert!(within, "a fill beyond the limit {}: {trade:?}", new.price);
    }
    assert!(placed.order.filled <= placed.order.quantity);
}

/// A batch refused in full leaves no trace.
fn assert_unchanged(before: &Memory, after: &Memory) {
    assert_eq!(
        before.head(),
        after.head(),
        "a refused batch moved the journal"
    );
    assert!(
        before.accounts().eq(after.accounts()),
        "a refused batch moved an account"
    );
    assert!(
        before.holds().eq(after.holds()),
        "a refused batch changed a hold"
    );
    assert!(
        before.orders().eq(after.orders()),
        "a refused batch changed an order"
    );
    assert!(
        before.proposals().eq(after.proposals()),
        "a refused batch changed a proposal"
    );
    assert!(
        before.auctions().eq(after.auctions()),
        "a refused batch changed an auction"
    );
    assert_eq!(before.trades(), after.trades(), "a refused batch traded");
}

// ---------------------------------------------------------------------------
// The invariants, checked after every step.
// ---------------------------------------------------------------------------

fn check_invariants(world: &World) {
    let memory = world.memory();
    check_accounts(memory);
    check_holds_match_their_records(memory);
    check_orders(memory);
    check_auctions(memory);
    for instrument in &world.instruments {
        if let (Some(bid), Some(ask)) = (memory.best_bid(instrument), memory.best_ask(instrument)) {
            assert!(bid < ask, "{instrument} is crossed: bid {bid} ≥ ask {ask}");
        }
    }
}

/// Every instrument sums to zero over all accounts (system ones included);
/// only the sources go below zero; a participant's held part is within its
/// balance; an account's held part is what its open holds reserve.
fn check_accounts(memory: &Memory) {
    let mut sums: BTreeMap<&InstrumentCode, Decimal> = BTreeMap::new();
    let mut reserved: BTreeMap<_, Decimal> = BTreeMap::new();
    for hold in memory.open_holds() {
        *reserved.entry(&hold.account).or_default() += hold.remaining;
    }
    for account in memory.accounts() {
        *sums.entry(&account.key.instrument).or_default() += account.balance;
        if !account.key.owner.is_source() {
            assert!(
                account.held >= Decimal::ZERO,
                "held below zero: {account:?}"
            );
            assert!(
                account.available() >= Decimal::ZERO,
                "available below zero: {account:?}"
            );
        }
        let open = reserved.remove(&account.key).unwrap_or_default();
        assert_eq!(account.held, open, "held ≠ Σ open holds: {account:?}");
    }
    assert!(
        reserved.is_empty(),
        "open holds on no account: {reserved:?}"
    );
    for (instrument, sum) in sums {
        assert!(sum.is_zero(), "{instrument} does not conserve: {sum}");
    }
}

/// Each open hold belongs to a resting order, an open bid, a proposal
/// waiting for its buyer or an open auction from the reserve, and reserves
/// exactly what that still needs; the others are resolved.
fn check_holds_match_their_records(memory: &Memory) {
    let remaining = |id: Uuid| {
        memory
            .hold(id)
            .map_or(Decimal::ZERO, |hold| match hold.status {
                HoldStatus::Open => hold.remaining,
                HoldStatus::Settled | HoldStatus::Released => Decimal::ZERO,
            })
    };
    let mut accounted = 0usize;
    for order in memory.orders() {
        assert_eq!(remaining(order.id), order.held(), "the hold of {order:?}");
        accounted += usize::from(remaining(order.id) > Decimal::ZERO);
    }
    for proposal in memory.proposals() {
        let needs = if proposal.status == ProposalStatus::Proposed {
            proposal.quantity
        } else {
            Decimal::ZERO
        };
        assert_eq!(remaining(proposal.id), needs, "the hold of {proposal:?}");
        accounted += usize::from(needs > Decimal::ZERO);
    }
    for auction in memory.auctions() {
        let open = auction.status == AuctionStatus::Open;
        let needs = if open && auction.source == Source::Reserve {
            auction.quantity
        } else {
            Decimal::ZERO
        };
        assert_eq!(remaining(auction.id), needs, "the hold of {auction:?}");
        accounted += usize::from(needs > Decimal::ZERO);
        for bid in memory.bids(auction.id) {
            let needs = if open {
                round_money(bid.quantity * bid.price)
            } else {
                Decimal::ZERO
            };
            assert_eq!(remaining(bid.id), needs, "the hold of {bid:?}");
            accounted += usize::from(needs > Decimal::ZERO);
        }
    }
    let open = memory.open_holds().count();
    assert_eq!(open, accounted, "open holds that belong to nothing");
}

/// No order is filled beyond its quantity; its status says where it
/// stands; its fills add up to what it filled, paid or received, and
/// the commission it paid.
fn check_orders(memory: &Memory) {
    #[derive(Default)]
    struct Fills {
        quantity: Decimal,
        value: Decimal,
        commission: Decimal,
    }
    let mut fills: BTreeMap<Uuid, Fills> = BTreeMap::new();
    for trade in memory
        .trades()
        .iter()
        .filter(|t| t.method == TradeMethod::OrderBook)
    {
        let buy = fills
            .entry(trade.buy_order_id.expect("a buy order"))
            .or_default();
        buy.quantity += trade.quantity;
        buy.value += trade.value;
        buy.commission += trade.buyer_commission;
        let sell = fills
            .entry(trade.sell_order_id.expect("a sell order"))
            .or_default();
        sell.quantity += trade.quantity;
        sell.value += trade.value;
        sell.commission += trade.seller_commission;
    }
    for order in memory.orders() {
        assert!(
            order.filled >= Decimal::ZERO && order.filled <= order.quantity,
            "filled beyond its quantity: {order:?}"
        );
        let whole = order.filled == order.quantity;
        let consistent = match order.status {
            OrderStatus::Open => order.filled.is_zero(),
            OrderStatus::PartiallyFilled => !order.filled.is_zero() && !whole,
            OrderStatus::Filled => whole,
            OrderStatus::Cancelled => !whole,
        };
        assert!(consistent, "status does not match the fills: {order:?}");
        let of = fills.remove(&order.id).unwrap_or_default();
        assert_eq!(
            (of.quantity, of.value, of.commission),
            (order.filled, order.money.value, order.money.commission),
            "the trades of {order:?}"
        );
    }
    assert!(fills.is_empty(), "trades of unknown orders");
}

/// A cleared auction sold at most what it offered, at one price at or
/// above its reserve, and each award is within its bid.
fn check_auctions(memory: &Memory) {
    for auction in memory.auctions() {
        let bids = memory.bids(auction.id);
        let awarded: Decimal = bids.iter().filter_map(|b| b.awarded).sum();
        match auction.status {
            AuctionStatus::Open => assert!(bids.iter().all(|b| b.awarded.is_none())),
            AuctionStatus::Failed => assert!(awarded.is_zero(), "{auction:?}"),
            AuctionStatus::Cleared => {
                let price = auction.clearing_price.expect("a clearing price");
                assert!(price >= auction.reserve_price, "{auction:?}");
                assert_eq!(auction.sold_quantity, Some(awarded), "{auction:?}");
                assert!(awarded <= auction.quantity, "{auction:?}");
                for bid in &bids {
                    let won = bid.awarded.unwrap_or_default();
                    assert!(won <= bid.quantity, "{bid:?}");
                    assert!(won.is_zero() || bid.price >= price, "{bid:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_market_keeps_its_invariants_after_every_step(
        moves in prop::collection::vec(a_move(), 1..=40)
    ) {
        let mut world = world();
        check_invariants(&world);
        for the_move in &moves {
            world.run(the_move);
            check_invariants(&world);
        }
        world.ledger.assert_journal_intact();
        // Nothing a participant owns or owes leaked to an account the model
        // does not know.
        for account in world.memory().accounts() {
            if let Owner::Participant(id) = account.key.owner {
                prop_assert!(world.participants.contains(&id));
            }
        }
        let fees = world.memory().balance(Owner::System(SystemAccount::FeeIncome), &cny());
        prop_assert!(fees >= Decimal::ZERO);
    }
}
