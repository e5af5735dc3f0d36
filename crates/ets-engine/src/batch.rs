//! What a batch of requests needs read, and applying the batch to what was
//! read. Pure: no I/O, no clock, no randomness here.
//!
//! A caller applies a batch in one database transaction: lock the journal
//! head → read what [`Needs`] names (no row locks: the head lock orders every
//! writer) → [`apply_batch`] with the batch's time and entropy → persist the
//! [`Changes`] → commit. Each request in the batch is atomic on its own: a
//! refused request leaves no trace in the working set, so the others commit
//! without it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::fees;
use ets_core::journal::truncate_to_micros;
use ets_core::{
    Account, AccountKey, BusinessZone, Hold, Instrument, InstrumentCode, InstrumentSpec,
    JournalEntry, JournalHead, Ledger, Leg, Owner, Participant,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auctions::{self, Auction, AuctionBid};
use crate::authority::{self, Pledge, Reclamation};
use crate::command::{
    Allocation, Command, CommandError, Committed, IdempotencyKey, InstalledKey, Invoice,
    LedgerCommand, NewAllocation, NewCredential, NewPerson, NewSigningKey, Outcome, PersonSecrets,
    Request, Transaction,
};
use crate::compliance::{self, ComplianceState, Emission, Surrender};
use crate::finance::{self, Payment, PaymentSource, StoredInvoice};
use crate::market::{self, BookNeed, Market, Order, Trade};
use crate::negotiated::{self, Proposal};
use crate::payload::{
    AllocationCreated, CredentialCreated, CredentialRevoked, InstrumentCreated, ParticipantCreated,
    Payload, SigningKeyCreated, TransactionPayload,
};
use crate::people;

/// What a batch must read before it can be applied.
#[derive(Debug, Default)]
pub struct Needs {
    pub holds: BTreeSet<Uuid>,
    pub accounts: BTreeSet<AccountKey>,
    pub instruments: BTreeSet<InstrumentCode>,
    pub participants: BTreeSet<Uuid>,
    pub credit_codes: BTreeSet<String>,
    pub client_ids: BTreeSet<String>,
    /// Console people by login.
    pub logins: BTreeSet<String>,
    pub idempotency: BTreeSet<(String, String)>,
    pub signing_key: bool,
    /// The parts of order books the batch's incoming orders may reach.
    pub book: Vec<BookNeed>,
    /// Orders named by id (cancels).
    pub orders: BTreeSet<Uuid>,
    /// Participants whose region a rule needs.
    pub regions: BTreeSet<Uuid>,
    /// Proposals named by id.
    pub proposals: BTreeSet<Uuid>,
    /// Whether to load the proposals whose time has passed.
    pub due_proposals: bool,
    /// Auctions named by id.
    pub auctions: BTreeSet<Uuid>,
    /// Auctions whose bids must be read too (closes).
    pub auction_bids: BTreeSet<Uuid>,
    /// Pledges named by id.
    pub pledges: BTreeSet<Uuid>,
    /// Invoices named by id (payments).
    pub invoices: BTreeSet<Uuid>,
    /// Pollutants of instruments being defined, or of emissions recorded:
    /// the unit each already has.
    pub pollutants: BTreeSet<String>,
    /// Participants whose current emission records and offset surrenders
    /// a rule needs ([`Loaded::compliance`]).
    pub compliance: BTreeSet<Uuid>,
}

impl Needs {
    pub fn of(batch: &[Request]) -> Self {
        let mut needs = Self::default();
        for request in batch {
            if let Some(key) = &request.idempotency {
                needs
                    .idempotency
                    .insert((key.scope.clone(), key.key.clone()));
            }
            match &request.command {
                Command::CreateParticipant(p) => {
                    needs.participants.insert(p.id);
                    needs.credit_codes.insert(p.credit_code.as_str().to_owned());
                }
                Command::CreateInstrument(spec) => {
                    needs.instruments.insert(spec.code.clone());
                    needs.pollutants.extend(spec.pollutant.clone());
                }
                Command::CreateCredential(c) => {
                    needs.client_ids.insert(c.client_id.clone());
                    needs.participants.extend(c.participant_id);
                }
                Command::RevokeCredential { client_id } => {
                    needs.client_ids.insert(client_id.clone());
                }
                Command::CreatePerson(NewPerson { login, .. })
                | Command::ResetPerson { login, .. }
                | Command::DisablePerson { login } => {
                    needs.logins.insert(login.clone());
                }
                Command::Ledger(ledger) => {
                    for leg in &ledger.legs {
                        needs.add_leg(leg);
                    }
                }
                Command::Allocate(allocation) => needs.add_leg(&allocation_leg(allocation)),
                Command::CreateSigningKey(_) | Command::RotateSigningKey(_) => {
                    needs.signing_key = true;
                }
                Command::PlaceOrder(order) => {
                    market::add_book_need(&mut needs.book, order);
                    needs.regions.insert(order.participant_id);
                    needs.participants.insert(order.participant_id);
                    needs.instruments.insert(order.instrument.clone());
                    needs.accounts.extend(market::book_accounts([(
                        order.participant_id,
                        order.instrument.clone(),
                    )]));
                }
                Command::CancelOrder { id, .. } => {
                    needs.orders.insert(*id);
                }
                Command::Propose(proposal) => {
                    for party in [proposal.seller_id, proposal.buyer_id] {
                        needs.regions.insert(party);
                        needs.participants.insert(party);
                    }
                    needs.instruments.insert(proposal.instrument.clone());
                    // Both parties' rights and cash and fee income: an
                    // acceptance later in the batch settles against them.
                    needs.accounts.extend(market::book_accounts([
                        (proposal.seller_id, proposal.instrument.clone()),
                        (proposal.buyer_id, proposal.instrument.clone()),
                    ]));
                }
                Command::AnswerProposal { id, .. } => {
                    needs.proposals.insert(*id);
                }
                Command::ExpireProposals => needs.due_proposals = true,
                Command::CreateAuction(auction) => {
                    // Its source and proceeds accounts: a close later in the
                    // batch settles against them (bidders: `add_auctions`).
                    needs.instruments.insert(auction.instrument.clone());
                    needs.accounts.extend(auction_accounts(&auction.instrument));
                }
                Command::PlaceBid(bid) => {
                    needs.auctions.insert(bid.auction_id);
                    needs.regions.insert(bid.participant_id);
                    needs.participants.insert(bid.participant_id);
                    needs.accounts.insert(AccountKey::new(
                        Owner::Participant(bid.participant_id),
                        ets_core::InstrumentCode::cny(),
                    ));
                }
                Command::Reclaim(reclamation) => {
                    for leg in authority::reclamation_legs(reclamation) {
                        needs.add_leg(&leg);
                    }
                }
                Command::Pledge(pledge) => needs.add_leg(&authority::pledge_leg(pledge)),
                Command::ReleasePledge { id } => {
                    needs.pledges.insert(*id);
                    needs.holds.insert(*id);
                }
                Command::CloseAuction { id } => {
                    needs.auctions.insert(*id);
                    needs.auction_bids.insert(*id);
                }
                Command::PayInvoice(payment) => {
                    needs.invoices.insert(payment.invoice_id);
                }
                Command::RecordEmission(emission) => {
                    needs.participants.insert(emission.participant_id);
                    needs.compliance.insert(emission.participant_id);
                    needs.pollutants.extend(emission.pollutant.clone());
                }
                Command::Surrender(surrender) => {
                    needs.compliance.insert(surrender.participant_id);
                    needs.add_leg(&compliance::surrender_leg(surrender));
                }
            }
        }
        needs
    }

    fn add_leg(&mut self, leg: &Leg) {
        let mut owner = |owner: &Owner| {
            if let Owner::Participant(id) = owner {
                self.participants.insert(*id);
            }
        };
        match leg {
            Leg::Transfer {
                instrument,
                from,
                to,
                ..
            } => {
                owner(from);
                owner(to);
                self.instruments.insert(instrument.clone());
                self.accounts
                    .insert(AccountKey::new(*from, instrument.clone()));
                self.accounts
                    .insert(AccountKey::new(*to, instrument.clone()));
            }
            Leg::PlaceHold {
                hold,
                instrument,
                owner: holder,
                ..
            } => {
                owner(holder);
                self.holds.insert(*hold);
                self.instruments.insert(instrument.clone());
                self.accounts
                    .insert(AccountKey::new(*holder, instrument.clone()));
            }
            Leg::ReleaseHold { hold } => {
                self.holds.insert(*hold);
            }
            Leg::SettleHold { hold, to, .. } => {
                owner(to);
                self.holds.insert(*hold);
            }
        }
    }

    /// Once the orders are loaded: their holds, and the accounts their
    /// fills credit.
    pub fn add_orders(&mut self, orders: &BTreeMap<Uuid, Order>) {
        self.holds.extend(orders.keys().copied());
        self.participants
            .extend(orders.values().map(|o| o.participant_id));
        self.accounts.extend(market::book_accounts(
            orders
                .values()
                .map(|o| (o.participant_id, o.instrument.clone())),
        ));
    }

    /// Once the invoices are loaded: for each payment from a cash account,
    /// the participant's cash and fee income.
    pub fn add_invoices(&mut self, invoices: &BTreeMap<Uuid, StoredInvoice>, batch: &[Request]) {
        for request in batch {
            if let Command::PayInvoice(payment) = &request.command
                && payment.source == PaymentSource::CashAccount
                && let Some(stored) = invoices.get(&payment.invoice_id)
            {
                self.add_leg(&finance::payment_leg(
                    stored.invoice.participant_id,
                    payment.amount,
                ));
            }
        }
    }

    /// Once the proposals are loaded: their holds, both parties' accounts
    /// (settlement moves rights and cash both ways) and the buyer's region.
    pub fn add_proposals(&mut self, proposals: &BTreeMap<Uuid, Proposal>) {
        for proposal in proposals.values() {
            self.holds.insert(proposal.id);
            self.regions.insert(proposal.buyer_id);
            self.participants
                .extend([proposal.buyer_id, proposal.seller_id]);
            self.instruments.insert(proposal.instrument.clone());
            self.accounts.extend(market::book_accounts([
                (proposal.buyer_id, proposal.instrument.clone()),
                (proposal.seller_id, proposal.instrument.clone()),
            ]));
        }
    }

    /// Once the auctions (and the bids of those closing) are loaded: the
    /// holds, the source and proceeds accounts, every bidder's accounts —
    /// stored bids' and those bidding in this batch (a close later in the
    /// batch may award them).
    pub fn add_auctions(&mut self, market: &Market, batch: &[Request]) {
        for auction in market.auctions.values() {
            self.holds.insert(auction.id);
            self.instruments.insert(auction.instrument.clone());
            self.accounts.extend(auction_accounts(&auction.instrument));
        }
        // What each auction trades: those read, and those the batch offers.
        let mut instruments: BTreeMap<Uuid, &InstrumentCode> = market
            .auctions
            .values()
            .map(|a| (a.id, &a.instrument))
            .collect();
        let placed = batch.iter().filter_map(|request| match &request.command {
            Command::PlaceBid(bid) => Some((bid.auction_id, bid.participant_id)),
            Command::CreateAuction(auction) => {
                instruments.insert(auction.id, &auction.instrument);
                None
            }
            _ => None,
        });
        let placed: Vec<(Uuid, Uuid)> = placed.collect();
        let stored = market
            .bids
            .values()
            .map(|b| (b.auction_id, b.participant_id));
        for (auction, bidder) in stored.chain(placed) {
            self.participants.insert(bidder);
            if let Some(instrument) = instruments.get(&auction) {
                self.accounts
                    .extend(market::book_accounts([(bidder, (*instrument).clone())]));
            }
        }
        self.holds.extend(market.bids.keys().copied());
    }

    /// Once the holds are loaded: their accounts and instruments, and the
    /// accounts their settlements credit.
    pub fn add_hold_accounts(&mut self, holds: &[Hold], batch: &[Request]) {
        let by_id: BTreeMap<Uuid, &Hold> = holds.iter().map(|h| (h.id, h)).collect();
        for hold in holds {
            self.accounts.insert(hold.account.clone());
            self.instruments.insert(hold.account.instrument.clone());
        }
        for request in batch {
            if let Command::Ledger(ledger) = &request.command {
                for leg in &ledger.legs {
                    if let Leg::SettleHold { hold, to, .. } = leg
                        && let Some(held) = by_id.get(hold)
                    {
                        self.accounts
                            .insert(AccountKey::new(*to, held.account.instrument.clone()));
                    }
                }
            }
        }
    }
}

/// The ids of what a batch creates (ledger transactions, trades): UUIDv7s
/// made of the batch's time and entropy the caller passes in, so the engine
/// reads no clock and draws no randomness of its own.
///
/// Layout (RFC 9562 §5.7): the batch time's Unix milliseconds; its
/// microseconds within that millisecond in `rand_a` (the extra clock
/// precision §6.2 allows), so batches one after another sort in order; then
/// the entropy and a counter, so the ids of one batch sort in the order they
/// were made. Two batches collide only with the same microsecond and the
/// same 30 bits of entropy.
#[derive(Debug, Clone)]
pub struct Ids {
    millis: u64,
    micros: u16,
    entropy: u32,
    counter: u32,
}

impl Ids {
    /// Ids for a batch applied at `at`, seeded by `entropy`.
    #[must_use]
    pub fn new(at: DateTime<Utc>, entropy: u32) -> Self {
        let micros = at.timestamp_micros();
        Self {
            millis: u64::try_from(micros.div_euclid(1000)).unwrap_or(0),
            micros: u16::try_from(micros.rem_euclid(1000)).unwrap_or(0),
            entropy,
            counter: 0,
        }
    }

    /// The next id.
    ///
    /// # Panics
    /// After 2^32 ids in one batch (a batch makes a few thousand at most).
    pub fn next_id(&mut self) -> Uuid {
        self.counter = self.counter.checked_add(1).expect("ids in one batch");
        let mut bytes = [0u8; 10];
        bytes[0..2].copy_from_slice(&self.micros.to_be_bytes());
        bytes[2..6].copy_from_slice(&self.entropy.to_be_bytes());
        bytes[6..10].copy_from_slice(&self.counter.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.millis, &bytes).into_uuid()
    }
}

/// A stored idempotency record.
#[derive(Debug, Clone)]
pub struct StoredIdempotency {
    pub fingerprint: String,
    pub outcome: String,
}

/// What the backend read for a batch.
#[derive(Debug)]
pub struct Loaded {
    pub head: JournalHead,
    pub head_at: Option<DateTime<Utc>>,
    /// The ledger's business time zone: which day the batch's time is on.
    pub zone: BusinessZone,
    pub ledger: Ledger,
    pub participants: BTreeSet<Uuid>,
    pub credit_codes: BTreeSet<String>,
    /// Client id → still active.
    pub credentials: BTreeMap<String, bool>,
    /// Console login → still active.
    pub people: BTreeMap<String, bool>,
    pub idempotency: BTreeMap<(String, String), StoredIdempotency>,
    /// The kids of the stored signing keys, oldest first (read when
    /// [`Needs::signing_key`]).
    pub signing_kids: Vec<String>,
    pub market: Market,
    /// Invoices named by payments, with their payments.
    pub invoices: BTreeMap<Uuid, StoredInvoice>,
    /// Pollutant → the unit its instruments are counted in (of those
    /// [`Needs::pollutants`] names that have an instrument).
    pub pollutant_units: BTreeMap<String, String>,
    /// The current emission records and offset surrenders of the
    /// participants [`Needs::compliance`] names.
    pub compliance: ComplianceState,
}

impl Loaded {
    /// The time of a batch applied at `now`: never before the head's, so
    /// several nodes with slightly different clocks still write one ordered
    /// history. Rules that depend on the day use this time too.
    pub fn batch_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let now = truncate_to_micros(now);
        self.head_at.map_or(now, |head_at| head_at.max(now))
    }

    pub fn new(head: JournalHead, head_at: Option<DateTime<Utc>>, zone: BusinessZone) -> Self {
        Self {
            head,
            head_at,
            zone,
            ledger: Ledger::new(),
            participants: BTreeSet::new(),
            credit_codes: BTreeSet::new(),
            credentials: BTreeMap::new(),
            people: BTreeMap::new(),
            idempotency: BTreeMap::new(),
            signing_kids: Vec::new(),
            market: Market::default(),
            invoices: BTreeMap::new(),
            pollutant_units: BTreeMap::new(),
            compliance: ComplianceState::default(),
        }
    }
}

/// Everything a batch writes.
#[derive(Debug)]
pub struct Changes {
    pub results: Vec<Result<Committed, CommandError>>,
    pub at: DateTime<Utc>,
    /// The business day of `at` in the ledger's zone: every rule of the
    /// batch that depends on the day uses it.
    pub business_date: NaiveDate,
    pub participants: Vec<Participant>,
    pub instruments: Vec<Instrument>,
    pub credentials: Vec<NewCredential>,
    pub revoked: Vec<String>,
    /// Console people added.
    pub people: Vec<NewPerson>,
    /// Console people given new secrets: their sessions end.
    pub people_reset: Vec<(String, PersonSecrets)>,
    /// Console people disabled: their sessions end.
    pub people_disabled: Vec<String>,
    pub transactions: Vec<Transaction>,
    pub accounts: Vec<Account>,
    pub holds: Vec<Hold>,
    pub journal: Vec<JournalEntry>,
    pub head: JournalHead,
    pub idempotency: Vec<(IdempotencyKey, String)>,
    pub allocations: Vec<Allocation>,
    pub signing_keys: Vec<InstalledKey>,
    /// Orders placed or changed, as they now stand.
    pub orders: BTreeMap<Uuid, Order>,
    pub trades: Vec<Trade>,
    /// Proposals made or changed, as they now stand.
    pub proposals: BTreeMap<Uuid, Proposal>,
    pub auctions: BTreeMap<Uuid, Auction>,
    pub bids: BTreeMap<Uuid, AuctionBid>,
    pub reclamations: Vec<Reclamation>,
    pub pledges: BTreeMap<Uuid, Pledge>,
    /// Invoices paid, as they now stand (their `paid` and `surcharge_paid`).
    pub invoices: BTreeMap<Uuid, Invoice>,
    /// Payments recorded.
    pub payments: Vec<Payment>,
    /// Emission records made, in order (each names the record it replaces).
    pub emissions: Vec<Emission>,
    /// Surrenders made.
    pub surrenders: Vec<Surrender>,
    /// Where the batch's new ids come from.
    pub ids: Ids,
}

impl Changes {
    /// Whether the batch writes nothing (every request refused or replayed).
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty() && self.idempotency.is_empty()
    }
}

/// [`apply_batch`], but a panic (a bug) fails the batch instead of the
/// writer: the caller rolls back and the writer retries each request alone,
/// so only the request that trips the bug fails.
pub fn apply_batch_guarded(
    batch: &[Request],
    loaded: Loaded,
    now: DateTime<Utc>,
    entropy: u32,
) -> Option<Changes> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        apply_batch(batch, loaded, now, entropy)
    }))
    .ok()
}

/// Applies a batch to what was loaded, at [`Loaded::batch_time`]: time never
/// runs backwards in the journal. `now` is the caller's clock, read once for
/// the batch; `entropy` seeds the ids the batch creates ([`Ids`]).
pub fn apply_batch(
    batch: &[Request],
    mut loaded: Loaded,
    now: DateTime<Utc>,
    entropy: u32,
) -> Changes {
    let at = loaded.batch_time(now);
    let mut changes = Changes {
        results: Vec::with_capacity(batch.len()),
        at,
        business_date: loaded.zone.date(at),
        participants: Vec::new(),
        instruments: Vec::new(),
        credentials: Vec::new(),
        revoked: Vec::new(),
        people: Vec::new(),
        people_reset: Vec::new(),
        people_disabled: Vec::new(),
        transactions: Vec::new(),
        accounts: Vec::new(),
        holds: Vec::new(),
        journal: Vec::new(),
        head: loaded.head.clone(),
        idempotency: Vec::new(),
        allocations: Vec::new(),
        signing_keys: Vec::new(),
        orders: BTreeMap::new(),
        trades: Vec::new(),
        proposals: BTreeMap::new(),
        auctions: BTreeMap::new(),
        bids: BTreeMap::new(),
        reclamations: Vec::new(),
        pledges: BTreeMap::new(),
        invoices: BTreeMap::new(),
        payments: Vec::new(),
        emissions: Vec::new(),
        surrenders: Vec::new(),
        ids: Ids::new(at, entropy),
    };
    for request in batch {
        let result = apply_request(request, &mut loaded, &mut changes);
        changes.results.push(result);
    }
    changes.accounts = loaded.ledger.changed_accounts().cloned().collect();
    changes.holds = loaded.ledger.changed_holds().cloned().collect();
    changes
}

fn apply_request(
    request: &Request,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Committed, CommandError> {
    if let Some(key) = &request.idempotency
        && let Some(stored) = loaded
            .idempotency
            .get(&(key.scope.clone(), key.key.clone()))
    {
        if stored.fingerprint != key.fingerprint {
            return Err(CommandError::IdempotencyKeyReused);
        }
        let outcome: Outcome = serde_json::from_str(&stored.outcome)
            .map_err(|_| CommandError::IdempotencyKeyReused)?;
        return Ok(Committed {
            outcome,
            replayed: true,
        });
    }
    let (kind, payload, outcome) = apply_command(&request.command, loaded, changes)?;
    let entry = changes
        .head
        .append(changes.at, request.actor.clone(), kind, payload.to_value());
    let outcome = match outcome {
        Outcome::Ledger(mut transaction) => {
            transaction.journal_seq = entry.seq;
            changes.transactions.push(transaction.clone());
            Outcome::Ledger(transaction)
        }
        Outcome::Allocation(allocation) => {
            // The allocation's transaction was pushed without its seq.
            if let Some(transaction) = changes.transactions.last_mut() {
                transaction.journal_seq = entry.seq;
            }
            changes.allocations.push(allocation.clone());
            Outcome::Allocation(allocation)
        }
        other => other,
    };
    changes.journal.push(entry);
    if let Some(key) = &request.idempotency {
        let stored = serde_json::to_string(&outcome).expect("outcomes serialize");
        loaded.idempotency.insert(
            (key.scope.clone(), key.key.clone()),
            StoredIdempotency {
                fingerprint: key.fingerprint.clone(),
                outcome: stored.clone(),
            },
        );
        changes.idempotency.push((key.clone(), stored));
    }
    Ok(Committed {
        outcome,
        replayed: false,
    })
}

/// The outcome of one applied command: its journal kind, its journal payload
/// and what the caller is answered.
pub(crate) type Applied<'a> = (&'a str, Payload, Outcome);

/// Applies one command to the working set: one function per command, each
/// checking before it changes anything, so a refused command leaves no trace.
fn apply_command<'a>(
    command: &'a Command,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'a>, CommandError> {
    match command {
        Command::CreateParticipant(participant) => create_participant(participant, loaded, changes),
        Command::CreateInstrument(spec) => create_instrument(spec, loaded, changes),
        Command::CreateCredential(credential) => create_credential(credential, loaded, changes),
        Command::RevokeCredential { client_id } => revoke_credential(client_id, loaded, changes),
        Command::CreatePerson(person) => people::create(person, loaded, changes),
        Command::ResetPerson { login, secrets } => people::reset(login, secrets, loaded, changes),
        Command::DisablePerson { login } => people::disable(login, loaded, changes),
        Command::CreateSigningKey(key) => create_signing_key(key, loaded, changes),
        Command::RotateSigningKey(key) => rotate_signing_key(key, loaded, changes),
        Command::Ledger(command) => apply_ledger_command(command, loaded, changes),
        Command::Allocate(allocation) => allocate(allocation, loaded, changes),
        Command::PlaceOrder(order) => {
            let (kind, payload, placed) = market::place_order(order, loaded, changes)?;
            Ok((kind, payload, Outcome::Order(placed)))
        }
        Command::CancelOrder { id, owner } => {
            let (kind, payload, order) = market::cancel_order(*id, *owner, loaded, changes)?;
            Ok((kind, payload, Outcome::OrderCancelled(order)))
        }
        Command::Propose(proposal) => {
            let (kind, payload, proposal) = negotiated::propose(proposal, loaded, changes)?;
            Ok((kind, payload, Outcome::Proposal(proposal)))
        }
        Command::AnswerProposal { id, answer, by } => {
            let (kind, payload, resolved) = negotiated::answer(*id, *answer, *by, loaded, changes)?;
            Ok((kind, payload, Outcome::ProposalAnswered(resolved)))
        }
        Command::ExpireProposals => {
            let (kind, payload, ids) = negotiated::expire_due(loaded, changes)?;
            Ok((kind, payload, Outcome::ProposalsExpired(ids)))
        }
        Command::CreateAuction(auction) => {
            let (kind, payload, auction) = auctions::create(auction, loaded, changes)?;
            Ok((kind, payload, Outcome::Auction(auction)))
        }
        Command::PlaceBid(bid) => {
            let (kind, payload, bid) = auctions::bid(bid, loaded, changes)?;
            Ok((kind, payload, Outcome::Bid(bid)))
        }
        Command::CloseAuction { id } => {
            let (kind, payload, closed) = auctions::close(*id, loaded, changes)?;
            Ok((kind, payload, Outcome::AuctionClosed(closed)))
        }
        Command::Reclaim(reclamation) => {
            let (kind, payload, reclamation) = authority::reclaim(reclamation, loaded, changes)?;
            Ok((kind, payload, Outcome::Reclamation(reclamation)))
        }
        Command::Pledge(pledge) => {
            let (kind, payload, pledge) = authority::pledge(pledge, loaded, changes)?;
            Ok((kind, payload, Outcome::Pledge(pledge)))
        }
        Command::ReleasePledge { id } => {
            let (kind, payload, pledge) = authority::release_pledge(*id, loaded, changes)?;
            Ok((kind, payload, Outcome::Pledge(pledge)))
        }
        Command::PayInvoice(payment) => {
            let (kind, payload, paid) = finance::pay(payment, loaded, changes)?;
            Ok((kind, payload, Outcome::InvoicePaid(paid)))
        }
        Command::RecordEmission(emission) => {
            let (kind, payload, emission) = compliance::record_emission(emission, loaded, changes)?;
            Ok((kind, payload, Outcome::Emission(emission)))
        }
        Command::Surrender(surrender) => {
            let (kind, payload, surrender) = compliance::surrender(surrender, loaded, changes)?;
            Ok((kind, payload, Outcome::Surrender(surrender)))
        }
    }
}

/// Registers a participant: its id and its credit code are each unique (the
/// id is checked first).
fn create_participant(
    participant: &Participant,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if loaded.participants.contains(&participant.id) {
        return Err(CommandError::DuplicateParticipant);
    }
    if loaded
        .credit_codes
        .contains(participant.credit_code.as_str())
    {
        return Err(CommandError::DuplicateCreditCode);
    }
    loaded.participants.insert(participant.id);
    loaded
        .credit_codes
        .insert(participant.credit_code.as_str().to_owned());
    changes.participants.push(participant.clone());
    let payload = Payload::ParticipantCreated(ParticipantCreated::from(participant));
    Ok((
        "participant.created",
        payload,
        Outcome::Participant(participant.clone()),
    ))
}

/// Defines an instrument under a code not used yet.
fn create_instrument(
    spec: &InstrumentSpec,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if loaded.ledger.instrument(&spec.code).is_some() {
        return Err(CommandError::DuplicateInstrument);
    }
    let instrument = Instrument::new(spec.clone())?;
    // One pollutant, one unit across all its instruments (SPEC §1).
    if let Some(pollutant) = &instrument.pollutant {
        match loaded.pollutant_units.get(pollutant) {
            Some(unit) if *unit != instrument.unit => return Err(CommandError::UnitMismatch),
            Some(_) => {}
            None => {
                loaded
                    .pollutant_units
                    .insert(pollutant.clone(), instrument.unit.clone());
            }
        }
    }
    loaded.ledger.add_instrument(instrument.clone());
    changes.instruments.push(instrument.clone());
    let payload = Payload::InstrumentCreated(InstrumentCreated::from(&instrument));
    Ok((
        "instrument.created",
        payload,
        Outcome::Instrument(instrument),
    ))
}

/// Creates an API credential: an enterprise's names an existing participant,
/// any other role's names none; client ids are unique.
fn create_credential(
    credential: &NewCredential,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    let enterprise = credential.role == ets_core::Role::Enterprise;
    if enterprise != credential.participant_id.is_some() {
        return Err(CommandError::CredentialParticipantMismatch);
    }
    if let Some(id) = credential.participant_id
        && !loaded.participants.contains(&id)
    {
        return Err(CommandError::UnknownParticipant);
    }
    if loaded.credentials.contains_key(&credential.client_id) {
        return Err(CommandError::DuplicateCredential);
    }
    loaded
        .credentials
        .insert(credential.client_id.clone(), true);
    changes.credentials.push(credential.clone());
    // The secret's hash stays out of the journal: it is nobody's business.
    let payload = Payload::CredentialCreated(CredentialCreated::from(credential));
    let outcome = Outcome::CredentialCreated {
        client_id: credential.client_id.clone(),
    };
    Ok(("credential.created", payload, outcome))
}

/// Revokes an active credential (revoking twice is refused).
fn revoke_credential(
    client_id: &str,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if loaded.credentials.get(client_id) != Some(&true) {
        return Err(CommandError::UnknownCredential);
    }
    loaded.credentials.insert(client_id.to_owned(), false);
    changes.revoked.push(client_id.to_owned());
    let outcome = Outcome::CredentialRevoked {
        client_id: client_id.to_owned(),
    };
    Ok((
        "credential.revoked",
        Payload::CredentialRevoked(CredentialRevoked {
            client_id: client_id.to_owned(),
        }),
        outcome,
    ))
}

/// Stores the ledger's first signing key; every node that starts on an
/// empty database races to, and one wins.
fn create_signing_key(
    key: &NewSigningKey,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if !loaded.signing_kids.is_empty() {
        return Err(CommandError::SigningKeyExists);
    }
    Ok(install_signing_key(
        "signing_key.created",
        key,
        loaded,
        changes,
    ))
}

/// Installs a new signing key after the stored ones (the first, if there
/// are none); a key stored before, current or retired, is refused.
fn rotate_signing_key(
    key: &NewSigningKey,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if loaded.signing_kids.contains(&key.kid) {
        return Err(CommandError::SigningKeyExists);
    }
    Ok(install_signing_key(
        "signing_key.rotated",
        key,
        loaded,
        changes,
    ))
}

fn install_signing_key(
    kind: &'static str,
    key: &NewSigningKey,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Applied<'static> {
    loaded.signing_kids.push(key.kid.clone());
    let generation = i64::try_from(loaded.signing_kids.len()).expect("a handful of keys");
    changes.signing_keys.push(InstalledKey {
        generation,
        key: key.clone(),
    });
    // Only the public half is journaled.
    let payload = Payload::SigningKeyCreated(SigningKeyCreated::from(key));
    (
        kind,
        payload,
        Outcome::SigningKeyCreated {
            kid: key.kid.clone(),
        },
    )
}

/// Applies a raw ledger transaction; its kind is the journal kind.
fn apply_ledger_command<'a>(
    command: &'a LedgerCommand,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'a>, CommandError> {
    let transaction = apply_legs(
        loaded,
        &command.legs,
        &command.kind,
        command.reference.clone(),
        changes,
    )?;
    let payload = Payload::Transaction(TransactionPayload::from(&transaction));
    Ok((&command.kind, payload, Outcome::Ledger(transaction)))
}

/// Issues rights to a participant, free or for a paid-use fee (with its
/// invoice). Cash is never allocated: it comes in by deposit.
fn allocate(
    allocation: &NewAllocation,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if allocation.instrument.as_str() == ets_core::instrument::CNY {
        return Err(CommandError::CashNotAllocatable);
    }
    // Everything that can refuse comes before the legs touch the
    // working set: a refused request must leave no trace in the batch.
    let invoice = paid_use_invoice(allocation, changes.at)?;
    let leg = allocation_leg(allocation);
    let transaction = apply_legs(
        loaded,
        std::slice::from_ref(&leg),
        "allocation.created",
        None,
        changes,
    )?;
    let quantity = transaction.postings[0].amount.abs();
    let record = Allocation {
        id: allocation.id,
        participant_id: allocation.participant_id,
        instrument: allocation.instrument.clone(),
        quantity,
        method: if invoice.is_some() { "paid" } else { "free" }.to_owned(),
        unit_fee: allocation.paid.as_ref().map(|p| p.unit_fee),
        years: allocation.paid.as_ref().map(|p| p.years),
        transaction_id: transaction.id,
        invoice,
    };
    let payload = Payload::AllocationCreated(AllocationCreated::new(&record, &transaction));
    changes.transactions.push(transaction);
    Ok(("allocation.created", payload, Outcome::Allocation(record)))
}

/// The invoice of a paid allocation (none for a free one), nothing paid yet.
fn paid_use_invoice(
    allocation: &NewAllocation,
    at: DateTime<Utc>,
) -> Result<Option<Invoice>, CommandError> {
    let Some(paid) = &allocation.paid else {
        return Ok(None);
    };
    let rate = paid.daily_rate;
    if rate < Decimal::ZERO || rate > Decimal::ONE || rate.normalize().scale() > 6 {
        return Err(ets_core::LedgerError::InvalidFee.into());
    }
    Ok(Some(Invoice {
        id: paid.invoice_id,
        participant_id: allocation.participant_id,
        kind: "paid_use".to_owned(),
        amount: fees::paid_use_amount(allocation.quantity, paid.unit_fee, paid.years)?,
        paid: Decimal::ZERO,
        due_date: paid.due_date,
        created_at: at,
        daily_rate: rate,
        surcharge_paid: Decimal::ZERO,
    }))
}

/// The accounts an auction of `instrument` settles against beyond its
/// bidders': where its rights come from (reserve or issuance) and where its
/// proceeds go.
fn auction_accounts(instrument: &InstrumentCode) -> [AccountKey; 3] {
    use ets_core::SystemAccount;
    [
        AccountKey::new(Owner::System(SystemAccount::Reserve), instrument.clone()),
        AccountKey::new(Owner::System(SystemAccount::Issuance), instrument.clone()),
        AccountKey::new(
            Owner::System(SystemAccount::AuctionProceeds),
            InstrumentCode::cny(),
        ),
    ]
}

fn allocation_leg(allocation: &NewAllocation) -> Leg {
    Leg::Transfer {
        instrument: allocation.instrument.clone(),
        from: Owner::System(ets_core::SystemAccount::Issuance),
        to: Owner::Participant(allocation.participant_id),
        quantity: allocation.quantity,
    }
}

/// Applies legs to the working set after checking that every participant
/// they name exists.
pub fn apply_legs(
    loaded: &mut Loaded,
    legs: &[Leg],
    kind: &str,
    reference: Option<String>,
    changes: &mut Changes,
) -> Result<Transaction, CommandError> {
    for leg in legs {
        check_participants(leg, &loaded.participants)?;
    }
    let postings = loaded.ledger.apply(legs)?;
    Ok(Transaction {
        id: changes.ids.next_id(),
        kind: kind.to_owned(),
        at: changes.at,
        journal_seq: 0,
        reference,
        postings,
    })
}

fn check_participants(leg: &Leg, known: &BTreeSet<Uuid>) -> Result<(), CommandError> {
    let owners: &[&Owner] = match leg {
        Leg::Transfer { from, to, .. } => &[from, to],
        Leg::PlaceHold { owner, .. } => &[owner],
        Leg::SettleHold { to, .. } => &[to],
        Leg::ReleaseHold { .. } => &[],
    };
    for owner in owners {
        if let Owner::Participant(id) = owner
            && !known.contains(id)
        {
            return Err(CommandError::UnknownParticipant);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ets_core::{Actor, InstrumentKind, InstrumentSpec, Owner, RegionCode};

    use super::*;
    use crate::command::PaidUse;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    #[test]
    fn a_refused_request_leaves_no_trace_in_the_batch() {
        let participant = Uuid::from_u128(7);
        let code = InstrumentCode::parse("SO2-320500-2026").expect("code");
        let instrument = Instrument::new(InstrumentSpec {
            code: code.clone(),
            kind: InstrumentKind::PollutantRight,
            pollutant: Some("SO2".to_owned()),
            unit: "t".to_owned(),
            scale: 4,
            region_code: Some(RegionCode::parse("320500").expect("region")),
            vintage: None,
            valid_from: Some("2026-01-01".parse().expect("date")),
            valid_to: Some("2030-12-31".parse().expect("date")),
            commission_rate: Decimal::ZERO,
            price_band: None,
        })
        .expect("instrument");
        let mut loaded = Loaded::new(JournalHead::genesis(), None, BusinessZone::default());
        loaded.ledger.add_instrument(instrument);
        loaded.participants.insert(participant);
        let request = |command| Request {
            actor: Actor::cli(),
            idempotency: None,
            command,
        };
        let bad_fee = Command::Allocate(NewAllocation {
            id: Uuid::from_u128(1),
            participant_id: participant,
            instrument: code.clone(),
            quantity: dec("10"),
            paid: Some(PaidUse {
                invoice_id: Uuid::from_u128(2),
                unit_fee: dec("200"),
                years: 0,
                due_date: "2026-12-31".parse().expect("date"),
                daily_rate: crate::invoice::DEFAULT_DAILY_SURCHARGE_RATE,
            }),
        });
        let batch = [
            request(bad_fee),
            request(Command::deposit(participant, dec("5"))),
        ];
        let now = "2026-06-01T02:00:00Z".parse().expect("time");
        let changes = apply_batch(&batch, loaded, now, 7);
        assert_eq!(
            changes.results[0].as_ref().map(|_| ()),
            Err(&CommandError::Ledger(ets_core::LedgerError::InvalidFee))
        );
        assert!(changes.results[1].is_ok());
        let rights = AccountKey::new(Owner::Participant(participant), code);
        assert!(
            changes.accounts.iter().all(|a| a.key != rights),
            "the refused allocation touched {:?}",
            changes.accounts
        );
        assert_eq!(changes.journal.len(), 1);
    }
}
