//! What the web console keeps, on each database: its people written by
//! journaled commands, a TOTP step taken once, logins counted per address,
//! and sessions that a reset or a disable ends.

mod common;

use chrono::{SubsecRound, TimeDelta};
use common::*;
use ets_core::Role;
use ets_store::{Command, LoginOutcome, NewPerson, PersonSecrets, Store};
use ets_testkit::TestDatabase;

fn secrets(password_hash: &str) -> PersonSecrets {
    PersonSecrets {
        password_hash: password_hash.to_owned(),
        totp_secret: "JBSWY3DPEHPK3PXP".to_owned(),
    }
}

#[tokio::test]
async fn people_logins_and_sessions_are_kept_on_each_database() {
    for db in TestDatabase::each().await {
        let store = Store::open(&db.url).await.expect("open");
        let person = NewPerson {
            login: "zhao.cw".to_owned(),
            name: "赵财务".to_owned(),
            role: Role::Finance,
            secrets: secrets("hash-1"),
        };
        store
            .execute(actor(), Command::CreatePerson(person))
            .await
            .expect("created");
        let stored = store
            .person("zhao.cw")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!((stored.role, stored.disabled), (Role::Finance, false));
        assert_eq!(stored.password_hash, "hash-1");
        assert!(store.person("nobody").await.expect("read").is_none());

        // Each step once, and never one older than the last taken.
        assert!(store.use_totp_step("zhao.cw", 100).await.expect("step"));
        assert!(!store.use_totp_step("zhao.cw", 100).await.expect("step"));
        assert!(!store.use_totp_step("zhao.cw", 99).await.expect("step"));
        assert!(store.use_totp_step("zhao.cw", 101).await.expect("step"));

        // Failures are counted per login and address, within the window.
        let now = store.now();
        let here = "192.0.2.7";
        let outcomes = [
            (
                now - TimeDelta::minutes(20),
                here,
                LoginOutcome::WrongPassword,
            ),
            (now, here, LoginOutcome::WrongCode),
            (now, here, LoginOutcome::Success),
            (now, "192.0.2.8", LoginOutcome::WrongPassword),
        ];
        for (at, address, outcome) in outcomes {
            let id = store
                .record_login(at, "zhao.cw", address, LoginOutcome::WrongPassword)
                .await
                .expect("recorded");
            store.set_login_outcome(id, outcome).await.expect("set");
        }
        let since = now - TimeDelta::minutes(15);
        let failures = store.login_failures("zhao.cw", here, since).await;
        assert_eq!(failures.expect("counted"), 1);

        // A session is found by its hash until a reset ends it.
        store
            .open_session("hash-of-cookie-1", "zhao.cw", here, now)
            .await
            .expect("opened");
        let session = store
            .console_session("hash-of-cookie-1")
            .await
            .expect("read");
        let session = session.expect("found");
        assert_eq!((session.login.as_str(), session.ended), ("zhao.cw", false));
        // Times are kept to the microsecond.
        let later = (now + TimeDelta::minutes(5)).trunc_subsecs(6);
        store
            .touch_session("hash-of-cookie-1", later)
            .await
            .expect("touched");
        let session = store
            .console_session("hash-of-cookie-1")
            .await
            .expect("read");
        assert_eq!(session.expect("found").last_seen_at, later);
        let reset = Command::ResetPerson {
            login: "zhao.cw".to_owned(),
            secrets: secrets("hash-2"),
        };
        store.execute(actor(), reset).await.expect("reset");
        let session = store
            .console_session("hash-of-cookie-1")
            .await
            .expect("read");
        assert!(session.expect("found").ended, "a reset ends every session");
        let stored = store
            .person("zhao.cw")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored.password_hash, "hash-2");
        // A login checked while the reset committed opens its session
        // after it, with the time its check began: ended all the same.
        store
            .open_session("hash-of-a-racing-login", "zhao.cw", here, now)
            .await
            .expect("opened");
        let racing = store.console_session("hash-of-a-racing-login").await;
        assert!(racing.expect("read").expect("found").ended);
        // The new secret's codes start again.
        assert!(store.use_totp_step("zhao.cw", 50).await.expect("step"));

        // Disabled: sessions end at once, logging out is idempotent.
        store
            .open_session("hash-of-cookie-2", "zhao.cw", here, now)
            .await
            .expect("opened");
        let disable = Command::DisablePerson {
            login: "zhao.cw".to_owned(),
        };
        store.execute(actor(), disable).await.expect("disabled");
        let session = store
            .console_session("hash-of-cookie-2")
            .await
            .expect("read");
        assert!(session.expect("found").ended);
        assert!(
            store
                .person("zhao.cw")
                .await
                .expect("read")
                .expect("kept")
                .disabled
        );
        store
            .end_session("hash-of-cookie-2", now)
            .await
            .expect("ended");
        let kinds: Vec<String> = store
            .journal(0, 10)
            .await
            .expect("journal")
            .into_iter()
            .map(|entry| entry.kind)
            .collect();
        assert_eq!(kinds, ["person.created", "person.reset", "person.disabled"]);
    }
}
