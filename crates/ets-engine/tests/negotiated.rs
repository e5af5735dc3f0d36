//! Negotiated trades (协议转让) on the ledger in memory: the seller's rights
//! held, delivery versus payment on acceptance, release on rejection,
//! cancellation or expiry. Deadlines move the clock; nothing sleeps.

mod common;

use chrono::Duration;
use common::*;
use ets_core::LedgerError;
use ets_engine::{Answer, CommandError, ProposalStatus};

#[test]
fn a_negotiated_trade_holds_the_rights_and_settles_on_acceptance() {
    let mut ledger = TestLedger::with_so2(); // commission 0.1 %
    let so2 = so2();
    let [seller, buyer] = ledger.participants([1, 2]);
    ledger.allocate(seller, &so2, "10");
    ledger.deposit(buyer, "5000.00");
    let hour = Duration::hours(1);

    // 3.3333 t at 301.07: value 1003.56 (1003.556... half-up), commission 1.00 each.
    let offer = ledger
        .propose(seller, buyer, "3.3333", "301.07", hour)
        .expect("propose");
    assert_eq!(offer.status, ProposalStatus::Proposed);
    assert_eq!(ledger.account(seller, &so2), (dec("10"), dec("3.3333")));
    // Only the named buyer answers; the seller cannot accept its own offer.
    assert_eq!(
        ledger.answer(offer.id, Answer::Accept, seller).map(|_| ()),
        Err(CommandError::UnknownProposal)
    );
    let settled = ledger
        .answer(offer.id, Answer::Accept, buyer)
        .expect("accept");
    assert_eq!(settled.proposal.status, ProposalStatus::Settled);
    let trade = settled.trade.expect("a trade");
    assert_eq!(
        (trade.value, trade.buyer_commission, trade.seller_commission),
        (dec("1003.56"), dec("1.00"), dec("1.00"))
    );
    assert_eq!(settled.proposal.trade_id, Some(trade.id));
    assert_eq!(ledger.account(seller, &so2), (dec("6.6667"), dec("0")));
    assert_eq!(ledger.account(buyer, &so2), (dec("3.3333"), dec("0")));
    assert_eq!(ledger.account(buyer, &cny()), (dec("3995.44"), dec("0")));
    assert_eq!(ledger.account(seller, &cny()), (dec("1002.56"), dec("0")));
    assert_eq!(
        ledger.answer(offer.id, Answer::Reject, buyer).map(|_| ()),
        Err(CommandError::ProposalNotOpen)
    );

    // Rejected and cancelled offers release the rights.
    let second = ledger
        .propose(seller, buyer, "1", "10", hour)
        .expect("propose");
    ledger
        .answer(second.id, Answer::Reject, buyer)
        .expect("reject");
    let third = ledger
        .propose(seller, buyer, "1", "10", hour)
        .expect("propose");
    assert_eq!(
        ledger.answer(third.id, Answer::Cancel, buyer).map(|_| ()),
        Err(CommandError::UnknownProposal)
    );
    ledger
        .answer(third.id, Answer::Cancel, seller)
        .expect("cancel");
    assert_eq!(ledger.account(seller, &so2), (dec("6.6667"), dec("0")));

    // A buyer without the cash cannot accept; the offer stays open.
    let dear = ledger
        .propose(seller, buyer, "5", "1000", hour)
        .expect("propose");
    assert_eq!(
        ledger.answer(dear.id, Answer::Accept, buyer).map(|_| ()),
        Err(CommandError::Ledger(
            LedgerError::InsufficientAvailableBalance
        ))
    );
    let stored = ledger.memory.proposal(dear.id).expect("proposal");
    assert_eq!(stored.status, ProposalStatus::Proposed);

    // An offer that lapses is released by the sweeper, and cannot be
    // accepted once its time has passed.
    let brief = ledger
        .propose(seller, buyer, "1", "10", Duration::minutes(5))
        .expect("propose");
    assert_eq!(ledger.expire_proposals(), 0);
    ledger.advance(Duration::minutes(6));
    assert_eq!(
        ledger.answer(brief.id, Answer::Accept, buyer).map(|_| ()),
        Err(CommandError::ProposalExpired)
    );
    assert_eq!(ledger.expire_proposals(), 1);
    assert_eq!(ledger.expire_proposals(), 0);
    let stored = ledger.memory.proposal(brief.id).expect("proposal");
    assert_eq!(stored.status, ProposalStatus::Expired);
    assert_eq!(ledger.account(seller, &so2), (dec("6.6667"), dec("5")));

    for (quantity, price, expires, reason) in [
        ("1", "10", -hour, CommandError::InvalidExpiry),
        ("1", "10", Duration::days(31), CommandError::InvalidExpiry),
        (
            "100",
            "10",
            hour,
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance),
        ),
    ] {
        assert_eq!(
            ledger
                .propose(seller, buyer, quantity, price, expires)
                .map(|_| ()),
            Err(reason)
        );
    }
    assert_eq!(
        ledger.propose(seller, seller, "1", "10", hour).map(|_| ()),
        Err(CommandError::Ledger(LedgerError::SameAccount))
    );
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}

#[test]
fn a_proposal_lapses_at_its_expiry_instant_not_a_microsecond_later() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [seller, buyer] = ledger.participants([1, 2]);
    ledger.allocate(seller, &so2, "2");
    ledger.deposit(buyer, "100.00");
    let in_time = ledger
        .propose(seller, buyer, "1", "10", Duration::minutes(5))
        .expect("propose");
    let late = ledger
        .propose(seller, buyer, "1", "10", Duration::minutes(5))
        .expect("propose");

    ledger.advance(Duration::minutes(5) - Duration::microseconds(1));
    assert_eq!(ledger.expire_proposals(), 0);
    ledger
        .answer(in_time.id, Answer::Accept, buyer)
        .expect("accepted a microsecond before the expiry");

    ledger.advance(Duration::microseconds(1));
    assert_eq!(
        ledger.answer(late.id, Answer::Accept, buyer).map(|_| ()),
        Err(CommandError::ProposalExpired)
    );
    // Only the late one is due: the settled one is not expired again.
    assert_eq!(ledger.expire_proposals(), 1);
    assert_eq!(ledger.account(seller, &so2), (dec("1"), dec("0")));
    // 10.00 + 0.01 commission.
    assert_eq!(ledger.account(buyer, &cny()), (dec("89.99"), dec("0")));
    ledger.assert_conserved();
}

#[test]
fn expiring_several_proposals_releases_each_hold_once_in_one_transaction() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [seller, buyer, other] = ledger.participants([1, 2, 3]);
    ledger.allocate(seller, &so2, "5");
    let short = Duration::minutes(1);
    for (to, quantity) in [(buyer, "1"), (other, "1.5"), (buyer, "0.5")] {
        ledger
            .propose(seller, to, quantity, "10", short)
            .expect("propose");
    }
    let kept = ledger
        .propose(seller, buyer, "2", "10", Duration::hours(1))
        .expect("propose");
    assert_eq!(ledger.account(seller, &so2), (dec("5"), dec("5")));
    ledger.advance(Duration::minutes(2));
    let transactions = ledger.memory.transactions().len();
    assert_eq!(ledger.expire_proposals(), 3);
    assert_eq!(ledger.memory.transactions().len(), transactions + 1);
    // What the one still open holds.
    assert_eq!(ledger.account(seller, &so2), (dec("5"), dec("2")));
    let open: Vec<_> = ledger
        .memory
        .proposals()
        .filter(|p| p.status == ProposalStatus::Proposed)
        .map(|p| p.id)
        .collect();
    assert_eq!(open, [kept.id]);
    ledger.assert_conserved();
}
