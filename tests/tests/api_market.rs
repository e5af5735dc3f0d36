//! The order book over a real socket, on both databases: two sellers rest,
//! a buyer sweeps them, everyone reads what they may — figures to the fen.

use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};
use uuid::Uuid;

const SO2: &str = "SO2-320500-2026";

struct Market {
    server: TestServer,
    admin: String,
    regulator: String,
}

impl Market {
    async fn new(url: &str) -> Self {
        let server = TestServer::start(url).await;
        let admin = server.token(Role::Admin, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        let instrument = json!({
            "code": SO2, "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 4,
            "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31",
            "commission_rate": "0.001"
        });
        let answer = server
            .call("POST", "/v1/instruments", &admin, Some(&instrument))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        Self {
            server,
            admin,
            regulator,
        }
    }

    /// A participant in `region` with rights and cash, and its token.
    async fn enterprise(&self, n: u32, region: &str, rights: &str, cash: &str) -> (Uuid, String) {
        let body = json!({"name": format!("企业 {n}"), "credit_code": credit_code(n), "region_code": region});
        let answer = self
            .server
            .call("POST", "/v1/participants", &self.admin, Some(&body))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id = Uuid::parse_str(answer.body["id"].as_str().expect("id")).expect("uuid");
        if rights != "0" {
            let body = json!({"participant_id": id, "instrument": SO2, "quantity": rights, "method": "free"});
            let answer = self
                .server
                .call("POST", "/v1/allocations", &self.admin, Some(&body))
                .await;
            assert_eq!(answer.status, 201, "{}", answer.body);
        }
        if cash != "0" {
            let finance = self.server.token(Role::Finance, None).await;
            let body =
                json!({"participant_id": id, "amount": cash, "reference": format!("DEP-{n}")});
            let answer = self
                .server
                .call("POST", "/v1/cash/deposits", &finance, Some(&body))
                .await;
            assert_eq!(answer.status, 201, "{}", answer.body);
        }
        (id, self.server.token(Role::Enterprise, Some(id)).await)
    }

    async fn order(&self, token: &str, side: &str, quantity: &str, price: &str) -> Value {
        let body = json!({"instrument": SO2, "side": side, "quantity": quantity, "price": price});
        let answer = self
            .server
            .call("POST", "/v1/orders", token, Some(&body))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body
    }

    async fn holding(&self, participant: Uuid, instrument: &str) -> (String, String) {
        let answer = self
            .server
            .call(
                "GET",
                &format!("/v1/participants/{participant}/holdings"),
                &self.admin,
                None,
            )
            .await;
        let row = answer.body["holdings"]
            .as_array()
            .expect("holdings")
            .iter()
            .find(|h| h["instrument"] == instrument)
            .cloned()
            .unwrap_or_else(|| panic!("no {instrument} in {}", answer.body));
        (
            row["balance"].as_str().expect("balance").to_owned(),
            row["held"].as_str().expect("held").to_owned(),
        )
    }
}

fn strings(value: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| value[*k].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test]
async fn a_buy_sweeps_the_book_and_each_party_sees_only_what_it_may() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (a, a_token) = market.enterprise(1, "320505", "10", "0").await;
        let (b, b_token) = market.enterprise(2, "320506", "0", "10000.00").await;
        let (c, c_token) = market.enterprise(3, "320500", "5", "0").await;

        let ask_a = market.order(&a_token, "sell", "4", "250").await;
        assert_eq!(
            strings(
                &ask_a,
                &["status", "price", "quantity", "held", "filled_quantity"]
            ),
            ["open", "250.00", "4.0000", "4.0000", "0.0000"]
        );
        market.order(&c_token, "sell", "3.5", "248.50").await;
        let book = market
            .server
            .call("GET", &format!("/v1/markets/{SO2}/book"), &b_token, None)
            .await;
        assert_eq!(
            book.body,
            json!({"instrument": SO2, "bids": [], "asks": [
                {"price": "248.50", "quantity": "3.5000"}, {"price": "250.00", "quantity": "4.0000"}
            ]})
        );

        let bid = market.order(&b_token, "buy", "6", "251.00").await;
        assert_eq!(
            strings(
                &bid,
                &["status", "filled_quantity", "held", "value", "commission"]
            ),
            ["filled", "6.0000", "0.00", "1494.75", "1.49"]
        );
        let trades = bid["trades"].as_array().expect("trades");
        let figures: Vec<Vec<String>> = trades
            .iter()
            .map(|t| {
                strings(
                    t,
                    &[
                        "quantity",
                        "price",
                        "value",
                        "buyer_commission",
                        "seller_commission",
                    ],
                )
            })
            .collect();
        assert_eq!(
            figures,
            [
                ["3.5000", "248.50", "869.75", "0.87", "0.87"],
                ["2.5000", "250.00", "625.00", "0.62", "0.63"],
            ]
        );
        // The buyer sees itself, never the sellers behind a book trade.
        for trade in trades {
            assert_eq!(trade["buyer_participant_id"], b.to_string());
            assert!(trade.get("seller_participant_id").is_none(), "{trade}");
        }

        assert_eq!(
            market.holding(b, "CNY").await,
            ("8503.76".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(b, SO2).await,
            ("6.0000".into(), "0.0000".into())
        );
        assert_eq!(
            market.holding(a, "CNY").await,
            ("624.37".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(a, SO2).await,
            ("7.5000".into(), "1.5000".into())
        );
        assert_eq!(
            market.holding(c, "CNY").await,
            ("868.88".into(), "0.00".into())
        );

        // The seller's list shows its one trade, without the buyer.
        let listed = market
            .server
            .call("GET", "/v1/trades", &c_token, None)
            .await;
        let items = listed.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", listed.body);
        assert_eq!(items[0]["seller_participant_id"], c.to_string());
        assert!(items[0].get("buyer_participant_id").is_none());
        // The regulator sees both sides of every trade.
        let all = market
            .server
            .call(
                "GET",
                &format!("/v1/trades?instrument={SO2}"),
                &market.regulator,
                None,
            )
            .await;
        let items = all.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["seller_participant_id"], a.to_string());
        assert_eq!(items[1]["buyer_participant_id"], b.to_string());
        // An enterprise naming another participant's trades gets 404.
        let other = market
            .server
            .call(
                "GET",
                &format!("/v1/trades?participant_id={a}"),
                &c_token,
                None,
            )
            .await;
        assert_eq!(
            (other.status, other.body["code"].as_str()),
            (404, Some("not_found"))
        );

        // The rest of A's ask is cancelled by A, and only by A.
        let id = ask_a["id"].as_str().expect("id");
        let answer = market
            .server
            .call("DELETE", &format!("/v1/orders/{id}"), &c_token, None)
            .await;
        assert_eq!(answer.status, 404);
        let answer = market
            .server
            .call("DELETE", &format!("/v1/orders/{id}"), &a_token, None)
            .await;
        assert_eq!(
            strings(
                &answer.body,
                &["status", "filled_quantity", "remaining_quantity", "held"]
            ),
            ["cancelled", "2.5000", "1.5000", "0.0000"]
        );
        let answer = market
            .server
            .call("DELETE", &format!("/v1/orders/{id}"), &a_token, None)
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (409, Some("order_not_open"))
        );
        assert_eq!(
            market.holding(a, SO2).await,
            ("7.5000".into(), "0.0000".into())
        );

        let verify = market.server.store.verify_journal().await.expect("verify");
        assert!(verify.ok, "{verify:?}");
    }
}

#[tokio::test]
async fn orders_are_refused_with_a_code_and_change_nothing() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (_, token) = market.enterprise(1, "320505", "10", "100.00").await;
        let (_, nanjing) = market.enterprise(2, "320100", "0", "100.00").await;
        let cases = [
            (
                &token,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": 10}),
                422,
                "invalid_decimal",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "hold", "quantity": "1", "price": "10"}),
                422,
                "invalid_body",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": "10.001"}),
                422,
                "invalid_price",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": "0"}),
                422,
                "invalid_price",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "buy", "quantity": "0.00001", "price": "10"}),
                422,
                "scale_exceeded",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": "100.00"}),
                422,
                "insufficient_available_balance",
            ),
            (
                &token,
                json!({"instrument": SO2, "side": "sell", "quantity": "10.0001", "price": "1"}),
                422,
                "insufficient_available_balance",
            ),
            (
                &token,
                json!({"instrument": "CNY", "side": "sell", "quantity": "1", "price": "1"}),
                422,
                "instrument_not_tradable",
            ),
            (
                &token,
                json!({"instrument": "NOPE-1", "side": "sell", "quantity": "1", "price": "1"}),
                422,
                "unknown_instrument",
            ),
            (
                &nanjing,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": "1"}),
                422,
                "region_mismatch",
            ),
            (
                &market.admin,
                json!({"instrument": SO2, "side": "buy", "quantity": "1", "price": "1"}),
                403,
                "forbidden",
            ),
        ];
        let before = market
            .server
            .store
            .journal(0, 10_000)
            .await
            .expect("journal")
            .len();
        for (caller, body, status, code) in cases {
            let answer = market
                .server
                .call("POST", "/v1/orders", caller, Some(&body))
                .await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (status, Some(code)),
                "{body} on {:?}: {}",
                db.kind,
                answer.body
            );
        }
        let after = market
            .server
            .store
            .journal(0, 10_000)
            .await
            .expect("journal")
            .len();
        assert_eq!(before, after, "a refused order wrote to the journal");
        let answer = market
            .server
            .call("GET", "/v1/markets/NOPE-1/book", &token, None)
            .await;
        assert_eq!(answer.status, 404);
    }
}

#[tokio::test]
async fn a_negotiated_trade_settles_between_its_parties_and_lapses_on_its_own() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (seller, seller_token) = market.enterprise(1, "320505", "10", "0").await;
        let (buyer, buyer_token) = market.enterprise(2, "320506", "0", "5000.00").await;
        let (_, outsider_token) = market.enterprise(3, "320500", "0", "0").await;

        let body = json!({"buyer_participant_id": buyer, "instrument": SO2, "quantity": "3.3333", "price": "301.07"});
        let offer = market
            .server
            .call("POST", "/v1/negotiated-trades", &seller_token, Some(&body))
            .await;
        assert_eq!(offer.status, 201, "{}", offer.body);
        assert_eq!(
            strings(&offer.body, &["status", "quantity", "price", "value"]),
            ["proposed", "3.3333", "301.07", "1003.56"]
        );
        assert_eq!(
            market.holding(seller, SO2).await,
            ("10.0000".into(), "3.3333".into())
        );
        let id = offer.body["id"].as_str().expect("id").to_owned();

        // The buyer finds the offer addressed to it; an outsider cannot see it.
        let listed = market
            .server
            .call(
                "GET",
                "/v1/negotiated-trades?status=proposed",
                &buyer_token,
                None,
            )
            .await;
        assert_eq!(listed.body["items"][0]["id"], id.as_str());
        let hidden = market
            .server
            .call(
                "GET",
                &format!("/v1/negotiated-trades/{id}"),
                &outsider_token,
                None,
            )
            .await;
        assert_eq!(hidden.status, 404);
        let stolen = market
            .server
            .call(
                "POST",
                &format!("/v1/negotiated-trades/{id}/accept"),
                &outsider_token,
                None,
            )
            .await;
        assert_eq!(stolen.status, 404);

        let settled = market
            .server
            .call(
                "POST",
                &format!("/v1/negotiated-trades/{id}/accept"),
                &buyer_token,
                None,
            )
            .await;
        assert_eq!(settled.body["status"], "settled", "{}", settled.body);
        assert!(settled.body["trade_id"].is_string());
        assert_eq!(
            market.holding(buyer, "CNY").await,
            ("3995.44".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(seller, "CNY").await,
            ("1002.56".into(), "0.00".into())
        );
        // Both parties of a negotiated trade know each other.
        let trades = market
            .server
            .call("GET", "/v1/trades?method=negotiated", &seller_token, None)
            .await;
        let trade = &trades.body["items"][0];
        assert_eq!(trade["buyer_participant_id"], buyer.to_string());
        assert_eq!(trade["seller_participant_id"], seller.to_string());
        assert_eq!(trade["id"], settled.body["trade_id"]);
        let again = market
            .server
            .call(
                "POST",
                &format!("/v1/negotiated-trades/{id}/reject"),
                &buyer_token,
                None,
            )
            .await;
        assert_eq!(
            (again.status, again.body["code"].as_str()),
            (409, Some("negotiated_trade_not_open"))
        );

        // An offer nobody answers lapses when the server's clock passes its
        // expiry, and its rights come back.
        let soon = (market.server.store.now() + chrono::Duration::minutes(2)).to_rfc3339();
        let body = json!({"buyer_participant_id": buyer, "instrument": SO2, "quantity": "2", "price": "10", "expires_at": soon});
        let brief = market
            .server
            .call("POST", "/v1/negotiated-trades", &seller_token, Some(&body))
            .await;
        assert_eq!(brief.status, 201, "{}", brief.body);
        assert_eq!(brief.body["status"], "proposed");
        let id = brief.body["id"].as_str().expect("id").to_owned();
        market.server.clock.advance(chrono::Duration::minutes(3));
        // The sweeper runs every second on its own; wait for its next round.
        let mut status = String::new();
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let answer = market
                .server
                .call(
                    "GET",
                    &format!("/v1/negotiated-trades/{id}"),
                    &seller_token,
                    None,
                )
                .await;
            status = answer.body["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if status == "expired" {
                break;
            }
        }
        assert_eq!(status, "expired");
        assert_eq!(
            market.holding(seller, SO2).await,
            ("6.6667".into(), "0.0000".into())
        );
    }
}

#[tokio::test]
async fn an_auction_keeps_bids_sealed_and_settles_every_winner_at_one_price() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (p1, t1) = market.enterprise(1, "320505", "0", "2000.00").await;
        let (p2, t2) = market.enterprise(2, "320506", "0", "2000.00").await;
        let (p3, t3) = market.enterprise(3, "320500", "0", "1000.00").await;
        let body = json!({"instrument": SO2, "quantity": "10", "reserve_price": "200", "source": "issuance",
                          "lot_size": "1", "max_bidder_share": "0.5"});
        let created = market
            .server
            .call("POST", "/v1/auctions", &market.admin, Some(&body))
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(
            strings(
                &created.body,
                &["status", "reserve_price", "quantity", "source"]
            ),
            ["open", "200.00", "10.0000", "issuance"]
        );
        let id = created.body["id"].as_str().expect("id").to_owned();
        let bids_path = format!("/v1/auctions/{id}/bids");
        for (token, quantity, price) in [
            (&t1, "4", "250"),
            (&t2, "6", "240"),
            (&t3, "4", "230"),
            (&t1, "3", "230"),
        ] {
            let answer = market
                .server
                .call(
                    "POST",
                    &bids_path,
                    token,
                    Some(&json!({"quantity": quantity, "price": price})),
                )
                .await;
            assert_eq!(answer.status, 201, "{}", answer.body);
        }
        let low = market
            .server
            .call(
                "POST",
                &bids_path,
                &t2,
                Some(&json!({"quantity": "1", "price": "199.99"})),
            )
            .await;
        assert_eq!(
            (low.status, low.body["code"].as_str()),
            (422, Some("bid_below_reserve"))
        );

        // Sealed: an enterprise sees its own bids only.
        let seen = market
            .server
            .call("GET", &format!("/v1/auctions/{id}"), &t1, None)
            .await;
        let bidders: Vec<&str> = seen.body["bids"]
            .as_array()
            .expect("bids")
            .iter()
            .filter_map(|b| b["participant_id"].as_str())
            .collect();
        assert_eq!(bidders, [p1.to_string(), p1.to_string()]);

        let closed = market
            .server
            .call(
                "POST",
                &format!("/v1/auctions/{id}/close"),
                &market.admin,
                None,
            )
            .await;
        assert_eq!(closed.status, 200, "{}", closed.body);
        assert_eq!(
            strings(&closed.body, &["status", "clearing_price", "sold_quantity"]),
            ["cleared", "230.00", "10.0000"]
        );
        let mut awards: Vec<(String, String)> = closed.body["awards"]
            .as_array()
            .expect("awards")
            .iter()
            .map(|a| {
                (
                    a["participant_id"].as_str().unwrap_or_default().to_owned(),
                    a["quantity"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        awards.sort();
        let mut expected = vec![
            (p1.to_string(), "4.0000".to_owned()),
            (p2.to_string(), "5.0000".to_owned()),
            (p3.to_string(), "1.0000".to_owned()),
        ];
        expected.sort();
        assert_eq!(awards, expected);
        // After the close an enterprise still sees only its own award.
        let seen = market
            .server
            .call("GET", &format!("/v1/auctions/{id}"), &t3, None)
            .await;
        assert_eq!(
            seen.body["awards"],
            json!([{"participant_id": p3, "quantity": "1.0000"}])
        );
        assert_eq!(
            market.holding(p1, "CNY").await,
            ("1080.00".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(p2, "CNY").await,
            ("850.00".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(p3, "CNY").await,
            ("770.00".into(), "0.00".into())
        );
        assert_eq!(
            market.holding(p2, SO2).await,
            ("5.0000".into(), "0.0000".into())
        );
        // Auction trades name no seller, and never the other winners.
        let trades = market
            .server
            .call("GET", "/v1/trades?method=auction", &t1, None)
            .await;
        let items = trades.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", trades.body);
        assert_eq!(
            strings(
                &items[0],
                &["quantity", "price", "value", "buyer_participant_id"]
            ),
            ["4.0000", "230.00", "920.00", p1.to_string().as_str()]
        );
        assert!(items[0].get("seller_participant_id").is_none());
        let again = market
            .server
            .call(
                "POST",
                &format!("/v1/auctions/{id}/close"),
                &market.admin,
                None,
            )
            .await;
        assert_eq!(
            (again.status, again.body["code"].as_str()),
            (409, Some("auction_closed"))
        );
    }
}

#[tokio::test]
async fn pledged_rights_cannot_be_sold_and_reclamation_pays_its_compensation() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (a, token) = market.enterprise(1, "320505", "10", "0").await;
        let body = json!({"participant_id": a, "instrument": SO2, "quantity": "4", "pledgee": "中国银行苏州分行", "reference": "PLG-2026-001"});
        let pledge = market
            .server
            .call("POST", "/v1/pledges", &market.admin, Some(&body))
            .await;
        assert_eq!(pledge.status, 201, "{}", pledge.body);
        let id = pledge.body["id"].as_str().expect("id").to_owned();
        let sell = json!({"instrument": SO2, "side": "sell", "quantity": "7", "price": "10.00"});
        let refused = market
            .server
            .call("POST", "/v1/orders", &token, Some(&sell))
            .await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (422, Some("insufficient_available_balance"))
        );
        let own = market
            .server
            .call("GET", &format!("/v1/pledges/{id}"), &token, None)
            .await;
        assert_eq!(own.body["status"], "active");

        let body = json!({"participant_id": a, "instrument": SO2, "quantity": "6", "reason": "closure", "compensation": "1200.50"});
        let taken = market
            .server
            .call("POST", "/v1/reclamations", &market.admin, Some(&body))
            .await;
        assert_eq!(taken.status, 201, "{}", taken.body);
        assert_eq!(
            strings(&taken.body, &["quantity", "reason", "compensation"]),
            ["6.0000", "closure", "1200.50"]
        );
        assert_eq!(
            market.holding(a, SO2).await,
            ("4.0000".into(), "4.0000".into())
        );
        assert_eq!(
            market.holding(a, "CNY").await,
            ("1200.50".into(), "0.00".into())
        );
        let bad =
            json!({"participant_id": a, "instrument": SO2, "quantity": "1", "reason": "whim"});
        let refused = market
            .server
            .call("POST", "/v1/reclamations", &market.admin, Some(&bad))
            .await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (422, Some("invalid_reason"))
        );

        let released = market
            .server
            .call(
                "POST",
                &format!("/v1/pledges/{id}/release"),
                &market.admin,
                None,
            )
            .await;
        assert_eq!(released.body["status"], "released", "{}", released.body);
        let again = market
            .server
            .call(
                "POST",
                &format!("/v1/pledges/{id}/release"),
                &market.admin,
                None,
            )
            .await;
        assert_eq!(
            (again.status, again.body["code"].as_str()),
            (409, Some("pledge_not_active"))
        );
        market.order(&token, "sell", "4", "10.00").await;
        assert_eq!(
            market.holding(a, SO2).await,
            ("4.0000".into(), "4.0000".into())
        );
    }
}

/// The ids of a page's items, in order.
fn page_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_regulator_lists_every_pledge_and_reclamation_and_an_enterprise_its_own() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (a, a_token) = market.enterprise(1, "320505", "10", "0").await;
        let (b, _) = market.enterprise(2, "320506", "10", "0").await;
        let mut pledges = Vec::new();
        for (who, quantity) in [(a, "1"), (b, "2"), (a, "3")] {
            let body = json!({"participant_id": who, "instrument": SO2, "quantity": quantity, "pledgee": "中国银行苏州分行", "reference": format!("PLG-{quantity}")});
            let made = market
                .server
                .call("POST", "/v1/pledges", &market.admin, Some(&body))
                .await;
            assert_eq!(made.status, 201, "{}", made.body);
            pledges.push(made.body["id"].as_str().expect("id").to_owned());
        }
        let mut reclamations = Vec::new();
        for who in [b, a] {
            let body = json!({"participant_id": who, "instrument": SO2, "quantity": "1", "reason": "unused"});
            let made = market
                .server
                .call("POST", "/v1/reclamations", &market.admin, Some(&body))
                .await;
            assert_eq!(made.status, 201, "{}", made.body);
            reclamations.push(made.body["id"].as_str().expect("id").to_owned());
        }
        let get = |path: String, token: String| {
            let server = &market.server;
            async move { server.call("GET", &path, &token, None).await }
        };

        // The regulator: every record, oldest first, in pages.
        let first = get("/v1/pledges?limit=2".into(), market.regulator.clone()).await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(page_ids(&first.body), pledges[..2]);
        let cursor = first.body["next_cursor"].as_str().expect("a next page");
        let rest = get(
            format!("/v1/pledges?limit=2&cursor={cursor}"),
            market.regulator.clone(),
        )
        .await;
        assert_eq!(page_ids(&rest.body), pledges[2..]);
        assert_eq!(rest.body["next_cursor"], Value::Null);
        assert_eq!(rest.body["items"][0]["quantity"], "3.0000");
        let all = get(
            format!("/v1/reclamations?instrument={SO2}"),
            market.regulator.clone(),
        )
        .await;
        assert_eq!(page_ids(&all.body), reclamations);
        let of_b = get(
            format!("/v1/pledges?participant_id={b}"),
            market.regulator.clone(),
        )
        .await;
        assert_eq!(page_ids(&of_b.body), [pledges[1].clone()]);

        // The enterprise: its own only, and another's is not found.
        let own = get("/v1/pledges".into(), a_token.clone()).await;
        assert_eq!(
            page_ids(&own.body),
            [pledges[0].clone(), pledges[2].clone()]
        );
        let own = get("/v1/reclamations".into(), a_token.clone()).await;
        assert_eq!(page_ids(&own.body), [reclamations[1].clone()]);
        let other = get(
            format!("/v1/reclamations?participant_id={b}"),
            a_token.clone(),
        )
        .await;
        assert_eq!(other.status, 404, "{}", other.body);
        let bad = get("/v1/pledges?instrument=%21%21".into(), a_token).await;
        assert_eq!(
            (bad.status, bad.body["code"].as_str()),
            (422, Some("invalid_query"))
        );
    }
}

/// The rows of a CSV download (after its BOM and header), each split at
/// its commas (the test's cells hold none).
fn csv_rows(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::str::from_utf8(body).expect("UTF-8");
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte order mark first");
    let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
    let split = |line: &str| line.split(',').map(str::to_owned).collect::<Vec<_>>();
    let header = split(lines.next().expect("a header"));
    (header, lines.map(split).collect())
}

#[tokio::test]
async fn a_regulator_exports_the_trade_history_with_both_parties_as_csv() {
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (a, a_token) = market.enterprise(1, "320505", "10", "0").await;
        let (b, b_token) = market.enterprise(2, "320506", "0", "10000.00").await;
        let (c, _) = market.enterprise(3, "320500", "0", "0").await;
        market.order(&a_token, "sell", "2", "100.00").await;
        market.order(&a_token, "sell", "3", "101.00").await;
        market.order(&b_token, "buy", "5", "101.00").await;

        let path = "/v1/audit/trades?format=csv";
        let (status, headers, body) = market.server.download(path, &market.regulator).await;
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "content-type" && value.starts_with("text/csv")),
            "{headers:?}"
        );
        let (header, rows) = csv_rows(&body);
        assert_eq!(
            header,
            [
                "trade_id",
                "executed_at",
                "instrument",
                "method",
                "quantity",
                "price",
                "value",
                "buyer_participant_id",
                "buyer_name",
                "seller_participant_id",
                "seller_name",
                "buyer_commission",
                "seller_commission",
            ]
        );
        assert_eq!(rows.len(), 2, "{rows:?}");
        // In time order: the cheaper ask first. Both parties, named.
        let cells = |row: &[String]| [3, 4, 5, 6, 7, 8, 9, 10].map(|i| row[i].clone());
        assert_eq!(
            cells(&rows[0]),
            [
                "order_book".to_owned(),
                "2.0000".into(),
                "100.00".into(),
                "200.00".into(),
                b.to_string(),
                "企业 2".into(),
                a.to_string(),
                "企业 1".into(),
            ]
        );
        assert_eq!(rows[1][6], "303.00");

        let only = |query: String| {
            let server = &market.server;
            let token = market.regulator.clone();
            async move {
                let (status, _, body) = server
                    .download(&format!("/v1/audit/trades?{query}"), &token)
                    .await;
                assert_eq!(status, 200);
                csv_rows(&body).1.len()
            }
        };
        assert_eq!(only(format!("participant_id={a}")).await, 2);
        assert_eq!(only(format!("participant_id={c}")).await, 0);
        assert_eq!(only("method=negotiated".into()).await, 0);
        assert_eq!(only("from=2999-01-01T00:00:00Z".into()).await, 0);

        let enterprise = market.server.call("GET", path, &a_token, None).await;
        assert_eq!(enterprise.status, 403, "{}", enterprise.body);
        let json = market
            .server
            .call(
                "GET",
                "/v1/audit/trades?format=json",
                &market.regulator,
                None,
            )
            .await;
        assert_eq!(
            (json.status, json.body["code"].as_str()),
            (422, Some("invalid_query"))
        );
    }
}

/// The market's daily figures: every method's trades, per business day,
/// days without trades omitted; open and close by execution order, the
/// average weighted by quantity; refused periods change nothing.
#[tokio::test]
async fn the_daily_statistics_sum_every_trade_of_each_business_day() {
    use ets_core::Clock;
    for db in TestDatabase::each().await {
        let market = Market::new(&db.url).await;
        let (seller, seller_token) = market.enterprise(1, "320505", "10", "0").await;
        let (buyer, buyer_token) = market.enterprise(2, "320506", "0", "10000.00").await;
        let first_day = market.server.store.business_date(market.server.clock.now());

        market.order(&seller_token, "sell", "4", "250").await;
        market.order(&seller_token, "sell", "3.5", "248.50").await;
        market.order(&buyer_token, "buy", "6", "251.00").await;
        let body = json!({"buyer_participant_id": buyer, "instrument": SO2, "quantity": "1", "price": "260.00"});
        let offer = market
            .server
            .call("POST", "/v1/negotiated-trades", &seller_token, Some(&body))
            .await;
        assert_eq!(offer.status, 201, "{}", offer.body);
        let id = offer.body["id"].as_str().expect("id");
        let accepted = market
            .server
            .call(
                "POST",
                &format!("/v1/negotiated-trades/{id}/accept"),
                &buyer_token,
                None,
            )
            .await;
        assert_eq!(accepted.status, 200, "{}", accepted.body);
        // Two days later (nothing on the day between; tokens renewed), one
        // more trade.
        market.server.clock.advance(chrono::Duration::days(2));
        let third_day = market.server.store.business_date(market.server.clock.now());
        let buyer_token = market.server.token(Role::Enterprise, Some(buyer)).await;
        let seller_token = market.server.token(Role::Enterprise, Some(seller)).await;
        let regulator = market.server.token(Role::Regulator, None).await;
        let admin = market.server.token(Role::Admin, None).await;
        market.order(&buyer_token, "buy", "1", "251.00").await;

        let path = format!("/v1/markets/{SO2}/stats?from={first_day}&to={third_day}");
        let stats = market.server.call("GET", &path, &seller_token, None).await;
        assert_eq!(stats.status, 200, "{}", stats.body);
        assert_eq!(
            stats.body,
            json!({"instrument": SO2, "items": [
                // 3.5 × 248.50 + 2.5 × 250.00 + 1 × 260.00 = 1754.75 over 7
                {"date": first_day.to_string(), "open": "248.50", "high": "260.00", "low": "248.50",
                 "close": "260.00", "vwap": "250.6786", "quantity": "7.0000", "value": "1754.75",
                 "trades": 3},
                {"date": third_day.to_string(), "open": "250.00", "high": "250.00", "low": "250.00",
                 "close": "250.00", "vwap": "250.0000", "quantity": "1.0000", "value": "250.00",
                 "trades": 1},
            ]})
        );
        // Without a period: the 90 days to today, so both days again.
        let default = market
            .server
            .call("GET", &format!("/v1/markets/{SO2}/stats"), &regulator, None)
            .await;
        assert_eq!(default.body, stats.body);
        // A period without trades has no rows; one day alone.
        let only_third = market
            .server
            .call(
                "GET",
                &format!("/v1/markets/{SO2}/stats?from={third_day}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(only_third.body["items"].as_array().map(Vec::len), Some(1));

        for (query, status, code) in [
            (
                format!("from={third_day}&to={first_day}"),
                422,
                "invalid_query",
            ),
            ("from=2026-02-30".to_owned(), 422, "invalid_query"),
            (
                "from=2024-01-01&to=2026-01-01".to_owned(),
                422,
                "invalid_query",
            ),
        ] {
            let answer = market
                .server
                .call(
                    "GET",
                    &format!("/v1/markets/{SO2}/stats?{query}"),
                    &admin,
                    None,
                )
                .await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (status, Some(code)),
                "{query}: {}",
                answer.body
            );
        }
        let unknown = market
            .server
            .call("GET", "/v1/markets/NOX-320500-2026/stats", &admin, None)
            .await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
    }
}
