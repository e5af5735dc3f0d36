//! The order book on both backends: figures computed by hand, to the fen.

mod common;

use std::sync::Arc;

use common::*;
use ets_core::matching::Side;
use ets_core::{
    AccountKey, Decimal, InstrumentCode, LedgerError, Owner, Participant, RegionCode, SystemAccount,
};
use ets_store::{
    Answer, Auction, AuctionBid, AuctionStatus, Book, BookLevel, Closed, Command, CommandError,
    NewAuction, NewBid, NewOrder, NewPledge, NewProposal, NewReclamation, Order, OrderFilter,
    OrderStatus, Outcome, Placed, Proposal, ProposalStatus, Resolved, Source, Store, StoreError,
    SystemClock, TradeFilter,
};
use ets_testkit::TestDatabase;
use uuid::Uuid;

async fn place(
    store: &Store,
    participant: Uuid,
    side: Side,
    quantity: &str,
    price: &str,
) -> Result<Placed, StoreError> {
    let order = NewOrder {
        id: Uuid::now_v7(),
        participant_id: participant,
        instrument: so2(),
        side,
        quantity: dec(quantity),
        price: dec(price),
    };
    let committed = store.execute(actor(), Command::PlaceOrder(order)).await?;
    match committed.outcome {
        Outcome::Order(placed) => Ok(placed),
        other => panic!("an order outcome, got {other:?}"),
    }
}

async fn cancel(store: &Store, id: Uuid, owner: Uuid) -> Result<Order, StoreError> {
    let committed = store
        .execute(
            actor(),
            Command::CancelOrder {
                id,
                owner: Some(owner),
            },
        )
        .await?;
    match committed.outcome {
        Outcome::OrderCancelled(order) => Ok(order),
        other => panic!("a cancelled order, got {other:?}"),
    }
}

fn refusal(result: Result<impl std::fmt::Debug, StoreError>) -> CommandError {
    match result {
        Err(StoreError::Command(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn account(
    store: &Store,
    participant: Uuid,
    instrument: &InstrumentCode,
) -> (Decimal, Decimal) {
    store
        .account(
            &AccountKey::new(Owner::Participant(participant), instrument.clone()),
            None,
        )
        .await
        .expect("read")
        .map_or((Decimal::ZERO, Decimal::ZERO), |a| (a.balance, a.held))
}

fn level(price: &str, quantity: &str) -> BookLevel {
    BookLevel {
        price: dec(price),
        quantity: dec(quantity),
    }
}

#[tokio::test]
async fn a_buy_sweeps_two_asks_at_their_prices_and_every_fen_is_accounted_for() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await; // commission 0.1 %
        let (a, b, c) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        for (who, quantity) in [(a, "10"), (c, "5")] {
            store
                .execute(actor(), Command::allocate(who, so2.clone(), dec(quantity)))
                .await
                .expect("allocate");
        }
        store
            .execute(actor(), Command::deposit(b, dec("10000.00")))
            .await
            .expect("deposit");

        let ask_a = place(&store, a, Side::Sell, "4", "250.00")
            .await
            .expect("ask");
        let ask_c = place(&store, c, Side::Sell, "3.5", "248.50")
            .await
            .expect("ask");
        assert!(ask_a.trades.is_empty() && ask_c.trades.is_empty());
        assert_eq!(account(&store, a, &so2).await, (dec("10"), dec("4")));

        // 6 t at 251.00: hold 1506.00 + commission 1.51 = 1507.51.
        let bid = place(&store, b, Side::Buy, "6", "251.00")
            .await
            .expect("bid");
        assert_eq!(bid.order.hold_amount, dec("1507.51"));
        assert_eq!(bid.order.status, OrderStatus::Filled, "{:?}", db.kind);
        let fills: Vec<_> = bid
            .trades
            .iter()
            .map(|t| {
                (
                    t.quantity,
                    t.price,
                    t.value,
                    t.buyer_commission,
                    t.seller_commission,
                    t.seller_id,
                )
            })
            .collect();
        // First the cheaper ask: 3.5 × 248.50 = 869.75, commissions 0.86975 → 0.87.
        // Then 2.5 × 250.00 = 625.00; the buyer's commission on the cumulative
        // 1494.75 is 1.49, less 0.87 paid = 0.62; the seller's on 625.00 is 0.63.
        assert_eq!(
            fills,
            [
                (
                    dec("3.5"),
                    dec("248.50"),
                    dec("869.75"),
                    dec("0.87"),
                    dec("0.87"),
                    Some(c)
                ),
                (
                    dec("2.5"),
                    dec("250.00"),
                    dec("625.00"),
                    dec("0.62"),
                    dec("0.63"),
                    Some(a)
                ),
            ]
        );
        // The buyer paid 1494.75 + 1.49; the unused 11.27 of its hold is released.
        assert_eq!(
            account(&store, b, &InstrumentCode::cny()).await,
            (dec("8503.76"), dec("0"))
        );
        assert_eq!(account(&store, b, &so2).await, (dec("6"), dec("0")));
        assert_eq!(
            account(&store, c, &InstrumentCode::cny()).await,
            (dec("868.88"), dec("0"))
        );
        assert_eq!(account(&store, c, &so2).await, (dec("1.5"), dec("0")));
        assert_eq!(
            account(&store, a, &InstrumentCode::cny()).await,
            (dec("624.37"), dec("0"))
        );
        assert_eq!(account(&store, a, &so2).await, (dec("7.5"), dec("1.5")));
        assert_eq!(
            balance(
                &store,
                Owner::System(SystemAccount::FeeIncome),
                &InstrumentCode::cny()
            )
            .await,
            dec("2.99")
        );
        let resting = store
            .order(ask_a.order.id)
            .await
            .expect("read")
            .expect("order");
        assert_eq!(
            (resting.status, resting.filled, resting.held()),
            (OrderStatus::PartiallyFilled, dec("2.5"), dec("1.5"))
        );
        assert_eq!(
            store.book(&so2, 10).await.expect("book"),
            Book {
                bids: vec![],
                asks: vec![level("250", "1.5")],
            }
        );

        // A's own buy crossing its own ask is accepted and cancelled.
        store
            .execute(actor(), Command::deposit(a, dec("1000.00")))
            .await
            .expect("deposit");
        let own = place(&store, a, Side::Buy, "1", "250.00")
            .await
            .expect("accepted");
        assert_eq!(own.order.status, OrderStatus::Cancelled);
        assert!(own.trades.is_empty());
        assert_eq!(
            account(&store, a, &InstrumentCode::cny()).await,
            (dec("1624.37"), dec("0"))
        );

        // Only the owner cancels; cancelling twice is refused.
        assert_eq!(
            refusal(cancel(&store, ask_a.order.id, b).await),
            CommandError::UnknownOrder
        );
        let cancelled = cancel(&store, ask_a.order.id, a).await.expect("cancel");
        assert_eq!(
            (cancelled.status, cancelled.held()),
            (OrderStatus::Cancelled, dec("0"))
        );
        assert_eq!(account(&store, a, &so2).await, (dec("7.5"), dec("0")));
        assert_eq!(
            refusal(cancel(&store, ask_a.order.id, a).await),
            CommandError::OrderNotOpen
        );
        assert_eq!(store.book(&so2, 10).await.expect("book"), Book::default());

        let mine = store
            .trades(&TradeFilter {
                participant: Some(c),
                limit: 10,
                ..TradeFilter::default()
            })
            .await
            .expect("trades");
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].value, dec("869.75"));
        let orders = store
            .orders(&OrderFilter {
                participant: Some(a),
                limit: 10,
                ..OrderFilter::default()
            })
            .await
            .expect("orders");
        assert_eq!(orders.len(), 2);
        assert_conserved(&store).await;
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn refused_orders_change_nothing() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let b = participant(&store, 2).await;
        store
            .execute(actor(), Command::deposit(b, dec("100.00")))
            .await
            .expect("deposit");
        let nanjing = Participant::new(
            Uuid::new_v4(),
            "南京测试企业有限公司",
            credit_code(9),
            RegionCode::parse("320100").expect("region"),
            None,
        )
        .expect("participant");
        let outsider = nanjing.id;
        store
            .execute(actor(), Command::CreateParticipant(nanjing))
            .await
            .expect("participant");
        let before = store.journal(0, 1000).await.expect("journal").len();
        let cases = [
            (
                b,
                Side::Buy,
                "1",
                "100.01",
                LedgerError::InsufficientAvailableBalance,
            ),
            (b, Side::Buy, "1", "99.999", LedgerError::InvalidPrice),
            (
                b,
                Side::Buy,
                "0.00001",
                "10",
                LedgerError::ScaleExceeded { scale: 4 },
            ),
            (b, Side::Buy, "0.0001", "0.01", LedgerError::ValueTooSmall),
            (
                b,
                Side::Sell,
                "1",
                "10",
                LedgerError::InsufficientAvailableBalance,
            ),
            (outsider, Side::Buy, "1", "10", LedgerError::RegionMismatch),
        ];
        for (who, side, quantity, price, reason) in cases {
            assert_eq!(
                refusal(place(&store, who, side, quantity, price).await),
                CommandError::Ledger(reason.clone()),
                "{quantity} at {price} on {:?}",
                db.kind
            );
        }
        assert_eq!(store.journal(0, 1000).await.expect("journal").len(), before);
        assert_eq!(
            account(&store, b, &InstrumentCode::cny()).await,
            (dec("100.00"), dec("0"))
        );
        let _ = so2;
    }
}

async fn propose(
    store: &Store,
    seller: Uuid,
    buyer: Uuid,
    quantity: &str,
    price: &str,
    expires_in: chrono::Duration,
) -> Result<Proposal, StoreError> {
    let proposal = NewProposal {
        id: Uuid::now_v7(),
        seller_id: seller,
        buyer_id: buyer,
        instrument: so2(),
        quantity: dec(quantity),
        price: dec(price),
        expires_at: store.now() + expires_in,
    };
    match store
        .execute(actor(), Command::Propose(proposal))
        .await?
        .outcome
    {
        Outcome::Proposal(proposal) => Ok(proposal),
        other => panic!("a proposal, got {other:?}"),
    }
}

async fn answer(store: &Store, id: Uuid, answer: Answer, by: Uuid) -> Result<Resolved, StoreError> {
    match store
        .execute(actor(), Command::AnswerProposal { id, answer, by })
        .await?
        .outcome
    {
        Outcome::ProposalAnswered(resolved) => Ok(resolved),
        other => panic!("an answered proposal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_negotiated_trade_holds_the_rights_and_settles_on_acceptance() {
    for db in TestDatabase::each().await {
        let clock = Arc::new(SystemClock::default());
        let store = Store::open_with_clock(&db.url, clock.clone())
            .await
            .expect("open");
        let so2 = pollutant_instrument(&store).await; // commission 0.1 %
        let (seller, buyer) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(seller, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(buyer, dec("5000.00")))
            .await
            .expect("deposit");
        let hour = chrono::Duration::hours(1);

        // 3.3333 t at 301.07: value 1003.56 (1003.556... half-up), commission 1.00 each.
        let offer = propose(&store, seller, buyer, "3.3333", "301.07", hour)
            .await
            .expect("propose");
        assert_eq!(offer.status, ProposalStatus::Proposed);
        assert_eq!(
            account(&store, seller, &so2).await,
            (dec("10"), dec("3.3333"))
        );
        // Only the named buyer answers; the seller cannot accept its own offer.
        assert_eq!(
            refusal(answer(&store, offer.id, Answer::Accept, seller).await),
            CommandError::UnknownProposal
        );
        let settled = answer(&store, offer.id, Answer::Accept, buyer)
            .await
            .expect("accept");
        assert_eq!(settled.proposal.status, ProposalStatus::Settled);
        let trade = settled.trade.expect("a trade");
        assert_eq!(
            (trade.value, trade.buyer_commission, trade.seller_commission),
            (dec("1003.56"), dec("1.00"), dec("1.00"))
        );
        assert_eq!(settled.proposal.trade_id, Some(trade.id));
        assert_eq!(
            account(&store, seller, &so2).await,
            (dec("6.6667"), dec("0"))
        );
        assert_eq!(
            account(&store, buyer, &so2).await,
            (dec("3.3333"), dec("0"))
        );
        assert_eq!(
            account(&store, buyer, &InstrumentCode::cny()).await,
            (dec("3995.44"), dec("0"))
        );
        assert_eq!(
            account(&store, seller, &InstrumentCode::cny()).await,
            (dec("1002.56"), dec("0"))
        );
        assert_eq!(
            refusal(answer(&store, offer.id, Answer::Reject, buyer).await),
            CommandError::ProposalNotOpen
        );

        // Rejected and cancelled offers release the rights.
        let second = propose(&store, seller, buyer, "1", "10", hour)
            .await
            .expect("propose");
        answer(&store, second.id, Answer::Reject, buyer)
            .await
            .expect("reject");
        let third = propose(&store, seller, buyer, "1", "10", hour)
            .await
            .expect("propose");
        assert_eq!(
            refusal(answer(&store, third.id, Answer::Cancel, buyer).await),
            CommandError::UnknownProposal
        );
        answer(&store, third.id, Answer::Cancel, seller)
            .await
            .expect("cancel");
        assert_eq!(
            account(&store, seller, &so2).await,
            (dec("6.6667"), dec("0"))
        );

        // A buyer without the cash cannot accept; the offer stays open.
        let dear = propose(&store, seller, buyer, "5", "1000", hour)
            .await
            .expect("propose");
        assert_eq!(
            refusal(answer(&store, dear.id, Answer::Accept, buyer).await),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        let stored = store
            .proposal(dear.id)
            .await
            .expect("read")
            .expect("proposal");
        assert_eq!(stored.status, ProposalStatus::Proposed);

        // An offer that lapses is released by the sweeper, and cannot be
        // accepted once its time has passed.
        let brief = propose(
            &store,
            seller,
            buyer,
            "1",
            "10",
            chrono::Duration::minutes(5),
        )
        .await
        .expect("propose");
        assert_eq!(store.expire_proposals().await.expect("sweep"), 0);
        clock.advance(chrono::Duration::minutes(6));
        assert_eq!(
            refusal(answer(&store, brief.id, Answer::Accept, buyer).await),
            CommandError::ProposalExpired
        );
        assert_eq!(store.expire_proposals().await.expect("sweep"), 1);
        assert_eq!(store.expire_proposals().await.expect("sweep"), 0);
        let stored = store
            .proposal(brief.id)
            .await
            .expect("read")
            .expect("proposal");
        assert_eq!(stored.status, ProposalStatus::Expired);
        assert_eq!(
            account(&store, seller, &so2).await,
            (dec("6.6667"), dec("5"))
        );

        for (quantity, price, expires, reason) in [
            ("1", "10", -hour, CommandError::InvalidExpiry),
            (
                "1",
                "10",
                chrono::Duration::days(31),
                CommandError::InvalidExpiry,
            ),
            (
                "100",
                "10",
                hour,
                CommandError::Ledger(LedgerError::InsufficientAvailableBalance),
            ),
        ] {
            assert_eq!(
                refusal(propose(&store, seller, buyer, quantity, price, expires).await),
                reason
            );
        }
        assert_eq!(
            refusal(propose(&store, seller, seller, "1", "10", hour).await),
            CommandError::Ledger(LedgerError::SameAccount)
        );
        assert_conserved(&store).await;
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

async fn offer(store: &Store, new: NewAuction) -> Result<Auction, StoreError> {
    match store
        .execute(actor(), Command::CreateAuction(new))
        .await?
        .outcome
    {
        Outcome::Auction(auction) => Ok(auction),
        other => panic!("an auction, got {other:?}"),
    }
}

async fn bid(
    store: &Store,
    auction: Uuid,
    bidder: Uuid,
    quantity: &str,
    price: &str,
) -> Result<AuctionBid, StoreError> {
    let new = NewBid {
        id: Uuid::now_v7(),
        auction_id: auction,
        participant_id: bidder,
        quantity: dec(quantity),
        price: dec(price),
    };
    match store
        .execute(actor(), Command::PlaceBid(new))
        .await?
        .outcome
    {
        Outcome::Bid(bid) => Ok(bid),
        other => panic!("a bid, got {other:?}"),
    }
}

async fn close(store: &Store, id: Uuid) -> Result<Closed, StoreError> {
    match store
        .execute(actor(), Command::CloseAuction { id })
        .await?
        .outcome
    {
        Outcome::AuctionClosed(closed) => Ok(closed),
        other => panic!("a closed auction, got {other:?}"),
    }
}

fn auction_of(quantity: &str, reserve: &str, source: Source) -> NewAuction {
    NewAuction {
        id: Uuid::now_v7(),
        instrument: so2(),
        quantity: dec(quantity),
        reserve_price: dec(reserve),
        source,
        lot_size: None,
        max_bidder_share: None,
        closes_at: None,
    }
}

#[tokio::test]
async fn an_auction_from_the_reserve_caps_shares_and_charges_one_price() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (p1, p2, p3) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        // The reserve gets 100 t back from a closing plant.
        store
            .execute(actor(), Command::allocate(p3, so2.clone(), dec("100")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::reclaim(p3, so2.clone(), dec("100")))
            .await
            .expect("reclaim");
        for (who, cash) in [(p1, "2000.00"), (p2, "2000.00"), (p3, "1000.00")] {
            store
                .execute(actor(), Command::deposit(who, dec(cash)))
                .await
                .expect("deposit");
        }
        let reserve = Owner::System(SystemAccount::Reserve);
        let mut terms = auction_of("10", "200.00", Source::Reserve);
        terms.lot_size = Some(dec("1"));
        terms.max_bidder_share = Some(dec("0.5"));
        let auction = offer(&store, terms).await.expect("offer");
        assert_eq!(balance(&store, reserve, &so2).await, dec("100"));

        let b1 = bid(&store, auction.id, p1, "4", "250.00")
            .await
            .expect("bid");
        let b2 = bid(&store, auction.id, p2, "6", "240.00")
            .await
            .expect("bid");
        let b3 = bid(&store, auction.id, p3, "4", "230.00")
            .await
            .expect("bid");
        let b4 = bid(&store, auction.id, p1, "3", "230.00")
            .await
            .expect("bid");
        assert_eq!(
            refusal(bid(&store, auction.id, p2, "2", "190.00").await),
            CommandError::BidBelowReserve
        );
        assert_eq!(
            refusal(bid(&store, auction.id, p2, "1.5", "250.00").await).code(),
            "bid_not_multiple_of_lot"
        );
        // Each bid holds quantity × its price.
        assert_eq!(
            account(&store, p1, &InstrumentCode::cny()).await,
            (dec("2000.00"), dec("1690.00"))
        );

        let closed = close(&store, auction.id).await.expect("close");
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
        assert_eq!(
            account(&store, p1, &InstrumentCode::cny()).await,
            (dec("1080.00"), dec("0"))
        );
        assert_eq!(
            account(&store, p2, &InstrumentCode::cny()).await,
            (dec("850.00"), dec("0"))
        );
        assert_eq!(
            account(&store, p3, &InstrumentCode::cny()).await,
            (dec("770.00"), dec("0"))
        );
        assert_eq!(account(&store, p1, &so2).await, (dec("4"), dec("0")));
        assert_eq!(account(&store, p2, &so2).await, (dec("5"), dec("0")));
        assert_eq!(account(&store, p3, &so2).await, (dec("1"), dec("0")));
        assert_eq!(balance(&store, reserve, &so2).await, dec("90"));
        assert_eq!(
            balance(
                &store,
                Owner::System(SystemAccount::AuctionProceeds),
                &InstrumentCode::cny()
            )
            .await,
            dec("2300.00")
        );
        assert_eq!(
            refusal(close(&store, auction.id).await),
            CommandError::AuctionClosed
        );
        assert_eq!(
            refusal(bid(&store, auction.id, p2, "1", "300.00").await),
            CommandError::AuctionClosed
        );
        assert_eq!(store.bids(auction.id).await.expect("bids").len(), 4);
        assert_conserved(&store).await;
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

#[tokio::test]
async fn an_issued_offering_sells_what_is_bid_and_an_auction_without_bids_fails() {
    for db in TestDatabase::each().await {
        let clock = Arc::new(SystemClock::default());
        let store = Store::open_with_clock(&db.url, clock.clone())
            .await
            .expect("open");
        let so2 = pollutant_instrument(&store).await;
        let p = participant(&store, 1).await;
        store
            .execute(actor(), Command::deposit(p, dec("1000.00")))
            .await
            .expect("deposit");
        // Undersubscribed: 3 t of 5 are bid, at the reserve; 2 are never issued.
        let auction = offer(&store, auction_of("5", "100.00", Source::Issuance))
            .await
            .expect("offer");
        bid(&store, auction.id, p, "3", "100.00")
            .await
            .expect("bid");
        let closed = close(&store, auction.id).await.expect("close");
        assert_eq!(
            (closed.auction.clearing_price, closed.auction.sold_quantity),
            (Some(dec("100.00")), Some(dec("3")))
        );
        assert_eq!(account(&store, p, &so2).await, (dec("3"), dec("0")));
        assert_eq!(balance(&store, issuance(), &so2).await, dec("-3"));
        assert_eq!(
            account(&store, p, &InstrumentCode::cny()).await,
            (dec("700.00"), dec("0"))
        );

        // No bid: the auction fails and nothing moves.
        let empty = offer(&store, auction_of("5", "100.00", Source::Issuance))
            .await
            .expect("offer");
        let closed = close(&store, empty.id).await.expect("close");
        assert_eq!(closed.auction.status, AuctionStatus::Failed);
        assert!(closed.trades.is_empty());
        assert_eq!(balance(&store, issuance(), &so2).await, dec("-3"));
        // An auction with a closing time takes no bid after it, and the
        // scheduler closes it.
        let mut timed = auction_of("1", "10.00", Source::Issuance);
        timed.closes_at = Some(store.now() + chrono::Duration::minutes(5));
        let timed = offer(&store, timed).await.expect("offer");
        bid(&store, timed.id, p, "1", "10.00").await.expect("bid");
        assert_eq!(store.close_due_auctions().await.expect("close"), 0);
        clock.advance(chrono::Duration::minutes(6));
        assert_eq!(
            refusal(bid(&store, timed.id, p, "1", "11.00").await),
            CommandError::AuctionClosed
        );
        assert_eq!(store.close_due_auctions().await.expect("close"), 1);
        assert_eq!(store.close_due_auctions().await.expect("close"), 0);
        let stored = store
            .auction(timed.id)
            .await
            .expect("read")
            .expect("auction");
        assert_eq!(stored.status, AuctionStatus::Cleared);
        assert_eq!(account(&store, p, &so2).await, (dec("4"), dec("0")));

        // A reserve offering needs the reserve to hold the quantity.
        assert_eq!(
            refusal(offer(&store, auction_of("5", "100.00", Source::Reserve)).await),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn a_pledge_blocks_rights_and_a_reclamation_takes_only_what_is_free() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let a = participant(&store, 1).await;
        store
            .execute(actor(), Command::allocate(a, so2.clone(), dec("10")))
            .await
            .expect("allocate");
        let pledged = NewPledge {
            id: Uuid::now_v7(),
            participant_id: a,
            instrument: so2.clone(),
            quantity: dec("4"),
            pledgee: "中国银行苏州分行".to_owned(),
            reference: "PLG-2026-001".to_owned(),
        };
        let pledge_id = pledged.id;
        store
            .execute(actor(), Command::Pledge(pledged))
            .await
            .expect("pledge");
        assert_eq!(account(&store, a, &so2).await, (dec("10"), dec("4")));
        // Pledged rights can be neither sold nor surrendered nor reclaimed.
        assert_eq!(
            refusal(place(&store, a, Side::Sell, "7", "10.00").await),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        assert_eq!(
            refusal(
                store
                    .execute(actor(), Command::surrender(a, so2.clone(), dec("7")))
                    .await
            ),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        let reclaim = |quantity: &str, reason: &str, compensation: Option<&str>| NewReclamation {
            id: Uuid::now_v7(),
            participant_id: a,
            instrument: so2.clone(),
            quantity: dec(quantity),
            reason: reason.to_owned(),
            compensation: compensation.map(dec),
        };
        assert_eq!(
            refusal(
                store
                    .execute(actor(), Command::Reclaim(reclaim("7", "closure", None)))
                    .await
            ),
            CommandError::Ledger(LedgerError::InsufficientAvailableBalance)
        );
        assert_eq!(
            refusal(
                store
                    .execute(actor(), Command::Reclaim(reclaim("1", "bogus", None)))
                    .await
            ),
            CommandError::InvalidReason
        );
        let taken = store
            .execute(
                actor(),
                Command::Reclaim(reclaim("6", "closure", Some("1200.50"))),
            )
            .await
            .expect("reclaim");
        let Outcome::Reclamation(reclamation) = taken.outcome else {
            panic!("a reclamation")
        };
        assert_eq!(
            (reclamation.quantity, reclamation.compensation),
            (dec("6"), dec("1200.50"))
        );
        assert_eq!(account(&store, a, &so2).await, (dec("4"), dec("4")));
        assert_eq!(
            balance(&store, Owner::System(SystemAccount::Reserve), &so2).await,
            dec("6")
        );
        assert_eq!(
            account(&store, a, &InstrumentCode::cny()).await,
            (dec("1200.50"), dec("0"))
        );

        store
            .execute(actor(), Command::ReleasePledge { id: pledge_id })
            .await
            .expect("release");
        assert_eq!(account(&store, a, &so2).await, (dec("4"), dec("0")));
        let stored = store
            .pledge(pledge_id)
            .await
            .expect("read")
            .expect("pledge");
        assert_eq!(stored.status, "released");
        assert_eq!(
            refusal(
                store
                    .execute(actor(), Command::ReleasePledge { id: pledge_id })
                    .await
            ),
            CommandError::PledgeReleased
        );
        assert_eq!(
            refusal(
                store
                    .execute(actor(), Command::ReleasePledge { id: Uuid::now_v7() })
                    .await
            ),
            CommandError::UnknownPledge
        );
        assert_conserved(&store).await;
        assert!(store.verify_journal().await.expect("verify").ok);
    }
}

/// Moves every trade one business day back, as if made yesterday.
async fn age_trades(db: &TestDatabase) {
    use sqlx::Connection;
    match db.kind {
        ets_testkit::Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query("UPDATE trades SET business_date = business_date - 1")
                .execute(&mut conn)
                .await
                .expect("age");
        }
        ets_testkit::Kind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query("UPDATE trades SET business_date = date(business_date, '-1 day')")
                .execute(&mut conn)
                .await
                .expect("age");
        }
    }
}

#[tokio::test]
async fn a_price_band_holds_prices_near_the_previous_days_vwap() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let code = InstrumentCode::parse("CEA-2026").expect("code");
        let spec = ets_core::InstrumentSpec {
            code: code.clone(),
            kind: ets_core::InstrumentKind::CarbonAllowance,
            pollutant: None,
            unit: "tCO2e".to_owned(),
            scale: 0,
            region_code: None,
            vintage: Some(2026),
            valid_from: None,
            valid_to: None,
            commission_rate: dec("0"),
            price_band: Some(dec("0.10")),
        };
        store
            .execute(actor(), Command::CreateInstrument(spec))
            .await
            .expect("instrument");
        let (a, b) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(a, code.clone(), dec("100")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(b, dec("100000.00")))
            .await
            .expect("deposit");
        let order = |participant: Uuid, side: Side, quantity: &str, price: &str| NewOrder {
            id: Uuid::now_v7(),
            participant_id: participant,
            instrument: code.clone(),
            side,
            quantity: dec(quantity),
            price: dec(price),
        };
        // Yesterday: 10 t at 90 and 30 t at 100 → VWAP 97.50; band 87.75 to 107.25.
        for (quantity, price) in [("10", "90.00"), ("30", "100.00")] {
            for (who, side) in [(a, Side::Sell), (b, Side::Buy)] {
                store
                    .execute(
                        actor(),
                        Command::PlaceOrder(order(who, side, quantity, price)),
                    )
                    .await
                    .expect("order");
            }
        }
        // With no earlier day, any price was accepted; now they age.
        age_trades(&db).await;
        for (price, accepted) in [
            ("107.25", true),
            ("87.75", true),
            ("107.26", false),
            ("87.74", false),
        ] {
            let result = store
                .execute(
                    actor(),
                    Command::PlaceOrder(order(a, Side::Sell, "1", price)),
                )
                .await;
            match (accepted, result) {
                (true, Ok(_)) => {}
                (
                    false,
                    Err(StoreError::Command(CommandError::Ledger(LedgerError::PriceOutOfBand))),
                ) => {}
                (_, other) => panic!("{price} on {:?}: {other:?}", db.kind),
            }
        }
    }
}

/// Applies `commands` as one batch (one database transaction), as the
/// writer does when they arrive together.
async fn one_batch(
    db: &TestDatabase,
    commands: Vec<Command>,
) -> Vec<Result<Outcome, CommandError>> {
    use ets_store::Backend;
    let requests: Vec<ets_store::Request> = commands
        .into_iter()
        .map(|command| ets_store::Request {
            actor: actor(),
            idempotency: None,
            command,
        })
        .collect();
    let now = chrono::Utc::now();
    let results = match db.kind {
        ets_testkit::Kind::Postgres => {
            let backend = ets_store::PostgresBackend::connect(&db.url)
                .await
                .expect("connect");
            backend.execute(&requests, now).await
        }
        ets_testkit::Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite:");
            let backend = ets_store::SqliteBackend::open(path).await.expect("open");
            backend.execute(&requests, now).await
        }
    };
    results
        .expect("the batch commits")
        .into_iter()
        .map(|r| r.map(|committed| committed.outcome))
        .collect()
}

fn new_order(participant: Uuid, side: Side, quantity: &str, price: &str) -> NewOrder {
    NewOrder {
        id: Uuid::now_v7(),
        participant_id: participant,
        instrument: so2(),
        side,
        quantity: dec(quantity),
        price: dec(price),
    }
}

#[tokio::test]
async fn a_cancel_and_a_crossing_order_in_one_batch_leave_no_crossed_book() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (p1, p2, p3) = (
            participant(&store, 1).await,
            participant(&store, 2).await,
            participant(&store, 3).await,
        );
        for who in [p1, p2] {
            store
                .execute(actor(), Command::allocate(who, so2.clone(), dec("10")))
                .await
                .expect("allocate");
        }
        store
            .execute(actor(), Command::deposit(p3, dec("2000.00")))
            .await
            .expect("deposit");
        let first = place(&store, p1, Side::Sell, "10", "100.00")
            .await
            .expect("ask");
        place(&store, p2, Side::Sell, "10", "100.00")
            .await
            .expect("ask");
        // The cancel takes the first ask out; the buy must still find the second.
        let results = one_batch(
            &db,
            vec![
                Command::CancelOrder {
                    id: first.order.id,
                    owner: Some(p1),
                },
                Command::PlaceOrder(new_order(p3, Side::Buy, "10", "100.00")),
            ],
        )
        .await;
        match &results[1] {
            Ok(Outcome::Order(placed)) => {
                assert_eq!(placed.order.status, OrderStatus::Filled, "{:?}", db.kind);
                assert_eq!(placed.trades[0].seller_id, Some(p2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.book(&so2, 10).await.expect("book"), Book::default());
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn a_buy_whose_fills_used_its_whole_hold_can_still_be_cancelled() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await; // commission 0.1 %
        let (buyer, seller) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::deposit(buyer, dec("100.00")))
            .await
            .expect("deposit");
        store
            .execute(actor(), Command::allocate(seller, so2.clone(), dec("1")))
            .await
            .expect("allocate");
        // 1 t at 30.00 holds 30.00 + 0.03; 0.9999 t at 30.00 rounds up to the same.
        let bid = place(&store, buyer, Side::Buy, "1", "30.00")
            .await
            .expect("bid");
        assert_eq!(bid.order.hold_amount, dec("30.03"));
        place(&store, seller, Side::Sell, "0.9999", "30.00")
            .await
            .expect("ask");
        let resting = store
            .order(bid.order.id)
            .await
            .expect("read")
            .expect("order");
        assert_eq!(
            (resting.status, resting.remaining(), resting.held()),
            (OrderStatus::PartiallyFilled, dec("0.0001"), dec("0.00"))
        );
        let cancelled = cancel(&store, bid.order.id, buyer).await.expect("cancel");
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(
            account(&store, buyer, &InstrumentCode::cny()).await,
            (dec("69.97"), dec("0"))
        );
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn a_bid_and_the_close_in_one_batch_credit_the_winners_existing_account() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let p = participant(&store, 1).await;
        store
            .execute(actor(), Command::allocate(p, so2.clone(), dec("5")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(p, dec("100.00")))
            .await
            .expect("deposit");
        let auction = offer(&store, auction_of("1", "10.00", Source::Issuance))
            .await
            .expect("offer");
        let results = one_batch(
            &db,
            vec![
                Command::PlaceBid(NewBid {
                    id: Uuid::now_v7(),
                    auction_id: auction.id,
                    participant_id: p,
                    quantity: dec("1"),
                    price: dec("10.00"),
                }),
                Command::CloseAuction { id: auction.id },
            ],
        )
        .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(account(&store, p, &so2).await, (dec("6"), dec("0")));
        assert_eq!(
            account(&store, p, &InstrumentCode::cny()).await,
            (dec("90.00"), dec("0"))
        );
        assert_conserved(&store).await;
    }
}

#[tokio::test]
async fn an_order_that_sweeps_more_than_a_page_of_the_book_fills_in_priority_order() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let so2 = pollutant_instrument(&store).await;
        let (seller, buyer) = (participant(&store, 1).await, participant(&store, 2).await);
        store
            .execute(actor(), Command::allocate(seller, so2.clone(), dec("150")))
            .await
            .expect("allocate");
        store
            .execute(actor(), Command::deposit(buyer, dec("100000.00")))
            .await
            .expect("deposit");
        // 150 asks of 1 t: the later ones cheaper, so priority is not arrival.
        for n in 0..150 {
            let price = format!("{}.00", 300 - n);
            place(&store, seller, Side::Sell, "1", &price)
                .await
                .expect("ask");
        }
        let bid = place(&store, buyer, Side::Buy, "140", "300.00")
            .await
            .expect("bid");
        assert_eq!(bid.order.status, OrderStatus::Filled, "{:?}", db.kind);
        let prices: Vec<Decimal> = bid.trades.iter().map(|t| t.price).collect();
        let expected: Vec<Decimal> = (0..140).map(|n| Decimal::from(151 + n)).collect();
        assert_eq!(prices, expected);
        let book = store.book(&so2, 500).await.expect("book");
        assert_eq!(book.asks.len(), 10);
        assert_eq!(book.asks[0].price, dec("291"));
        assert_conserved(&store).await;
    }
}
