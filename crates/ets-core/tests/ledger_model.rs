//! A state-machine property test of the ledger core (SPEC §3).
//!
//! Random sequences of ledger transactions (issues, deposits, withdrawals,
//! transfers, surrenders, retirements, reclamations, holds placed, released
//! and settled, delivery-versus-payment trades and mixed batches) are applied
//! both to [`Ledger`] and to a small independent model built from hash maps.
//! The model predicts, for every transaction, whether it applies and, if not,
//! which [`LedgerError`] the first failing leg reports. After every step the
//! test checks the model against the core and the ledger's invariants; at the
//! end it checks that every hold was resolved at most once and that what it
//! settled and released adds up to what it reserved.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use ets_core::{
    Account, AccountKey, Decimal, Hold, HoldPurpose, HoldStatus, Instrument, InstrumentCode,
    InstrumentKind, InstrumentSpec, Ledger, LedgerError, Leg, Owner, Posting, RegionCode,
    SystemAccount,
};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The world: four participants, the system accounts, one pollutant right of
// scale 3 and the built-in CNY of scale 2.
// ---------------------------------------------------------------------------

const PARTICIPANTS: [Uuid; 4] = [
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a01),
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a02),
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a03),
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a04),
];

const RIGHT_CODE: &str = "SO2-320500-2026";
const RIGHT_SCALE: u32 = 3;
const CASH_SCALE: u32 = 2;
const UNKNOWN_CODE: &str = "NOX-999999-2099";

const ISSUANCE: Owner = Owner::System(SystemAccount::Issuance);
const RESERVE: Owner = Owner::System(SystemAccount::Reserve);
const SURRENDERED: Owner = Owner::System(SystemAccount::Surrendered);
const RETIRED: Owner = Owner::System(SystemAccount::Retired);
const EXTERNAL_CASH: Owner = Owner::System(SystemAccount::ExternalCash);

fn code(text: &str) -> InstrumentCode {
    InstrumentCode::parse(text).expect("a well-formed instrument code")
}

fn participant(index: usize) -> Owner {
    Owner::Participant(PARTICIPANTS[index % PARTICIPANTS.len()])
}

fn so2_right() -> Instrument {
    Instrument::new(InstrumentSpec {
        code: code(RIGHT_CODE),
        kind: InstrumentKind::PollutantRight,
        pollutant: Some("SO2".to_owned()),
        unit: "t".to_owned(),
        scale: RIGHT_SCALE,
        region_code: Some(RegionCode::parse("320500").expect("a valid region code")),
        vintage: None,
        valid_from: NaiveDate::from_ymd_opt(2026, 1, 1),
        valid_to: NaiveDate::from_ymd_opt(2030, 12, 31),
        commission_rate: Decimal::new(1, 3),
        price_band: None,
    })
    .expect("a valid pollutant right")
}

fn new_ledger() -> Ledger {
    let mut ledger = Ledger::new();
    ledger.add_instrument(so2_right());
    ledger
}

fn key(owner: Owner, instrument: &str) -> AccountKey {
    AccountKey::new(owner, code(instrument))
}

// ---------------------------------------------------------------------------
// The independent model.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelStatus {
    Open,
    Settled,
    Released,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ModelAccount {
    balance: Decimal,
    held: Decimal,
    version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelHold {
    owner: Owner,
    instrument: InstrumentCode,
    purpose: HoldPurpose,
    amount: Decimal,
    remaining: Decimal,
    settled: Decimal,
    status: ModelStatus,
}

#[derive(Debug, Clone, Default)]
struct Model {
    scales: HashMap<InstrumentCode, u32>,
    accounts: HashMap<AccountKey, ModelAccount>,
    holds: HashMap<Uuid, ModelHold>,
    /// Hold ids in the order they were created, so that generated references
    /// to "an existing hold" are deterministic.
    hold_order: Vec<Uuid>,
    /// The postings the current transaction is expected to produce.
    postings: Vec<Posting>,
}

impl Model {
    fn new() -> Self {
        let mut model = Self::default();
        model.scales.insert(code("CNY"), CASH_SCALE);
        model.scales.insert(code(RIGHT_CODE), RIGHT_SCALE);
        model
    }

    fn is_source(owner: Owner) -> bool {
        owner == ISSUANCE || owner == EXTERNAL_CASH
    }

    /// Issuance never holds cash; the bank side holds nothing but cash.
    fn valid_account(key: &AccountKey) -> Result<(), LedgerError> {
        let cash = key.instrument.as_str() == "CNY";
        if (key.owner == ISSUANCE && cash) || (key.owner == EXTERNAL_CASH && !cash) {
            Err(LedgerError::InvalidAccount)
        } else {
            Ok(())
        }
    }

    fn account(&self, key: &AccountKey) -> ModelAccount {
        self.accounts.get(key).cloned().unwrap_or_default()
    }

    fn available(&self, key: &AccountKey) -> Decimal {
        let account = self.account(key);
        account.balance - account.held
    }

    /// Checks a quantity without using the core's own check: it must be
    /// positive and a whole multiple of 10^-scale.
    fn quantity(
        &self,
        instrument: &InstrumentCode,
        quantity: Decimal,
    ) -> Result<Decimal, LedgerError> {
        let scale = *self
            .scales
            .get(instrument)
            .ok_or(LedgerError::UnknownInstrument)?;
        if quantity.is_zero() || quantity.is_sign_negative() {
            return Err(LedgerError::QuantityMustBePositive);
        }
        if quantity > Decimal::from(1_000_000_000_000_000_i64) {
            return Err(LedgerError::QuantityTooLarge);
        }
        let units = quantity * Decimal::from(10_i64.pow(scale));
        if !units.fract().is_zero() {
            return Err(LedgerError::ScaleExceeded { scale });
        }
        Ok(quantity)
    }

    fn post(
        &mut self,
        key: &AccountKey,
        amount: Decimal,
        held_change: Decimal,
        hold: Option<Uuid>,
    ) {
        let account = self.accounts.entry(key.clone()).or_default();
        account.balance += amount;
        account.held += held_change;
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
        self.postings.push(posting);
    }

    /// What the ledger should do with these legs: the model after them and
    /// the postings expected, or the error of the first failing leg.
    fn apply(&self, legs: &[Leg]) -> Result<(Self, Vec<Posting>), LedgerError> {
        let mut next = self.clone();
        next.postings.clear();
        for leg in legs {
            next.leg(leg)?;
        }
        let postings = std::mem::take(&mut next.postings);
        Ok((next, postings))
    }

    fn leg(&mut self, leg: &Leg) -> Result<(), LedgerError> {
        match leg {
            Leg::Transfer {
                instrument,
                from,
                to,
                quantity,
            } => {
                let quantity = self.quantity(instrument, *quantity)?;
                if from == to {
                    return Err(LedgerError::SameAccount);
                }
                let from = AccountKey::new(*from, instrument.clone());
                let to = AccountKey::new(*to, instrument.clone());
                Self::valid_account(&from)?;
                Self::valid_account(&to)?;
                if !Self::is_source(from.owner) && self.available(&from) < quantity {
                    return Err(LedgerError::InsufficientAvailableBalance);
                }
                self.post(&from, -quantity, Decimal::ZERO, None);
                self.post(&to, quantity, Decimal::ZERO, None);
            }
            Leg::PlaceHold {
                hold,
                instrument,
                owner,
                quantity,
                purpose,
            } => {
                let quantity = self.quantity(instrument, *quantity)?;
                if self.holds.contains_key(hold) {
                    return Err(LedgerError::HoldExists);
                }
                let account = AccountKey::new(*owner, instrument.clone());
                Self::valid_account(&account)?;
                if Self::is_source(*owner) || self.available(&account) < quantity {
                    return Err(LedgerError::InsufficientAvailableBalance);
                }
                self.post(&account, Decimal::ZERO, quantity, Some(*hold));
                self.holds.insert(
                    *hold,
                    ModelHold {
                        owner: *owner,
                        instrument: instrument.clone(),
                        purpose: *purpose,
                        amount: quantity,
                        remaining: quantity,
                        settled: Decimal::ZERO,
                        status: ModelStatus::Open,
                    },
                );
                self.hold_order.push(*hold);
            }
            Leg::ReleaseHold { hold } => {
                let state = self
                    .holds
                    .get(hold)
                    .cloned()
                    .ok_or(LedgerError::HoldNotFound)?;
                if state.status != ModelStatus::Open {
                    return Err(LedgerError::HoldNotOpen);
                }
                let account = AccountKey::new(state.owner, state.instrument.clone());
                self.post(&account, Decimal::ZERO, -state.remaining, Some(*hold));
                let state = self.holds.get_mut(hold).expect("the hold was just read");
                state.remaining = Decimal::ZERO;
                state.status = ModelStatus::Released;
            }
            Leg::SettleHold { hold, to, quantity } => {
                // Order of checks as documented on `Ledger::apply`.
                let state = self
                    .holds
                    .get(hold)
                    .cloned()
                    .ok_or(LedgerError::HoldNotFound)?;
                let quantity = self.quantity(&state.instrument, *quantity)?;
                if state.status != ModelStatus::Open {
                    return Err(LedgerError::HoldNotOpen);
                }
                if quantity > state.remaining {
                    return Err(LedgerError::HoldExceeded);
                }
                if *to == state.owner {
                    return Err(LedgerError::SameAccount);
                }
                let from = AccountKey::new(state.owner, state.instrument.clone());
                let to = AccountKey::new(*to, state.instrument.clone());
                Self::valid_account(&to)?;
                self.post(&from, -quantity, -quantity, Some(*hold));
                self.post(&to, quantity, Decimal::ZERO, Some(*hold));
                let state = self.holds.get_mut(hold).expect("the hold was just read");
                state.remaining -= quantity;
                state.settled += quantity;
                if state.remaining.is_zero() {
                    state.status = ModelStatus::Settled;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Generated operations. They are abstract: hold references and "settle all
// that remains" are resolved against the model when the step runs.
// ---------------------------------------------------------------------------

/// A quantity before it is given the scale of the instrument it is used with.
#[derive(Debug, Clone, Copy)]
enum Qty {
    /// `n` smallest units of the instrument (valid).
    Units(i64),
    /// `n` whole units (valid).
    Whole(i64),
    /// `n` smallest units written with three extra trailing zeros (valid).
    PaddedZeros(i64),
    /// Zero written with some scale, possibly as negative zero.
    Zero { scale: u32, negative: bool },
    /// A negative amount, possibly also with too many places.
    Negative { units: i64, extra_places: u32 },
    /// More decimal places than the instrument allows.
    TooFine { units: i64, extra_places: u32 },
}

impl Qty {
    fn at_scale(self, scale: u32) -> Decimal {
        match self {
            Self::Units(n) => Decimal::new(n, scale),
            Self::Whole(n) => Decimal::from(n),
            Self::PaddedZeros(n) => Decimal::new(n * 1000, scale + 3),
            Self::Zero { scale, negative } => {
                let mut zero = Decimal::new(0, scale);
                zero.set_sign_negative(negative);
                zero
            }
            Self::Negative {
                units,
                extra_places,
            } => Decimal::new(-units, scale + extra_places),
            Self::TooFine {
                units,
                extra_places,
            } => Decimal::new(units * 10_i64.pow(extra_places) + 1, scale + extra_places),
        }
    }
}

fn qty() -> impl Strategy<Value = Qty> {
    prop_oneof![
        8 => (1_i64..=40_000).prop_map(Qty::Units),
        3 => (1_i64..=60).prop_map(Qty::Whole),
        1 => (1_i64..=40_000).prop_map(Qty::PaddedZeros),
        1 => (0_u32..=4, any::<bool>()).prop_map(|(scale, negative)| Qty::Zero { scale, negative }),
        1 => (1_i64..=40_000, 0_u32..=2).prop_map(|(units, extra_places)| Qty::Negative { units, extra_places }),
        1 => (0_i64..=40_000, 1_u32..=3).prop_map(|(units, extra_places)| Qty::TooFine { units, extra_places }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Inst {
    Right,
    Cash,
    Unknown,
}

impl Inst {
    fn code(self) -> InstrumentCode {
        code(match self {
            Self::Right => RIGHT_CODE,
            Self::Cash => "CNY",
            Self::Unknown => UNKNOWN_CODE,
        })
    }

    fn scale(self) -> u32 {
        match self {
            Self::Right => RIGHT_SCALE,
            Self::Cash | Self::Unknown => CASH_SCALE,
        }
    }
}

fn inst() -> impl Strategy<Value = Inst> {
    prop_oneof![10 => Just(Inst::Right), 8 => Just(Inst::Cash), 1 => Just(Inst::Unknown)]
}

/// Which hold a release or settlement names.
#[derive(Debug, Clone)]
enum HoldRef {
    /// One of the holds still open.
    Open(Index),
    /// One of the holds created so far (any state).
    Existing(Index),
    /// The id most recently handed to a `PlaceHold`, even in the same
    /// transaction and even if that placement failed.
    LastPlaced,
    /// An id no hold ever had.
    Unknown(u16),
}

fn hold_ref() -> impl Strategy<Value = HoldRef> {
    prop_oneof![
        6 => any::<Index>().prop_map(HoldRef::Open),
        2 => any::<Index>().prop_map(HoldRef::Existing),
        2 => Just(HoldRef::LastPlaced),
        1 => any::<u16>().prop_map(HoldRef::Unknown),
    ]
}

/// The id of a hold to place.
#[derive(Debug, Clone)]
enum NewHold {
    Fresh,
    Reuse(Index),
}

fn new_hold() -> impl Strategy<Value = NewHold> {
    prop_oneof![8 => Just(NewHold::Fresh), 1 => any::<Index>().prop_map(NewHold::Reuse)]
}

fn holder() -> impl Strategy<Value = Owner> {
    prop_oneof![
        12 => (0_usize..4).prop_map(participant),
        2 => Just(RESERVE),
        1 => Just(ISSUANCE),
        1 => Just(EXTERNAL_CASH),
    ]
}

/// Where a settlement credits.
#[derive(Debug, Clone, Copy)]
enum Target {
    To(Owner),
    /// Back to the hold's own owner (refused as same_account).
    HoldOwner,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        10 => (0_usize..4).prop_map(|i| Target::To(participant(i))),
        1 => Just(Target::To(RESERVE)),
        1 => Just(Target::To(SURRENDERED)),
        1 => Just(Target::To(RETIRED)),
        1 => Just(Target::HoldOwner),
    ]
}

#[derive(Debug, Clone, Copy)]
enum SettleQty {
    /// Everything the hold still reserves.
    All,
    /// Some quantity, valid or not.
    Part(Qty),
    /// More than the hold still reserves by `n` smallest units.
    Over(i64),
}

fn settle_qty() -> impl Strategy<Value = SettleQty> {
    prop_oneof![
        3 => Just(SettleQty::All),
        6 => qty().prop_map(SettleQty::Part),
        1 => (1_i64..=1_000).prop_map(SettleQty::Over),
    ]
}

fn purpose() -> impl Strategy<Value = HoldPurpose> {
    prop_oneof![
        Just(HoldPurpose::Order),
        Just(HoldPurpose::Bid),
        Just(HoldPurpose::Negotiated),
        Just(HoldPurpose::Pledge),
        Just(HoldPurpose::Other),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    /// Rights issued from Issuance to a participant, or to the reserve (`None`).
    Issue {
        to: Option<usize>,
        qty: Qty,
    },
    /// Cash deposited from ExternalCash.
    Deposit {
        to: usize,
        qty: Qty,
    },
    /// Cash withdrawn to ExternalCash.
    Withdraw {
        from: usize,
        qty: Qty,
    },
    /// Between two participants (possibly the same one).
    Transfer {
        inst: Inst,
        from: usize,
        to: usize,
        qty: Qty,
    },
    /// Rights surrendered for compliance.
    Surrender {
        from: usize,
        qty: Qty,
    },
    /// Rights retired by a participant or from the reserve (`None`).
    Retire {
        from: Option<usize>,
        qty: Qty,
    },
    /// Rights of a closed plant reclaimed into the reserve.
    Reclaim {
        from: usize,
        qty: Qty,
    },
    PlaceHold {
        id: NewHold,
        owner: Owner,
        inst: Inst,
        qty: Qty,
        purpose: HoldPurpose,
    },
    ReleaseHold {
        hold: HoldRef,
    },
    SettleHold {
        hold: HoldRef,
        to: Target,
        qty: SettleQty,
    },
    /// A trade: the seller's rights hold settles to the buyer and the buyer's
    /// cash hold to the seller in one transaction, optionally releasing what
    /// both holds still reserve afterwards.
    Dvp {
        rights: HoldRef,
        cash: HoldRef,
        rights_qty: SettleQty,
        cash_qty: SettleQty,
        release_rest: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prop::option::weighted(0.85, 0_usize..4), qty()).prop_map(|(to, qty)| Op::Issue { to, qty }),
        4 => (0_usize..4, qty()).prop_map(|(to, qty)| Op::Deposit { to, qty }),
        1 => (0_usize..4, qty()).prop_map(|(from, qty)| Op::Withdraw { from, qty }),
        4 => (inst(), 0_usize..4, 0_usize..4, qty())
            .prop_map(|(inst, from, to, qty)| Op::Transfer { inst, from, to, qty }),
        2 => (0_usize..4, qty()).prop_map(|(from, qty)| Op::Surrender { from, qty }),
        1 => (prop::option::weighted(0.7, 0_usize..4), qty()).prop_map(|(from, qty)| Op::Retire { from, qty }),
        1 => (0_usize..4, qty()).prop_map(|(from, qty)| Op::Reclaim { from, qty }),
        6 => (new_hold(), holder(), inst(), qty(), purpose())
            .prop_map(|(id, owner, inst, qty, purpose)| Op::PlaceHold { id, owner, inst, qty, purpose }),
        2 => hold_ref().prop_map(|hold| Op::ReleaseHold { hold }),
        4 => (hold_ref(), target(), settle_qty()).prop_map(|(hold, to, qty)| Op::SettleHold { hold, to, qty }),
        3 => (hold_ref(), hold_ref(), settle_qty(), settle_qty(), any::<bool>()).prop_map(
            |(rights, cash, rights_qty, cash_qty, release_rest)| Op::Dvp {
                rights,
                cash,
                rights_qty,
                cash_qty,
                release_rest,
            }
        ),
    ]
}

/// One ledger transaction: a single operation, or several in one `apply`.
#[derive(Debug, Clone)]
enum Step {
    One(Op),
    Batch(Vec<Op>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => op().prop_map(Step::One),
        1 => prop::collection::vec(op(), 2..=4).prop_map(Step::Batch),
    ]
}

// ---------------------------------------------------------------------------
// Turning operations into legs.
// ---------------------------------------------------------------------------

struct Ids {
    next_hold: u128,
    last_placed: Option<Uuid>,
}

impl Ids {
    fn fresh(&mut self) -> Uuid {
        self.next_hold += 1;
        Uuid::from_u128(0x0000_0000_0000_4000_8000_0001_0000_0000 + self.next_hold)
    }
}

fn pick<'a>(ids: &'a [Uuid], index: &Index) -> Option<&'a Uuid> {
    (!ids.is_empty()).then(|| &ids[index.index(ids.len())])
}

fn resolve_hold(model: &Model, ids: &Ids, hold: &HoldRef, among: &[Uuid]) -> Uuid {
    match hold {
        HoldRef::Open(index) => {
            let open: Vec<Uuid> = among
                .iter()
                .filter(|id| {
                    model
                        .holds
                        .get(*id)
                        .is_some_and(|h| h.status == ModelStatus::Open)
                })
                .copied()
                .collect();
            pick(&open, index)
                .copied()
                .unwrap_or_else(|| unknown_hold(0xfffd))
        }
        HoldRef::Existing(index) => pick(among, index)
            .copied()
            .unwrap_or_else(|| unknown_hold(0xffff)),
        HoldRef::LastPlaced => ids
            .last_placed
            .or_else(|| model.hold_order.last().copied())
            .unwrap_or_else(|| unknown_hold(0xfffe)),
        HoldRef::Unknown(n) => unknown_hold(*n),
    }
}

fn unknown_hold(n: u16) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_dead_0000_0000 + u128::from(n))
}

fn settle_quantity(model: &Model, hold: &Uuid, quantity: SettleQty) -> Decimal {
    let state = model.holds.get(hold);
    let scale = state
        .and_then(|h| model.scales.get(&h.instrument).copied())
        .unwrap_or(CASH_SCALE);
    let remaining = state.map_or(Decimal::ONE, |h| h.remaining.max(Decimal::new(1, scale)));
    match quantity {
        SettleQty::All => remaining,
        SettleQty::Part(q) => q.at_scale(scale),
        SettleQty::Over(n) => remaining + Decimal::new(n, scale),
    }
}

fn legs_of(model: &Model, ids: &mut Ids, op: &Op, legs: &mut Vec<Leg>) {
    let right = || code(RIGHT_CODE);
    let cny = || code("CNY");
    let transfer =
        |instrument: InstrumentCode, from: Owner, to: Owner, quantity: Decimal| Leg::Transfer {
            instrument,
            from,
            to,
            quantity,
        };
    match op {
        Op::Issue { to, qty } => {
            let to = to.map_or(RESERVE, participant);
            legs.push(transfer(right(), ISSUANCE, to, qty.at_scale(RIGHT_SCALE)));
        }
        Op::Deposit { to, qty } => {
            legs.push(transfer(
                cny(),
                EXTERNAL_CASH,
                participant(*to),
                qty.at_scale(CASH_SCALE),
            ));
        }
        Op::Withdraw { from, qty } => {
            legs.push(transfer(
                cny(),
                participant(*from),
                EXTERNAL_CASH,
                qty.at_scale(CASH_SCALE),
            ));
        }
        Op::Transfer {
            inst,
            from,
            to,
            qty,
        } => {
            legs.push(transfer(
                inst.code(),
                participant(*from),
                participant(*to),
                qty.at_scale(inst.scale()),
            ));
        }
        Op::Surrender { from, qty } => {
            legs.push(transfer(
                right(),
                participant(*from),
                SURRENDERED,
                qty.at_scale(RIGHT_SCALE),
            ));
        }
        Op::Retire { from, qty } => {
            let from = from.map_or(RESERVE, participant);
            legs.push(transfer(right(), from, RETIRED, qty.at_scale(RIGHT_SCALE)));
        }
        Op::Reclaim { from, qty } => {
            legs.push(transfer(
                right(),
                participant(*from),
                RESERVE,
                qty.at_scale(RIGHT_SCALE),
            ));
        }
        Op::PlaceHold {
            id,
            owner,
            inst,
            qty,
            purpose,
        } => {
            let hold = match id {
                NewHold::Fresh => ids.fresh(),
                NewHold::Reuse(index) => pick(&model.hold_order, index)
                    .copied()
                    .unwrap_or_else(|| ids.fresh()),
            };
            ids.last_placed = Some(hold);
            legs.push(Leg::PlaceHold {
                hold,
                instrument: inst.code(),
                owner: *owner,
                quantity: qty.at_scale(inst.scale()),
                purpose: *purpose,
            });
        }
        Op::ReleaseHold { hold } => {
            let hold = resolve_hold(model, ids, hold, &model.hold_order);
            legs.push(Leg::ReleaseHold { hold });
        }
        Op::SettleHold { hold, to, qty } => {
            let hold = resolve_hold(model, ids, hold, &model.hold_order);
            let to = match to {
                Target::To(owner) => *owner,
                Target::HoldOwner => model.holds.get(&hold).map_or(participant(0), |h| h.owner),
            };
            let quantity = settle_quantity(model, &hold, *qty);
            legs.push(Leg::SettleHold { hold, to, quantity });
        }
        Op::Dvp {
            rights,
            cash,
            rights_qty,
            cash_qty,
            release_rest,
        } => {
            let of = |instrument: &str| -> Vec<Uuid> {
                model
                    .hold_order
                    .iter()
                    .filter(|id| model.holds[*id].instrument.as_str() == instrument)
                    .copied()
                    .collect()
            };
            let rights_hold = resolve_hold(model, ids, rights, &of(RIGHT_CODE));
            let cash_hold = resolve_hold(model, ids, cash, &of("CNY"));
            let seller = model
                .holds
                .get(&rights_hold)
                .map_or(participant(0), |h| h.owner);
            let buyer = model
                .holds
                .get(&cash_hold)
                .map_or(participant(1), |h| h.owner);
            legs.push(Leg::SettleHold {
                hold: rights_hold,
                to: buyer,
                quantity: settle_quantity(model, &rights_hold, *rights_qty),
            });
            legs.push(Leg::SettleHold {
                hold: cash_hold,
                to: seller,
                quantity: settle_quantity(model, &cash_hold, *cash_qty),
            });
            if *release_rest {
                legs.push(Leg::ReleaseHold { hold: rights_hold });
                legs.push(Leg::ReleaseHold { hold: cash_hold });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------

/// Everything a failed `apply` must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    accounts: Vec<Account>,
    holds: Vec<Hold>,
    changed_accounts: Vec<AccountKey>,
    changed_holds: Vec<Uuid>,
}

fn snapshot(ledger: &Ledger) -> Snapshot {
    Snapshot {
        accounts: ledger.accounts().cloned().collect(),
        holds: ledger.holds().cloned().collect(),
        changed_accounts: ledger.changed_accounts().map(|a| a.key.clone()).collect(),
        changed_holds: ledger.changed_holds().map(|h| h.id).collect(),
    }
}

fn status_of(status: ModelStatus) -> HoldStatus {
    match status {
        ModelStatus::Open => HoldStatus::Open,
        ModelStatus::Settled => HoldStatus::Settled,
        ModelStatus::Released => HoldStatus::Released,
    }
}

fn assert_matches_model(ledger: &Ledger, model: &Model) -> Result<(), TestCaseError> {
    let mut keys: BTreeSet<AccountKey> = ledger.accounts().map(|a| a.key.clone()).collect();
    keys.extend(model.accounts.keys().cloned());
    for key in &keys {
        let core = ledger.account(key);
        let expected = model.account(key);
        prop_assert_eq!(core.balance, expected.balance, "balance of {:?}", key);
        prop_assert_eq!(core.held, expected.held, "held of {:?}", key);
        prop_assert_eq!(core.version, expected.version, "version of {:?}", key);
    }
    prop_assert_eq!(ledger.holds().count(), model.holds.len(), "number of holds");
    for hold in ledger.holds() {
        let expected = model.holds.get(&hold.id);
        prop_assert!(
            expected.is_some(),
            "the core has a hold the model lacks: {:?}",
            hold
        );
        let expected = expected.expect("checked above");
        prop_assert_eq!(
            &hold.account,
            &AccountKey::new(expected.owner, expected.instrument.clone())
        );
        prop_assert_eq!(hold.purpose, expected.purpose);
        prop_assert_eq!(hold.amount, expected.amount, "amount of {:?}", hold);
        prop_assert_eq!(
            hold.remaining,
            expected.remaining,
            "remaining of {:?}",
            hold
        );
        prop_assert_eq!(hold.settled, expected.settled, "settled of {:?}", hold);
        prop_assert_eq!(
            hold.status,
            status_of(expected.status),
            "status of {:?}",
            hold
        );
    }
    Ok(())
}

fn assert_invariants(ledger: &Ledger) -> Result<(), TestCaseError> {
    let mut sums: BTreeMap<InstrumentCode, Decimal> = BTreeMap::new();
    let mut by_owner: BTreeMap<(InstrumentCode, Owner), Decimal> = BTreeMap::new();
    for account in ledger.accounts() {
        prop_assert!(
            account.held >= Decimal::ZERO,
            "held below zero: {:?}",
            account
        );
        if !account.key.owner.is_source() {
            prop_assert!(
                account.balance >= Decimal::ZERO,
                "balance below zero: {:?}",
                account
            );
            prop_assert!(
                account.available() >= Decimal::ZERO,
                "available below zero: {:?}",
                account
            );
        }
        *sums.entry(account.key.instrument.clone()).or_default() += account.balance;
        *by_owner
            .entry((account.key.instrument.clone(), account.key.owner))
            .or_default() += account.balance;
    }
    for (instrument, sum) in &sums {
        prop_assert!(
            sum.is_zero(),
            "{} does not conserve: accounts sum to {}",
            instrument,
            sum
        );
    }
    let balance = |instrument: &str, owner: Owner| {
        by_owner
            .get(&(code(instrument), owner))
            .copied()
            .unwrap_or_default()
    };
    // Rights: issued = participants + reserve + surrendered + retired.
    let issued = -balance(RIGHT_CODE, ISSUANCE);
    let participants: Decimal = (0..4).map(|i| balance(RIGHT_CODE, participant(i))).sum();
    let accounted = participants
        + balance(RIGHT_CODE, RESERVE)
        + balance(RIGHT_CODE, SURRENDERED)
        + balance(RIGHT_CODE, RETIRED);
    prop_assert_eq!(issued, accounted, "issued rights are not all accounted for");
    prop_assert!(
        balance(RIGHT_CODE, EXTERNAL_CASH).is_zero(),
        "rights never touch external cash here"
    );
    // Cash: what came in from the bank is somewhere inside the ledger.
    let deposited = -balance("CNY", EXTERNAL_CASH);
    prop_assert!(deposited >= Decimal::ZERO, "more cash left than came in");
    prop_assert!(
        balance("CNY", ISSUANCE).is_zero(),
        "cash is never issued here"
    );
    // The held part of each account is what its open holds still reserve.
    let mut reserved: BTreeMap<AccountKey, Decimal> = BTreeMap::new();
    for hold in ledger.holds() {
        match hold.status {
            HoldStatus::Open => {
                prop_assert!(
                    hold.remaining > Decimal::ZERO,
                    "an open hold reserves something: {:?}",
                    hold
                );
                prop_assert_eq!(
                    hold.remaining + hold.settled,
                    hold.amount,
                    "open hold {:?}",
                    hold
                );
                *reserved.entry(hold.account.clone()).or_default() += hold.remaining;
            }
            HoldStatus::Settled => {
                prop_assert!(
                    hold.remaining.is_zero() && hold.settled == hold.amount,
                    "settled hold {:?}",
                    hold
                );
            }
            HoldStatus::Released => {
                prop_assert!(
                    hold.remaining.is_zero() && hold.settled < hold.amount,
                    "released hold {:?}",
                    hold
                );
            }
        }
    }
    for account in ledger.accounts() {
        let expected = reserved.get(&account.key).copied().unwrap_or_default();
        prop_assert_eq!(
            account.held,
            expected,
            "held of {:?} is not its open holds' remainder",
            account.key
        );
    }
    Ok(())
}

/// A successful transaction's postings: balanced per instrument, and each
/// one's `*_after` and version continue the account's previous state.
fn assert_postings(
    before: &Ledger,
    after: &Ledger,
    postings: &[Posting],
) -> Result<(), TestCaseError> {
    let mut sums: BTreeMap<&InstrumentCode, Decimal> = BTreeMap::new();
    for posting in postings {
        *sums.entry(&posting.account.instrument).or_default() += posting.amount;
    }
    for (instrument, sum) in sums {
        prop_assert!(sum.is_zero(), "postings of {} sum to {}", instrument, sum);
    }
    let mut running: BTreeMap<AccountKey, Account> = BTreeMap::new();
    for posting in postings {
        let state = running
            .entry(posting.account.clone())
            .or_insert_with(|| before.account(&posting.account));
        state.balance += posting.amount;
        state.held += posting.held_change;
        state.version += 1;
        prop_assert_eq!(
            posting.balance_after,
            state.balance,
            "balance_after of {:?}",
            posting
        );
        prop_assert_eq!(
            posting.held_after,
            state.held,
            "held_after of {:?}",
            posting
        );
        prop_assert_eq!(posting.version, state.version, "version of {:?}", posting);
    }
    let changed: BTreeSet<AccountKey> = after.changed_accounts().map(|a| a.key.clone()).collect();
    for (key, state) in &running {
        prop_assert_eq!(
            &after.account(key),
            state,
            "the account after its last posting"
        );
        prop_assert!(
            changed.contains(key),
            "a posted account is reported as changed: {:?}",
            key
        );
    }
    for account in before.accounts() {
        if !running.contains_key(&account.key) {
            prop_assert_eq!(
                &after.account(&account.key),
                account,
                "an account without postings changed"
            );
        }
    }
    Ok(())
}

/// Per hold, what the postings say happened to it.
#[derive(Debug, Default)]
struct HoldHistory {
    placed: Decimal,
    settled: Decimal,
    released: Decimal,
    release_postings: u32,
    resolutions: u32,
}

fn record_hold_history(
    history: &mut HashMap<Uuid, HoldHistory>,
    after: &Ledger,
    postings: &[Posting],
) {
    for posting in postings {
        let Some(id) = posting.hold else { continue };
        let Some(hold) = after.hold(&id) else {
            continue;
        };
        let entry = history.entry(id).or_default();
        if posting.account != hold.account {
            continue; // the credit side of a settlement
        }
        if posting.amount.is_zero() && posting.held_change > Decimal::ZERO {
            entry.placed += posting.held_change;
        } else if posting.amount.is_zero() {
            entry.released -= posting.held_change;
            entry.release_postings += 1;
        } else {
            entry.settled -= posting.amount;
        }
    }
}

// ---------------------------------------------------------------------------
// The state machine.
// ---------------------------------------------------------------------------

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut ledger = new_ledger();
    let mut model = Model::new();
    let mut ids = Ids {
        next_hold: 0,
        last_placed: None,
    };
    let mut history: HashMap<Uuid, HoldHistory> = HashMap::new();

    // Every participant starts with some rights and cash, so that most
    // generated operations have something to work on.
    let opening = (0..PARTICIPANTS.len()).flat_map(|i| {
        [
            Step::One(Op::Issue {
                to: Some(i),
                qty: Qty::Whole(100),
            }),
            Step::One(Op::Deposit {
                to: i,
                qty: Qty::Whole(50_000),
            }),
        ]
    });
    let steps: Vec<Step> = opening.chain(steps.iter().cloned()).collect();

    for (n, step) in steps.iter().enumerate() {
        let mut legs = Vec::new();
        match step {
            Step::One(op) => legs_of(&model, &mut ids, op, &mut legs),
            Step::Batch(ops) => {
                for op in ops {
                    legs_of(&model, &mut ids, op, &mut legs);
                }
            }
        }
        let expected = model.apply(&legs);
        let before = ledger.clone();
        let before_snapshot = snapshot(&ledger);
        let outcome = ledger.apply(&legs);
        match (outcome, expected) {
            (Ok(postings), Ok((next, expected_postings))) => {
                prop_assert_eq!(
                    &postings,
                    &expected_postings,
                    "step {} postings for {:?}",
                    n,
                    legs
                );
                assert_postings(&before, &ledger, &postings)?;
                for hold in before.holds() {
                    let now = ledger.hold(&hold.id).expect("holds are never dropped");
                    if hold.status == HoldStatus::Open && now.status != HoldStatus::Open {
                        history.entry(hold.id).or_default().resolutions += 1;
                    }
                    if hold.status != HoldStatus::Open {
                        prop_assert_eq!(now, hold, "a resolved hold changed again");
                    }
                }
                for hold in ledger.holds().filter(|h| before.hold(&h.id).is_none()) {
                    if hold.status != HoldStatus::Open {
                        history.entry(hold.id).or_default().resolutions += 1;
                    }
                }
                let changed_holds: BTreeSet<Uuid> = ledger.changed_holds().map(|h| h.id).collect();
                for id in legs.iter().filter_map(|leg| match leg {
                    Leg::PlaceHold { hold, .. }
                    | Leg::ReleaseHold { hold }
                    | Leg::SettleHold { hold, .. } => Some(hold),
                    Leg::Transfer { .. } => None,
                }) {
                    prop_assert!(
                        changed_holds.contains(id),
                        "a touched hold is reported as changed"
                    );
                }
                record_hold_history(&mut history, &ledger, &postings);
                model = next;
            }
            (Err(error), Err(expected_error)) => {
                prop_assert_eq!(
                    error.code(),
                    expected_error.code(),
                    "step {}: wrong error for {:?}",
                    n,
                    legs
                );
                prop_assert_eq!(error, expected_error);
                prop_assert_eq!(
                    snapshot(&ledger),
                    before_snapshot,
                    "a failed transaction changed the ledger"
                );
            }
            (outcome, expected) => {
                return Err(TestCaseError::fail(format!(
                    "step {n}: legs {legs:?}\n core: {outcome:?}\n model: {:?}",
                    expected.map(|(_, postings)| postings)
                )));
            }
        }
        assert_matches_model(&ledger, &model)?;
        assert_invariants(&ledger)?;
    }

    for hold in ledger.holds() {
        let seen = history.get(&hold.id);
        prop_assert!(seen.is_some(), "a hold without history: {:?}", hold);
        let seen = seen.expect("checked above");
        prop_assert_eq!(seen.placed, hold.amount, "placed once for {:?}", hold);
        prop_assert_eq!(
            seen.settled,
            hold.settled,
            "settlement postings of {:?}",
            hold
        );
        match hold.status {
            HoldStatus::Open => {
                prop_assert_eq!(seen.resolutions, 0);
                prop_assert_eq!(seen.release_postings, 0);
                prop_assert_eq!(hold.settled + hold.remaining, hold.amount);
            }
            HoldStatus::Released => {
                prop_assert_eq!(seen.resolutions, 1, "released exactly once: {:?}", hold);
                prop_assert_eq!(seen.release_postings, 1);
                prop_assert_eq!(
                    seen.settled + seen.released,
                    hold.amount,
                    "settled + released of {:?}",
                    hold
                );
            }
            HoldStatus::Settled => {
                prop_assert_eq!(seen.resolutions, 1, "settled exactly once: {:?}", hold);
                prop_assert_eq!(seen.release_postings, 0);
                prop_assert_eq!(seen.settled, hold.amount, "settled in full: {:?}", hold);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_transactions_keep_the_ledger_equal_to_the_model_and_its_invariants(
        steps in prop::collection::vec(step(), 0..=60)
    ) {
        run(&steps)?;
    }
}

// ---------------------------------------------------------------------------
// Examples.
// ---------------------------------------------------------------------------

fn issue(ledger: &mut Ledger, to: Owner, quantity: Decimal) {
    ledger
        .apply(&[Leg::Transfer {
            instrument: code(RIGHT_CODE),
            from: ISSUANCE,
            to,
            quantity,
        }])
        .expect("issuing rights");
}

fn deposit(ledger: &mut Ledger, to: Owner, quantity: Decimal) {
    ledger
        .apply(&[Leg::Transfer {
            instrument: code("CNY"),
            from: EXTERNAL_CASH,
            to,
            quantity,
        }])
        .expect("depositing cash");
}

fn place(ledger: &mut Ledger, hold: Uuid, owner: Owner, instrument: &str, quantity: Decimal) {
    ledger
        .apply(&[Leg::PlaceHold {
            hold,
            instrument: code(instrument),
            owner,
            quantity,
            purpose: HoldPurpose::Order,
        }])
        .expect("placing a hold");
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}

#[test]
fn a_failed_transaction_changes_nothing() {
    let (seller, buyer) = (participant(0), participant(1));
    let (rights_hold, cash_hold) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut ledger = new_ledger();
    issue(&mut ledger, seller, dec("10"));
    deposit(&mut ledger, buyer, dec("1000"));
    place(&mut ledger, rights_hold, seller, RIGHT_CODE, dec("4"));
    place(&mut ledger, cash_hold, buyer, "CNY", dec("800"));
    let before = snapshot(&ledger);

    // The rights leg would apply; the cash leg asks more than its hold has.
    let result = ledger.apply(&[
        Leg::SettleHold {
            hold: rights_hold,
            to: buyer,
            quantity: dec("4"),
        },
        Leg::SettleHold {
            hold: cash_hold,
            to: seller,
            quantity: dec("800.01"),
        },
    ]);

    assert_eq!(result, Err(LedgerError::HoldExceeded));
    assert_eq!(snapshot(&ledger), before);
}

#[test]
fn a_delivery_versus_payment_trade_moves_both_sides_at_once() {
    let (seller, buyer) = (participant(0), participant(1));
    let (rights_hold, cash_hold) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut ledger = new_ledger();
    issue(&mut ledger, seller, dec("10"));
    deposit(&mut ledger, buyer, dec("1000"));
    place(&mut ledger, rights_hold, seller, RIGHT_CODE, dec("4"));
    place(&mut ledger, cash_hold, buyer, "CNY", dec("800"));

    let postings = ledger
        .apply(&[
            Leg::SettleHold {
                hold: rights_hold,
                to: buyer,
                quantity: dec("2.5"),
            },
            Leg::SettleHold {
                hold: cash_hold,
                to: seller,
                quantity: dec("500"),
            },
            Leg::ReleaseHold { hold: rights_hold },
            Leg::ReleaseHold { hold: cash_hold },
        ])
        .expect("the trade settles");

    assert_eq!(postings.len(), 6);
    assert_eq!(ledger.account(&key(seller, RIGHT_CODE)).balance, dec("7.5"));
    assert_eq!(ledger.account(&key(seller, RIGHT_CODE)).held, Decimal::ZERO);
    assert_eq!(ledger.account(&key(buyer, RIGHT_CODE)).balance, dec("2.5"));
    assert_eq!(ledger.account(&key(seller, "CNY")).balance, dec("500"));
    assert_eq!(ledger.account(&key(buyer, "CNY")).balance, dec("500"));
    assert_eq!(ledger.account(&key(buyer, "CNY")).held, Decimal::ZERO);
    let rights = ledger.hold(&rights_hold).expect("the rights hold");
    assert_eq!(
        (rights.status, rights.settled),
        (HoldStatus::Released, dec("2.5"))
    );
}

#[test]
fn a_hold_reduces_what_is_available_at_once() {
    let owner = participant(2);
    let mut ledger = new_ledger();
    issue(&mut ledger, owner, dec("5"));
    place(
        &mut ledger,
        Uuid::from_u128(9),
        owner,
        RIGHT_CODE,
        dec("3.5"),
    );

    let result = ledger.apply(&[Leg::Transfer {
        instrument: code(RIGHT_CODE),
        from: owner,
        to: participant(3),
        quantity: dec("1.501"),
    }]);

    assert_eq!(result, Err(LedgerError::InsufficientAvailableBalance));
    assert_eq!(
        ledger.account(&key(owner, RIGHT_CODE)).available(),
        dec("1.5")
    );
}

#[test]
fn a_hold_is_resolved_only_once() {
    let owner = participant(0);
    let hold = Uuid::from_u128(7);
    let mut ledger = new_ledger();
    deposit(&mut ledger, owner, dec("100"));
    place(&mut ledger, hold, owner, "CNY", dec("60"));
    ledger
        .apply(&[Leg::SettleHold {
            hold,
            to: participant(1),
            quantity: dec("60"),
        }])
        .expect("settling all of it");

    assert_eq!(
        ledger.hold(&hold).expect("the hold").status,
        HoldStatus::Settled
    );
    assert_eq!(
        ledger.apply(&[Leg::ReleaseHold { hold }]),
        Err(LedgerError::HoldNotOpen)
    );
    assert_eq!(
        ledger.apply(&[Leg::SettleHold {
            hold,
            to: participant(1),
            quantity: dec("1")
        }]),
        Err(LedgerError::HoldNotOpen)
    );
    assert_eq!(
        ledger.apply(&[Leg::ReleaseHold {
            hold: Uuid::from_u128(8)
        }]),
        Err(LedgerError::HoldNotFound)
    );
}

#[test]
fn quantities_must_be_positive_and_within_the_instruments_scale() {
    let mut ledger = new_ledger();
    let issue_of = |quantity: &str| {
        vec![Leg::Transfer {
            instrument: code(RIGHT_CODE),
            from: ISSUANCE,
            to: participant(0),
            quantity: dec(quantity),
        }]
    };
    for (quantity, expected) in [
        ("0", Err(LedgerError::QuantityMustBePositive)),
        ("0.000", Err(LedgerError::QuantityMustBePositive)),
        ("-1", Err(LedgerError::QuantityMustBePositive)),
        ("-0.0001", Err(LedgerError::QuantityMustBePositive)),
        (
            "0.0001",
            Err(LedgerError::ScaleExceeded { scale: RIGHT_SCALE }),
        ),
        (
            "1.2345",
            Err(LedgerError::ScaleExceeded { scale: RIGHT_SCALE }),
        ),
        ("1.2340000", Ok(())),
        ("0.001", Ok(())),
    ] {
        let result = ledger.apply(&issue_of(quantity)).map(|_| ());
        assert_eq!(result, expected, "{quantity}");
    }
    assert_eq!(
        ledger.account(&key(participant(0), RIGHT_CODE)).balance,
        dec("1.235")
    );
}

#[test]
fn a_source_account_can_be_debited_but_never_hold_anything() {
    let mut ledger = new_ledger();
    let result = ledger.apply(&[Leg::PlaceHold {
        hold: Uuid::from_u128(1),
        instrument: code(RIGHT_CODE),
        owner: ISSUANCE,
        quantity: dec("1"),
        purpose: HoldPurpose::Other,
    }]);
    assert_eq!(result, Err(LedgerError::InsufficientAvailableBalance));
    issue(&mut ledger, participant(0), dec("1"));
    assert_eq!(
        ledger.account(&key(ISSUANCE, RIGHT_CODE)).balance,
        dec("-1")
    );
}

#[test]
fn the_first_failing_leg_names_the_error() {
    let mut ledger = new_ledger();
    let result = ledger.apply(&[
        Leg::Transfer {
            instrument: code("CNY"),
            from: participant(0),
            to: participant(1),
            quantity: dec("1"),
        },
        Leg::Transfer {
            instrument: code(UNKNOWN_CODE),
            from: participant(0),
            to: participant(1),
            quantity: dec("0"),
        },
    ]);
    assert_eq!(result, Err(LedgerError::InsufficientAvailableBalance));
    let result = ledger.apply(&[
        Leg::Transfer {
            instrument: code(UNKNOWN_CODE),
            from: participant(0),
            to: participant(0),
            quantity: dec("0"),
        },
        Leg::ReleaseHold {
            hold: Uuid::from_u128(1),
        },
    ]);
    assert_eq!(result, Err(LedgerError::UnknownInstrument));
}

#[test]
fn a_hold_placed_in_a_transaction_can_be_settled_in_the_same_transaction() {
    let (owner, hold) = (participant(3), Uuid::from_u128(5));
    let mut ledger = new_ledger();
    issue(&mut ledger, owner, dec("2"));
    let postings = ledger
        .apply(&[
            Leg::PlaceHold {
                hold,
                instrument: code(RIGHT_CODE),
                owner,
                quantity: dec("2"),
                purpose: HoldPurpose::Negotiated,
            },
            Leg::SettleHold {
                hold,
                to: RESERVE,
                quantity: dec("2"),
            },
        ])
        .expect("place and settle");
    assert_eq!(postings.len(), 3);
    assert_eq!(postings.last().map(|p| p.version), Some(1));
    assert_eq!(postings[1].version, 3, "the owner's third posting");
    assert_eq!(
        ledger.account(&key(owner, RIGHT_CODE)),
        Account {
            key: key(owner, RIGHT_CODE),
            balance: Decimal::ZERO,
            held: Decimal::ZERO,
            version: 3,
        }
    );
    assert_eq!(ledger.account(&key(RESERVE, RIGHT_CODE)).balance, dec("2"));
}

#[test]
fn the_first_failing_check_of_a_leg_follows_the_documented_precedence() {
    let (owner, other) = (participant(0), participant(1));
    let mut ledger = new_ledger();
    issue(&mut ledger, owner, dec("1"));
    place(
        &mut ledger,
        Uuid::from_u128(1),
        owner,
        RIGHT_CODE,
        dec("0.5"),
    );
    let transfer = |instrument: &str, to: Owner, quantity: &str| Leg::Transfer {
        instrument: code(instrument),
        from: owner,
        to,
        quantity: dec(quantity),
    };
    let hold = |id: u128, quantity: &str| Leg::PlaceHold {
        hold: Uuid::from_u128(id),
        instrument: code(RIGHT_CODE),
        owner,
        quantity: dec(quantity),
        purpose: HoldPurpose::Pledge,
    };
    let scale = LedgerError::ScaleExceeded { scale: RIGHT_SCALE };
    for (leg, expected) in [
        (
            transfer(UNKNOWN_CODE, owner, "-1.00001"),
            LedgerError::UnknownInstrument,
        ),
        (
            transfer(RIGHT_CODE, owner, "-1.00001"),
            LedgerError::QuantityMustBePositive,
        ),
        (transfer(RIGHT_CODE, owner, "9.00001"), scale.clone()),
        (transfer(RIGHT_CODE, owner, "9"), LedgerError::SameAccount),
        (
            transfer(RIGHT_CODE, other, "0.501"),
            LedgerError::InsufficientAvailableBalance,
        ),
        (hold(1, "0"), LedgerError::QuantityMustBePositive),
        (hold(1, "0.0001"), scale.clone()),
        (hold(1, "9"), LedgerError::HoldExists),
        (hold(2, "0.501"), LedgerError::InsufficientAvailableBalance),
        (
            Leg::SettleHold {
                hold: Uuid::from_u128(2),
                to: other,
                quantity: dec("0.0001"),
            },
            LedgerError::HoldNotFound,
        ),
        (
            Leg::SettleHold {
                hold: Uuid::from_u128(1),
                to: other,
                quantity: dec("0.0001"),
            },
            scale,
        ),
        (
            Leg::SettleHold {
                hold: Uuid::from_u128(1),
                to: other,
                quantity: dec("0.501"),
            },
            LedgerError::HoldExceeded,
        ),
    ] {
        let before = snapshot(&ledger);
        assert_eq!(
            ledger.apply(std::slice::from_ref(&leg)),
            Err(expected),
            "{leg:?}"
        );
        assert_eq!(snapshot(&ledger), before, "{leg:?} changed the ledger");
    }
}
