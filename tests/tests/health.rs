//! Health and readiness over a real socket, on both databases.

use ets_e2e::TestServer;
use ets_testkit::TestDatabase;

#[tokio::test]
async fn a_fresh_server_is_alive_and_ready_on_each_database() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let health = server.get("/healthz").await;
        assert_eq!(health.status, 200);
        assert_eq!(health.body["status"], "ok");
        assert!(
            health
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty()),
            "every answer carries a request id"
        );

        let ready = server.get("/readyz").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.body["database"], server.store.backend_name());
    }
}

#[tokio::test]
async fn an_unknown_path_is_not_found() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    assert_eq!(server.get("/v1/nothing-here").await.status, 404);
}
