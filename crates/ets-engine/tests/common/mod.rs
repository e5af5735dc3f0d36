//! Shared set-up for the engine's market tests: a ledger in memory with a
//! clock the test moves, participants, the SO2 right, and one helper per
//! command that answers with the command's own outcome.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use ets_core::matching::Side;
use ets_core::{
    Actor, CreditCode, Decimal, InstrumentCode, InstrumentKind, InstrumentSpec, Owner, Participant,
    RegionCode, SystemAccount,
};
use ets_engine::{
    Answer, Auction, AuctionBid, Closed, Command, CommandError, Memory, NewAuction, NewBid,
    NewOrder, NewProposal, Order, Outcome, Placed, Proposal, Request, Resolved, Source,
};
use uuid::Uuid;

/// 10:00 in Suzhou on a Monday, inside the SO2 right's validity.
pub const START: &str = "2026-06-01T02:00:00Z";

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal literal")
}

pub fn actor() -> Actor {
    Actor {
        client_id: "test-admin".to_owned(),
        role: "admin".to_owned(),
    }
}

/// A valid credit code for the n-th test enterprise.
pub fn credit_code(n: u32) -> CreditCode {
    let prefix = format!("91320500MA{n:07}");
    let check = CreditCode::check_character(&prefix).expect("a valid prefix");
    CreditCode::parse(&format!("{prefix}{check}")).expect("a valid code")
}

pub fn so2() -> InstrumentCode {
    InstrumentCode::parse("SO2-320500-2026").expect("code")
}

pub fn cny() -> InstrumentCode {
    InstrumentCode::cny()
}

pub fn system(account: SystemAccount) -> Owner {
    Owner::System(account)
}

/// The SO2 right of Suzhou: scale 4, valid 2026–2030, commission 0.1 % a side.
pub fn so2_spec() -> InstrumentSpec {
    InstrumentSpec {
        code: so2(),
        kind: InstrumentKind::PollutantRight,
        pollutant: Some("SO2".to_owned()),
        unit: "t".to_owned(),
        scale: 4,
        region_code: Some(RegionCode::parse("320500").expect("region")),
        vintage: None,
        valid_from: Some("2026-01-01".parse().expect("date")),
        valid_to: Some("2030-12-31".parse().expect("date")),
        commission_rate: dec("0.001"),
        price_band: None,
    }
}

/// A ledger in memory, the time its next batch is applied at, and the ids
/// it hands out (counting up, so later ids sort later, as UUIDv7s do).
pub struct TestLedger {
    pub memory: Memory,
    now: DateTime<Utc>,
    next_id: u128,
}

impl TestLedger {
    /// An empty ledger at [`START`].
    pub fn new() -> Self {
        Self {
            memory: Memory::new(),
            now: START.parse().expect("a time"),
            next_id: 0,
        }
    }

    /// An empty ledger at [`START`] that counts its days in `zone`.
    pub fn in_zone(zone: ets_core::BusinessZone) -> Self {
        Self {
            memory: Memory::in_zone(zone),
            ..Self::new()
        }
    }

    /// A ledger with the SO2 right defined.
    pub fn with_so2() -> Self {
        let mut ledger = Self::new();
        ledger.create_instrument(so2_spec());
        ledger
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Moves the clock on: what a deadline test does instead of sleeping.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// A fresh id, later than every id handed out before.
    pub fn id(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + self.next_id)
    }

    /// Applies one command as its own batch.
    pub fn execute(&mut self, command: Command) -> Result<Outcome, CommandError> {
        self.memory
            .execute(actor(), command, self.now)
            .map(|committed| committed.outcome)
    }

    /// Applies commands as one batch, as the writer does when they arrive
    /// together.
    pub fn batch(&mut self, commands: Vec<Command>) -> Vec<Result<Outcome, CommandError>> {
        let requests: Vec<Request> = commands
            .into_iter()
            .map(|command| Request {
                actor: actor(),
                idempotency: None,
                command,
            })
            .collect();
        self.memory
            .apply(&requests, self.now)
            .into_iter()
            .map(|result| result.map(|committed| committed.outcome))
            .collect()
    }

    pub fn create_instrument(&mut self, spec: InstrumentSpec) {
        match self.execute(Command::CreateInstrument(spec)) {
            Ok(Outcome::Instrument(_)) => {}
            other => panic!("an instrument, got {other:?}"),
        }
    }

    /// The n-th test enterprise, in Suzhou (320500).
    pub fn participant(&mut self, n: u32) -> Uuid {
        self.participant_in(n, "320500")
    }

    /// Several test enterprises in Suzhou.
    pub fn participants<const N: usize>(&mut self, numbers: [u32; N]) -> [Uuid; N] {
        numbers.map(|n| self.participant(n))
    }

    /// The n-th test enterprise, in `region`.
    pub fn participant_in(&mut self, n: u32, region: &str) -> Uuid {
        let participant = Participant::new(
            self.id(),
            &format!("测试企业 {n} 有限公司"),
            credit_code(n),
            RegionCode::parse(region).expect("region"),
            Some("thermal_power".to_owned()),
        )
        .expect("a participant");
        let id = participant.id;
        self.execute(Command::CreateParticipant(participant))
            .expect("participant created");
        id
    }

    /// Issues rights to a participant.
    pub fn allocate(&mut self, who: Uuid, instrument: &InstrumentCode, quantity: &str) {
        self.execute(Command::allocate(who, instrument.clone(), dec(quantity)))
            .expect("allocated");
    }

    /// Cash from the bank into a participant's account.
    pub fn deposit(&mut self, who: Uuid, amount: &str) {
        self.execute(Command::deposit(who, dec(amount)))
            .expect("deposited");
    }

    /// An order on SO2, with a fresh id.
    pub fn order(&mut self, who: Uuid, side: Side, quantity: &str, price: &str) -> NewOrder {
        self.order_on(&so2(), who, side, quantity, price)
    }

    /// An order on any instrument, with a fresh id.
    pub fn order_on(
        &mut self,
        instrument: &InstrumentCode,
        who: Uuid,
        side: Side,
        quantity: &str,
        price: &str,
    ) -> NewOrder {
        NewOrder {
            id: self.id(),
            participant_id: who,
            instrument: instrument.clone(),
            side,
            quantity: dec(quantity),
            price: dec(price),
        }
    }

    /// Places an order on SO2.
    pub fn place(
        &mut self,
        who: Uuid,
        side: Side,
        quantity: &str,
        price: &str,
    ) -> Result<Placed, CommandError> {
        let order = self.order(who, side, quantity, price);
        self.place_order(order)
    }

    pub fn place_order(&mut self, order: NewOrder) -> Result<Placed, CommandError> {
        match self.execute(Command::PlaceOrder(order))? {
            Outcome::Order(placed) => Ok(placed),
            other => panic!("an order outcome, got {other:?}"),
        }
    }

    /// Cancels an order as its owner.
    pub fn cancel(&mut self, id: Uuid, owner: Uuid) -> Result<Order, CommandError> {
        let command = Command::CancelOrder {
            id,
            owner: Some(owner),
        };
        match self.execute(command)? {
            Outcome::OrderCancelled(order) => Ok(order),
            other => panic!("a cancelled order, got {other:?}"),
        }
    }

    /// A proposal of SO2 that lapses `expires_in` from now, with a fresh id.
    pub fn proposal(
        &mut self,
        seller: Uuid,
        buyer: Uuid,
        quantity: &str,
        price: &str,
        expires_in: Duration,
    ) -> NewProposal {
        NewProposal {
            id: self.id(),
            seller_id: seller,
            buyer_id: buyer,
            instrument: so2(),
            quantity: dec(quantity),
            price: dec(price),
            expires_at: self.now + expires_in,
        }
    }

    /// Proposes a negotiated trade of SO2.
    pub fn propose(
        &mut self,
        seller: Uuid,
        buyer: Uuid,
        quantity: &str,
        price: &str,
        expires_in: Duration,
    ) -> Result<Proposal, CommandError> {
        let proposal = self.proposal(seller, buyer, quantity, price, expires_in);
        match self.execute(Command::Propose(proposal))? {
            Outcome::Proposal(proposal) => Ok(proposal),
            other => panic!("a proposal, got {other:?}"),
        }
    }

    /// Accepts, rejects or cancels a proposal as `by`.
    pub fn answer(&mut self, id: Uuid, answer: Answer, by: Uuid) -> Result<Resolved, CommandError> {
        match self.execute(Command::AnswerProposal { id, answer, by })? {
            Outcome::ProposalAnswered(resolved) => Ok(resolved),
            other => panic!("an answered proposal, got {other:?}"),
        }
    }

    /// What the sweeper does: if a proposal is due, expires every due one.
    /// Returns how many expired.
    pub fn expire_proposals(&mut self) -> usize {
        if !self.memory.proposals_due(self.now) {
            return 0;
        }
        match self.execute(Command::ExpireProposals) {
            Ok(Outcome::ProposalsExpired(ids)) => ids.len(),
            Err(CommandError::NothingDue) => 0,
            other => panic!("expired proposals, got {other:?}"),
        }
    }

    /// Auction terms for SO2, with a fresh id: no lot, no cap, no closing time.
    pub fn auction_of(&mut self, quantity: &str, reserve: &str, source: Source) -> NewAuction {
        NewAuction {
            id: self.id(),
            instrument: so2(),
            quantity: dec(quantity),
            reserve_price: dec(reserve),
            source,
            lot_size: None,
            max_bidder_share: None,
            closes_at: None,
        }
    }

    /// Offers an auction.
    pub fn offer(&mut self, terms: NewAuction) -> Result<Auction, CommandError> {
        match self.execute(Command::CreateAuction(terms))? {
            Outcome::Auction(auction) => Ok(auction),
            other => panic!("an auction, got {other:?}"),
        }
    }

    /// A bid, with a fresh id.
    pub fn new_bid(&mut self, auction: Uuid, bidder: Uuid, quantity: &str, price: &str) -> NewBid {
        NewBid {
            id: self.id(),
            auction_id: auction,
            participant_id: bidder,
            quantity: dec(quantity),
            price: dec(price),
        }
    }

    /// Places a sealed bid.
    pub fn bid(
        &mut self,
        auction: Uuid,
        bidder: Uuid,
        quantity: &str,
        price: &str,
    ) -> Result<AuctionBid, CommandError> {
        let bid = self.new_bid(auction, bidder, quantity, price);
        match self.execute(Command::PlaceBid(bid))? {
            Outcome::Bid(bid) => Ok(bid),
            other => panic!("a bid, got {other:?}"),
        }
    }

    /// Closes an auction.
    pub fn close(&mut self, id: Uuid) -> Result<Closed, CommandError> {
        match self.execute(Command::CloseAuction { id })? {
            Outcome::AuctionClosed(closed) => Ok(closed),
            other => panic!("a closed auction, got {other:?}"),
        }
    }

    /// What the scheduler does: closes every open auction whose time has
    /// come. Returns how many it closed.
    pub fn close_due_auctions(&mut self) -> usize {
        let due = self.memory.auctions_due(self.now);
        due.into_iter().filter(|id| self.close(*id).is_ok()).count()
    }

    /// A participant's (balance, held) in an instrument.
    pub fn account(&self, participant: Uuid, instrument: &InstrumentCode) -> (Decimal, Decimal) {
        let account = self
            .memory
            .account(Owner::Participant(participant), instrument);
        (account.balance, account.held)
    }

    /// A system account's balance.
    pub fn balance(&self, account: SystemAccount, instrument: &InstrumentCode) -> Decimal {
        self.memory.balance(system(account), instrument)
    }

    /// One side of a book by level: (price, open quantity), best first.
    pub fn levels(&self, instrument: &InstrumentCode, side: Side) -> Vec<(Decimal, Decimal)> {
        self.memory.levels(instrument, side)
    }

    /// Double entry: every instrument's balances sum to zero, which is
    /// issued = participants + reserve + surrendered + retired (and cash
    /// likewise); only the two sources go below zero; 0 ≤ held ≤ balance.
    pub fn assert_conserved(&self) {
        let mut sums = std::collections::BTreeMap::new();
        for account in self.memory.accounts() {
            *sums
                .entry(account.key.instrument.clone())
                .or_insert(Decimal::ZERO) += account.balance;
            if !account.key.owner.is_source() {
                assert!(
                    account.balance >= Decimal::ZERO,
                    "negative balance: {account:?}"
                );
                assert!(
                    account.held >= Decimal::ZERO && account.held <= account.balance,
                    "bad held: {account:?}"
                );
            }
        }
        for (instrument, sum) in sums {
            assert!(sum.is_zero(), "{instrument} does not conserve: {sum}");
        }
    }

    /// The journal's hashes link up and its head is its last entry.
    pub fn assert_journal_intact(&self) {
        let verification = self.memory.verify_journal();
        assert!(verification.ok, "{verification:?}");
    }
}

pub fn level(price: &str, quantity: &str) -> (Decimal, Decimal) {
    (dec(price), dec(quantity))
}
