//! What the authority does outside the market, on the ledger in memory:
//! pledges that block rights, reclamations that take only what is free.

mod common;

use common::*;
use ets_core::matching::Side;
use ets_core::{LedgerError, SystemAccount};
use ets_engine::{Command, CommandError, NewPledge, NewReclamation, Outcome};

#[test]
fn a_pledge_blocks_rights_and_a_reclamation_takes_only_what_is_free() {
    let mut ledger = TestLedger::with_so2();
    let so2 = so2();
    let a = ledger.participant(1);
    ledger.allocate(a, &so2, "10");
    let pledged = NewPledge {
        id: ledger.id(),
        participant_id: a,
        instrument: so2.clone(),
        quantity: dec("4"),
        pledgee: "中国银行苏州分行".to_owned(),
        reference: "PLG-2026-001".to_owned(),
    };
    let pledge_id = pledged.id;
    ledger.execute(Command::Pledge(pledged)).expect("pledge");
    assert_eq!(ledger.account(a, &so2), (dec("10"), dec("4")));
    // Pledged rights can be neither sold nor surrendered nor reclaimed.
    let short = CommandError::Ledger(LedgerError::InsufficientAvailableBalance);
    assert_eq!(
        ledger.place(a, Side::Sell, "7", "10.00").map(|_| ()),
        Err(short.clone())
    );
    assert_eq!(
        ledger
            .execute(Command::surrender(a, so2.clone(), dec("7")))
            .map(|_| ()),
        Err(short.clone())
    );
    let mut reclaim = |quantity: &str, reason: &str, compensation: Option<&str>| {
        let reclamation = NewReclamation {
            id: ledger.id(),
            participant_id: a,
            instrument: so2.clone(),
            quantity: dec(quantity),
            reason: reason.to_owned(),
            compensation: compensation.map(dec),
        };
        ledger.execute(Command::Reclaim(reclamation))
    };
    assert_eq!(reclaim("7", "closure", None).map(|_| ()), Err(short));
    assert_eq!(
        reclaim("1", "bogus", None).map(|_| ()),
        Err(CommandError::InvalidReason)
    );
    let Ok(Outcome::Reclamation(reclamation)) = reclaim("6", "closure", Some("1200.50")) else {
        panic!("a reclamation")
    };
    assert_eq!(
        (reclamation.quantity, reclamation.compensation),
        (dec("6"), dec("1200.50"))
    );
    assert_eq!(ledger.account(a, &so2), (dec("4"), dec("4")));
    assert_eq!(ledger.balance(SystemAccount::Reserve, &so2), dec("6"));
    assert_eq!(ledger.account(a, &cny()), (dec("1200.50"), dec("0")));

    ledger
        .execute(Command::ReleasePledge { id: pledge_id })
        .expect("release");
    assert_eq!(ledger.account(a, &so2), (dec("4"), dec("0")));
    let stored = ledger.memory.pledge(pledge_id).expect("pledge");
    assert_eq!(stored.status, "released");
    assert_eq!(
        ledger
            .execute(Command::ReleasePledge { id: pledge_id })
            .map(|_| ()),
        Err(CommandError::PledgeReleased)
    );
    let unknown = ledger.id();
    assert_eq!(
        ledger
            .execute(Command::ReleasePledge { id: unknown })
            .map(|_| ()),
        Err(CommandError::UnknownPledge)
    );
    ledger.assert_conserved();
    ledger.assert_journal_intact();
}
