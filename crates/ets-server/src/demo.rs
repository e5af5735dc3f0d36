//! `ets-ledger demo`: a realistic city to explore the API with. Suzhou
//! (region 320500): a dozen enterprises, SO2, NOx and COD rights for
//! 2026-2030, a 2025 carbon allowance vintage, free and paid allocations,
//! cash at the settlement bank, one credential of each role, and a first
//! market day: a traded SO2 book with resting orders, a negotiated trade, a
//! carbon allowance auction, a pledge and a reclamation. Then the 2025
//! compliance year: verified emissions (one record replaced), surrenders of
//! allowances and offsets, one enterprise short; pollutant emissions for
//! 2026; and a signed checkpoint of the journal with the key set to verify
//! it, written as files next to the printed summary.

use std::path::Path;
use std::str::FromStr;

use chrono::{Days, NaiveDate, Utc};
use ets_core::matching::Side;
use ets_core::{
    Actor, CreditCode, Decimal, InstrumentCode, InstrumentKind, InstrumentSpec, Participant,
    RegionCode, Role,
};
use ets_engine::{
    ComplianceStatus, EmissionKind, NewEmission, NewPayment, NewSurrender, PaymentSource, Period,
};
use ets_store::{
    Answer, Command, NewAllocation, NewAuction, NewBid, NewCredential, NewOrder, NewPledge,
    NewProposal, NewReclamation, Outcome, PaidUse, Source, Store,
};
use serde_json::{Value, json};
use uuid::Uuid;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// One demo enterprise: its rights are annual tonnes, its allowances tCO2e,
/// its cash CNY at the settlement bank.
struct Enterprise {
    name: &'static str,
    industry: &'static str,
    county: &'static str,
    so2_t: &'static str,
    nox_t: &'static str,
    cod_t: &'static str,
    allowances_tco2e: u32,
    cash_cny: &'static str,
}

/// A dozen enterprises across Suzhou's counties.
const ENTERPRISES: [Enterprise; 12] = [
    Enterprise {
        name: "苏州华能发电有限公司",
        industry: "thermal_power",
        county: "320505",
        so2_t: "120.5000",
        nox_t: "95.2500",
        cod_t: "18.0000",
        allowances_tco2e: 850_000,
        cash_cny: "5000000.00",
    },
    Enterprise {
        name: "苏州东吴热电有限公司",
        industry: "thermal_power",
        county: "320506",
        so2_t: "64.0000",
        nox_t: "51.7500",
        cod_t: "9.5000",
        allowances_tco2e: 420_000,
        cash_cny: "2600000.00",
    },
    Enterprise {
        name: "江苏沙钢集团苏州分公司",
        industry: "steel",
        county: "320582",
        so2_t: "210.0000",
        nox_t: "180.0000",
        cod_t: "30.0000",
        allowances_tco2e: 1_600_000,
        cash_cny: "9000000.00",
    },
    Enterprise {
        name: "苏州金峰水泥有限公司",
        industry: "cement",
        county: "320581",
        so2_t: "48.2500",
        nox_t: "77.5000",
        cod_t: "2.0000",
        allowances_tco2e: 560_000,
        cash_cny: "1800000.00",
    },
    Enterprise {
        name: "吴江盛虹印染有限公司",
        industry: "textile_dyeing",
        county: "320509",
        so2_t: "6.5000",
        nox_t: "8.0000",
        cod_t: "95.7500",
        allowances_tco2e: 38_000,
        cash_cny: "1200000.00",
    },
    Enterprise {
        name: "苏州工业园区清源华衍水务有限公司",
        industry: "wastewater",
        county: "320571",
        so2_t: "0.0000",
        nox_t: "0.0000",
        cod_t: "310.0000",
        allowances_tco2e: 12_000,
        cash_cny: "2000000.00",
    },
    Enterprise {
        name: "常熟新材料化工有限公司",
        industry: "chemicals",
        county: "320581",
        so2_t: "22.0000",
        nox_t: "19.5000",
        cod_t: "41.2500",
        allowances_tco2e: 96_000,
        cash_cny: "1500000.00",
    },
    Enterprise {
        name: "昆山精密电子有限公司",
        industry: "electronics",
        county: "320583",
        so2_t: "1.2000",
        nox_t: "3.4000",
        cod_t: "12.0000",
        allowances_tco2e: 21_000,
        cash_cny: "800000.00",
    },
    Enterprise {
        name: "张家港玖龙纸业有限公司",
        industry: "paper",
        county: "320582",
        so2_t: "35.0000",
        nox_t: "28.0000",
        cod_t: "150.5000",
        allowances_tco2e: 310_000,
        cash_cny: "3400000.00",
    },
    Enterprise {
        name: "太仓港协鑫发电有限公司",
        industry: "thermal_power",
        county: "320585",
        so2_t: "88.7500",
        nox_t: "70.0000",
        cod_t: "11.0000",
        allowances_tco2e: 640_000,
        cash_cny: "4100000.00",
    },
    Enterprise {
        name: "苏州相城生物医药有限公司",
        industry: "pharmaceuticals",
        county: "320507",
        so2_t: "0.8000",
        nox_t: "1.1000",
        cod_t: "20.5000",
        allowances_tco2e: 9_000,
        cash_cny: "600000.00",
    },
    Enterprise {
        name: "苏州吴中精细化学品有限公司",
        industry: "chemicals",
        county: "320506",
        so2_t: "9.3000",
        nox_t: "7.2000",
        cod_t: "33.0000",
        allowances_tco2e: 45_000,
        cash_cny: "900000.00",
    },
];

fn code(text: &str) -> Result<InstrumentCode, AnyError> {
    Ok(InstrumentCode::parse(text)?)
}

fn dec(text: &str) -> Result<Decimal, AnyError> {
    Ok(Decimal::from_str(text)?)
}

fn credit_code(n: usize) -> Result<CreditCode, AnyError> {
    let prefix = format!("91320500MA1{n:06}");
    let check = CreditCode::check_character(&prefix)?;
    Ok(CreditCode::parse(&format!("{prefix}{check}"))?)
}

fn pollutant(code_text: &str, pollutant: &str) -> Result<InstrumentSpec, AnyError> {
    Ok(InstrumentSpec {
        code: code(code_text)?,
        kind: InstrumentKind::PollutantRight,
        pollutant: Some(pollutant.to_owned()),
        unit: "t".to_owned(),
        scale: 4,
        region_code: Some(RegionCode::parse("320500")?),
        vintage: None,
        valid_from: Some("2026-01-01".parse()?),
        valid_to: Some("2030-12-31".parse()?),
        commission_rate: dec("0.0015")?,
        price_band: Some(dec("0.10")?),
    })
}

/// The pollutant rights issued in Suzhou: code, pollutant, and the unit fee
/// (CNY per tonne and year) paid by enterprises that pay for their rights.
const POLLUTANT_RIGHTS: [(&str, &str, &str); 3] = [
    ("SO2-320500-2026", "SO2", "200"),
    ("NOX-320500-2026", "NOx", "200"),
    ("COD-320500-2026", "COD", "230"),
];

/// Builds the demo in an empty database and returns what to print.
///
/// # Errors
/// When the database already has participants, or the store fails.
pub(crate) async fn run(store: &Store, out_dir: &Path) -> Result<Value, AnyError> {
    if !store.participants(None, 1).await?.is_empty() {
        return Err("the demo needs an empty database: this one already has participants".into());
    }
    let actor = Actor::cli();
    create_instruments(store, &actor).await?;

    let today = Utc::now().date_naive();
    let mut participants = Vec::new();
    for (n, enterprise) in ENTERPRISES.iter().enumerate() {
        // Every other paying enterprise was allocated with a due date that
        // has passed: its invoices are overdue at once and accrue surcharge.
        let due_date = if n % 4 == 1 {
            today - Days::new(15)
        } else {
            today + Days::new(30)
        };
        let id = onboard(store, &actor, n, enterprise, due_date).await?;
        participants.push(json!({ "id": id, "name": enterprise.name }));
    }

    let ids: Vec<Uuid> = participants
        .iter()
        .filter_map(|p| p["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()))
        .collect();
    let market = market_day(store, &actor, &ids).await?;
    let invoices = pay_invoices(store, &actor).await?;
    let compliance = compliance_year(store, &ids).await?;
    let credentials = create_credentials(store, &actor, &participants[0]).await?;
    let checkpoint = keep_checkpoint(store, out_dir).await?;
    Ok(json!({
        "region": "320500 苏州市",
        "instruments": ["SO2-320500-2026", "NOX-320500-2026", "COD-320500-2026", "CEA-2025", "CCER-2025"],
        "participants": participants,
        "market": market,
        "invoices": invoices,
        "compliance": compliance,
        "credentials": credentials,
        "checkpoint": checkpoint,
    }))
}

/// Creates the three pollutant rights, the 2025 carbon offset (CCER) vintage
/// and the 2025 carbon allowance vintage, which every allocation and order
/// of the demo refers to.
async fn create_instruments(store: &Store, actor: &Actor) -> Result<(), AnyError> {
    for (text, name, _) in POLLUTANT_RIGHTS {
        store
            .execute(
                actor.clone(),
                Command::CreateInstrument(pollutant(text, name)?),
            )
            .await?;
    }
    // The 2025 vintages: offsets (CCER, no price band) and allowances.
    for (text, kind, price_band) in [
        ("CCER-2025", InstrumentKind::CarbonOffset, None),
        (
            "CEA-2025",
            InstrumentKind::CarbonAllowance,
            Some(dec("0.10")?),
        ),
    ] {
        let carbon = InstrumentSpec {
            code: code(text)?,
            kind,
            pollutant: None,
            unit: "tCO2e".to_owned(),
            scale: 0,
            region_code: None,
            vintage: Some(2025),
            valid_from: None,
            valid_to: None,
            commission_rate: dec("0.0005")?,
            price_band,
        };
        store
            .execute(actor.clone(), Command::CreateInstrument(carbon))
            .await?;
    }
    Ok(())
}

/// Registers enterprise number `n` (from 0), allocates its rights and
/// allowances and deposits its opening cash, so it can trade on the market
/// day. Returns its participant id.
async fn onboard(
    store: &Store,
    actor: &Actor,
    n: usize,
    enterprise: &Enterprise,
    due_date: NaiveDate,
) -> Result<Uuid, AnyError> {
    let participant = Participant::new(
        Uuid::now_v7(),
        enterprise.name,
        credit_code(n + 1)?,
        RegionCode::parse(enterprise.county)?,
        Some(enterprise.industry.to_owned()),
    )?;
    let id = participant.id;
    store
        .execute(actor.clone(), Command::CreateParticipant(participant))
        .await?;
    allocate_rights(store, actor, n, id, enterprise, due_date).await?;
    let allocation = NewAllocation {
        id: Uuid::now_v7(),
        participant_id: id,
        instrument: code("CEA-2025")?,
        quantity: Decimal::from(enterprise.allowances_tco2e),
        paid: None,
    };
    store
        .execute(actor.clone(), Command::Allocate(allocation))
        .await?;
    let deposit = Command::deposit(id, dec(enterprise.cash_cny)?)
        .with_reference(format!("DEMO-OPENING-{:02}", n + 1));
    store.execute(actor.clone(), deposit).await?;
    Ok(id)
}

/// Allocates enterprise `n`'s SO2, NOx and COD rights (none where it has
/// none), so that both kinds of allocation appear: odd enterprises pay for
/// their rights (5 years of paid use, invoiced), even ones were
/// grandfathered free.
async fn allocate_rights(
    store: &Store,
    actor: &Actor,
    n: usize,
    id: Uuid,
    enterprise: &Enterprise,
    due_date: NaiveDate,
) -> Result<(), AnyError> {
    let quantities = [enterprise.so2_t, enterprise.nox_t, enterprise.cod_t];
    for ((instrument, _, unit_fee), quantity) in POLLUTANT_RIGHTS.iter().zip(quantities) {
        let quantity = dec(quantity)?;
        if quantity.is_zero() {
            continue;
        }
        let paid = (n % 2 == 1).then(|| -> Result<PaidUse, AnyError> {
            Ok(PaidUse {
                invoice_id: Uuid::now_v7(),
                unit_fee: dec(unit_fee)?,
                years: ets_engine::DEFAULT_PAID_USE_YEARS,
                due_date,
                daily_rate: ets_engine::DEFAULT_DAILY_SURCHARGE_RATE,
            })
        });
        let allocation = NewAllocation {
            id: Uuid::now_v7(),
            participant_id: id,
            instrument: code(instrument)?,
            quantity,
            paid: paid.transpose()?,
        };
        store
            .execute(actor.clone(), Command::Allocate(allocation))
            .await?;
    }
    Ok(())
}

/// Creates one credential of each role, the enterprise one for the first
/// enterprise (`first`, as listed in the output), and returns them by role
/// with their secrets: the only time a secret is shown.
async fn create_credentials(
    store: &Store,
    actor: &Actor,
    first: &Value,
) -> Result<serde_json::Map<String, Value>, AnyError> {
    let mut credentials = serde_json::Map::new();
    for (role, participant) in [
        (Role::Admin, None),
        (Role::Regulator, None),
        (Role::Finance, None),
        (Role::Enterprise, Some(first)),
    ] {
        let client_id = ets_api::secret::new_client_id()?;
        let secret = ets_api::secret::new_secret()?;
        let participant_id = participant
            .and_then(|p| p["id"].as_str())
            .map(Uuid::parse_str)
            .transpose()?;
        let credential = NewCredential {
            client_id: client_id.clone(),
            name: format!("demo {}", role.as_str()),
            role,
            participant_id,
            secret_hash: ets_api::secret::hash_secret(&secret)?,
        };
        store
            .execute(actor.clone(), Command::CreateCredential(credential))
            .await?;
        credentials.insert(
            role.as_str().to_owned(),
            json!({ "client_id": client_id, "client_secret": secret, "participant_id": participant_id }),
        );
    }
    Ok(credentials)
}

/// Finance records two payments on the paid-use invoices: the first
/// (overdue) invoice paid in full, surcharge included, from the
/// enterprise's cash; the second half paid by a bank transfer (recorded, no
/// ledger cash moves).
async fn pay_invoices(store: &Store, actor: &Actor) -> Result<Value, AnyError> {
    let filter = ets_store::InvoiceFilter {
        participant: None,
        after: None,
        limit: 2,
    };
    let invoices = store.invoices(&filter).await?;
    let [first, second] = invoices.as_slice() else {
        return Err("the demo allocates at least two paid-use invoices".into());
    };
    let payments = [
        (
            first,
            first
                .figures_at(store.now(), store.business_zone())
                .map_or(first.invoice.amount, |figures| figures.owed()),
            PaymentSource::CashAccount,
            "DEMO-FEE-001",
        ),
        (
            second,
            half(second.invoice.amount),
            PaymentSource::External,
            "ICBC-DEMO-FEE-002",
        ),
    ];
    for (stored, amount, source, reference) in payments {
        let payment = NewPayment {
            id: Uuid::now_v7(),
            invoice_id: stored.invoice.id,
            amount,
            source,
            reference: reference.to_owned(),
        };
        store
            .execute(actor.clone(), Command::PayInvoice(payment))
            .await?;
    }
    Ok(json!({ "paid": first.invoice.id, "partly_paid": second.invoice.id }))
}

/// The first market day, by index into [`ENTERPRISES`].
async fn market_day(store: &Store, actor: &Actor, ids: &[Uuid]) -> Result<Value, AnyError> {
    let so2 = code("SO2-320500-2026")?;
    let trades = trade_so2_book(store, actor, ids, &so2).await?;
    let offer_id = negotiate_so2(store, actor, ids, &so2).await?;
    let (auction_id, clearing_price) = auction_allowances(store, actor, ids).await?;
    pledge_and_reclaim(store, actor, ids, so2).await?;
    Ok(json!({
        "book_trades": trades,
        "negotiated_trade": offer_id,
        "auction": { "id": auction_id, "clearing_price": clearing_price.map(|p| p.to_string()) },
    }))
}

/// Places four orders on the SO2 book, so that it shows both trades and
/// resting orders: 沙钢 and 协鑫 offer SO2; 金峰 sweeps 25 t (20 at 218.00,
/// 5 at 220.50); 盛虹's bid at 215.00 and the rest of 协鑫's offer stay in
/// the book. Returns the number of trades.
async fn trade_so2_book(
    store: &Store,
    actor: &Actor,
    ids: &[Uuid],
    so2: &InstrumentCode,
) -> Result<usize, AnyError> {
    let order = |n: usize, side: Side, quantity: &str, price: &str| -> Result<Command, AnyError> {
        Ok(Command::PlaceOrder(NewOrder {
            id: Uuid::now_v7(),
            participant_id: ids[n],
            instrument: so2.clone(),
            side,
            quantity: dec(quantity)?,
            price: dec(price)?,
        }))
    };
    let mut trades = 0;
    for command in [
        order(2, Side::Sell, "20", "218.00")?,
        order(9, Side::Sell, "15", "220.50")?,
        order(3, Side::Buy, "25", "221.00")?,
        order(4, Side::Buy, "5", "215.00")?,
    ] {
        if let Outcome::Order(placed) = store.execute(actor.clone(), command).await?.outcome {
            trades += placed.trades.len();
        }
    }
    Ok(trades)
}

/// A negotiated trade, proposed and accepted: 玖龙 sells 10 t to 清源 by
/// agreement at 219.00. Returns the proposal's id.
async fn negotiate_so2(
    store: &Store,
    actor: &Actor,
    ids: &[Uuid],
    so2: &InstrumentCode,
) -> Result<Uuid, AnyError> {
    let offer = NewProposal {
        id: Uuid::now_v7(),
        seller_id: ids[8],
        buyer_id: ids[5],
        instrument: so2.clone(),
        quantity: dec("10")?,
        price: dec("219.00")?,
        expires_at: Utc::now() + chrono::Duration::hours(24),
    };
    let offer_id = offer.id;
    store
        .execute(actor.clone(), Command::Propose(offer))
        .await?;
    store
        .execute(
            actor.clone(),
            Command::AnswerProposal {
                id: offer_id,
                answer: Answer::Accept,
                by: ids[5],
            },
        )
        .await?;
    Ok(offer_id)
}

/// The authority auctions 50,000 newly issued allowances, at most 40 % to
/// one bidder: 沙钢 is capped at 20,000 and 协鑫 gets the last 10,000, so
/// everyone pays 85.00. Returns the auction's id and its clearing price.
async fn auction_allowances(
    store: &Store,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<(Uuid, Option<Decimal>), AnyError> {
    let auction = NewAuction {
        id: Uuid::now_v7(),
        instrument: code("CEA-2025")?,
        quantity: dec("50000")?,
        reserve_price: dec("80.00")?,
        source: Source::Issuance,
        lot_size: Some(dec("1000")?),
        max_bidder_share: Some(dec("0.4")?),
        closes_at: None,
    };
    let auction_id = auction.id;
    store
        .execute(actor.clone(), Command::CreateAuction(auction))
        .await?;
    for (n, quantity, price) in [
        (0, "20000", "88.00"),
        (2, "30000", "86.50"),
        (9, "15000", "85.00"),
        (1, "10000", "84.00"),
    ] {
        let bid = NewBid {
            id: Uuid::now_v7(),
            auction_id,
            participant_id: ids[n],
            quantity: dec(quantity)?,
            price: dec(price)?,
        };
        store.execute(actor.clone(), Command::PlaceBid(bid)).await?;
    }
    let closed = store
        .execute(actor.clone(), Command::CloseAuction { id: auction_id })
        .await?;
    let clearing_price = match closed.outcome {
        Outcome::AuctionClosed(closed) => closed.auction.clearing_price,
        _ => None,
    };
    Ok((auction_id, clearing_price))
}

/// The authority's side of the day: 华能 pledges 30 t to its bank; 相城
/// relocates and hands its SO2 back.
async fn pledge_and_reclaim(
    store: &Store,
    actor: &Actor,
    ids: &[Uuid],
    so2: InstrumentCode,
) -> Result<(), AnyError> {
    let pledge = NewPledge {
        id: Uuid::now_v7(),
        participant_id: ids[0],
        instrument: so2.clone(),
        quantity: dec("30")?,
        pledgee: "中国银行苏州分行".to_owned(),
        reference: "PLG-DEMO-001".to_owned(),
    };
    store
        .execute(actor.clone(), Command::Pledge(pledge))
        .await?;
    let reclamation = NewReclamation {
        id: Uuid::now_v7(),
        participant_id: ids[10],
        instrument: so2,
        quantity: dec("0.8")?,
        reason: "relocation".to_owned(),
        compensation: Some(dec("160.00")?),
    };
    store
        .execute(actor.clone(), Command::Reclaim(reclamation))
        .await?;
    Ok(())
}

/// The 2025 compliance year, by index into [`ENTERPRISES`]. The bureau
/// (a regulator) records each enterprise's verified 2025 emissions; each
/// surrenders allowances for them:
/// - 华能 emitted 880,000 t and covers 5 % of it (44,000) with offsets, the
///   most it may;
/// - 沙钢 was first verified at 1,650,000 t, then at 1,580,000 (the record
///   replaced); it covers 30,000 with offsets and the rest with allowances;
/// - 金峰水泥 emitted 600,000 t but holds 560,000 allowances: it surrenders
///   them all and is 40,000 short;
/// - every other enterprise emitted 90 % of its allocation and covers it.
///
/// The pollutant records are for 2026, the year the demo's rights are valid
/// from: 华能's SO2 (covered, its pledged tonnes included) and 清源's COD.
/// Returns the report's summary, read back from the store.
async fn compliance_year(store: &Store, ids: &[Uuid]) -> Result<Value, AnyError> {
    let bureau = Actor {
        client_id: "demo-bureau".to_owned(),
        role: Role::Regulator.as_str().to_owned(),
    };
    let period: Period = "2025".parse()?;
    let ccer = code("CCER-2025")?;
    let cea = code("CEA-2025")?;
    for (n, quantity) in [(0, "50000"), (2, "30000")] {
        let allocation = NewAllocation {
            id: Uuid::now_v7(),
            participant_id: ids[n],
            instrument: ccer.clone(),
            quantity: dec(quantity)?,
            paid: None,
        };
        store
            .execute(Actor::cli(), Command::Allocate(allocation))
            .await?;
    }
    let record = |n: usize, period: Period, pollutant: Option<&str>, quantity: Decimal| {
        Command::RecordEmission(NewEmission {
            id: Uuid::now_v7(),
            participant_id: ids[n],
            period,
            kind: if pollutant.is_some() {
                EmissionKind::Pollutant
            } else {
                EmissionKind::Carbon
            },
            pollutant: pollutant.map(str::to_owned),
            quantity,
        })
    };
    let mut surrenders = Vec::new();
    for (n, enterprise) in ENTERPRISES.iter().enumerate() {
        let allocated = Decimal::from(enterprise.allowances_tco2e);
        let (emitted, allowances, offsets) = match n {
            0 => (dec("880000")?, dec("836000")?, Some(dec("44000")?)),
            2 => {
                store
                    .execute(bureau.clone(), record(2, period, None, dec("1650000")?))
                    .await?;
                (dec("1580000")?, dec("1550000")?, Some(dec("30000")?))
            }
            3 => (dec("600000")?, allocated, None),
            _ => {
                let emitted = (allocated * dec("0.9")?).normalize();
                (emitted, emitted, None)
            }
        };
        store
            .execute(bureau.clone(), record(n, period, None, emitted))
            .await?;
        surrenders.push((n, cea.clone(), allowances));
        if let Some(offsets) = offsets {
            surrenders.push((n, ccer.clone(), offsets));
        }
    }
    for (n, instrument, quantity) in surrenders {
        let surrender = NewSurrender {
            id: Uuid::now_v7(),
            participant_id: ids[n],
            instrument,
            quantity,
            period,
        };
        let enterprise = Actor {
            client_id: format!("demo-enterprise-{:02}", n + 1),
            role: Role::Enterprise.as_str().to_owned(),
        };
        store
            .execute(enterprise, Command::Surrender(surrender))
            .await?;
    }
    let year_2026: Period = "2026".parse()?;
    store
        .execute(
            bureau.clone(),
            record(0, year_2026, Some("SO2"), dec("110.2500")?),
        )
        .await?;
    store
        .execute(bureau, record(5, year_2026, Some("COD"), dec("298.0000")?))
        .await?;
    compliance_summary(store, period).await
}

/// The compliance report of `period` read back from the store, in short:
/// how many records, how many compliant, and who is short.
async fn compliance_summary(store: &Store, period: Period) -> Result<Value, AnyError> {
    let report = store.compliance(period).await?;
    let short: Vec<Value> = report
        .rows
        .iter()
        .filter(|row| row.status == ComplianceStatus::Shortfall)
        .map(|row| {
            json!({
                "participant_id": row.participant_id,
                "name": report.names.get(&row.participant_id),
                "kind": row.kind.as_str(),
                "obligation": row.obligation.to_string(),
                "covered": row.covered.to_string(),
                "shortfall": row.shortfall.to_string(),
            })
        })
        .collect();
    Ok(json!({
        "period": period.to_string(),
        "records": report.rows.len(),
        "compliant": report.rows.len() - short.len(),
        "shortfall": short,
    }))
}

/// Signs a checkpoint of the journal as it now stands and writes it, with
/// the key set that verifies it, into `out_dir`: what a regulator keeps.
/// Returns the files' paths and the command that checks an export against
/// them.
async fn keep_checkpoint(store: &Store, out_dir: &Path) -> Result<Value, AnyError> {
    let ring = ets_api::auth::install_keys(store, None).await?;
    let checkpoint = ets_api::audit::signed_checkpoint(store, ring.signing()).await?;
    std::fs::create_dir_all(out_dir)?;
    let checkpoint_file = out_dir.join("demo-checkpoint.json");
    let jwks_file = out_dir.join("demo-jwks.json");
    std::fs::write(&checkpoint_file, format!("{checkpoint}\n"))?;
    std::fs::write(&jwks_file, format!("{}\n", ring.jwks()))?;
    let (checkpoint_path, jwks_path) = (checkpoint_file.display(), jwks_file.display());
    Ok(json!({
        "seq": checkpoint["seq"],
        "file": checkpoint_path.to_string(),
        "jwks": jwks_path.to_string(),
        "verify": format!(
            "ets-ledger journal export --out journal.jsonl && ets-ledger journal verify \
             --file journal.jsonl --checkpoint {checkpoint_path} --jwks {jwks_path}"
        ),
    }))
}

/// Half of an amount, in whole fen (rounded down).
fn half(amount: Decimal) -> Decimal {
    (amount / Decimal::TWO).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
}
