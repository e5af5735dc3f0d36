//! What a node's writer remembers between batches: the accounts, open holds
//! and whole book sides it last read or wrote, as they stand at one journal
//! head, and what the last batch it applied changed.
//!
//! It is exact, never a guess. Every write of every node takes the journal
//! head lock and moves the head; a batch commits only if the head it locks is
//! the one its working set belongs to (its `base`). So what the writer
//! remembers is what the database holds at that head, or the batch does not
//! commit: then everything is forgotten and read again. The same holds for a
//! batch applied while the one before it is still committing: it is applied
//! on the state that batch leaves, and commits only if that batch did and no
//! other writer came between.

use std::collections::{BTreeMap, HashMap, HashSet};

use ets_core::matching::Side;
use ets_core::{Account, AccountKey, Hold, HoldStatus, InstrumentCode, JournalHead};
use rust_decimal::Decimal;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use ets_engine::batch::{Changes, Needs, StoredIdempotency};
use ets_engine::command::{Command, Request};
use ets_engine::market::{BookNeed, Order};

/// A book side with more resting orders than this is not kept whole: the
/// writer reads the part a batch reaches, page by page, as without a cache.
pub(crate) const MAX_BOOK_SIDE: usize = 20_000;

/// Past this many accounts and holds the cache starts again from nothing,
/// which bounds its memory whatever the ledger's size.
const MAX_ENTRIES: usize = 500_000;

/// A book side's position: asks lowest price first, bids highest first,
/// earliest first at one price.
type Priority = (Decimal, i64);

fn priority(order: &Order) -> Priority {
    match order.side {
        Side::Sell => (order.price, order.seq),
        Side::Buy => (-order.price, order.seq),
    }
}

/// The writer's memory of the state at [`WorkingSetCache::head`].
#[derive(Debug, Default)]
pub(crate) struct WorkingSetCache {
    /// The head the remembered state belongs to, and its time; `None`:
    /// nothing remembered.
    head: Option<(JournalHead, Option<DateTime<Utc>>)>,
    /// Whether the last batch applied changed only rows the cache covers:
    /// it placed and cancelled orders and moved ledger legs.
    touched_only_cached: bool,
    /// What the last batch applied changed, whole: the orders and holds it
    /// closed are not in `books` and `holds`, and the database has none of
    /// it until that batch commits.
    recent: Recent,
    accounts: HashMap<AccountKey, Account>,
    /// Open holds only: a closed hold never changes again.
    holds: HashMap<Uuid, Hold>,
    /// Whole book sides: every resting order of the side, in priority order.
    books: HashMap<BookKey, BTreeMap<Priority, Order>>,
    /// Where each order of `books` is.
    resting: HashMap<Uuid, (BookKey, Priority)>,
    /// Sides found to have more than [`MAX_BOOK_SIDE`] resting orders.
    oversized: HashSet<BookKey>,
    /// Whether a batch was applied on this state since it started from
    /// nothing. Until then another node may be writing too (its commit is
    /// what emptied the cache), so book sides are read page by page, not
    /// whole: whole sides pay off only for a writer that keeps its state.
    steady: bool,
}

type BookKey = (InstrumentCode, Side);

#[derive(Debug, Default)]
struct Recent {
    orders: HashMap<Uuid, Order>,
    holds: HashMap<Uuid, Hold>,
    idempotency: HashMap<(String, String), StoredIdempotency>,
}

impl WorkingSetCache {
    /// Starts a batch on `head` (locked, or read when nothing is
    /// remembered): keeps what is remembered if `head` is the one it belongs
    /// to, else forgets it and remembers from `head` on.
    pub(crate) fn begin(&mut self, head: &JournalHead, at: Option<DateTime<Utc>>) {
        if self.head.as_ref().map(|(h, _)| h) != Some(head) || self.too_big() {
            *self = Self {
                head: Some((head.clone(), at)),
                ..Self::default()
            };
        }
    }

    /// Whether it holds more than its bound, and should start again.
    pub(crate) fn too_big(&self) -> bool {
        self.accounts.len() + self.holds.len() + self.resting.len() > MAX_ENTRIES
    }

    /// The head (and its time) the remembered state belongs to.
    pub(crate) fn base(&self) -> Option<(JournalHead, Option<DateTime<Utc>>)> {
        self.head.clone()
    }

    /// Whether `batch` can be applied at `now` while the last batch applied
    /// is still committing: everything it reads that that batch may change
    /// must be remembered. That holds when that batch only placed and
    /// cancelled orders and moved ledger legs (it changed accounts, holds and
    /// orders, all remembered or in `recent`), every book side `batch` reaches is
    /// remembered whole, and both fall on one business day (the price band
    /// looks back at the previous day's trades, read from the database).
    pub(crate) fn can_follow(
        &self,
        batch: &[Request],
        now: DateTime<Utc>,
        zone: ets_core::BusinessZone,
    ) -> bool {
        let Some((_, Some(at))) = &self.head else {
            return false;
        };
        let day = |at| zone.date(at);
        self.touched_only_cached
            && day(now.max(*at)) == day(*at)
            && Needs::of(batch)
                .book
                .iter()
                .all(|need| self.has_book(&need.instrument, need.side))
    }

    pub(crate) fn account(&self, key: &AccountKey) -> Option<&Account> {
        self.accounts.get(key)
    }

    /// Remembers an account read under the head lock.
    pub(crate) fn remember_account(&mut self, account: Account) {
        self.accounts.insert(account.key.clone(), account);
    }

    pub(crate) fn hold(&self, id: &Uuid) -> Option<&Hold> {
        self.recent.holds.get(id).or_else(|| self.holds.get(id))
    }

    /// An order the last batch changed, or a resting order of a remembered
    /// book side.
    pub(crate) fn order(&self, id: &Uuid) -> Option<&Order> {
        self.recent
            .orders
            .get(id)
            .or_else(|| self.resting_order(id))
    }

    /// An idempotency record the last batch wrote.
    pub(crate) fn idempotency(&self, key: &(String, String)) -> Option<&StoredIdempotency> {
        self.recent.idempotency.get(key)
    }

    /// Remembers a hold read under the head lock, if it is open.
    pub(crate) fn remember_hold(&mut self, hold: Hold) {
        if hold.status == HoldStatus::Open {
            self.holds.insert(hold.id, hold);
        }
    }

    fn resting_order(&self, id: &Uuid) -> Option<&Order> {
        let (book, priority) = self.resting.get(id)?;
        self.books.get(book)?.get(priority)
    }

    /// Whether the side is remembered whole.
    pub(crate) fn has_book(&self, instrument: &InstrumentCode, side: Side) -> bool {
        self.books.contains_key(&(instrument.clone(), side))
    }

    /// Whether a batch reaching this side should read it whole, to
    /// remember it.
    pub(crate) fn wants_whole(&self, instrument: &InstrumentCode, side: Side) -> bool {
        let key = (instrument.clone(), side);
        self.steady && !self.books.contains_key(&key) && !self.oversized.contains(&key)
    }

    /// Remembers that a side is too big to keep whole.
    pub(crate) fn remember_oversized(&mut self, instrument: &InstrumentCode, side: Side) {
        self.oversized.insert((instrument.clone(), side));
    }

    /// Remembers a whole book side read under the head lock.
    pub(crate) fn remember_book(
        &mut self,
        instrument: &InstrumentCode,
        side: Side,
        orders: Vec<Order>,
    ) {
        let key = (instrument.clone(), side);
        let mut book = BTreeMap::new();
        for order in orders {
            self.resting
                .insert(order.id, (key.clone(), priority(&order)));
            book.insert(priority(&order), order);
        }
        self.books.insert(key, book);
    }

    /// From a remembered book side, the orders `need` can reach, in priority
    /// order, up to and including the one that brings the running total to
    /// the quantity needed. `false` (and nothing taken) when the side is not
    /// remembered.
    pub(crate) fn take_reachable(&self, need: &BookNeed, into: &mut BTreeMap<Uuid, Order>) -> bool {
        let Some(book) = self.books.get(&(need.instrument.clone(), need.side)) else {
            return false;
        };
        let reachable = |order: &Order| match need.side {
            Side::Sell => order.price <= need.limit,
            Side::Buy => order.price >= need.limit,
        };
        let mut through = Decimal::ZERO;
        for order in book.values().take_while(|o| reachable(o)) {
            if through >= need.quantity {
                break;
            }
            through += order.remaining();
            into.insert(order.id, order.clone());
        }
        true
    }

    /// A batch was applied: its writes are the state at its new head (it is
    /// committed next; if that fails, the writer forgets everything).
    pub(crate) fn apply(&mut self, changes: &Changes, batch: &[Request]) {
        if !changes.journal.is_empty() {
            self.head = Some((changes.head.clone(), Some(changes.at)));
        }
        self.steady = true;
        // Only these leave everything the next batch may read remembered;
        // anything else (an emission record or a surrender, whose reads are
        // never remembered, say) makes the next batch wait for the commit.
        self.touched_only_cached = batch.iter().all(|request| {
            matches!(
                request.command,
                Command::PlaceOrder(_) | Command::CancelOrder { .. } | Command::Ledger(_)
            )
        });
        self.recent = Recent {
            orders: changes.orders.clone().into_iter().collect(),
            holds: changes.holds.iter().map(|h| (h.id, h.clone())).collect(),
            idempotency: changes
                .idempotency
                .iter()
                .map(|(key, outcome)| {
                    (
                        (key.scope.clone(), key.key.clone()),
                        StoredIdempotency {
                            fingerprint: key.fingerprint.clone(),
                            outcome: outcome.clone(),
                        },
                    )
                })
                .collect(),
        };
        for account in &changes.accounts {
            self.accounts.insert(account.key.clone(), account.clone());
        }
        for hold in &changes.holds {
            if hold.status == HoldStatus::Open {
                self.holds.insert(hold.id, hold.clone());
            } else {
                self.holds.remove(&hold.id);
            }
        }
        for order in changes.orders.values() {
            let key = (order.instrument.clone(), order.side);
            let Some(book) = self.books.get_mut(&key) else {
                continue;
            };
            if order.status.is_resting() {
                book.insert(priority(order), order.clone());
                self.resting.insert(order.id, (key, priority(order)));
            } else {
                book.remove(&priority(order));
                self.resting.remove(&order.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ets_core::matching::OrderMoney;

    use super::*;
    use ets_engine::market::OrderStatus;

    fn order(id: u128, side: Side, price: i64, seq: i64, quantity: i64) -> Order {
        Order {
            id: Uuid::from_u128(id),
            participant_id: Uuid::from_u128(99),
            instrument: InstrumentCode::parse("CEA-2026").expect("code"),
            side,
            price: Decimal::new(price, 0),
            quantity: Decimal::new(quantity, 0),
            filled: Decimal::ZERO,
            hold_amount: Decimal::new(quantity, 0),
            money: OrderMoney::default(),
            status: OrderStatus::Open,
            seq,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn head(seq: i64) -> JournalHead {
        JournalHead {
            seq,
            hash: format!("{seq:064}"),
        }
    }

    #[test]
    fn a_book_side_is_taken_in_priority_order_up_to_the_quantity_needed() {
        let code = InstrumentCode::parse("CEA-2026").expect("code");
        let mut cache = WorkingSetCache::default();
        cache.begin(&head(1), None);
        assert!(
            !cache.wants_whole(&code, Side::Buy),
            "a fresh cache reads pages"
        );
        cache.remember_book(
            &code,
            Side::Buy,
            vec![
                order(1, Side::Buy, 50, 10, 5),
                order(2, Side::Buy, 52, 11, 5),
                order(3, Side::Buy, 52, 9, 5),
                order(4, Side::Buy, 48, 1, 5),
            ],
        );
        let need = BookNeed {
            instrument: code,
            side: Side::Buy,
            limit: Decimal::new(50, 0),
            quantity: Decimal::new(7, 0),
        };
        let mut taken = BTreeMap::new();
        assert!(cache.take_reachable(&need, &mut taken));
        // 52 (seq 9), then 52 (seq 11) brings the total to 10 ≥ 7: the bid
        // at 50 is not needed, the one at 48 is out of reach.
        let ids: Vec<u128> = taken.keys().map(|id| id.as_u128()).collect();
        assert_eq!(ids, vec![2, 3]);
    }

    #[test]
    fn another_head_forgets_everything() {
        let code = InstrumentCode::parse("CEA-2026").expect("code");
        let mut cache = WorkingSetCache::default();
        cache.begin(&head(1), None);
        cache.remember_book(&code, Side::Sell, vec![order(1, Side::Sell, 50, 1, 5)]);
        cache.begin(&head(1), None);
        assert!(cache.has_book(&code, Side::Sell));
        cache.begin(&head(2), None);
        assert!(!cache.has_book(&code, Side::Sell));
        assert!(cache.order(&Uuid::from_u128(1)).is_none());
    }
}
