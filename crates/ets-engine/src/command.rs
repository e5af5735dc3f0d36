//! What the storage layer is asked to do, and what it answers.

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::{
    Actor, Instrument, InstrumentCode, InstrumentSpec, LedgerError, Leg, Owner, Participant,
    Posting, Role, SystemAccount,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auctions::{Auction, AuctionBid, Closed, NewAuction, NewBid};
use crate::authority::{NewPledge, NewReclamation, Pledge, Reclamation};
use crate::compliance::{Emission, NewEmission, NewSurrender, Surrender};
use crate::finance::{NewPayment, Paid};
use crate::invoice::{DEFAULT_DAILY_SURCHARGE_RATE, PaymentError};
use crate::market::{NewOrder, Order, Placed};
use crate::negotiated::{Answer, NewProposal, Proposal, Resolved};

/// A state change. Each one is applied atomically, journaled, and committed
/// in one database transaction (possibly together with other commands of the
/// same batch).
#[derive(Debug, Clone)]
pub enum Command {
    /// Register a participant.
    CreateParticipant(Participant),
    /// Define an instrument.
    CreateInstrument(InstrumentSpec),
    /// Issue a credential; the secret arrives already hashed.
    CreateCredential(NewCredential),
    /// Revoke a credential.
    RevokeCredential {
        /// Which credential.
        client_id: String,
    },
    /// Add a person who uses the web console; the password arrives hashed.
    CreatePerson(NewPerson),
    /// Give an active person a new password and TOTP secret, ending their
    /// console sessions.
    ResetPerson {
        /// Whom.
        login: String,
        /// The new password's hash and TOTP secret.
        secrets: PersonSecrets,
    },
    /// Disable a person: no more logins, every console session ended.
    DisablePerson {
        /// Whom.
        login: String,
    },
    /// One ledger transaction of legs, journaled under `kind`.
    Ledger(LedgerCommand),
    /// Allocate (issue) rights to a participant, free or for a paid-use fee.
    Allocate(NewAllocation),
    /// Store the token signing key, unless one is stored already.
    CreateSigningKey(NewSigningKey),
    /// Install a new signing key: it signs from now on, and every earlier
    /// key stays published (SPEC §6). A key stored before is refused.
    RotateSigningKey(NewSigningKey),
    /// Place a limit order in the book (and match it).
    PlaceOrder(NewOrder),
    /// Propose a negotiated trade to a named buyer.
    Propose(NewProposal),
    /// Accept, reject or cancel a proposal.
    AnswerProposal {
        /// Which proposal.
        id: Uuid,
        /// What to do with it.
        answer: Answer,
        /// The answering participant: the buyer accepts or rejects, the
        /// seller cancels.
        by: Uuid,
    },
    /// Expire the proposals whose time has passed (a sweeper calls this).
    ExpireProposals,
    /// Offer an auction.
    CreateAuction(NewAuction),
    /// Place a sealed bid.
    PlaceBid(NewBid),
    /// Close an auction: clear and settle, or fail.
    CloseAuction {
        /// Which auction.
        id: Uuid,
    },
    /// Take rights back into the government reserve.
    Reclaim(NewReclamation),
    /// Block rights under a pledge.
    Pledge(NewPledge),
    /// Release a pledge.
    ReleasePledge {
        /// Which pledge.
        id: Uuid,
    },
    /// Pay an invoice, from the participant's cash or recorded from the bank.
    PayInvoice(NewPayment),
    /// Record a participant's verified emissions for a period (replacing
    /// the current record of the same key).
    RecordEmission(NewEmission),
    /// Surrender carbon allowances or offsets for a period.
    Surrender(NewSurrender),
    /// Cancel a resting order.
    CancelOrder {
        /// Which order.
        id: Uuid,
        /// The participant that must own it (an enterprise cancelling its
        /// own); `None` for the authority.
        owner: Option<Uuid>,
    },
}

/// An allocation to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAllocation {
    /// The allocation's id.
    pub id: Uuid,
    /// Who receives the rights.
    pub participant_id: Uuid,
    /// Which instrument (never CNY).
    pub instrument: InstrumentCode,
    /// How much.
    pub quantity: Decimal,
    /// The paid-use terms, for a paid allocation.
    pub paid: Option<PaidUse>,
}

/// The terms of a paid allocation: its invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidUse {
    /// The invoice's id.
    pub invoice_id: Uuid,
    /// CNY per unit per year.
    pub unit_fee: Decimal,
    /// Years of use paid for.
    pub years: u32,
    /// When the invoice falls due.
    pub due_date: NaiveDate,
    /// The late surcharge per day, fixed on the invoice.
    pub daily_rate: Decimal,
}

/// A committed allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The allocation's id.
    pub id: Uuid,
    /// Who received the rights.
    pub participant_id: Uuid,
    /// Which instrument.
    pub instrument: InstrumentCode,
    /// How much, at the instrument's scale.
    pub quantity: Decimal,
    /// `free` or `paid`.
    pub method: String,
    /// CNY per unit per year, for a paid allocation.
    pub unit_fee: Option<Decimal>,
    /// Years paid for.
    pub years: Option<u32>,
    /// The ledger transaction that issued the rights.
    pub transaction_id: Uuid,
    /// The paid-use invoice.
    pub invoice: Option<Invoice>,
}

/// A paid-use invoice as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// The invoice's id.
    pub id: Uuid,
    /// Who owes it.
    pub participant_id: Uuid,
    /// `paid_use`.
    pub kind: String,
    /// quantity × unit fee × years, half-up to 0.01 CNY.
    pub amount: Decimal,
    /// Principal paid so far.
    pub paid: Decimal,
    /// When it falls due.
    pub due_date: NaiveDate,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The late surcharge per day, as a fraction of the principal
    /// outstanding, fixed at creation. (Outcomes stored before it existed
    /// read as the default.)
    #[serde(default = "default_daily_rate")]
    pub daily_rate: Decimal,
    /// Surcharge paid so far.
    #[serde(default)]
    pub surcharge_paid: Decimal,
}

fn default_daily_rate() -> Decimal {
    DEFAULT_DAILY_SURCHARGE_RATE
}

/// The token signing key to keep with the database.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    /// Key id (in JWT headers and the JWKS).
    pub kid: String,
    /// The Ed25519 private key as PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// The 32-byte public key.
    pub public_key: Vec<u8>,
}

/// A signing key as a batch stores it: its generation (1, 2, …; the
/// greatest is the key that signs) and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledKey {
    /// 1 for the first key, one more for each rotation.
    pub generation: i64,
    /// The key.
    pub key: NewSigningKey,
}

impl std::fmt::Debug for NewSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A credential to store. `secret_hash` is an argon2id PHC string; the secret
/// itself never reaches the store. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCredential {
    /// Public identifier of the API client.
    pub client_id: String,
    /// A human name for it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The participant an enterprise credential is bound to.
    pub participant_id: Option<Uuid>,
    /// argon2id hash of the secret.
    pub secret_hash: String,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("participant_id", &self.participant_id)
            .finish_non_exhaustive()
    }
}

/// What a console person logs in with: an argon2id PHC string of the
/// password and the RFC 6238 secret in base32. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonSecrets {
    /// argon2id hash of the password.
    pub password_hash: String,
    /// The TOTP secret, base32.
    pub totp_secret: String,
}

impl std::fmt::Debug for PersonSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonSecrets").finish_non_exhaustive()
    }
}

/// A person of the web console to store (SPEC §9): an administrator, a
/// regulator or a finance clerk, never an enterprise (enterprises use the
/// API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// What they log in as; unique.
    pub login: String,
    /// Their name, as the console shows it.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Password hash and TOTP secret.
    pub secrets: PersonSecrets,
}

/// A ledger transaction: legs applied together or not at all.
#[derive(Debug, Clone)]
pub struct LedgerCommand {
    /// Journal kind, e.g. `ledger.allocation`.
    pub kind: String,
    /// The legs.
    pub legs: Vec<Leg>,
    /// Free-text reference kept with the transaction (bank reference, order id).
    pub reference: Option<String>,
}

impl Command {
    /// Issue new supply to a participant (an allocation).
    #[must_use]
    pub fn allocate(participant: Uuid, instrument: InstrumentCode, quantity: Decimal) -> Self {
        Self::single(
            "ledger.allocation",
            Leg::Transfer {
                instrument,
                from: Owner::System(SystemAccount::Issuance),
                to: Owner::Participant(participant),
                quantity,
            },
        )
    }

    /// Move rights or cash between two owners.
    #[must_use]
    pub fn transfer(instrument: InstrumentCode, from: Owner, to: Owner, quantity: Decimal) -> Self {
        Self::single(
            "ledger.transfer",
            Leg::Transfer {
                instrument,
                from,
                to,
                quantity,
            },
        )
    }

    /// Cash from the settlement bank into a participant's cash account.
    #[must_use]
    pub fn deposit(participant: Uuid, amount: Decimal) -> Self {
        Self::single(
            "cash.deposit",
            Leg::Transfer {
                instrument: InstrumentCode::cny(),
                from: Owner::System(SystemAccount::ExternalCash),
                to: Owner::Participant(participant),
                quantity: amount,
            },
        )
    }

    /// Cash from a participant's cash account back to the settlement bank.
    #[must_use]
    pub fn withdraw(participant: Uuid, amount: Decimal) -> Self {
        Self::single(
            "cash.withdrawal",
            Leg::Transfer {
                instrument: InstrumentCode::cny(),
                from: Owner::Participant(participant),
                to: Owner::System(SystemAccount::ExternalCash),
                quantity: amount,
            },
        )
    }

    /// Surrender rights for compliance (into the surrendered sink).
    #[must_use]
    pub fn surrender(participant: Uuid, instrument: InstrumentCode, quantity: Decimal) -> Self {
        Self::single(
            "ledger.surrender",
            Leg::Transfer {
                instrument,
                from: Owner::Participant(participant),
                to: Owner::System(SystemAccount::Surrendered),
                quantity,
            },
        )
    }

    /// Retire or cancel rights (into the retired sink).
    #[must_use]
    pub fn retire(participant: Uuid, instrument: InstrumentCode, quantity: Decimal) -> Self {
        Self::single(
            "ledger.retirement",
            Leg::Transfer {
                instrument,
                from: Owner::Participant(participant),
                to: Owner::System(SystemAccount::Retired),
                quantity,
            },
        )
    }

    /// Reclaim rights into the government reserve.
    #[must_use]
    pub fn reclaim(participant: Uuid, instrument: InstrumentCode, quantity: Decimal) -> Self {
        Self::single(
            "ledger.reclamation",
            Leg::Transfer {
                instrument,
                from: Owner::Participant(participant),
                to: Owner::System(SystemAccount::Reserve),
                quantity,
            },
        )
    }

    /// Reserve part of an owner's available balance.
    #[must_use]
    pub fn place_hold(
        hold: Uuid,
        owner: Owner,
        instrument: InstrumentCode,
        quantity: Decimal,
        purpose: ets_core::HoldPurpose,
    ) -> Self {
        Self::single(
            "ledger.hold_placed",
            Leg::PlaceHold {
                hold,
                instrument,
                owner,
                quantity,
                purpose,
            },
        )
    }

    /// Release what a hold still reserves.
    #[must_use]
    pub fn release_hold(hold: Uuid) -> Self {
        Self::single("ledger.hold_released", Leg::ReleaseHold { hold })
    }

    /// Consume part of a hold into another owner's account.
    #[must_use]
    pub fn settle_hold(hold: Uuid, to: Owner, quantity: Decimal) -> Self {
        Self::single(
            "ledger.hold_settled",
            Leg::SettleHold { hold, to, quantity },
        )
    }

    fn single(kind: &str, leg: Leg) -> Self {
        Self::Ledger(LedgerCommand {
            kind: kind.to_owned(),
            legs: vec![leg],
            reference: None,
        })
    }

    /// The same command with a reference kept on its ledger transaction.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        if let Self::Ledger(ledger) = &mut self {
            ledger.reference = Some(reference.into());
        }
        self
    }
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    /// Whose key (the client id): keys of different clients never collide.
    pub scope: String,
    /// The key as sent.
    pub key: String,
    /// A digest of the request (method, path, body).
    pub fingerprint: String,
}

/// What a committed command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// A participant was registered.
    Participant(Participant),
    /// An instrument was defined.
    Instrument(Instrument),
    /// A credential was issued.
    CredentialCreated {
        /// The new client id.
        client_id: String,
    },
    /// A credential was revoked.
    CredentialRevoked {
        /// The revoked client id.
        client_id: String,
    },
    /// A console person was created, reset or disabled.
    Person {
        /// Their login.
        login: String,
    },
    /// A ledger transaction was committed.
    Ledger(Transaction),
    /// Rights were allocated.
    Allocation(Allocation),
    /// The signing key was stored.
    SigningKeyCreated {
        /// Its kid.
        kid: String,
    },
    /// An order was placed (and perhaps traded).
    Order(Placed),
    /// An order was cancelled.
    OrderCancelled(Order),
    /// A negotiated trade was proposed.
    Proposal(Proposal),
    /// A proposal was accepted (with its trade), rejected or cancelled.
    ProposalAnswered(Resolved),
    /// These proposals expired.
    ProposalsExpired(Vec<Uuid>),
    /// An auction was offered.
    Auction(Auction),
    /// A bid was placed.
    Bid(AuctionBid),
    /// An auction was closed.
    AuctionClosed(Closed),
    /// Rights were reclaimed.
    Reclamation(Reclamation),
    /// A pledge was made or released.
    Pledge(Pledge),
    /// An invoice was paid.
    InvoicePaid(Paid),
    /// Emissions were recorded.
    Emission(Emission),
    /// Allowances or offsets were surrendered.
    Surrender(Surrender),
}

/// A committed ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The transaction's id.
    pub id: Uuid,
    /// Its journal kind.
    pub kind: String,
    /// Commit time.
    pub at: DateTime<Utc>,
    /// Seq of its journal entry.
    pub journal_seq: i64,
    /// Its reference, if any.
    pub reference: Option<String>,
    /// The postings, in leg order.
    pub postings: Vec<Posting>,
}

/// A command's committed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// What the command produced.
    pub outcome: Outcome,
    /// True when this is the stored result of an earlier request with the
    /// same idempotency key, and nothing was done now.
    pub replayed: bool,
}

/// Why a command was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A ledger rule refused it.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A named participant does not exist.
    #[error("no such participant")]
    UnknownParticipant,
    /// Another participant already has this credit code.
    #[error("a participant with this credit code already exists")]
    DuplicateCreditCode,
    /// A participant with this id already exists.
    #[error("a participant with this id already exists")]
    DuplicateParticipant,
    /// An instrument with this code already exists.
    #[error("an instrument with this code already exists")]
    DuplicateInstrument,
    /// A credential with this client id already exists.
    #[error("a credential with this client id already exists")]
    DuplicateCredential,
    /// No such credential (or already revoked).
    #[error("no such active credential")]
    UnknownCredential,
    /// An enterprise credential must name its participant, others must not.
    #[error("an enterprise credential needs a participant; other roles must not have one")]
    CredentialParticipantMismatch,
    /// A person with this login already exists.
    #[error("a person with this login already exists")]
    DuplicatePerson,
    /// No such active person.
    #[error("no such active person")]
    UnknownPerson,
    /// A login is 1 to 64 of ASCII letters, digits and `.`, `_`, `-`, `@`;
    /// a name is not blank and holds no control character.
    #[error("a login is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', '@'; a name is not blank")]
    InvalidPerson,
    /// Console people are administrators, regulators or finance staff.
    #[error("a console person is an admin, a regulator or finance; enterprises use the API")]
    PersonRole,
    /// A signing key is already stored.
    #[error("a signing key is already stored")]
    SigningKeyExists,
    /// CNY is not allocated: cash enters through deposits.
    #[error("cash is not allocated; record a deposit instead")]
    CashNotAllocatable,
    /// The idempotency key was used before with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// No such order (or not the caller's).
    #[error("no such order")]
    UnknownOrder,
    /// The order is already filled or cancelled.
    #[error("the order is already filled or cancelled")]
    OrderNotOpen,
    /// No such proposal (or not the caller's to answer).
    #[error("no such negotiated trade")]
    UnknownProposal,
    /// The proposal was already settled, rejected, cancelled or expired.
    #[error("the negotiated trade is no longer proposed")]
    ProposalNotOpen,
    /// The proposal's time has passed.
    #[error("the negotiated trade has expired")]
    ProposalExpired,
    /// An expiry must lie in the future (and within 30 days).
    #[error("expires_at must be in the future and at most 30 days ahead")]
    InvalidExpiry,
    /// Nothing was due (the sweeper found no expired proposal).
    #[error("nothing is due")]
    NothingDue,
    /// No such auction.
    #[error("no such auction")]
    UnknownAuction,
    /// The auction takes no more bids, or is already closed.
    #[error("the auction is closed")]
    AuctionClosed,
    /// A bid below the reserve price.
    #[error("the bid's price is below the auction's reserve price")]
    BidBelowReserve,
    /// The reclamation's reason is not one of the known reasons.
    #[error("reason must be closure, relocation, unused, penalty or other")]
    InvalidReason,
    /// The pledgee or the reference is empty or too long.
    #[error("pledgee and reference must be 1-200 characters")]
    InvalidPledge,
    /// No such pledge.
    #[error("no such pledge")]
    UnknownPledge,
    /// The pledge was already released.
    #[error("the pledge was already released")]
    PledgeReleased,
    /// The offering or a bid breaks an auction rule.
    #[error(transparent)]
    Auction(#[from] ets_core::auction::AuctionError),
    /// No such invoice.
    #[error("no such invoice")]
    UnknownInvoice,
    /// The pollutant's instruments are counted in another unit.
    #[error("this pollutant's instruments are counted in another unit: one pollutant, one unit")]
    UnitMismatch,
    /// A payment's reference is empty or too long.
    #[error("the reference must be 1-200 characters")]
    InvalidReference,
    /// A payment source other than `cash_account` or `external`.
    #[error("the source must be cash_account or external")]
    InvalidPaymentSource,
    /// The payment's amount does not fit what the invoice owes.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// An emission kind other than `carbon` or `pollutant`.
    #[error("kind must be carbon or pollutant")]
    InvalidEmissionKind,
    /// A pollutant record without its pollutant.
    #[error("a pollutant record must name its pollutant")]
    PollutantRequired,
    /// A carbon record that names a pollutant.
    #[error("a carbon record names no pollutant")]
    PollutantNotAllowed,
    /// A pollutant no instrument counts.
    #[error("no instrument counts this pollutant")]
    UnknownPollutant,
    /// Negative emissions.
    #[error("the quantity must not be negative")]
    NegativeQuantity,
    /// Only carbon allowances and offsets are surrendered.
    #[error("only carbon allowances and offsets can be surrendered")]
    NotSurrenderable,
    /// An allowance or offset of a later vintage than the period.
    #[error("the instrument's vintage is later than the period")]
    VintageNotEligible,
    /// Offsets beyond 5 % of the period's carbon obligation.
    #[error("offsets may cover at most 5 % of the period's carbon obligation")]
    OffsetLimitExceeded,
}

impl CommandError {
    /// The stable snake_case code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Ledger(reason) => reason.code(),
            Self::UnknownParticipant => "unknown_participant",
            Self::DuplicateCreditCode => "duplicate_credit_code",
            Self::DuplicateParticipant => "duplicate_participant",
            Self::DuplicateInstrument => "duplicate_instrument",
            Self::DuplicateCredential => "duplicate_credential",
            Self::UnknownCredential => "unknown_credential",
            Self::CredentialParticipantMismatch => "credential_participant_mismatch",
            Self::DuplicatePerson => "duplicate_person",
            Self::UnknownPerson => "unknown_person",
            Self::PersonRole => "person_role",
            Self::InvalidPerson => "invalid_person",
            Self::SigningKeyExists => "signing_key_exists",
            Self::CashNotAllocatable => "invalid_instrument",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::UnknownOrder => "order_not_found",
            Self::OrderNotOpen => "order_not_open",
            Self::UnknownProposal => "negotiated_trade_not_found",
            Self::ProposalNotOpen => "negotiated_trade_not_open",
            Self::ProposalExpired => "negotiated_trade_expired",
            Self::InvalidExpiry => "invalid_expiry",
            Self::NothingDue => "nothing_due",
            Self::UnknownAuction => "auction_not_found",
            Self::AuctionClosed => "auction_closed",
            Self::BidBelowReserve => "bid_below_reserve",
            Self::Auction(reason) => reason.code(),
            Self::InvalidReason => "invalid_reason",
            Self::InvalidPledge => "invalid_pledge",
            Self::UnknownPledge => "pledge_not_found",
            Self::PledgeReleased => "pledge_not_active",
            Self::UnknownInvoice => "invoice_not_found",
            Self::UnitMismatch => "unit_mismatch",
            Self::InvalidReference => "invalid_reference",
            Self::InvalidPaymentSource => "invalid_source",
            Self::Payment(reason) => reason.code(),
            Self::InvalidEmissionKind => "invalid_kind",
            Self::PollutantRequired => "pollutant_required",
            Self::PollutantNotAllowed => "pollutant_not_allowed",
            Self::UnknownPollutant => "unknown_pollutant",
            Self::NegativeQuantity => "quantity_must_not_be_negative",
            Self::NotSurrenderable => "instrument_not_surrenderable",
            Self::VintageNotEligible => "vintage_not_eligible",
            Self::OffsetLimitExceeded => "offset_limit_exceeded",
        }
    }
}

/// A request to the writer: who asks, with what key, to do what.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who causes the change (journaled).
    pub actor: Actor,
    /// The request's idempotency key, if any.
    pub idempotency: Option<IdempotencyKey>,
    /// What to do.
    pub command: Command,
}
