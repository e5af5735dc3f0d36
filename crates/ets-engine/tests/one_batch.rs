//! Requests that refer, in one batch, to what an earlier request of the
//! same batch created. The HTTP API cannot send such a batch today (it makes
//! every id itself, so a client learns an id only once its batch has
//! committed), but `Store::submit` takes the ids its caller chose, and the
//! writer batches whatever is waiting.
//!
//! What such a batch settles against must be named by the request that
//! creates the thing, not only found once it is stored: a proposal names
//! both parties' rights and cash, an offered auction its source and
//! proceeds accounts and the accounts of those bidding on it in the batch.
//! (Before, both were settled against accounts never loaded; a database
//! refused the postings and the writer retried each request alone.)

mod common;

use chrono::Duration;
use common::*;
use ets_core::matching::Side;
use ets_engine::{
    Answer, AuctionStatus, Command, NewPledge, OrderStatus, Outcome, ProposalStatus, Source,
};

#[test]
fn an_order_placed_and_cancelled_in_one_batch_releases_its_hold() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let seller = ledger.participant(1);
    ledger.allocate(seller, &so2, "5");
    let order = ledger.order(seller, Side::Sell, "2", "10.00");
    let id = order.id;
    let results = ledger.batch(vec![
        Command::PlaceOrder(order),
        Command::CancelOrder {
            id,
            owner: Some(seller),
        },
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stored = ledger.memory.order(id).expect("order");
    assert_eq!(stored.status, OrderStatus::Cancelled);
    assert_eq!(ledger.account(seller, &so2), (dec("5"), dec("0")));
    ledger.assert_conserved();
}

#[test]
fn a_pledge_made_and_released_in_one_batch_frees_the_rights() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let owner = ledger.participant(1);
    ledger.allocate(owner, &so2, "5");
    let pledge = NewPledge {
        id: ledger.id(),
        participant_id: owner,
        instrument: so2.clone(),
        quantity: dec("3"),
        pledgee: "中国银行苏州分行".to_owned(),
        reference: "PLG-2026-002".to_owned(),
    };
    let id = pledge.id;
    let results = ledger.batch(vec![Command::Pledge(pledge), Command::ReleasePledge { id }]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(ledger.memory.pledge(id).expect("pledge").status, "released");
    assert_eq!(ledger.account(owner, &so2), (dec("5"), dec("0")));
}

/// The buyer's cash is loaded for a proposal made in the same batch.
#[test]
fn a_proposal_accepted_in_the_batch_that_makes_it_settles() {
    let mut ledger = TestLedger::with_so2(); // commission 0.1 %
    let so2 = so2();
    let [seller, buyer] = ledger.participants([1, 2]);
    ledger.allocate(seller, &so2, "5");
    ledger.deposit(buyer, "1000.00");
    let proposal = ledger.proposal(seller, buyer, "1", "10.00", Duration::hours(1));
    let id = proposal.id;
    let results = ledger.batch(vec![
        Command::Propose(proposal),
        Command::AnswerProposal {
            id,
            answer: Answer::Accept,
            by: buyer,
        },
    ]);
    match &results[1] {
        Ok(Outcome::ProposalAnswered(resolved)) => {
            assert_eq!(resolved.proposal.status, ProposalStatus::Settled);
        }
        other => panic!("the acceptance answered {other:?}"),
    }
    // 10.00 + 0.01 commission from the buyer; 10.00 − 0.01 to the seller.
    assert_eq!(ledger.account(buyer, &cny()), (dec("989.99"), dec("0")));
    assert_eq!(ledger.account(seller, &cny()), (dec("9.99"), dec("0")));
    ledger.assert_conserved();
}

/// An auction offered in the batch: the close credits the winner's rights
/// and debits issuance, both loaded (in memory, an unloaded account's
/// postings panic as a database's postings key would refuse them).
#[test]
fn an_auction_offered_bid_on_and_closed_in_one_batch_awards_the_bid() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let bidder = ledger.participant(1);
    ledger.allocate(bidder, &so2, "2");
    ledger.deposit(bidder, "100.00");
    let terms = ledger.auction_of("1", "10.00", Source::Issuance);
    let id = terms.id;
    let bid = ledger.new_bid(id, bidder, "1", "10.00");
    let results = ledger.batch(vec![
        Command::CreateAuction(terms),
        Command::PlaceBid(bid),
        Command::CloseAuction { id },
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let auction = ledger.memory.auction(id).expect("auction");
    assert_eq!(auction.status, AuctionStatus::Cleared);
    assert_eq!(ledger.account(bidder, &so2), (dec("3"), dec("0")));
    assert_eq!(ledger.account(bidder, &cny()), (dec("90.00"), dec("0")));
    ledger.assert_conserved();
}
