//! Shared set-up for the storage suites.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use ets_core::{
    Actor, CreditCode, Decimal, InstrumentCode, InstrumentKind, InstrumentSpec, Participant,
    RegionCode, SystemAccount,
};
use ets_store::{Command, Outcome, Store};
use uuid::Uuid;

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal literal")
}

pub fn actor() -> Actor {
    Actor {
        client_id: "test-admin".to_owned(),
        role: "admin".to_owned(),
    }
}

/// A valid credit code for the n-th test enterprise.
pub fn credit_code(n: u32) -> CreditCode {
    let prefix = format!("91320500MA{n:07}");
    let check = CreditCode::check_character(&prefix).expect("a valid prefix");
    CreditCode::parse(&format!("{prefix}{check}")).expect("a valid code")
}

pub async fn participant(store: &Store, n: u32) -> Uuid {
    let participant = Participant::new(
        Uuid::new_v4(),
        &format!("测试企业 {n} 有限公司"),
        credit_code(n),
        RegionCode::parse("320500").expect("region"),
        Some("thermal_power".to_owned()),
    )
    .expect("a participant");
    let id = participant.id;
    store
        .execute(actor(), Command::CreateParticipant(participant))
        .await
        .expect("participant created");
    id
}

pub fn so2() -> InstrumentCode {
    InstrumentCode::parse("SO2-320500-2026").expect("code")
}

pub async fn pollutant_instrument(store: &Store) -> InstrumentCode {
    let spec = InstrumentSpec {
        code: so2(),
        kind: InstrumentKind::PollutantRight,
        pollutant: Some("SO2".to_owned()),
        unit: "t".to_owned(),
        scale: 4,
        region_code: Some(RegionCode::parse("320500").expect("region")),
        vintage: None,
        valid_from: Some("2026-01-01".parse().expect("date")),
        valid_to: Some("2030-12-31".parse().expect("date")),
        commission_rate: dec("0.001"),
        price_band: None,
    };
    match store
        .execute(actor(), Command::CreateInstrument(spec))
        .await
    {
        Ok(committed) => assert!(matches!(committed.outcome, Outcome::Instrument(_))),
        Err(e) => panic!("instrument: {e:?}"),
    }
    so2()
}

pub async fn balance(
    store: &Store,
    owner: ets_core::Owner,
    instrument: &InstrumentCode,
) -> Decimal {
    store
        .account(&ets_core::AccountKey::new(owner, instrument.clone()), None)
        .await
        .expect("read")
        .map_or(Decimal::ZERO, |a| a.balance)
}

/// Sum of all balances per instrument must be zero (double entry), which is
/// issued = participants + reserve + surrendered + retired.
pub async fn assert_conserved(store: &Store) {
    let mut sums = std::collections::BTreeMap::new();
    for account in store.accounts().await.expect("accounts") {
        *sums
            .entry(account.key.instrument.clone())
            .or_insert(Decimal::ZERO) += account.balance;
        if !account.key.owner.is_source() {
            assert!(
                account.balance >= Decimal::ZERO,
                "negative balance: {account:?}"
            );
            assert!(
                account.held >= Decimal::ZERO && account.held <= account.balance,
                "bad held: {account:?}"
            );
        }
    }
    for (instrument, sum) in sums {
        assert!(sum.is_zero(), "{instrument} does not conserve: {sum}");
    }
}

pub fn issuance() -> ets_core::Owner {
    ets_core::Owner::System(SystemAccount::Issuance)
}
