//! Sealed-bid uniform-price auctions on the ledger in memory: the offered
//! quantity held on the reserve (or issued at the close), bids holding
//! cash, one clearing price, unsold quantity and unspent cash returned.
//! Closing times move the clock; nothing sleeps.

mod common;

use chrono::Duration;
use common::*;
use ets_core::{Decimal, LedgerError, SystemAccount};
use ets_engine::{AuctionStatus, Command, CommandError, Source};
use uuid::Uuid;

#[test]
fn an_auction_from_the_reserve_caps_shares_and_charges_one_price() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [p1, p2, p3] = ledger.participants([1, 2, 3]);
    // The reserve gets 100 t back from a closing plant.
    ledger.allocate(p3, &so2, "100");
    ledger
        .execute(Command::reclaim(p3, so2.clone(), dec("100")))
        .expect("reclaim");
    for (who, cash) in [(p1, "2000.00"), (p2, "2000.00"), (p3, "1000.00")] {
        ledger.deposit(who, cash);
    }
    let mut terms = ledger.auction_of("10", "200.00", Source::Reserve);
    terms.lot_size = Some(dec("1"));
    terms.max_bidder_share = Some(dec("0.5"));
    let auction = ledger.offer(terms).expect("offer");
    assert_eq!(ledger.balance(SystemAccount::Reserve, &so2), dec("100"));

    let b1 = ledger.bid(auction.id, p1, "4", "250.00").expect("bid");
    let b2 = ledger.bid(auction.id, p2, "6", "240.00").expect("bid");
    let b3 = ledger.bid(auction.id, p3, "4", "230.00").expect("bid");
    let b4 = ledger.bid(auction.id, p1, "3", "230.00").expect("bid");
    assert_eq!(
        ledger.bid(auction.id, p2, "2", "190.00").map(|_| ()),
        Err(CommandError::BidBelowReserve)
    );
    assert_eq!(
        ledger
            .bid(auction.id, p2, "1.5", "250.00")
            .map_err(|e| e.code()),
        Err("bid_not_multiple_of_lot")
    );
    // Each bid holds quantity × its price.
    assert_eq!(ledger.account(p1, &cny()), (dec("2000.00"), dec("1690.00")));

    let closed = ledger.close(auction.id).expect("close");
    // p2's 6 t is capped to 5; p1's cheaper bid is trimmed to 1 t; 250
    // and 240 fill in full (4 + 5); the 1 t left at 230 goes pro rata
    // (⌊1 × 4/5⌋ = ⌊1 × 1/5⌋ = 0) and its remainder to the earlier bid.
    let awards: Vec<(Uuid, Option<Decimal>)> =
        closed.bids.iter().map(|b| (b.id, b.awarded)).collect();
    assert_eq!(
        awards,
        [
            (b1.id, Some(dec("4"))),
            (b2.id, Some(dec("5"))),
            (b3.id, Some(dec("1"))),
            (b4.id, Some(dec("0"))),
        ]
    );
    assert_eq!(closed.auction.status, AuctionStatus::Cleared);
    assert_eq!(closed.auction.clearing_price, Some(dec("230.00")));
    assert_eq!(closed.auction.sold_quantity, Some(dec("10")));
    let paid: Vec<Decimal> = closed.trades.iter().map(|t| t.value).collect();
    assert_eq!(paid, [dec("920.00"), dec("1150.00"), dec("230.00")]);
    assert_eq!(ledger.account(p1, &cny()), (dec("1080.00"), dec("0")));
    assert_eq!(ledger.account(p2, &cny()), (dec("850.00"), dec("0")));
    assert_eq!(ledger.account(p3, &cny()), (dec("770.00"), dec("0")));
    assert_eq!(ledger.account(p1, &so2), (dec("4"), dec("0")));
    assert_eq!(ledger.account(p2, &so2), (dec("5"), dec("0")));
    assert_eq!(ledger.account(p3, &so2), (dec("1"), dec("0")));
    assert_eq!(ledger.balance(SystemAccount::Reserve, &so2), dec("90"));
    assert_eq!(
        ledger.balance(SystemAccount::AuctionProceeds, &cny()),
        dec("2300.00")
    );
    assert_eq!(
        ledger.close(auction.id).map(|_| ()),
        Err(CommandError::AuctionClosed)
    );
    assert_eq!(
        ledger.bid(auction.id, p2, "1", "300.00").map(|_| ()),
        Err(CommandError::AuctionClosed)
    );
    assert_eq!(ledger.memory.bids(auction.id).len(), 4);
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}

#[test]
fn an_issued_offering_sells_what_is_bid_and_an_auction_without_bids_fails() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let p = ledger.participant(1);
    ledger.deposit(p, "1000.00");
    // Undersubscribed: 3 t of 5 are bid, at the reserve; 2 are never issued.
    let terms = ledger.auction_of("5", "100.00", Source::Issuance);
    let auction = ledger.offer(terms).expect("offer");
    ledger.bid(auction.id, p, "3", "100.00").expect("bid");
    let closed = ledger.close(auction.id).expect("close");
    assert_eq!(
        (closed.auction.clearing_price, closed.auction.sold_quantity),
        (Some(dec("100.00")), Some(dec("3")))
    );
    assert_eq!(ledger.account(p, &so2), (dec("3"), dec("0")));
    assert_eq!(ledger.balance(SystemAccount::Issuance, &so2), dec("-3"));
    assert_eq!(ledger.account(p, &cny()), (dec("700.00"), dec("0")));

    // No bid: the auction fails and nothing moves.
    let terms = ledger.auction_of("5", "100.00", Source::Issuance);
    let empty = ledger.offer(terms).expect("offer");
    let closed = ledger.close(empty.id).expect("close");
    assert_eq!(closed.auction.status, AuctionStatus::Failed);
    assert!(closed.trades.is_empty());
    assert_eq!(ledger.balance(SystemAccount::Issuance, &so2), dec("-3"));

    // An auction with a closing time takes no bid after it, and the
    // scheduler closes it.
    let mut timed = ledger.auction_of("1", "10.00", Source::Issuance);
    timed.closes_at = Some(ledger.now() + Duration::minutes(5));
    let timed = ledger.offer(timed).expect("offer");
    ledger.bid(timed.id, p, "1", "10.00").expect("bid");
    assert_eq!(ledger.close_due_auctions(), 0);
    ledger.advance(Duration::minutes(6));
    assert_eq!(
        ledger.bid(timed.id, p, "1", "11.00").map(|_| ()),
        Err(CommandError::AuctionClosed)
    );
    assert_eq!(ledger.close_due_auctions(), 1);
    assert_eq!(ledger.close_due_auctions(), 0);
    let stored = ledger.memory.auction(timed.id).expect("auction");
    assert_eq!(stored.status, AuctionStatus::Cleared);
    assert_eq!(ledger.account(p, &so2), (dec("4"), dec("0")));

    // A reserve offering needs the reserve to hold the quantity.
    let terms = ledger.auction_of("5", "100.00", Source::Reserve);
    assert_eq!(
        ledger.offer(terms).map(|_| ()),
        Err(CommandError::Ledger(
            LedgerError::InsufficientAvailableBalance
        ))
    );
    ledger.assert_conserved();
}

#[test]
fn an_auction_takes_bids_until_its_closing_instant_and_not_at_it() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let [early, late] = ledger.participants([1, 2]);
    ledger.deposit(early, "100.00");
    ledger.deposit(late, "100.00");
    let mut terms = ledger.auction_of("2", "10.00", Source::Issuance);
    terms.closes_at = Some(ledger.now() + Duration::minutes(5));
    let auction = ledger.offer(terms).expect("offer");

    ledger.advance(Duration::minutes(5) - Duration::microseconds(1));
    ledger
        .bid(auction.id, early, "1", "12.00")
        .expect("a microsecond before the close");
    assert_eq!(ledger.close_due_auctions(), 0);

    ledger.advance(Duration::microseconds(1));
    assert_eq!(
        ledger.bid(auction.id, late, "1", "15.00").map(|_| ()),
        Err(CommandError::AuctionClosed)
    );
    assert_eq!(ledger.account(late, &cny()), (dec("100.00"), dec("0")));
    assert_eq!(ledger.close_due_auctions(), 1);
    let closed = ledger.memory.auction(auction.id).expect("auction");
    assert_eq!(
        (closed.clearing_price, closed.sold_quantity),
        (Some(dec("12.00")), Some(dec("1")))
    );
    assert_eq!(ledger.account(early, &so2), (dec("1"), dec("0")));
    assert_eq!(ledger.account(early, &cny()), (dec("88.00"), dec("0")));
    ledger.assert_conserved();
}

#[test]
fn a_bid_and_the_close_in_one_batch_credit_the_winners_existing_account() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let p = ledger.participant(1);
    ledger.allocate(p, &so2, "5");
    ledger.deposit(p, "100.00");
    let terms = ledger.auction_of("1", "10.00", Source::Issuance);
    let auction = ledger.offer(terms).expect("offer");
    let bid = ledger.new_bid(auction.id, p, "1", "10.00");
    let results = ledger.batch(vec![
        Command::PlaceBid(bid),
        Command::CloseAuction { id: auction.id },
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(ledger.account(p, &so2), (dec("6"), dec("0")));
    assert_eq!(ledger.account(p, &cny()), (dec("90.00"), dec("0")));
    ledger.assert_conserved();
}
