//! Negotiated trades (协议转让): the seller proposes a quantity and a price to
//! a named buyer, holding the rights; the buyer accepts (the trade settles
//! at once) or rejects; the seller can cancel; an unanswered proposal
//! expires and its hold is released without anyone calling.

use chrono::{DateTime, Utc};
use ets_core::fees::round_money;
use ets_core::{HoldPurpose, InstrumentCode, LedgerError, Leg, Owner, SystemAccount, matching};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::CommandError;
use crate::market::{Trade, TradeMethod};
use crate::payload::{
    Payload, ProposalAnswered, ProposalMade, ProposalsExpired, TransactionPayload,
};

/// The longest a proposal may stay open, in days.
pub(crate) const MAX_DAYS: i64 = 30;

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Waiting for the buyer.
    Proposed,
    /// Accepted and settled.
    Settled,
    /// Rejected by the buyer.
    Rejected,
    /// Cancelled by the seller.
    Cancelled,
    /// Not answered in time.
    Expired,
}

impl ProposalStatus {
    /// The stored and shown name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Settled => "settled",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "proposed" => Some(Self::Proposed),
            "settled" => Some(Self::Settled),
            "rejected" => Some(Self::Rejected),
            "cancelled" => Some(Self::Cancelled),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A negotiated trade proposal, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id; also the id of the hold on the seller's rights.
    pub id: Uuid,
    /// Who sells (and proposed).
    pub seller_id: Uuid,
    /// The named buyer.
    pub buyer_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much, at the instrument's scale.
    pub quantity: Decimal,
    /// CNY per unit, in fen.
    pub price: Decimal,
    /// Where it stands.
    pub status: ProposalStatus,
    /// When it lapses unless answered.
    pub expires_at: DateTime<Utc>,
    /// The trade, once settled.
    pub trade_id: Option<Uuid>,
    /// When proposed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Proposal {
    /// quantity × price, half-up to the fen: what the buyer pays the seller.
    #[must_use]
    pub fn value(&self) -> Decimal {
        round_money(self.quantity * self.price)
    }
}

/// A proposal to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProposal {
    /// Its id (and its hold's).
    pub id: Uuid,
    /// The proposing seller (the caller's participant).
    pub seller_id: Uuid,
    /// The named buyer.
    pub buyer_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// CNY per unit.
    pub price: Decimal,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// What a party does with a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The buyer accepts: the trade settles.
    Accept,
    /// The buyer declines.
    Reject,
    /// The seller withdraws.
    Cancel,
}

/// A settled proposal and its trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// The proposal as it now stands.
    pub proposal: Proposal,
    /// The trade, when accepted.
    pub trade: Option<Trade>,
}

/// Holds the seller's rights and records the proposal.
pub(crate) fn propose(
    new: &NewProposal,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Proposal), CommandError> {
    let at = changes.at;
    let instrument = loaded
        .ledger
        .instrument(&new.instrument)
        .ok_or(LedgerError::UnknownInstrument)?
        .clone();
    let quantity = instrument.check_quantity(new.quantity)?;
    let price = matching::check_price(new.price)?;
    if new.buyer_id == new.seller_id {
        return Err(LedgerError::SameAccount.into());
    }
    for party in [new.seller_id, new.buyer_id] {
        let region = loaded
            .market
            .regions
            .get(&party)
            .ok_or(CommandError::UnknownParticipant)?;
        instrument.check_tradable(region, changes.business_date)?;
    }
    if new.expires_at <= at || new.expires_at > at + chrono::Duration::days(MAX_DAYS) {
        return Err(CommandError::InvalidExpiry);
    }
    if round_money(quantity * price).is_zero() {
        return Err(LedgerError::ValueTooSmall.into());
    }
    let mut transaction = apply_legs(
        loaded,
        &[Leg::PlaceHold {
            hold: new.id,
            instrument: new.instrument.clone(),
            owner: Owner::Participant(new.seller_id),
            quantity,
            purpose: HoldPurpose::Negotiated,
        }],
        "negotiated.proposed",
        Some(new.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    let proposal = Proposal {
        id: new.id,
        seller_id: new.seller_id,
        buyer_id: new.buyer_id,
        instrument: new.instrument.clone(),
        quantity,
        price,
        status: ProposalStatus::Proposed,
        expires_at: ets_core::journal::truncate_to_micros(new.expires_at),
        trade_id: None,
        created_at: at,
        updated_at: at,
    };
    let payload = Payload::ProposalMade(ProposalMade::new(&proposal, &transaction));
    changes.transactions.push(transaction);
    record(loaded, changes, &proposal);
    Ok(("negotiated.proposed", payload, proposal))
}

/// The buyer accepts or rejects, or the seller cancels. `by` is the
/// answering participant; anyone else is told there is no such proposal.
pub(crate) fn answer(
    id: Uuid,
    answer: Answer,
    by: Uuid,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Resolved), CommandError> {
    let at = changes.at;
    let mut proposal = loaded
        .market
        .proposals
        .get(&id)
        .filter(|p| match answer {
            Answer::Accept | Answer::Reject => p.buyer_id == by,
            Answer::Cancel => p.seller_id == by,
        })
        .cloned()
        .ok_or(CommandError::UnknownProposal)?;
    if proposal.status != ProposalStatus::Proposed {
        return Err(CommandError::ProposalNotOpen);
    }
    let (kind, status, legs, trade) = match answer {
        Answer::Reject => (
            "negotiated.rejected",
            ProposalStatus::Rejected,
            vec![Leg::ReleaseHold { hold: id }],
            None,
        ),
        Answer::Cancel => (
            "negotiated.cancelled",
            ProposalStatus::Cancelled,
            vec![Leg::ReleaseHold { hold: id }],
            None,
        ),
        Answer::Accept => {
            if proposal.expires_at <= at {
                return Err(CommandError::ProposalExpired);
            }
            let instrument = loaded
                .ledger
                .instrument(&proposal.instrument)
                .ok_or(LedgerError::UnknownInstrument)?
                .clone();
            let region = loaded
                .market
                .regions
                .get(&proposal.buyer_id)
                .ok_or(CommandError::UnknownParticipant)?;
            instrument.check_tradable(region, changes.business_date)?;
            let value = proposal.value();
            let commission = round_money(value * instrument.commission_rate);
            let trade = Trade {
                id: changes.ids.next_id(),
                instrument: proposal.instrument.clone(),
                method: TradeMethod::Negotiated,
                quantity: proposal.quantity,
                price: proposal.price,
                value,
                buyer_id: proposal.buyer_id,
                seller_id: Some(proposal.seller_id),
                buy_order_id: None,
                sell_order_id: None,
                buyer_commission: commission,
                seller_commission: commission,
                executed_at: at,
                business_date: changes.business_date,
                transaction_id: Uuid::nil(),
            };
            (
                "negotiated.settled",
                ProposalStatus::Settled,
                settlement_legs(&proposal, value, commission),
                Some(trade),
            )
        }
    };
    let mut transaction = apply_legs(loaded, &legs, kind, Some(id.to_string()), changes)?;
    transaction.journal_seq = changes.head.seq + 1;
    let trade = trade.map(|mut t| {
        t.transaction_id = transaction.id;
        t
    });
    proposal.status = status;
    proposal.trade_id = trade.as_ref().map(|t| t.id);
    proposal.updated_at = at;
    let payload = Payload::ProposalAnswered(ProposalAnswered::new(&proposal, &transaction));
    changes.transactions.push(transaction);
    record(loaded, changes, &proposal);
    changes.trades.extend(trade.iter().cloned());
    Ok((kind, payload, Resolved { proposal, trade }))
}

/// Expires every proposal loaded as due, releasing the holds, in one
/// transaction. Refused when none is due (nothing to journal).
pub(crate) fn expire_due(
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Vec<Uuid>), CommandError> {
    let at = changes.at;
    let due: Vec<Proposal> = loaded
        .market
        .proposals
        .values()
        .filter(|p| p.status == ProposalStatus::Proposed && p.expires_at <= at)
        .cloned()
        .collect();
    if due.is_empty() {
        return Err(CommandError::NothingDue);
    }
    let legs: Vec<Leg> = due
        .iter()
        .map(|p| Leg::ReleaseHold { hold: p.id })
        .collect();
    let mut transaction = apply_legs(loaded, &legs, "negotiated.expired", None, changes)?;
    transaction.journal_seq = changes.head.seq + 1;
    let ids: Vec<Uuid> = due.iter().map(|p| p.id).collect();
    let payload = Payload::ProposalsExpired(ProposalsExpired {
        proposals: ids.clone(),
        transaction: TransactionPayload::from(&transaction),
    });
    changes.transactions.push(transaction);
    for mut proposal in due {
        proposal.status = ProposalStatus::Expired;
        proposal.updated_at = at;
        record(loaded, changes, &proposal);
    }
    Ok(("negotiated.expired", payload, ids))
}

/// Delivery versus payment: the held rights to the buyer, the value from
/// the buyer's cash to the seller, each side's commission to fee income
/// (the seller's out of the value just received).
fn settlement_legs(proposal: &Proposal, value: Decimal, commission: Decimal) -> Vec<Leg> {
    let buyer = Owner::Participant(proposal.buyer_id);
    let seller = Owner::Participant(proposal.seller_id);
    let fees = Owner::System(SystemAccount::FeeIncome);
    let cash = InstrumentCode::cny();
    let mut legs = vec![
        Leg::SettleHold {
            hold: proposal.id,
            to: buyer,
            quantity: proposal.quantity,
        },
        Leg::Transfer {
            instrument: cash.clone(),
            from: buyer,
            to: seller,
            quantity: value,
        },
    ];
    if commission > Decimal::ZERO {
        for payer in [buyer, seller] {
            legs.push(Leg::Transfer {
                instrument: cash.clone(),
                from: payer,
                to: fees,
                quantity: commission,
            });
        }
    }
    legs
}

/// A proposal as it now stands: in the batch's working set (later requests
/// see it) and among the rows to write.
fn record(loaded: &mut Loaded, changes: &mut Changes, proposal: &Proposal) {
    loaded
        .market
        .proposals
        .insert(proposal.id, proposal.clone());
    changes.proposals.insert(proposal.id, proposal.clone());
}
