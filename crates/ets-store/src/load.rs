//! Reading what a batch needs, written once for both backends.
//!
//! The engine says what a batch needs ([`Needs`]); [`load`] reads it into a
//! [`Loaded`] through [`BatchReads`], the narrow set of reads each backend
//! answers with its own SQL, and through the writer's memory: what the
//! writer last read or wrote at the locked journal head
//! ([`WorkingSetCache`]) and what never changes once committed ([`Known`]).
//! The order of the steps matters: what is read first widens what is needed
//! next (a proposal names its parties' accounts, an order named by a cancel
//! widens the book the batch reaches, a hold names its account).
//!
//! No row locks: every writer of every node holds the journal head lock for
//! its whole transaction, so nothing read here changes before the batch
//! commits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::instrument::CNY;
use ets_core::{
    Account, AccountKey, BusinessZone, Hold, Instrument, InstrumentCode, JournalHead, Owner,
    RegionCode,
};
use ets_engine::auctions::{Auction, AuctionBid};
use ets_engine::authority::Pledge;
use ets_engine::batch::{Loaded, Needs, StoredIdempotency};
use ets_engine::command::Invoice;
use ets_engine::command::Request;
use ets_engine::compliance::{Emission, Period};
use ets_engine::finance::Payment;
use ets_engine::market::{BookNeed, Order};
use ets_engine::negotiated::Proposal;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::cache::{MAX_BOOK_SIDE, WorkingSetCache};

/// A result of one read inside a batch's transaction.
pub(crate) type Read<T> = Result<T, sqlx::Error>;

/// The reads a batch makes inside its transaction, each answered by one
/// backend with its SQL: rows by key, or nothing for a key without a row.
pub(crate) trait BatchReads: Send {
    /// Stored idempotency records of these `(scope, key)`s.
    fn idempotency(
        &mut self,
        keys: &[(String, String)],
    ) -> impl Future<Output = Read<Vec<((String, String), StoredIdempotency)>>> + Send;
    /// Proposals by id, and with `due`, every open one expiring by then.
    fn proposals(
        &mut self,
        ids: &[Uuid],
        due: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Read<Vec<Proposal>>> + Send;
    /// Pledges by id.
    fn pledges(&mut self, ids: &[Uuid]) -> impl Future<Output = Read<Vec<Pledge>>> + Send;
    /// Invoices by id.
    fn invoices(&mut self, ids: &[Uuid]) -> impl Future<Output = Read<Vec<Invoice>>> + Send;
    /// The payments on these invoices, in commit order.
    fn payments(&mut self, invoices: &[Uuid]) -> impl Future<Output = Read<Vec<Payment>>> + Send;
    /// Auctions by id.
    fn auctions(&mut self, ids: &[Uuid]) -> impl Future<Output = Read<Vec<Auction>>> + Send;
    /// Every bid of these auctions.
    fn bids(&mut self, auctions: &[Uuid]) -> impl Future<Output = Read<Vec<AuctionBid>>> + Send;
    /// Orders by id.
    fn orders(&mut self, ids: &[Uuid]) -> impl Future<Output = Read<Vec<Order>>> + Send;
    /// The first `limit` resting orders of the need's book side, in
    /// priority order (best price, then earliest), at any price.
    fn book_side(
        &mut self,
        need: &BookNeed,
        limit: usize,
    ) -> impl Future<Output = Read<Vec<Order>>> + Send;
    /// A page ([`ets_engine::market::BOOK_PAGE`]) of the need's book side
    /// within its limit price, in priority order, after `(price, seq)`.
    fn book_page(
        &mut self,
        need: &BookNeed,
        after: Option<(Decimal, i64)>,
    ) -> impl Future<Output = Read<Vec<Order>>> + Send;
    /// Holds by id.
    fn holds(&mut self, ids: &[Uuid]) -> impl Future<Output = Read<Vec<Hold>>> + Send;
    /// Accounts by key.
    fn accounts(&mut self, keys: &[AccountKey]) -> impl Future<Output = Read<Vec<Account>>> + Send;
    /// Instruments by code (CNY has no row).
    fn instruments(
        &mut self,
        codes: &[InstrumentCode],
    ) -> impl Future<Output = Read<Vec<Instrument>>> + Send;
    /// Participants by id or by credit code.
    fn participants(
        &mut self,
        ids: &[Uuid],
        credit_codes: &[String],
    ) -> impl Future<Output = Read<Vec<StoredParticipant>>> + Send;
    /// Each instrument's trades (quantity, price) on its last business day
    /// with trades before `day`.
    fn last_day_trades(
        &mut self,
        instruments: &[InstrumentCode],
        day: NaiveDate,
    ) -> impl Future<Output = Read<Vec<(InstrumentCode, Decimal, Decimal)>>> + Send;
    /// The units of these pollutants' instruments: (pollutant, unit).
    fn pollutant_units(
        &mut self,
        names: &[String],
    ) -> impl Future<Output = Read<Vec<(String, String)>>> + Send;
    /// The stored signing keys' kids, oldest first.
    fn signing_kids(&mut self) -> impl Future<Output = Read<Vec<String>>> + Send;
    /// Credentials by client id: whether each is still active.
    fn credentials(
        &mut self,
        client_ids: &[String],
    ) -> impl Future<Output = Read<Vec<(String, bool)>>> + Send;
    /// Console people by login: whether each is still active.
    fn people(
        &mut self,
        logins: &[String],
    ) -> impl Future<Output = Read<Vec<(String, bool)>>> + Send;
    /// The current emission records of these participants.
    fn emissions(
        &mut self,
        participants: &[Uuid],
    ) -> impl Future<Output = Read<Vec<Emission>>> + Send;
    /// Every offset surrender of these participants: (participant, period,
    /// quantity), summed by [`load`].
    fn offset_surrenders(
        &mut self,
        participants: &[Uuid],
    ) -> impl Future<Output = Read<Vec<(Uuid, Period, Decimal)>>> + Send;
}

/// What a batch needs of a participant row.
#[derive(Debug, Clone)]
pub(crate) struct StoredParticipant {
    pub(crate) id: Uuid,
    pub(crate) credit_code: String,
    pub(crate) region: RegionCode,
}

/// What never changes once committed, kept per process so the writer does
/// not read it again for every batch: instruments (no endpoint edits one)
/// and participants' existence and regions. Only rows read back from the
/// database enter it, so another node's writes are seen on the first miss.
#[derive(Debug, Default)]
pub(crate) struct Known {
    instruments: HashMap<InstrumentCode, Instrument>,
    regions: HashMap<Uuid, RegionCode>,
}

/// The writer's memory: the working set at the last head it left, and what
/// never changes (what it knows, and the ledger's business time zone).
#[derive(Debug, Default)]
pub(crate) struct WriterMemory {
    cache: Mutex<WorkingSetCache>,
    known: Mutex<Known>,
    zone: Mutex<BusinessZone>,
}

impl WriterMemory {
    /// The ledger's business time zone, as stored with the database.
    pub(crate) fn zone(&self) -> BusinessZone {
        *lock(&self.zone)
    }

    /// Sets the zone read from the database, before the writer starts.
    pub(crate) fn set_zone(&self, zone: BusinessZone) {
        *lock(&self.zone) = zone;
    }

    /// Takes the working set out for a batch: it goes back
    /// ([`WriterMemory::put_back`]) only if the batch ends cleanly, so a
    /// failure or a panic leaves an empty one behind.
    pub(crate) fn take(&self) -> WorkingSetCache {
        std::mem::take(&mut *lock(&self.cache))
    }

    /// Puts a working set back.
    pub(crate) fn put_back(&self, cache: WorkingSetCache) {
        *lock(&self.cache) = cache;
    }

    /// Forgets the working set (a batch applied on it did not commit).
    pub(crate) fn forget(&self) {
        *lock(&self.cache) = WorkingSetCache::default();
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        lock(&self.known)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads what `batch` needs at `head`: from the working set where it has
/// it, else through `reads`.
///
/// # Errors
/// The database failure.
pub(crate) async fn load(
    reads: &mut impl BatchReads,
    memory: &WriterMemory,
    cache: &mut WorkingSetCache,
    batch: &[Request],
    (head, head_at): (JournalHead, Option<DateTime<Utc>>),
    now: DateTime<Utc>,
) -> Read<Loaded> {
    let mut loaded = Loaded::new(head, head_at, memory.zone());
    let mut needs = Needs::of(batch);
    load_idempotency(reads, cache, &needs, &mut loaded).await?;
    load_records(reads, &mut needs, &mut loaded, batch, now).await?;
    load_book(reads, cache, &mut needs, &mut loaded).await?;
    load_ledger(reads, cache, &mut needs, &mut loaded, batch).await?;
    load_instruments(reads, memory, &needs, &mut loaded).await?;
    if !needs.pollutants.is_empty() {
        let names: Vec<String> = needs.pollutants.iter().cloned().collect();
        loaded
            .pollutant_units
            .extend(reads.pollutant_units(&names).await?);
    }
    load_participants(reads, memory, &mut needs, &mut loaded).await?;
    load_reference_prices(reads, &needs, &mut loaded, now).await?;
    if needs.signing_key {
        loaded.signing_kids = reads.signing_kids().await?;
    }
    if !needs.client_ids.is_empty() {
        let ids: Vec<String> = needs.client_ids.iter().cloned().collect();
        loaded.credentials.extend(reads.credentials(&ids).await?);
    }
    if !needs.logins.is_empty() {
        let logins: Vec<String> = needs.logins.iter().cloned().collect();
        loaded.people.extend(reads.people(&logins).await?);
    }
    load_compliance(reads, &needs, &mut loaded).await?;
    Ok(loaded)
}

/// The current emission records and the offsets surrendered per period of
/// the participants the batch's compliance rules need.
async fn load_compliance(
    reads: &mut impl BatchReads,
    needs: &Needs,
    loaded: &mut Loaded,
) -> Read<()> {
    if needs.compliance.is_empty() {
        return Ok(());
    }
    let participants: Vec<Uuid> = needs.compliance.iter().copied().collect();
    for emission in reads.emissions(&participants).await? {
        loaded.compliance.emissions.insert(emission.key(), emission);
    }
    for (participant, period, quantity) in reads.offset_surrenders(&participants).await? {
        *loaded
            .compliance
            .offsets
            .entry((participant, period))
            .or_default() += quantity;
    }
    Ok(())
}

async fn load_idempotency(
    reads: &mut impl BatchReads,
    cache: &WorkingSetCache,
    needs: &Needs,
    loaded: &mut Loaded,
) -> Read<()> {
    if needs.idempotency.is_empty() {
        return Ok(());
    }
    let keys: Vec<(String, String)> = needs.idempotency.iter().cloned().collect();
    loaded.idempotency.extend(reads.idempotency(&keys).await?);
    // The batch before this one may not have committed yet.
    for key in &needs.idempotency {
        if let Some(stored) = cache.idempotency(key) {
            loaded.idempotency.insert(key.clone(), stored.clone());
        }
    }
    Ok(())
}

/// Proposals, pledges, invoices, auctions and their bids; each widens
/// what the batch needs.
async fn load_records(
    reads: &mut impl BatchReads,
    needs: &mut Needs,
    loaded: &mut Loaded,
    batch: &[Request],
    now: DateTime<Utc>,
) -> Read<()> {
    let market = &mut loaded.market;
    if !needs.proposals.is_empty() || needs.due_proposals {
        let ids: Vec<Uuid> = needs.proposals.iter().copied().collect();
        let due = needs.due_proposals.then_some(now);
        for proposal in reads.proposals(&ids, due).await? {
            market.proposals.insert(proposal.id, proposal);
        }
        needs.add_proposals(&market.proposals);
    }
    if !needs.pledges.is_empty() {
        let ids: Vec<Uuid> = needs.pledges.iter().copied().collect();
        for pledge in reads.pledges(&ids).await? {
            market.pledges.insert(pledge.id, pledge);
        }
    }
    if !needs.invoices.is_empty() {
        let ids: Vec<Uuid> = needs.invoices.iter().copied().collect();
        let invoices = reads.invoices(&ids).await?;
        let payments = reads.payments(&ids).await?;
        for stored in crate::rows::stored_invoices(invoices, payments) {
            loaded.invoices.insert(stored.invoice.id, stored);
        }
        needs.add_invoices(&loaded.invoices, batch);
    }
    let market = &mut loaded.market;
    if !needs.auctions.is_empty() {
        let ids: Vec<Uuid> = needs.auctions.iter().copied().collect();
        for auction in reads.auctions(&ids).await? {
            market.auctions.insert(auction.id, auction);
        }
        let closing: Vec<Uuid> = needs.auction_bids.iter().copied().collect();
        if !closing.is_empty() {
            for bid in reads.bids(&closing).await? {
                market.bids.insert(bid.id, bid);
            }
        }
        needs.add_auctions(market, batch);
    }
    Ok(())
}

/// Orders named by id, then the part of each book side the batch's orders
/// can reach (in priority order, up to the quantity they could take):
/// remembered whole by a steady writer if the side is not too big, else
/// read page by page.
async fn load_book(
    reads: &mut impl BatchReads,
    cache: &mut WorkingSetCache,
    needs: &mut Needs,
    loaded: &mut Loaded,
) -> Read<()> {
    let orders = &mut loaded.market.orders;
    let mut ids: Vec<Uuid> = Vec::new();
    for id in &needs.orders {
        match cache.order(id) {
            Some(order) => {
                orders.insert(order.id, order.clone());
            }
            None => ids.push(*id),
        }
    }
    if !ids.is_empty() {
        for order in reads.orders(&ids).await? {
            orders.insert(order.id, order);
        }
    }
    ets_engine::market::widen_for_cancels(&mut needs.book, orders);
    for need in &needs.book {
        if cache.wants_whole(&need.instrument, need.side) {
            let side = reads.book_side(need, MAX_BOOK_SIDE + 1).await?;
            if side.len() > MAX_BOOK_SIDE {
                cache.remember_oversized(&need.instrument, need.side);
            } else {
                cache.remember_book(&need.instrument, need.side, side);
            }
        }
        if !cache.take_reachable(need, orders) {
            let mut through = Decimal::ZERO;
            let mut after = None;
            loop {
                let page = reads.book_page(need, after).await?;
                let last = page.last().map(|o| (o.price, o.seq));
                let more = ets_engine::market::take_reachable(need, page, &mut through, orders);
                match last.filter(|_| more) {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
        }
    }
    needs.add_orders(orders);
    Ok(())
}

/// Holds, then the accounts of the holds and of every leg.
async fn load_ledger(
    reads: &mut impl BatchReads,
    cache: &mut WorkingSetCache,
    needs: &mut Needs,
    loaded: &mut Loaded,
    batch: &[Request],
) -> Read<()> {
    let mut holds = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    for id in &needs.holds {
        match cache.hold(id) {
            Some(hold) => holds.push(hold.clone()),
            None => ids.push(*id),
        }
    }
    if !ids.is_empty() {
        for hold in reads.holds(&ids).await? {
            cache.remember_hold(hold.clone());
            holds.push(hold);
        }
    }
    needs.add_hold_accounts(&holds, batch);
    let mut missing = Vec::new();
    for key in &needs.accounts {
        match cache.account(key) {
            Some(account) => loaded.ledger.load_account(account.clone()),
            None => missing.push(key.clone()),
        }
    }
    if !missing.is_empty() {
        for account in reads.accounts(&missing).await? {
            cache.remember_account(account.clone());
            loaded.ledger.load_account(account);
        }
    }
    for hold in holds {
        loaded.ledger.load_hold(hold);
    }
    Ok(())
}

async fn load_instruments(
    reads: &mut impl BatchReads,
    memory: &WriterMemory,
    needs: &Needs,
    loaded: &mut Loaded,
) -> Read<()> {
    let mut codes: Vec<InstrumentCode> = Vec::new();
    {
        let known = memory.known();
        // CNY is built into every working set and has no row.
        for code in needs.instruments.iter().filter(|c| c.as_str() != CNY) {
            match known.instruments.get(code) {
                Some(instrument) => loaded.ledger.add_instrument(instrument.clone()),
                None => codes.push(code.clone()),
            }
        }
    }
    if !codes.is_empty() {
        for instrument in reads.instruments(&codes).await? {
            memory
                .known()
                .instruments
                .insert(instrument.code.clone(), instrument.clone());
            loaded.ledger.add_instrument(instrument);
        }
    }
    Ok(())
}

async fn load_participants(
    reads: &mut impl BatchReads,
    memory: &WriterMemory,
    needs: &mut Needs,
    loaded: &mut Loaded,
) -> Read<()> {
    // A participant that owns a stored account exists: no need to look it up.
    for account in loaded.ledger.accounts() {
        if let Owner::Participant(id) = account.key.owner
            && needs.participants.remove(&id)
        {
            loaded.participants.insert(id);
        }
    }
    let mut ids: Vec<Uuid> = Vec::new();
    {
        let known = memory.known();
        for id in needs.participants.iter().chain(&needs.regions) {
            match known.regions.get(id) {
                Some(region) => {
                    loaded.participants.insert(*id);
                    if needs.regions.contains(id) {
                        loaded.market.regions.insert(*id, region.clone());
                    }
                }
                None => ids.push(*id),
            }
        }
    }
    if ids.is_empty() && needs.credit_codes.is_empty() {
        return Ok(());
    }
    let codes: Vec<String> = needs.credit_codes.iter().cloned().collect();
    for row in reads.participants(&ids, &codes).await? {
        memory.known().regions.insert(row.id, row.region.clone());
        if needs.regions.contains(&row.id) {
            loaded.market.regions.insert(row.id, row.region);
        }
        loaded.participants.insert(row.id);
        loaded.credit_codes.insert(row.credit_code);
    }
    Ok(())
}

/// The previous business day's VWAP of each instrument with a price band
/// that the batch's orders trade.
async fn load_reference_prices(
    reads: &mut impl BatchReads,
    needs: &Needs,
    loaded: &mut Loaded,
    now: DateTime<Utc>,
) -> Read<()> {
    let banded: Vec<InstrumentCode> = needs
        .book
        .iter()
        .filter_map(|need| loaded.ledger.instrument(&need.instrument))
        .filter(|instrument| instrument.price_band.is_some())
        .map(|instrument| instrument.code.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if banded.is_empty() {
        return Ok(());
    }
    let today = loaded.zone.date(loaded.batch_time(now));
    let mut by_instrument: BTreeMap<InstrumentCode, Vec<(Decimal, Decimal)>> = BTreeMap::new();
    for (code, quantity, price) in reads.last_day_trades(&banded, today).await? {
        by_instrument
            .entry(code)
            .or_default()
            .push((quantity, price));
    }
    for (code, trades) in by_instrument {
        if let Some(vwap) = ets_engine::market::vwap(trades) {
            loaded.market.reference_prices.insert(code, vwap);
        }
    }
    Ok(())
}
