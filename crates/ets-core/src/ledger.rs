//! The ledger working set: accounts, holds and instruments, and the atomic
//! application of a ledger transaction's legs to them.
//!
//! The storage layer loads the accounts and holds a batch of commands needs
//! into a [`Ledger`], applies each command's legs here, and persists what
//! changed. All ledger invariants are checked here, before anything is
//! written.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{Account, AccountKey, Owner, SystemAccount};
use crate::error::LedgerError;
use crate::ids::InstrumentCode;
use crate::instrument::Instrument;

/// What a hold is for; kept with the hold so that a reader can tell an order's
/// escrow from a pledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldPurpose {
    /// Escrow of a resting order.
    Order,
    /// Escrow of a sealed auction bid.
    Bid,
    /// Escrow of a proposed negotiated trade.
    Negotiated,
    /// Rights pledged as loan collateral.
    Pledge,
    /// A hold placed directly through the storage layer (tests, tools).
    Other,
}

impl HoldPurpose {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Bid => "bid",
            Self::Negotiated => "negotiated",
            Self::Pledge => "pledge",
            Self::Other => "other",
        }
    }

    /// Parses the snake_case name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Order,
            Self::Bid,
            Self::Negotiated,
            Self::Pledge,
            Self::Other,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

/// Where a hold stands. A hold is resolved exactly once: it leaves `Open` for
/// `Settled` (all of it consumed) or `Released` (the remainder given back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Still reserving `remaining`.
    Open,
    /// Fully consumed by settlements.
    Settled,
    /// The remainder was released.
    Released,
}

impl HoldStatus {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Settled => "settled",
            Self::Released => "released",
        }
    }

    /// Parses the snake_case name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Settled, Self::Released]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A reservation of part of an account's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's id, chosen by the caller (an order's hold has the order's id).
    pub id: Uuid,
    /// The account whose balance is reserved.
    pub account: AccountKey,
    /// What the hold is for.
    pub purpose: HoldPurpose,
    /// The quantity first reserved.
    pub amount: Decimal,
    /// What is still reserved.
    pub remaining: Decimal,
    /// What settlements have consumed so far.
    pub settled: Decimal,
    /// Open, settled or released.
    pub status: HoldStatus,
}

/// One leg of a ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    /// Move `quantity` of `instrument` from one owner's account to another's.
    Transfer {
        /// Which instrument.
        instrument: InstrumentCode,
        /// Debited owner.
        from: Owner,
        /// Credited owner.
        to: Owner,
        /// How much (> 0, within the instrument's scale).
        quantity: Decimal,
    },
    /// Reserve `quantity` of an owner's available balance under a new hold.
    PlaceHold {
        /// The new hold's id.
        hold: Uuid,
        /// Which instrument.
        instrument: InstrumentCode,
        /// Whose balance.
        owner: Owner,
        /// How much.
        quantity: Decimal,
        /// What for.
        purpose: HoldPurpose,
    },
    /// Give back everything the hold still reserves; resolves the hold.
    ReleaseHold {
        /// Which hold.
        hold: Uuid,
    },
    /// Consume `quantity` of a hold, moving it to `to`; resolves the hold when
    /// nothing remains.
    SettleHold {
        /// Which hold.
        hold: Uuid,
        /// Credited owner.
        to: Owner,
        /// How much.
        quantity: Decimal,
    },
}

/// One change to one account, as stored: the signed `amount` moves the
/// balance, `held_change` moves the held part. Every posting records the
/// account's state after it, so a point-in-time read is one lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// Which account.
    pub account: AccountKey,
    /// Signed change of the balance.
    pub amount: Decimal,
    /// Signed change of the held part.
    pub held_change: Decimal,
    /// Balance after this posting.
    pub balance_after: Decimal,
    /// Held part after this posting.
    pub held_after: Decimal,
    /// The account's version after this posting (1 for its first posting).
    pub version: i64,
    /// The hold this posting places, consumes or releases, if any.
    pub hold: Option<Uuid>,
}

/// The accounts, holds and instruments one batch of commands works on.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    instruments: BTreeMap<InstrumentCode, Instrument>,
    accounts: BTreeMap<AccountKey, Account>,
    holds: BTreeMap<Uuid, Hold>,
    dirty_accounts: BTreeSet<AccountKey>,
    dirty_holds: BTreeSet<Uuid>,
}

impl Ledger {
    /// An empty working set that knows the built-in `CNY`.
    #[must_use]
    pub fn new() -> Self {
        let mut ledger = Self::default();
        ledger.add_instrument(Instrument::cny());
        ledger
    }

    /// Makes an instrument known (loaded or newly created).
    pub fn add_instrument(&mut self, instrument: Instrument) {
        self.instruments.insert(instrument.code.clone(), instrument);
    }

    /// The instrument, if known.
    #[must_use]
    pub fn instrument(&self, code: &InstrumentCode) -> Option<&Instrument> {
        self.instruments.get(code)
    }

    /// Loads an account's stored state. Accounts not loaded are taken to be
    /// new and empty.
    pub fn load_account(&mut self, account: Account) {
        self.accounts.insert(account.key.clone(), account);
    }

    /// Loads a hold's stored state.
    pub fn load_hold(&mut self, hold: Hold) {
        self.holds.insert(hold.id, hold);
    }

    /// The account's current state in this working set (empty if unknown).
    #[must_use]
    pub fn account(&self, key: &AccountKey) -> Account {
        self.accounts
            .get(key)
            .cloned()
            .unwrap_or_else(|| Account::empty(key.clone()))
    }

    /// The hold, if loaded or created here.
    #[must_use]
    pub fn hold(&self, id: &Uuid) -> Option<&Hold> {
        self.holds.get(id)
    }

    /// Every account known to this working set.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Every hold known to this working set.
    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.values()
    }

    /// Accounts changed since the working set was loaded, to be persisted.
    pub fn changed_accounts(&self) -> impl Iterator<Item = &Account> {
        self.dirty_accounts
            .iter()
            .filter_map(|k| self.accounts.get(k))
    }

    /// Holds created or changed since the working set was loaded.
    pub fn changed_holds(&self) -> impl Iterator<Item = &Hold> {
        self.dirty_holds.iter().filter_map(|id| self.holds.get(id))
    }

    /// Applies the legs of one ledger transaction atomically: either every leg
    /// applies and the postings are returned, or none does and the working
    /// set is unchanged.
    ///
    /// # Errors
    /// The first leg that fails decides, checked in this order:
    /// - `Transfer`: `unknown_instrument`, `quantity_must_be_positive`,
    ///   `quantity_too_large`, `scale_exceeded`, `same_account`,
    ///   `invalid_account`, `insufficient_available_balance`;
    /// - `PlaceHold`: `unknown_instrument`, `quantity_must_be_positive`,
    ///   `quantity_too_large`, `scale_exceeded`, `hold_exists`,
    ///   `invalid_account`, `insufficient_available_balance` (a source
    ///   account cannot be held);
    /// - `ReleaseHold`: `hold_not_found`, `hold_not_open`;
    /// - `SettleHold`: `hold_not_found`, `quantity_must_be_positive`,
    ///   `quantity_too_large`, `scale_exceeded`, `hold_not_open`,
    ///   `hold_exceeded`, `same_account`, `invalid_account`.
    pub fn apply(&mut self, legs: &[Leg]) -> Result<Vec<Posting>, LedgerError> {
        let mut scratch = Scratch::default();
        let mut postings = Vec::with_capacity(legs.len() * 2);
        for leg in legs {
            self.apply_leg(&mut scratch, leg, &mut postings)?;
        }
        self.check_transaction(&scratch, &postings);
        for (key, account) in scratch.accounts {
            self.dirty_accounts.insert(key.clone());
            self.accounts.insert(key, account);
        }
        for (id, hold) in scratch.holds {
            self.dirty_holds.insert(id);
            self.holds.insert(id, hold);
        }
        Ok(postings)
    }

    /// Applies one leg to the scratch copy, appending its postings; each
    /// kind of leg checks its reasons in the order documented on
    /// [`Ledger::apply`].
    fn apply_leg(
        &self,
        scratch: &mut Scratch,
        leg: &Leg,
        postings: &mut Vec<Posting>,
    ) -> Result<(), LedgerError> {
        match leg {
            Leg::Transfer {
                instrument,
                from,
                to,
                quantity,
            } => self.transfer(scratch, instrument, *from, *to, *quantity, postings),
            Leg::PlaceHold {
                hold,
                instrument,
                owner,
                quantity,
                purpose,
            } => self.place_hold(
                scratch,
                *hold,
                AccountKey::new(*owner, instrument.clone()),
                *quantity,
                *purpose,
                postings,
            ),
            Leg::ReleaseHold { hold } => self.release_hold(scratch, *hold, postings),
            Leg::SettleHold { hold, to, quantity } => {
                self.settle_hold(scratch, *hold, *to, *quantity, postings)
            }
        }
    }

    /// A `Transfer` leg: debits `from` (unless it is a source, which may go
    /// below zero) and credits `to`.
    fn transfer(
        &self,
        scratch: &mut Scratch,
        instrument: &InstrumentCode,
        from: Owner,
        to: Owner,
        quantity: Decimal,
        postings: &mut Vec<Posting>,
    ) -> Result<(), LedgerError> {
        let quantity = self.check_quantity(instrument, quantity)?;
        if from == to {
            return Err(LedgerError::SameAccount);
        }
        let from = AccountKey::new(from, instrument.clone());
        let to = AccountKey::new(to, instrument.clone());
        check_account(&from)?;
        check_account(&to)?;
        let debited = scratch.account(self, &from);
        if !from.owner.is_source() && debited.available() < quantity {
            return Err(LedgerError::InsufficientAvailableBalance);
        }
        postings.push(scratch.post(self, &from, -quantity, Decimal::ZERO, None)?);
        postings.push(scratch.post(self, &to, quantity, Decimal::ZERO, None)?);
        Ok(())
    }

    /// A `PlaceHold` leg: reserves `quantity` of the account's available
    /// balance under a new open hold.
    fn place_hold(
        &self,
        scratch: &mut Scratch,
        hold: Uuid,
        key: AccountKey,
        quantity: Decimal,
        purpose: HoldPurpose,
        postings: &mut Vec<Posting>,
    ) -> Result<(), LedgerError> {
        let quantity = self.check_quantity(&key.instrument, quantity)?;
        if scratch.hold(self, &hold).is_some() {
            return Err(LedgerError::HoldExists);
        }
        check_account(&key)?;
        if key.owner.is_source() || scratch.account(self, &key).available() < quantity {
            return Err(LedgerError::InsufficientAvailableBalance);
        }
        postings.push(scratch.post(self, &key, Decimal::ZERO, quantity, Some(hold))?);
        scratch.holds.insert(
            hold,
            Hold {
                id: hold,
                account: key,
                purpose,
                amount: quantity,
                remaining: quantity,
                settled: Decimal::ZERO,
                status: HoldStatus::Open,
            },
        );
        Ok(())
    }

    /// A `ReleaseHold` leg: gives back everything the open hold still
    /// reserves and marks it released.
    fn release_hold(
        &self,
        scratch: &mut Scratch,
        hold: Uuid,
        postings: &mut Vec<Posting>,
    ) -> Result<(), LedgerError> {
        let mut state = scratch.hold(self, &hold).ok_or(LedgerError::HoldNotFound)?;
        if state.status != HoldStatus::Open {
            return Err(LedgerError::HoldNotOpen);
        }
        postings.push(scratch.post(
            self,
            &state.account,
            Decimal::ZERO,
            -state.remaining,
            Some(hold),
        )?);
        state.remaining = Decimal::ZERO;
        state.status = HoldStatus::Released;
        scratch.holds.insert(hold, state);
        Ok(())
    }

    /// A `SettleHold` leg: consumes `quantity` of the open hold, moving it to
    /// `to`, and marks the hold settled when nothing remains.
    fn settle_hold(
        &self,
        scratch: &mut Scratch,
        hold: Uuid,
        to: Owner,
        quantity: Decimal,
        postings: &mut Vec<Posting>,
    ) -> Result<(), LedgerError> {
        let mut state = scratch.hold(self, &hold).ok_or(LedgerError::HoldNotFound)?;
        let quantity = self.check_quantity(&state.account.instrument, quantity)?;
        if state.status != HoldStatus::Open {
            return Err(LedgerError::HoldNotOpen);
        }
        if quantity > state.remaining {
            return Err(LedgerError::HoldExceeded);
        }
        let to = AccountKey::new(to, state.account.instrument.clone());
        if to == state.account {
            return Err(LedgerError::SameAccount);
        }
        check_account(&to)?;
        postings.push(scratch.post(self, &state.account, -quantity, -quantity, Some(hold))?);
        postings.push(scratch.post(self, &to, quantity, Decimal::ZERO, Some(hold))?);
        state.remaining -= quantity;
        state.settled += quantity;
        if state.remaining.is_zero() {
            state.status = HoldStatus::Settled;
        }
        scratch.holds.insert(hold, state);
        Ok(())
    }

    fn check_quantity(
        &self,
        instrument: &InstrumentCode,
        quantity: Decimal,
    ) -> Result<Decimal, LedgerError> {
        self.instruments
            .get(instrument)
            .ok_or(LedgerError::UnknownInstrument)?
            .check_quantity(quantity)
    }

    /// The invariants every applied transaction keeps. A failure here is a
    /// bug in this module, never bad input, so it panics.
    fn check_transaction(&self, scratch: &Scratch, postings: &[Posting]) {
        let mut sums: BTreeMap<&InstrumentCode, Decimal> = BTreeMap::new();
        for posting in postings {
            *sums.entry(&posting.account.instrument).or_default() += posting.amount;
        }
        assert!(
            sums.values().all(Decimal::is_zero),
            "postings of a transaction must sum to zero per instrument: {sums:?}"
        );
        for account in scratch.accounts.values() {
            assert!(
                account.held >= Decimal::ZERO,
                "held below zero: {account:?}"
            );
            if !account.key.owner.is_source() {
                assert!(
                    account.balance >= Decimal::ZERO,
                    "balance below zero: {account:?}"
                );
                assert!(
                    account.available() >= Decimal::ZERO,
                    "available below zero: {account:?}"
                );
            }
        }
        for hold in scratch.holds.values() {
            assert!(
                hold.remaining >= Decimal::ZERO && hold.settled >= Decimal::ZERO,
                "hold below zero: {hold:?}"
            );
            match hold.status {
                HoldStatus::Open => assert!(
                    !hold.remaining.is_zero() && hold.remaining + hold.settled == hold.amount,
                    "an open hold reserves what it has not settled: {hold:?}"
                ),
                HoldStatus::Released => assert!(
                    hold.remaining.is_zero() && hold.settled <= hold.amount,
                    "a released hold reserves nothing: {hold:?}"
                ),
                HoldStatus::Settled => assert!(
                    hold.remaining.is_zero() && hold.settled == hold.amount,
                    "a settled hold is fully consumed: {hold:?}"
                ),
            }
        }
    }
}

/// Source accounts are tied to what they are the source of: issuance issues
/// rights and allowances, never cash; the settlement bank's side holds only
/// cash. Without this, a leg could mint cash from issuance and break
/// "issued = participants + reserve + surrendered + retired".
fn check_account(key: &AccountKey) -> Result<(), LedgerError> {
    let cash = key.instrument.as_str() == crate::instrument::CNY;
    match key.owner {
        Owner::System(SystemAccount::Issuance) if cash => Err(LedgerError::InvalidAccount),
        Owner::System(SystemAccount::ExternalCash) if !cash => Err(LedgerError::InvalidAccount),
        _ => Ok(()),
    }
}

/// Copies of the accounts and holds a transaction touches, written back only
/// when every leg applied.
#[derive(Default)]
struct Scratch {
    accounts: BTreeMap<AccountKey, Account>,
    holds: BTreeMap<Uuid, Hold>,
}

impl Scratch {
    fn account(&self, ledger: &Ledger, key: &AccountKey) -> Account {
        self.accounts
            .get(key)
            .cloned()
            .unwrap_or_else(|| ledger.account(key))
    }

    fn hold(&self, ledger: &Ledger, id: &Uuid) -> Option<Hold> {
        self.holds.get(id).or_else(|| ledger.holds.get(id)).cloned()
    }

    fn post(
        &mut self,
        ledger: &Ledger,
        key: &AccountKey,
        amount: Decimal,
        held_change: Decimal,
        hold: Option<Uuid>,
    ) -> Result<Posting, LedgerError> {
        let mut account = self.account(ledger, key);
        account.balance = account
            .balance
            .checked_add(amount)
            .ok_or(LedgerError::QuantityTooLarge)?;
        account.held = account
            .held
            .checked_add(held_change)
            .ok_or(LedgerError::QuantityTooLarge)?;
        account.version += 1;
        let posting = Posting {
            account: key.clone(),
            amount,
            held_change,
            balance_after: account.balance,
            held_after: account.held,
            version: account.version,
            hold,
        };
        self.accounts.insert(key.clone(), account);
        Ok(posting)
    }
}
