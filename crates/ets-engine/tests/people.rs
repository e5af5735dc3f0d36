//! The web console's people: created once per login, reset and disabled
//! only while active, never an enterprise, and journaled without their
//! password's hash or TOTP secret.

mod common;

use common::*;
use ets_core::Role;
use ets_engine::{Command, CommandError, NewPerson, Outcome, PersonSecrets};

fn secrets(n: u32) -> PersonSecrets {
    PersonSecrets {
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${n}"),
        totp_secret: format!("JBSWY3DPEHPK3PX{n}"),
    }
}

fn person(login: &str, role: Role) -> NewPerson {
    NewPerson {
        login: login.to_owned(),
        name: "王芳".to_owned(),
        role,
        secrets: secrets(1),
    }
}

#[test]
fn a_person_is_created_reset_and_disabled_once() {
    let mut ledger = TestLedger::new();
    let created = ledger.execute(Command::CreatePerson(person("wang.fang", Role::Finance)));
    assert_eq!(
        created,
        Ok(Outcome::Person {
            login: "wang.fang".to_owned()
        })
    );
    assert_eq!(
        ledger.execute(Command::CreatePerson(person("wang.fang", Role::Regulator))),
        Err(CommandError::DuplicatePerson)
    );
    let reset = Command::ResetPerson {
        login: "wang.fang".to_owned(),
        secrets: secrets(2),
    };
    assert!(ledger.execute(reset).is_ok());
    let disable = || Command::DisablePerson {
        login: "wang.fang".to_owned(),
    };
    assert!(ledger.execute(disable()).is_ok());
    assert_eq!(ledger.execute(disable()), Err(CommandError::UnknownPerson));
    let reset_disabled = Command::ResetPerson {
        login: "wang.fang".to_owned(),
        secrets: secrets(3),
    };
    assert_eq!(
        ledger.execute(reset_disabled),
        Err(CommandError::UnknownPerson)
    );
    assert_eq!(
        ledger.execute(Command::DisablePerson {
            login: "nobody".to_owned()
        }),
        Err(CommandError::UnknownPerson)
    );
}

#[test]
fn a_login_is_plain_ascii_and_a_name_is_not_blank() {
    let mut ledger = TestLedger::new();
    for login in ["", "wang fang", "王芳", "a\u{0}b", &"x".repeat(65)] {
        assert_eq!(
            ledger.execute(Command::CreatePerson(person(login, Role::Admin))),
            Err(CommandError::InvalidPerson),
            "{login:?}"
        );
    }
    let mut blank = person("blank", Role::Admin);
    blank.name = "  ".to_owned();
    assert_eq!(
        ledger.execute(Command::CreatePerson(blank)),
        Err(CommandError::InvalidPerson)
    );
    assert!(
        ledger
            .execute(Command::CreatePerson(person("li.lei-2@sz", Role::Admin)))
            .is_ok()
    );
}

#[test]
fn enterprises_use_the_api_not_the_console() {
    let mut ledger = TestLedger::new();
    assert_eq!(
        ledger.execute(Command::CreatePerson(person("ops", Role::Enterprise))),
        Err(CommandError::PersonRole)
    );
}

#[test]
fn the_journal_names_the_person_but_never_their_secrets() {
    let mut ledger = TestLedger::new();
    ledger
        .execute(Command::CreatePerson(person("li.lei", Role::Regulator)))
        .expect("created");
    ledger
        .execute(Command::ResetPerson {
            login: "li.lei".to_owned(),
            secrets: secrets(7),
        })
        .expect("reset");
    let entries = ledger.memory.journal();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["person.created", "person.reset"]);
    let created = &entries[0].payload;
    assert_eq!(created["login"], "li.lei");
    assert_eq!(created["role"], "regulator");
    for entry in entries {
        let text = entry.payload.to_string();
        assert!(!text.contains("argon2"), "{text}");
        assert!(!text.contains("JBSWY3DP"), "{text}");
    }
}

#[test]
fn a_session_ends_thirty_minutes_idle_or_twelve_hours_after_login() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use ets_engine::people::session_open;
    let login = Utc
        .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .single()
        .expect("a time");
    let minutes = TimeDelta::minutes;
    assert!(session_open(login, login, login + minutes(29)));
    assert!(!session_open(login, login, login + minutes(30)));
    // Busy all day: a page every ten minutes keeps it open until 12 hours.
    let last = login + TimeDelta::hours(12) - minutes(5);
    assert!(session_open(login, last, last + minutes(4)));
    assert!(!session_open(login, last, last + minutes(5)));
}

#[test]
fn the_fifth_failure_locks_the_login() {
    use ets_engine::people::locked_out;
    assert!(!locked_out(4));
    assert!(locked_out(5));
}
