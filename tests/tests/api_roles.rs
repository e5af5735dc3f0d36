//! Who may call what (SPEC §2 and §7), over a real socket, on both
//! databases: every implemented endpoint × every role, and no token at all.

use ets_core::Role;
use ets_e2e::{Answer, TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};
use uuid::Uuid;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    /// An enterprise bound to participant "own".
    Enterprise,
    Regulator,
    Finance,
    /// No Authorization header.
    Nobody,
}

const CALLERS: [Who; 5] = [
    Who::Admin,
    Who::Enterprise,
    Who::Regulator,
    Who::Finance,
    Who::Nobody,
];

/// What the caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 2xx with this status.
    Allowed(u16),
    /// 401 `unauthorized`.
    Unauthorized,
    /// 403 `forbidden`.
    Forbidden,
    /// 404 `not_found`: another participant's object, as if it did not exist.
    NotFound,
}

use Expect::{Allowed, Forbidden, NotFound, Unauthorized};

const OK: Expect = Allowed(200);
const CREATED: Expect = Allowed(201);
const NO_CONTENT: Expect = Allowed(204);

/// Every endpoint implemented so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    CreateCredential,
    RevokeCredential,
    CreateParticipant,
    ListParticipants,
    GetOwnParticipant,
    GetOtherParticipant,
    OwnHoldings,
    OtherHoldings,
    OwnHistory,
    OtherHistory,
    CreateInstrument,
    ListInstruments,
    GetInstrument,
    CreateAllocation,
    ListAllocations,
    ListReclamations,
    ListCredentials,
    ExportTrades,
    ListPledges,
    RecordEmission,
    ListEmissions,
    Surrender,
    Compliance,
    Deposit,
    Withdrawal,
    PlaceOrder,
    ListOrders,
    GetOwnOrder,
    GetOtherOrder,
    CancelOwnOrder,
    CancelOtherOrder,
    Book,
    MarketStats,
    ListTrades,
    ProposeNegotiated,
    ListNegotiated,
    GetNegotiated,
    AcceptNegotiated,
    CreateAuction,
    ListAuctions,
    GetAuction,
    PlaceBid,
    CloseAuction,
    CreateReclamation,
    CreatePledge,
    GetOwnPledge,
    GetOtherPledge,
    ReleasePledge,
    ListInvoices,
    GetOwnInvoice,
    GetOtherInvoice,
    PayInvoice,
    Settlement,
    AuditJournal,
    AuditVerify,
    AuditCheckpoint,
    Jwks,
    Healthz,
    Readyz,
}

/// The table: for each endpoint, what admin, enterprise, regulator, finance
/// and a caller without a token get.
const TABLE: &[(Endpoint, [Expect; 5])] = &[
    //                               admin       enterprise  regulator   finance     no token
    (
        Endpoint::CreateCredential,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::RevokeCredential,
        [NO_CONTENT, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CreateParticipant,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListParticipants, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::GetOwnParticipant, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::GetOtherParticipant,
        [OK, NotFound, OK, OK, Unauthorized],
    ),
    (Endpoint::OwnHoldings, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::OtherHoldings,
        [OK, NotFound, OK, OK, Unauthorized],
    ),
    (Endpoint::OwnHistory, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::OtherHistory, [OK, NotFound, OK, OK, Unauthorized]),
    (
        Endpoint::CreateInstrument,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListInstruments, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::GetInstrument, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::CreateAllocation,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListAllocations, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::ListReclamations, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::ExportTrades,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::ListCredentials,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (Endpoint::ListPledges, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::RecordEmission,
        [Forbidden, Forbidden, CREATED, Forbidden, Unauthorized],
    ),
    (
        Endpoint::ListEmissions,
        [OK, OK, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::Surrender,
        [Forbidden, CREATED, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::Compliance,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::Deposit,
        [Forbidden, Forbidden, Forbidden, CREATED, Unauthorized],
    ),
    (
        Endpoint::Withdrawal,
        [Forbidden, Forbidden, Forbidden, CREATED, Unauthorized],
    ),
    (
        Endpoint::PlaceOrder,
        [Forbidden, CREATED, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListOrders, [OK, OK, OK, Forbidden, Unauthorized]),
    (Endpoint::GetOwnOrder, [OK, OK, OK, Forbidden, Unauthorized]),
    (
        Endpoint::GetOtherOrder,
        [OK, NotFound, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CancelOwnOrder,
        [Forbidden, OK, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CancelOtherOrder,
        [Forbidden, NotFound, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::Book, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::MarketStats, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::ListTrades, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::ProposeNegotiated,
        [Forbidden, CREATED, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::ListNegotiated,
        [OK, OK, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::GetNegotiated,
        [OK, OK, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::AcceptNegotiated,
        [Forbidden, OK, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CreateAuction,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListAuctions, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::GetAuction, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::PlaceBid,
        [Forbidden, CREATED, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CloseAuction,
        [OK, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CreateReclamation,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (
        Endpoint::CreatePledge,
        [CREATED, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::GetOwnPledge, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::GetOtherPledge,
        [OK, NotFound, OK, OK, Unauthorized],
    ),
    (
        Endpoint::ReleasePledge,
        [OK, Forbidden, Forbidden, Forbidden, Unauthorized],
    ),
    (Endpoint::ListInvoices, [OK, OK, OK, OK, Unauthorized]),
    (Endpoint::GetOwnInvoice, [OK, OK, OK, OK, Unauthorized]),
    (
        Endpoint::GetOtherInvoice,
        [OK, NotFound, OK, OK, Unauthorized],
    ),
    (
        Endpoint::PayInvoice,
        [Forbidden, Forbidden, Forbidden, CREATED, Unauthorized],
    ),
    (Endpoint::Settlement, [OK, Forbidden, OK, OK, Unauthorized]),
    (
        Endpoint::AuditJournal,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::AuditVerify,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (
        Endpoint::AuditCheckpoint,
        [OK, Forbidden, OK, Forbidden, Unauthorized],
    ),
    (Endpoint::Jwks, [OK, OK, OK, OK, OK]),
    (Endpoint::Healthz, [OK, OK, OK, OK, OK]),
    (Endpoint::Readyz, [OK, OK, OK, OK, OK]),
];

fn instrument_body(code: &str) -> Value {
    json!({
        "code": code,
        "kind": "pollutant_right",
        "pollutant": "SO2",
        "unit": "t",
        "scale": 4,
        "region_code": "320500",
        "valid_from": "2026-01-01",
        "valid_to": "2030-12-31",
    })
}

fn pledge_body(participant: Uuid, instrument: &str) -> Value {
    json!({
        "participant_id": participant,
        "instrument": instrument,
        "quantity": "0.1",
        "pledgee": "Bank of Suzhou",
        "reference": "PLG-TEST",
    })
}

fn auction_body(instrument: &str) -> Value {
    json!({
        "instrument": instrument,
        "quantity": "10",
        "reserve_price": "1.00",
        "source": "issuance",
    })
}

/// The world the table runs in: two enterprises with rights and cash, and a
/// token for each role.
struct World {
    server: TestServer,
    admin: String,
    enterprise: String,
    /// The other participant's enterprise token (to place its orders).
    other_enterprise: String,
    regulator: String,
    finance: String,
    own: Uuid,
    other: Uuid,
    instrument: String,
    fresh: u32,
}

impl World {
    async fn new(url: &str) -> Self {
        let server = TestServer::start(url).await;
        let admin = server.token(Role::Admin, None).await;
        let finance = server.token(Role::Finance, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        let mut world = Self {
            server,
            admin,
            enterprise: String::new(),
            other_enterprise: String::new(),
            regulator,
            finance,
            own: Uuid::nil(),
            other: Uuid::nil(),
            instrument: "SO2-320500-2026".to_owned(),
            fresh: 0,
        };
        let created = world
            .expect_created(
                "/v1/instruments",
                Who::Admin,
                &instrument_body(&world.instrument.clone()),
            )
            .await;
        assert_eq!(created["code"], world.instrument.as_str());
        let allowances = json!({"code": "CEA-2025", "kind": "carbon_allowance", "unit": "tCO2e", "scale": 0, "vintage": 2025});
        world
            .expect_created("/v1/instruments", Who::Admin, &allowances)
            .await;
        world.own = world.new_participant("Suzhou Own Chemical Co.").await;
        world.other = world.new_participant("Suzhou Other Steel Co.").await;
        for participant in [world.own, world.other] {
            let allocation = json!({
                "participant_id": participant,
                "instrument": world.instrument,
                "quantity": "100",
                "method": "free",
            });
            world
                .expect_created("/v1/allocations", Who::Admin, &allocation)
                .await;
            let allowances = json!({
                "participant_id": participant,
                "instrument": "CEA-2025",
                "quantity": "100",
                "method": "free",
            });
            world
                .expect_created("/v1/allocations", Who::Admin, &allowances)
                .await;
            let deposit = json!({
                "participant_id": participant,
                "amount": "1000.00",
                "reference": format!("SETUP-{participant}"),
            });
            world
                .expect_created("/v1/cash/deposits", Who::Finance, &deposit)
                .await;
        }
        world.enterprise = world.server.token(Role::Enterprise, Some(world.own)).await;
        world.other_enterprise = world
            .server
            .token(Role::Enterprise, Some(world.other))
            .await;
        world
    }

    /// A fresh pledge of 0.1 t of a participant's rights.
    async fn pledge(&self, participant: Uuid) -> String {
        let body = pledge_body(participant, &self.instrument);
        let created = self.expect_created("/v1/pledges", Who::Admin, &body).await;
        created["id"].as_str().expect("an id").to_owned()
    }

    /// A fresh paid-use invoice of a participant (0.1 t at SO2's published
    /// fee: 100.00).
    async fn invoice(&self, participant: Uuid) -> String {
        let body = json!({
            "participant_id": participant,
            "instrument": self.instrument,
            "quantity": "0.1",
            "method": "paid",
        });
        let created = self
            .expect_created("/v1/allocations", Who::Admin, &body)
            .await;
        created["invoice_id"]
            .as_str()
            .expect("an invoice")
            .to_owned()
    }

    /// A fresh open auction of newly issued rights.
    async fn open_auction(&self) -> String {
        let body = auction_body(&self.instrument);
        let created = self.expect_created("/v1/auctions", Who::Admin, &body).await;
        created["id"].as_str().expect("an id").to_owned()
    }

    /// A fresh offer of 1 t at 1.00 from the other participant to `own`.
    async fn offer_to_own(&self) -> String {
        let body = json!({
            "buyer_participant_id": self.own,
            "instrument": self.instrument,
            "quantity": "1",
            "price": "1.00",
        });
        let answer = self
            .server
            .call(
                "POST",
                "/v1/negotiated-trades",
                &self.other_enterprise,
                Some(&body),
            )
            .await;
        assert_eq!(answer.status, 201, "setup offer: {:?}", answer.body);
        answer.body["id"].as_str().expect("an id").to_owned()
    }

    /// A fresh resting sell order of `own` (or of the other participant).
    async fn resting_order(&self, own: bool) -> String {
        let token = if own {
            &self.enterprise
        } else {
            &self.other_enterprise
        };
        let body = json!({
            "instrument": self.instrument,
            "side": "sell",
            "quantity": "1",
            "price": "900.00",
        });
        let answer = self
            .server
            .call("POST", "/v1/orders", token, Some(&body))
            .await;
        assert_eq!(answer.status, 201, "setup order: {:?}", answer.body);
        answer.body["id"].as_str().expect("an id").to_owned()
    }

    fn next(&mut self) -> u32 {
        self.fresh += 1;
        self.fresh
    }

    async fn new_participant(&mut self, name: &str) -> Uuid {
        let n = self.next();
        let body = json!({
            "name": name,
            "credit_code": credit_code(n),
            "region_code": "320500",
            "industry": "manufacturing",
        });
        let created = self
            .expect_created("/v1/participants", Who::Admin, &body)
            .await;
        Uuid::parse_str(created["id"].as_str().expect("an id")).expect("a UUID")
    }

    async fn expect_created(&self, path: &str, who: Who, body: &Value) -> Value {
        let answer = self.send(who, "POST", path, Some(body)).await;
        assert_eq!(answer.status, 201, "setup POST {path}: {:?}", answer.body);
        answer.body
    }

    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Admin => Some(&self.admin),
            Who::Enterprise => Some(&self.enterprise),
            Who::Regulator => Some(&self.regulator),
            Who::Finance => Some(&self.finance),
            Who::Nobody => None,
        }
    }

    async fn send(&self, who: Who, method: &str, path: &str, body: Option<&Value>) -> Answer {
        match self.token(who) {
            Some(token) => self.server.call(method, path, token, body).await,
            None => self.server.request(method, path, body).await,
        }
    }

    /// The method, path and body of one call to `endpoint`, valid for every
    /// role allowed to make it (fresh codes, amounts that are there).
    async fn request(&mut self, endpoint: Endpoint) -> (&'static str, String, Option<Value>) {
        let n = self.next();
        let (own, other, instrument) = (self.own, self.other, self.instrument.clone());
        match endpoint {
            Endpoint::CreateCredential => (
                "POST",
                "/v1/credentials".to_owned(),
                Some(json!({ "name": format!("inspector {n}"), "role": "regulator" })),
            ),
            Endpoint::RevokeCredential => {
                let (client_id, _) = self.server.credential(Role::Regulator, None).await;
                ("DELETE", format!("/v1/credentials/{client_id}"), None)
            }
            Endpoint::CreateParticipant => (
                "POST",
                "/v1/participants".to_owned(),
                Some(json!({
                    "name": format!("Participant {n}"),
                    "credit_code": credit_code(n),
                    "region_code": "320500",
                })),
            ),
            Endpoint::ListParticipants => ("GET", "/v1/participants".to_owned(), None),
            Endpoint::GetOwnParticipant => ("GET", format!("/v1/participants/{own}"), None),
            Endpoint::GetOtherParticipant => ("GET", format!("/v1/participants/{other}"), None),
            Endpoint::OwnHoldings => ("GET", format!("/v1/participants/{own}/holdings"), None),
            Endpoint::OtherHoldings => ("GET", format!("/v1/participants/{other}/holdings"), None),
            Endpoint::OwnHistory => ("GET", format!("/v1/participants/{own}/history"), None),
            Endpoint::OtherHistory => ("GET", format!("/v1/participants/{other}/history"), None),
            Endpoint::CreateInstrument => (
                "POST",
                "/v1/instruments".to_owned(),
                Some(instrument_body(&format!("NOX-320500-T{n}"))),
            ),
            Endpoint::ListInstruments => ("GET", "/v1/instruments".to_owned(), None),
            Endpoint::GetInstrument => ("GET", format!("/v1/instruments/{instrument}"), None),
            Endpoint::CreateAllocation => (
                "POST",
                "/v1/allocations".to_owned(),
                Some(json!({
                    "participant_id": own,
                    "instrument": instrument,
                    "quantity": "1.5",
                    "method": "free",
                })),
            ),
            Endpoint::ListAllocations => ("GET", "/v1/allocations".to_owned(), None),
            Endpoint::ListReclamations => ("GET", "/v1/reclamations".to_owned(), None),
            Endpoint::ListCredentials => ("GET", "/v1/credentials".to_owned(), None),
            Endpoint::ExportTrades => ("GET", "/v1/audit/trades".to_owned(), None),
            Endpoint::ListPledges => ("GET", "/v1/pledges".to_owned(), None),
            Endpoint::RecordEmission => (
                "POST",
                "/v1/emissions".to_owned(),
                Some(json!({
                    "participant_id": own,
                    "period": "2025",
                    "kind": "carbon",
                    "quantity": format!("{}", 1000 + n),
                })),
            ),
            Endpoint::ListEmissions => ("GET", "/v1/emissions".to_owned(), None),
            Endpoint::Surrender => (
                "POST",
                "/v1/surrenders".to_owned(),
                Some(json!({"instrument": "CEA-2025", "quantity": "1", "period": "2025"})),
            ),
            Endpoint::Compliance => ("GET", "/v1/compliance?period=2025".to_owned(), None),
            Endpoint::Deposit => (
                "POST",
                "/v1/cash/deposits".to_owned(),
                Some(json!({
                    "participant_id": own,
                    "amount": "10.00",
                    "reference": format!("DEP-{n}"),
                })),
            ),
            Endpoint::Withdrawal => (
                "POST",
                "/v1/cash/withdrawals".to_owned(),
                Some(json!({
                    "participant_id": own,
                    "amount": "1.00",
                    "reference": format!("WDR-{n}"),
                })),
            ),
            Endpoint::PlaceOrder => (
                "POST",
                "/v1/orders".to_owned(),
                Some(json!({
                    "instrument": instrument,
                    "side": "sell",
                    "quantity": "0.5",
                    "price": "800.00",
                })),
            ),
            Endpoint::ListOrders => ("GET", "/v1/orders".to_owned(), None),
            Endpoint::GetOwnOrder => {
                let id = self.resting_order(true).await;
                ("GET", format!("/v1/orders/{id}"), None)
            }
            Endpoint::GetOtherOrder => {
                let id = self.resting_order(false).await;
                ("GET", format!("/v1/orders/{id}"), None)
            }
            Endpoint::CancelOwnOrder => {
                let id = self.resting_order(true).await;
                ("DELETE", format!("/v1/orders/{id}"), None)
            }
            Endpoint::CancelOtherOrder => {
                let id = self.resting_order(false).await;
                ("DELETE", format!("/v1/orders/{id}"), None)
            }
            Endpoint::Book => ("GET", format!("/v1/markets/{instrument}/book"), None),
            Endpoint::MarketStats => ("GET", format!("/v1/markets/{instrument}/stats"), None),
            Endpoint::ListTrades => ("GET", "/v1/trades".to_owned(), None),
            Endpoint::ProposeNegotiated => (
                "POST",
                "/v1/negotiated-trades".to_owned(),
                Some(json!({
                    "buyer_participant_id": other,
                    "instrument": instrument,
                    "quantity": "0.5",
                    "price": "10.00",
                })),
            ),
            Endpoint::ListNegotiated => ("GET", "/v1/negotiated-trades".to_owned(), None),
            Endpoint::GetNegotiated => {
                let id = self.offer_to_own().await;
                ("GET", format!("/v1/negotiated-trades/{id}"), None)
            }
            Endpoint::AcceptNegotiated => {
                let id = self.offer_to_own().await;
                ("POST", format!("/v1/negotiated-trades/{id}/accept"), None)
            }
            Endpoint::CreateAuction => (
                "POST",
                "/v1/auctions".to_owned(),
                Some(auction_body(&instrument)),
            ),
            Endpoint::ListAuctions => ("GET", "/v1/auctions".to_owned(), None),
            Endpoint::GetAuction => {
                let id = self.open_auction().await;
                ("GET", format!("/v1/auctions/{id}"), None)
            }
            Endpoint::PlaceBid => {
                let id = self.open_auction().await;
                (
                    "POST",
                    format!("/v1/auctions/{id}/bids"),
                    Some(json!({"quantity": "1", "price": "5.00"})),
                )
            }
            Endpoint::CloseAuction => {
                let id = self.open_auction().await;
                ("POST", format!("/v1/auctions/{id}/close"), None)
            }
            Endpoint::CreateReclamation => (
                "POST",
                "/v1/reclamations".to_owned(),
                Some(json!({
                    "participant_id": own,
                    "instrument": instrument,
                    "quantity": "0.1",
                    "reason": "unused",
                })),
            ),
            Endpoint::CreatePledge => (
                "POST",
                "/v1/pledges".to_owned(),
                Some(pledge_body(own, &instrument)),
            ),
            Endpoint::GetOwnPledge => {
                let id = self.pledge(own).await;
                ("GET", format!("/v1/pledges/{id}"), None)
            }
            Endpoint::GetOtherPledge => {
                let id = self.pledge(other).await;
                ("GET", format!("/v1/pledges/{id}"), None)
            }
            Endpoint::ReleasePledge => {
                let id = self.pledge(own).await;
                ("POST", format!("/v1/pledges/{id}/release"), None)
            }
            Endpoint::ListInvoices => ("GET", "/v1/invoices".to_owned(), None),
            Endpoint::GetOwnInvoice => {
                let id = self.invoice(own).await;
                ("GET", format!("/v1/invoices/{id}"), None)
            }
            Endpoint::GetOtherInvoice => {
                let id = self.invoice(other).await;
                ("GET", format!("/v1/invoices/{id}"), None)
            }
            Endpoint::PayInvoice => {
                let id = self.invoice(own).await;
                (
                    "POST",
                    format!("/v1/invoices/{id}/payments"),
                    Some(
                        json!({"amount": "1.00", "source": "external", "reference": format!("PAY-{n}")}),
                    ),
                )
            }
            Endpoint::Settlement => {
                let today = self.server.store.business_date(self.server.store.now());
                ("GET", format!("/v1/settlements/{today}"), None)
            }
            Endpoint::AuditJournal => (
                "GET",
                "/v1/audit/journal?after_seq=1&limit=5".to_owned(),
                None,
            ),
            Endpoint::AuditVerify => ("GET", "/v1/audit/verify".to_owned(), None),
            Endpoint::AuditCheckpoint => ("GET", "/v1/audit/checkpoint".to_owned(), None),
            Endpoint::Jwks => ("GET", "/.well-known/jwks.json".to_owned(), None),
            Endpoint::Healthz => ("GET", "/healthz".to_owned(), None),
            Endpoint::Readyz => ("GET", "/readyz".to_owned(), None),
        }
    }

    async fn journal_len(&self) -> usize {
        self.server
            .store
            .journal(0, 1_000_000)
            .await
            .expect("the journal")
            .len()
    }
}

fn problem_code(expect: Expect) -> Option<&'static str> {
    match expect {
        Allowed(_) => None,
        Unauthorized => Some("unauthorized"),
        Forbidden => Some("forbidden"),
        NotFound => Some("not_found"),
    }
}

fn status_of(expect: Expect) -> u16 {
    match expect {
        Allowed(status) => status,
        Unauthorized => 401,
        Forbidden => 403,
        NotFound => 404,
    }
}

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_spec_says() {
    for db in TestDatabase::each().await {
        let mut world = World::new(&db.url).await;
        let mut failures = Vec::new();

        for (endpoint, expectations) in TABLE {
            for (who, expect) in CALLERS.iter().zip(expectations) {
                let (method, path, body) = world.request(*endpoint).await;
                let journal_before = world.journal_len().await;
                let answer = world.send(*who, method, &path, body.as_ref()).await;
                let journal_after = world.journal_len().await;
                let what = format!("{:?} {endpoint:?} as {who:?} ({method} {path})", db.kind);

                if answer.status != status_of(*expect) {
                    failures.push(format!(
                        "{what}: expected {expect:?}, got {} {}",
                        answer.status, answer.body
                    ));
                    continue;
                }
                if let Some(code) = problem_code(*expect) {
                    if answer.body["code"] != code
                        || !answer
                            .header("content-type")
                            .is_some_and(|t| t.starts_with("application/problem+json"))
                    {
                        failures.push(format!(
                            "{what}: expected a problem+json `{code}`, got {:?} {}",
                            answer.header("content-type"),
                            answer.body
                        ));
                    }
                    if journal_after != journal_before {
                        failures.push(format!("{what}: refused, yet the journal grew"));
                    }
                }
                if *endpoint == Endpoint::ListParticipants && *expect == OK {
                    let ids: Vec<&str> = answer.body["items"]
                        .as_array()
                        .expect("items")
                        .iter()
                        .filter_map(|p| p["id"].as_str())
                        .collect();
                    let own = world.own.to_string();
                    let other = world.other.to_string();
                    if *who == Who::Enterprise {
                        if ids != [own.as_str()] {
                            failures.push(format!(
                                "{what}: an enterprise sees only its own participant, got {ids:?}"
                            ));
                        }
                    } else if !(ids.contains(&own.as_str()) && ids.contains(&other.as_str())) {
                        failures.push(format!("{what}: staff see every participant, got {ids:?}"));
                    }
                }
            }
        }

        assert!(
            failures.is_empty(),
            "{} of the table's cells are wrong:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
