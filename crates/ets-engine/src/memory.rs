//! The whole ledger's state held in memory, and the writer's path over it:
//! load what a batch needs, apply the batch, merge what it changed.
//!
//! Why: the rules in this crate are pure, but a batch is only as right as
//! what its caller loads for it. [`Memory`] loads exactly what [`Needs`]
//! names, in the order the database backends of `ets-store` read it (their
//! `load`), and merges the [`Changes`] as their `persist` writes them. So the
//! market's scenarios run without a database, and a gap in [`Needs`] (an
//! account, a hold or a resting order not named) gives a wrong result here
//! just as it would there. It is also the reference for what a backend must
//! load and persist.
//!
//! What a database would refuse to write panics here, naming the constraint:
//! a posting whose account version is already stored (the batch applied it
//! to an account it did not load), a journal entry that does not follow the
//! head, a second row with one primary key in an insert-only table.
//!
//! Pure like the rest of the crate: the caller passes the time of each
//! batch (a test moves it instead of sleeping); the entropy for new ids is a
//! counter that moves on with every batch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use ets_core::matching::Side;
use ets_core::{
    Account, AccountKey, Actor, BusinessZone, Hold, HoldStatus, Instrument, InstrumentCode,
    JournalEntry, JournalHead, Owner, Participant, Verification, Verifier,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auctions::{Auction, AuctionBid, AuctionStatus};
use crate::authority::{Pledge, Reclamation};
use crate::batch::{Changes, Loaded, Needs, StoredIdempotency, apply_batch};
use crate::command::{
    Allocation, Command, CommandError, Committed, NewCredential, NewPerson, Request, Transaction,
};
use crate::compliance::{
    ComplianceRow, Emission, Period, PollutantHolding, Surrender, SurrenderKind, compliance_rows,
};
use crate::finance::StoredInvoice;
use crate::market::{self, BOOK_PAGE, BookNeed, Order, Trade};
use crate::negotiated::{Proposal, ProposalStatus};

/// A stored credential: what was issued, and when it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// The credential as issued (its secret already hashed).
    pub credential: NewCredential,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The ledger's whole state in memory: every table a backend keeps, as the
/// batches applied so far left it.
#[derive(Debug, Clone)]
pub struct Memory {
    instruments: BTreeMap<InstrumentCode, Instrument>,
    participants: BTreeMap<Uuid, Participant>,
    /// Credit code → participant (unique, as in the database).
    credit_codes: BTreeMap<String, Uuid>,
    credentials: BTreeMap<String, StoredCredential>,
    /// Console people by login: as created or last reset, and whether still
    /// active.
    people: BTreeMap<String, (NewPerson, bool)>,
    /// The stored signing keys' kids, oldest first.
    signing_kids: Vec<String>,
    accounts: BTreeMap<AccountKey, Account>,
    holds: BTreeMap<Uuid, Hold>,
    transactions: Vec<Transaction>,
    transaction_ids: BTreeSet<Uuid>,
    allocations: Vec<Allocation>,
    reclamations: Vec<Reclamation>,
    orders: BTreeMap<Uuid, Order>,
    trades: Vec<Trade>,
    trade_ids: BTreeSet<Uuid>,
    proposals: BTreeMap<Uuid, Proposal>,
    auctions: BTreeMap<Uuid, Auction>,
    bids: BTreeMap<Uuid, AuctionBid>,
    pledges: BTreeMap<Uuid, Pledge>,
    invoices: BTreeMap<Uuid, StoredInvoice>,
    /// Every emission record, in commit order, with what replaced it.
    emissions: Vec<(Emission, Option<Uuid>)>,
    surrenders: Vec<Surrender>,
    idempotency: BTreeMap<(String, String), StoredIdempotency>,
    journal: Vec<JournalEntry>,
    head: JournalHead,
    head_at: Option<DateTime<Utc>>,
    /// The business time zone its days are counted in.
    zone: BusinessZone,
    /// Seeds the ids of the next batch; moves on with every batch.
    entropy: u32,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    /// An empty ledger: no participant, no instrument but the built-in CNY,
    /// an empty journal.
    #[must_use]
    pub fn new() -> Self {
        Self {
            instruments: BTreeMap::new(),
            participants: BTreeMap::new(),
            credit_codes: BTreeMap::new(),
            credentials: BTreeMap::new(),
            people: BTreeMap::new(),
            signing_kids: Vec::new(),
            accounts: BTreeMap::new(),
            holds: BTreeMap::new(),
            transactions: Vec::new(),
            transaction_ids: BTreeSet::new(),
            allocations: Vec::new(),
            reclamations: Vec::new(),
            orders: BTreeMap::new(),
            trades: Vec::new(),
            trade_ids: BTreeSet::new(),
            proposals: BTreeMap::new(),
            auctions: BTreeMap::new(),
            bids: BTreeMap::new(),
            pledges: BTreeMap::new(),
            invoices: BTreeMap::new(),
            emissions: Vec::new(),
            surrenders: Vec::new(),
            idempotency: BTreeMap::new(),
            journal: Vec::new(),
            head: JournalHead::genesis(),
            head_at: None,
            zone: BusinessZone::default(),
            entropy: 0,
        }
    }

    /// An empty ledger that counts its business days in `zone`.
    #[must_use]
    pub fn in_zone(zone: BusinessZone) -> Self {
        Self {
            zone,
            ..Self::new()
        }
    }

    /// Applies a batch as the store's writer does: loads what the batch
    /// needs, applies it at `now` (never before the journal head's time),
    /// and keeps what it changed. One result per request, in order.
    ///
    /// # Panics
    /// When the batch's changes break a constraint a database would enforce
    /// (see the module docs): a bug in the engine or in [`Needs`].
    pub fn apply(
        &mut self,
        batch: &[Request],
        now: DateTime<Utc>,
    ) -> Vec<Result<Committed, CommandError>> {
        let loaded = self.load(batch, now);
        self.entropy = self.entropy.wrapping_add(1);
        let changes = apply_batch(batch, loaded, now, self.entropy);
        if !changes.is_empty() {
            self.persist(&changes);
        }
        changes.results
    }

    /// Applies one command, without an idempotency key, as its own batch.
    ///
    /// # Errors
    /// Why the command was refused; nothing changed then.
    ///
    /// # Panics
    /// As [`Memory::apply`].
    pub fn execute(
        &mut self,
        actor: Actor,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Committed, CommandError> {
        let request = Request {
            actor,
            idempotency: None,
            command,
        };
        self.apply(std::slice::from_ref(&request), now)
            .pop()
            .expect("one result per request")
    }
}

// ---------------------------------------------------------------------------
// Loading: the backends' `load`, step by step and in their order.
// ---------------------------------------------------------------------------

impl Memory {
    /// Reads what the batch needs into a working set: idempotency records,
    /// the market (proposals, pledges, auctions and bids, named orders, the
    /// reachable book), then holds, accounts, instruments, participants,
    /// reference prices, the signing-key flag and credentials.
    fn load(&self, batch: &[Request], now: DateTime<Utc>) -> Loaded {
        let mut loaded = Loaded::new(self.head.clone(), self.head_at, self.zone);
        let mut needs = Needs::of(batch);
        self.load_idempotency(&needs, &mut loaded);
        self.load_market(&mut needs, &mut loaded, batch, now);
        let holds = self.load_holds(&mut needs, batch);
        self.load_accounts(&needs, &mut loaded);
        for hold in holds {
            loaded.ledger.load_hold(hold);
        }
        self.load_instruments(&needs, &mut loaded);
        for instrument in self.instruments.values() {
            if let Some(pollutant) = &instrument.pollutant
                && needs.pollutants.contains(pollutant)
            {
                loaded
                    .pollutant_units
                    .insert(pollutant.clone(), instrument.unit.clone());
            }
        }
        self.load_participants(&needs, &mut loaded);
        self.load_reference_prices(&needs, &mut loaded, now);
        if needs.signing_key {
            loaded.signing_kids.clone_from(&self.signing_kids);
        }
        self.load_credentials(&needs, &mut loaded);
        for login in &needs.logins {
            if let Some((_, active)) = self.people.get(login) {
                loaded.people.insert(login.clone(), *active);
            }
        }
        self.load_compliance(&needs, &mut loaded);
        loaded
    }

    /// The current emission records and the offsets surrendered per period
    /// of the participants the batch names.
    fn load_compliance(&self, needs: &Needs, loaded: &mut Loaded) {
        for (emission, replaced_by) in &self.emissions {
            if replaced_by.is_none() && needs.compliance.contains(&emission.participant_id) {
                loaded
                    .compliance
                    .emissions
                    .insert(emission.key(), emission.clone());
            }
        }
        for surrender in &self.surrenders {
            if surrender.kind == SurrenderKind::Offset
                && needs.compliance.contains(&surrender.participant_id)
            {
                *loaded
                    .compliance
                    .offsets
                    .entry((surrender.participant_id, surrender.period))
                    .or_default() += surrender.quantity;
            }
        }
    }

    fn load_idempotency(&self, needs: &Needs, loaded: &mut Loaded) {
        for key in &needs.idempotency {
            if let Some(stored) = self.idempotency.get(key) {
                loaded.idempotency.insert(key.clone(), stored.clone());
            }
        }
    }

    /// Proposals (named, and those due at `now` for an expiry), pledges,
    /// auctions and the bids of those closing, orders named by cancels, and
    /// the part of each book side the batch's orders can reach.
    fn load_market(
        &self,
        needs: &mut Needs,
        loaded: &mut Loaded,
        batch: &[Request],
        now: DateTime<Utc>,
    ) {
        let read = &mut loaded.market;
        // Due by the caller's clock, as the backends read them; the expiry
        // itself then compares with the batch's time.
        for proposal in self.proposals.values() {
            let due = proposal.status == ProposalStatus::Proposed && proposal.expires_at <= now;
            if needs.proposals.contains(&proposal.id) || (needs.due_proposals && due) {
                read.proposals.insert(proposal.id, proposal.clone());
            }
        }
        needs.add_proposals(&read.proposals);
        for id in &needs.pledges {
            if let Some(pledge) = self.pledges.get(id) {
                read.pledges.insert(*id, pledge.clone());
            }
        }
        for id in &needs.auctions {
            if let Some(auction) = self.auctions.get(id) {
                read.auctions.insert(*id, auction.clone());
            }
        }
        for bid in self.bids.values() {
            if needs.auction_bids.contains(&bid.auction_id) {
                read.bids.insert(bid.id, bid.clone());
            }
        }
        needs.add_auctions(read, batch);
        for id in &needs.invoices {
            if let Some(invoice) = self.invoices.get(id) {
                loaded.invoices.insert(*id, invoice.clone());
            }
        }
        needs.add_invoices(&loaded.invoices, batch);
        for id in &needs.orders {
            if let Some(order) = self.orders.get(id) {
                read.orders.insert(*id, order.clone());
            }
        }
        market::widen_for_cancels(&mut needs.book, &read.orders);
        for need in &needs.book {
            self.load_book_side(need, &mut read.orders);
        }
        needs.add_orders(&read.orders);
    }

    /// Feeds the resting orders within the need's limit, in priority order,
    /// page by page of [`BOOK_PAGE`], through [`market::take_reachable`],
    /// until it has what the need can reach: the backends' keyset reads.
    fn load_book_side(&self, need: &BookNeed, into: &mut BTreeMap<Uuid, Order>) {
        let within: Vec<Order> = self
            .open_orders(&need.instrument, need.side)
            .into_iter()
            .filter(|order| match need.side {
                Side::Sell => order.price <= need.limit,
                Side::Buy => order.price >= need.limit,
            })
            .cloned()
            .collect();
        let page_size = usize::try_from(BOOK_PAGE).expect("a page size fits usize");
        let mut through = Decimal::ZERO;
        for page in within.chunks(page_size) {
            if !market::take_reachable(need, page.to_vec(), &mut through, into) {
                break;
            }
        }
    }

    /// The holds named so far (the market's included), after which the
    /// accounts those holds and their settlements touch are needed too.
    fn load_holds(&self, needs: &mut Needs, batch: &[Request]) -> Vec<Hold> {
        let holds: Vec<Hold> = needs
            .holds
            .iter()
            .filter_map(|id| self.holds.get(id).cloned())
            .collect();
        needs.add_hold_accounts(&holds, batch);
        holds
    }

    /// Accounts named and stored; the rest are new and empty.
    fn load_accounts(&self, needs: &Needs, loaded: &mut Loaded) {
        for key in &needs.accounts {
            if let Some(account) = self.accounts.get(key) {
                loaded.ledger.load_account(account.clone());
            }
        }
    }

    /// Instruments named and stored (CNY is built into every working set).
    fn load_instruments(&self, needs: &Needs, loaded: &mut Loaded) {
        for code in &needs.instruments {
            if let Some(instrument) = self.instruments.get(code) {
                loaded.ledger.add_instrument(instrument.clone());
            }
        }
    }

    /// Which named participants exist, which named credit codes are taken,
    /// and the regions a rule needs.
    fn load_participants(&self, needs: &Needs, loaded: &mut Loaded) {
        for id in &needs.participants {
            if self.participants.contains_key(id) {
                loaded.participants.insert(*id);
            }
        }
        for code in &needs.credit_codes {
            if self.credit_codes.contains_key(code) {
                loaded.credit_codes.insert(code.clone());
            }
        }
        for id in &needs.regions {
            if let Some(participant) = self.participants.get(id) {
                loaded
                    .market
                    .regions
                    .insert(*id, participant.region_code.clone());
            }
        }
    }

    /// For each banded instrument the batch's orders trade: the VWAP of its
    /// trades on the last business day before the batch's that had any.
    fn load_reference_prices(&self, needs: &Needs, loaded: &mut Loaded, now: DateTime<Utc>) {
        let today = loaded.zone.date(loaded.batch_time(now));
        let banded: BTreeSet<InstrumentCode> = needs
            .book
            .iter()
            .filter_map(|need| loaded.ledger.instrument(&need.instrument))
            .filter(|instrument| instrument.price_band.is_some())
            .map(|instrument| instrument.code.clone())
            .collect();
        for code in banded {
            let earlier = || {
                self.trades
                    .iter()
                    .filter(|t| t.instrument == code && t.business_date < today)
            };
            let Some(day) = earlier().map(|t| t.business_date).max() else {
                continue;
            };
            let that_day = earlier()
                .filter(|t| t.business_date == day)
                .map(|t| (t.quantity, t.price));
            if let Some(vwap) = market::vwap(that_day) {
                loaded.market.reference_prices.insert(code, vwap);
            }
        }
    }

    /// Named credentials, and whether each is still active.
    fn load_credentials(&self, needs: &Needs, loaded: &mut Loaded) {
        for client_id in &needs.client_ids {
            if let Some(stored) = self.credentials.get(client_id) {
                loaded
                    .credentials
                    .insert(client_id.clone(), stored.revoked_at.is_none());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Persisting: the backends' `persist`, table by table.
// ---------------------------------------------------------------------------

impl Memory {
    /// Keeps what a batch changed: rows inserted, rows upserted, accounts
    /// and holds replaced by their new state, the journal and its head moved.
    fn persist(&mut self, changes: &Changes) {
        self.check_postings(changes);
        self.persist_registry(changes);
        self.persist_ledger(changes);
        self.persist_journal(changes);
        self.persist_market(changes);
    }

    /// The postings' primary key is (owner, instrument, version): a posting
    /// at a version already stored means the batch applied it to an account
    /// it did not load (taking it for new and empty). A database refuses the
    /// batch; here it panics.
    fn check_postings(&self, changes: &Changes) {
        for transaction in &changes.transactions {
            for posting in &transaction.postings {
                let stored = self
                    .accounts
                    .get(&posting.account)
                    .map_or(0, |account| account.version);
                assert!(
                    posting.version > stored,
                    "a backend would refuse posting version {} of {:?} (stored version {stored}): \
                     the batch did not load this account",
                    posting.version,
                    posting.account,
                );
            }
        }
    }

    /// Participants, instruments, credentials (and revocations), the signing key.
    fn persist_registry(&mut self, changes: &Changes) {
        for participant in &changes.participants {
            let code = participant.credit_code.as_str().to_owned();
            insert_new(&mut self.credit_codes, code, participant.id, "credit code");
            insert_new(
                &mut self.participants,
                participant.id,
                participant.clone(),
                "participant",
            );
        }
        for instrument in &changes.instruments {
            insert_new(
                &mut self.instruments,
                instrument.code.clone(),
                instrument.clone(),
                "instrument",
            );
        }
        for credential in &changes.credentials {
            let stored = StoredCredential {
                credential: credential.clone(),
                revoked_at: None,
            };
            insert_new(
                &mut self.credentials,
                credential.client_id.clone(),
                stored,
                "credential",
            );
        }
        for client_id in &changes.revoked {
            if let Some(stored) = self.credentials.get_mut(client_id) {
                stored.revoked_at = Some(changes.at);
            }
        }
        for person in &changes.people {
            let stored = (person.clone(), true);
            insert_new(&mut self.people, person.login.clone(), stored, "person");
        }
        for (login, secrets) in &changes.people_reset {
            if let Some((person, _)) = self.people.get_mut(login) {
                person.secrets = secrets.clone();
            }
        }
        for login in &changes.people_disabled {
            if let Some((_, active)) = self.people.get_mut(login) {
                *active = false;
            }
        }
        for installed in &changes.signing_keys {
            assert!(
                !self.signing_kids.contains(&installed.key.kid),
                "a backend would refuse a kid stored before"
            );
            self.signing_kids.push(installed.key.kid.clone());
            assert_eq!(
                installed.generation,
                i64::try_from(self.signing_kids.len()).expect("a handful of keys"),
                "a backend would refuse a generation stored before"
            );
        }
    }

    /// Accounts and holds as they now stand; transactions, allocations and
    /// reclamations appended.
    fn persist_ledger(&mut self, changes: &Changes) {
        for account in &changes.accounts {
            self.accounts.insert(account.key.clone(), account.clone());
        }
        for hold in &changes.holds {
            self.holds.insert(hold.id, hold.clone());
        }
        for transaction in &changes.transactions {
            assert!(
                self.transaction_ids.insert(transaction.id),
                "a backend would refuse a second transaction {}",
                transaction.id
            );
            self.transactions.push(transaction.clone());
        }
        self.allocations.extend(changes.allocations.iter().cloned());
        for invoice in changes.allocations.iter().filter_map(|a| a.invoice.clone()) {
            let stored = StoredInvoice {
                invoice,
                payments: Vec::new(),
            };
            insert_new(&mut self.invoices, stored.invoice.id, stored, "invoice");
        }
        for payment in &changes.payments {
            let stored = self
                .invoices
                .get_mut(&payment.invoice_id)
                .expect("a backend would refuse a payment on no invoice");
            stored.payments.push(payment.clone());
        }
        for invoice in changes.invoices.values() {
            let stored = self
                .invoices
                .get_mut(&invoice.id)
                .expect("a backend would refuse to update no invoice");
            stored.invoice = invoice.clone();
        }
        self.reclamations
            .extend(changes.reclamations.iter().cloned());
        for emission in &changes.emissions {
            if let Some(old) = emission.replaces {
                let replaced = self
                    .emissions
                    .iter_mut()
                    .find(|(e, by)| e.id == old && by.is_none())
                    .expect("a backend would refuse to replace no current record");
                replaced.1 = Some(emission.id);
            }
            assert!(
                !self
                    .emissions
                    .iter()
                    .any(|(e, by)| by.is_none() && e.key() == emission.key()),
                "a backend would refuse a second current record of {:?}",
                emission.key()
            );
            self.emissions.push((emission.clone(), None));
        }
        self.surrenders.extend(changes.surrenders.iter().cloned());
    }

    /// Journal entries appended after the head, the head moved to the last
    /// one (at the batch's time), idempotency records inserted.
    fn persist_journal(&mut self, changes: &Changes) {
        for entry in &changes.journal {
            assert_eq!(
                entry.seq,
                self.journal.last().map_or(0, |last| last.seq) + 1,
                "a backend would refuse journal entry {} out of sequence",
                entry.seq
            );
            self.journal.push(entry.clone());
        }
        if !changes.journal.is_empty() {
            self.head = changes.head.clone();
            self.head_at = Some(changes.at);
        }
        for (key, outcome) in &changes.idempotency {
            let stored = StoredIdempotency {
                fingerprint: key.fingerprint.clone(),
                outcome: outcome.clone(),
            };
            insert_new(
                &mut self.idempotency,
                (key.scope.clone(), key.key.clone()),
                stored,
                "idempotency key",
            );
        }
    }

    /// Orders, proposals, auctions, bids and pledges upserted; trades appended.
    fn persist_market(&mut self, changes: &Changes) {
        for order in changes.orders.values() {
            self.orders.insert(order.id, order.clone());
        }
        for trade in &changes.trades {
            assert!(
                self.trade_ids.insert(trade.id),
                "a backend would refuse a second trade {}",
                trade.id
            );
            self.trades.push(trade.clone());
        }
        for proposal in changes.proposals.values() {
            self.proposals.insert(proposal.id, proposal.clone());
        }
        for auction in changes.auctions.values() {
            self.auctions.insert(auction.id, auction.clone());
        }
        for bid in changes.bids.values() {
            self.bids.insert(bid.id, bid.clone());
        }
        for pledge in changes.pledges.values() {
            self.pledges.insert(pledge.id, pledge.clone());
        }
    }
}

/// Inserts a row into an insert-only table, as a primary key would: a
/// second row with the same key panics.
fn insert_new<K: Ord + std::fmt::Debug, V>(
    table: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    what: &str,
) {
    assert!(
        !table.contains_key(&key),
        "a backend would refuse a second {what} {key:?}"
    );
    table.insert(key, value);
}

// ---------------------------------------------------------------------------
// Reading, as tests and the store's read side do.
// ---------------------------------------------------------------------------

impl Memory {
    /// An account as it stands (new and empty if it never moved).
    #[must_use]
    pub fn account(&self, owner: Owner, instrument: &InstrumentCode) -> Account {
        let key = AccountKey::new(owner, instrument.clone());
        self.accounts
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Account::empty(key))
    }

    /// An account's balance (held part included).
    #[must_use]
    pub fn balance(&self, owner: Owner, instrument: &InstrumentCode) -> Decimal {
        self.account(owner, instrument).balance
    }

    /// What an account's open holds reserve.
    #[must_use]
    pub fn held(&self, owner: Owner, instrument: &InstrumentCode) -> Decimal {
        self.account(owner, instrument).held
    }

    /// Every account that ever moved, system accounts included, in key order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// A hold, whatever its status.
    #[must_use]
    pub fn hold(&self, id: Uuid) -> Option<&Hold> {
        self.holds.get(&id)
    }

    /// Every hold ever placed, by id.
    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.values()
    }

    /// The holds still open.
    pub fn open_holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds
            .values()
            .filter(|hold| hold.status == HoldStatus::Open)
    }

    /// Every ledger transaction, in commit order.
    #[must_use]
    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }

    /// A participant.
    #[must_use]
    pub fn participant(&self, id: Uuid) -> Option<&Participant> {
        self.participants.get(&id)
    }

    /// An instrument (CNY is built in and has no record).
    #[must_use]
    pub fn instrument(&self, code: &InstrumentCode) -> Option<&Instrument> {
        self.instruments.get(code)
    }

    /// A credential and when it was revoked.
    #[must_use]
    pub fn credential(&self, client_id: &str) -> Option<&StoredCredential> {
        self.credentials.get(client_id)
    }

    /// An order, whatever its status.
    #[must_use]
    pub fn order(&self, id: Uuid) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Every order ever placed, by id.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// The resting orders of one side of a book, in priority order: best
    /// price first (lowest ask, highest bid), then earliest.
    #[must_use]
    pub fn open_orders(&self, instrument: &InstrumentCode, side: Side) -> Vec<&Order> {
        let mut resting: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| &o.instrument == instrument && o.side == side && o.status.is_resting())
            .collect();
        resting.sort_by(|a, b| {
            let by_price = match side {
                Side::Sell => a.price.cmp(&b.price),
                Side::Buy => b.price.cmp(&a.price),
            };
            by_price.then(a.seq.cmp(&b.seq))
        });
        resting
    }

    /// The highest resting buy price, if any.
    #[must_use]
    pub fn best_bid(&self, instrument: &InstrumentCode) -> Option<Decimal> {
        self.open_orders(instrument, Side::Buy)
            .first()
            .map(|o| o.price)
    }

    /// The lowest resting sell price, if any.
    #[must_use]
    pub fn best_ask(&self, instrument: &InstrumentCode) -> Option<Decimal> {
        self.open_orders(instrument, Side::Sell)
            .first()
            .map(|o| o.price)
    }

    /// One side of a book by price level: (price, Σ open quantity), best first.
    #[must_use]
    pub fn levels(&self, instrument: &InstrumentCode, side: Side) -> Vec<(Decimal, Decimal)> {
        let mut levels: Vec<(Decimal, Decimal)> = Vec::new();
        for order in self.open_orders(instrument, side) {
            match levels.last_mut() {
                Some((price, quantity)) if *price == order.price => {
                    *quantity += order.remaining();
                }
                _ => levels.push((order.price, order.remaining())),
            }
        }
        levels
    }

    /// Every trade, in execution order.
    #[must_use]
    pub fn trades(&self) -> &[Trade] {
        &self.trades
    }

    /// A negotiated trade proposal.
    #[must_use]
    pub fn proposal(&self, id: Uuid) -> Option<&Proposal> {
        self.proposals.get(&id)
    }

    /// Every proposal, by id.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// Whether a proposal's time has passed unanswered at `now` (the
    /// sweeper's cheap read before it asks to expire them).
    #[must_use]
    pub fn proposals_due(&self, now: DateTime<Utc>) -> bool {
        self.proposals
            .values()
            .any(|p| p.status == ProposalStatus::Proposed && p.expires_at <= now)
    }

    /// An auction.
    #[must_use]
    pub fn auction(&self, id: Uuid) -> Option<&Auction> {
        self.auctions.get(&id)
    }

    /// Every auction, by id.
    pub fn auctions(&self) -> impl Iterator<Item = &Auction> {
        self.auctions.values()
    }

    /// Open auctions whose closing time has come at `now`, by id (what the
    /// scheduler closes).
    #[must_use]
    pub fn auctions_due(&self, now: DateTime<Utc>) -> Vec<Uuid> {
        self.auctions
            .values()
            .filter(|a| a.status == AuctionStatus::Open && a.closes_at.is_some_and(|c| c <= now))
            .map(|a| a.id)
            .collect()
    }

    /// An auction's bids, in arrival order.
    #[must_use]
    pub fn bids(&self, auction: Uuid) -> Vec<&AuctionBid> {
        let mut bids: Vec<&AuctionBid> = self
            .bids
            .values()
            .filter(|b| b.auction_id == auction)
            .collect();
        bids.sort_by_key(|b| b.seq);
        bids
    }

    /// Every bid of every auction, by id.
    pub fn all_bids(&self) -> impl Iterator<Item = &AuctionBid> {
        self.bids.values()
    }

    /// A pledge.
    #[must_use]
    pub fn pledge(&self, id: Uuid) -> Option<&Pledge> {
        self.pledges.get(&id)
    }

    /// Every pledge, by id.
    pub fn pledges(&self) -> impl Iterator<Item = &Pledge> {
        self.pledges.values()
    }

    /// An invoice with its payments.
    #[must_use]
    pub fn invoice(&self, id: Uuid) -> Option<&StoredInvoice> {
        self.invoices.get(&id)
    }

    /// Every allocation, in commit order.
    #[must_use]
    pub fn allocations(&self) -> &[Allocation] {
        &self.allocations
    }

    /// Every reclamation, in commit order.
    #[must_use]
    pub fn reclamations(&self) -> &[Reclamation] {
        &self.reclamations
    }

    /// Every emission record, in commit order, with the id of the record
    /// that replaced it (none for a current one).
    #[must_use]
    pub fn emissions(&self) -> &[(Emission, Option<Uuid>)] {
        &self.emissions
    }

    /// Every surrender, in commit order.
    #[must_use]
    pub fn surrenders(&self) -> &[Surrender] {
        &self.surrenders
    }

    /// The compliance report of a period, as the store computes it: the
    /// current records, the period's surrenders and the participants'
    /// pollutant rights as they stand.
    #[must_use]
    pub fn compliance(&self, period: Period) -> Vec<ComplianceRow> {
        let current: Vec<Emission> = self
            .emissions
            .iter()
            .filter(|(e, by)| by.is_none() && e.period == period)
            .map(|(e, _)| e.clone())
            .collect();
        let surrendered: Vec<(Uuid, Decimal)> = self
            .surrenders
            .iter()
            .filter(|s| s.period == period)
            .map(|s| (s.participant_id, s.quantity))
            .collect();
        let holdings: Vec<PollutantHolding> = self
            .accounts
            .values()
            .filter_map(|account| {
                let Owner::Participant(participant_id) = account.key.owner else {
                    return None;
                };
                let instrument = self.instruments.get(&account.key.instrument)?;
                Some(PollutantHolding {
                    participant_id,
                    pollutant: instrument.pollutant.clone()?,
                    valid_from: instrument.valid_from,
                    valid_to: instrument.valid_to,
                    balance: account.balance,
                })
            })
            .collect();
        compliance_rows(period, &current, &surrendered, &holdings)
    }

    /// The journal, oldest first.
    #[must_use]
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    /// The journal head: the last entry's seq and hash.
    #[must_use]
    pub fn head(&self) -> &JournalHead {
        &self.head
    }

    /// Verifies the whole journal as the store does: every entry's hash
    /// and link, no gap, and the head is the last entry.
    #[must_use]
    pub fn verify_journal(&self) -> Verification {
        let mut verifier = Verifier::new();
        for entry in &self.journal {
            verifier.push(entry);
        }
        let good = verifier.head().clone();
        let mut verification = verifier.finish();
        if verification.ok && good != self.head {
            verification.ok = false;
            verification.first_bad_seq = Some(good.seq + 1);
        }
        verification
    }
}
