//! What the authority does to a participant's holdings outside the market:
//! reclamation into the government reserve (with optional compensation) and
//! pledges that block rights until released.

use chrono::{DateTime, Utc};
use ets_core::{HoldPurpose, InstrumentCode, LedgerError, Leg, Owner, SystemAccount};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{Changes, Loaded, apply_legs};
use crate::command::CommandError;
use crate::payload::{Payload, PledgeChanged, ReclamationCreated};

/// Why rights are reclaimed.
pub const RECLAMATION_REASONS: [&str; 5] = ["closure", "relocation", "unused", "penalty", "other"];

/// A reclamation to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReclamation {
    /// Its id.
    pub id: Uuid,
    /// From whom.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much (of what is available: held or pledged rights are not taken).
    pub quantity: Decimal,
    /// One of [`RECLAMATION_REASONS`].
    pub reason: String,
    /// CNY paid to the participant, if any.
    pub compensation: Option<Decimal>,
}

/// A committed reclamation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclamation {
    /// Its id.
    pub id: Uuid,
    /// From whom.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// Why.
    pub reason: String,
    /// CNY paid to the participant (zero for none).
    pub compensation: Decimal,
    /// The ledger transaction.
    pub transaction_id: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A pledge to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPledge {
    /// Its id (and its hold's).
    pub id: Uuid,
    /// Whose rights.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// In whose favour (a bank, say).
    pub pledgee: String,
    /// The pledge contract's reference.
    pub reference: String,
}

/// A pledge, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pledge {
    /// Its id; also the id of the hold.
    pub id: Uuid,
    /// Whose rights.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// In whose favour.
    pub pledgee: String,
    /// The contract's reference.
    pub reference: String,
    /// `active` or `released`.
    pub status: String,
    /// When pledged.
    pub created_at: DateTime<Utc>,
    /// When released.
    pub released_at: Option<DateTime<Utc>>,
}

/// The legs of a reclamation: the rights to the reserve, and the
/// compensation (if any) from the bank side to the participant.
pub(crate) fn reclamation_legs(new: &NewReclamation) -> Vec<Leg> {
    let owner = Owner::Participant(new.participant_id);
    let mut legs = vec![Leg::Transfer {
        instrument: new.instrument.clone(),
        from: owner,
        to: Owner::System(SystemAccount::Reserve),
        quantity: new.quantity,
    }];
    if let Some(compensation) = new.compensation.filter(|c| !c.is_zero()) {
        legs.push(Leg::Transfer {
            instrument: InstrumentCode::cny(),
            from: Owner::System(SystemAccount::ExternalCash),
            to: owner,
            quantity: compensation,
        });
    }
    legs
}

/// The leg of a pledge: a hold on the pledged rights.
pub(crate) fn pledge_leg(new: &NewPledge) -> Leg {
    Leg::PlaceHold {
        hold: new.id,
        instrument: new.instrument.clone(),
        owner: Owner::Participant(new.participant_id),
        quantity: new.quantity,
        purpose: HoldPurpose::Pledge,
    }
}

/// Moves available rights into the reserve; pays the compensation, if any,
/// from outside the ledger (the bank side) into the participant's cash.
pub(crate) fn reclaim(
    new: &NewReclamation,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Reclamation), CommandError> {
    if !RECLAMATION_REASONS.contains(&new.reason.as_str()) {
        return Err(CommandError::InvalidReason);
    }
    if new.instrument.as_str() == ets_core::instrument::CNY {
        return Err(LedgerError::InstrumentNotTradable.into());
    }
    if new.compensation.is_some_and(|c| c < Decimal::ZERO) {
        return Err(LedgerError::QuantityMustBePositive.into());
    }
    let legs = reclamation_legs(new);
    let mut transaction = apply_legs(
        loaded,
        &legs,
        "reclamation.created",
        Some(new.id.to_string()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    let reclamation = Reclamation {
        id: new.id,
        participant_id: new.participant_id,
        instrument: new.instrument.clone(),
        quantity: transaction.postings[0].amount.abs(),
        reason: new.reason.clone(),
        compensation: transaction
            .postings
            .get(2)
            .map_or(Decimal::ZERO, |p| p.amount.abs()),
        transaction_id: transaction.id,
        created_at: changes.at,
    };
    let payload = Payload::ReclamationCreated(ReclamationCreated::new(&reclamation, &transaction));
    changes.transactions.push(transaction);
    changes.reclamations.push(reclamation.clone());
    Ok(("reclamation.created", payload, reclamation))
}

/// Blocks available rights under a pledge hold.
pub(crate) fn pledge(
    new: &NewPledge,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Pledge), CommandError> {
    let pledgee = new.pledgee.trim();
    let reference = new.reference.trim();
    let sized = |text: &str| !text.is_empty() && text.chars().count() <= 200;
    if !sized(pledgee) || !sized(reference) {
        return Err(CommandError::InvalidPledge);
    }
    if new.instrument.as_str() == ets_core::instrument::CNY {
        return Err(LedgerError::InstrumentNotTradable.into());
    }
    let mut transaction = apply_legs(
        loaded,
        &[pledge_leg(new)],
        "pledge.created",
        Some(reference.to_owned()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    let pledge = Pledge {
        id: new.id,
        participant_id: new.participant_id,
        instrument: new.instrument.clone(),
        quantity: transaction.postings[0].held_change,
        pledgee: pledgee.to_owned(),
        reference: reference.to_owned(),
        status: "active".to_owned(),
        created_at: changes.at,
        released_at: None,
    };
    let payload = Payload::PledgeChanged(PledgeChanged::new(&pledge, &transaction));
    changes.transactions.push(transaction);
    loaded.market.pledges.insert(pledge.id, pledge.clone());
    changes.pledges.insert(pledge.id, pledge.clone());
    Ok(("pledge.created", payload, pledge))
}

/// Releases a pledge: its rights become available again.
pub(crate) fn release_pledge(
    id: Uuid,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<(&'static str, Payload, Pledge), CommandError> {
    let mut pledge = loaded
        .market
        .pledges
        .get(&id)
        .cloned()
        .ok_or(CommandError::UnknownPledge)?;
    if pledge.status != "active" {
        return Err(CommandError::PledgeReleased);
    }
    let mut transaction = apply_legs(
        loaded,
        &[Leg::ReleaseHold { hold: id }],
        "pledge.released",
        Some(pledge.reference.clone()),
        changes,
    )?;
    transaction.journal_seq = changes.head.seq + 1;
    pledge.status = "released".to_owned();
    pledge.released_at = Some(changes.at);
    let payload = Payload::PledgeChanged(PledgeChanged::new(&pledge, &transaction));
    changes.transactions.push(transaction);
    loaded.market.pledges.insert(pledge.id, pledge.clone());
    changes.pledges.insert(pledge.id, pledge.clone());
    Ok(("pledge.released", payload, pledge))
}
