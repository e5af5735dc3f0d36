//! The web console's people (SPEC §9): administrators, regulators and
//! finance staff who log in with a password and a TOTP code. Creating,
//! resetting and disabling one is journaled like a credential; their
//! secrets stay out of the journal. Logins and sessions are not ledger data
//! and are kept by the store outside batches.

use ets_core::Role;

use crate::batch::{Applied, Changes, Loaded};
use crate::command::{CommandError, NewPerson, Outcome, PersonSecrets};
use crate::payload::{Payload, PersonChanged, PersonCreated};

/// Adds a person; logins are unique, and enterprises use the API, not the
/// console.
pub(crate) fn create(
    person: &NewPerson,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    if person.role == Role::Enterprise {
        return Err(CommandError::PersonRole);
    }
    if !valid_login(&person.login)
        || person.name.trim().is_empty()
        || person.name.chars().any(char::is_control)
    {
        return Err(CommandError::InvalidPerson);
    }
    if loaded.people.contains_key(&person.login) {
        return Err(CommandError::DuplicatePerson);
    }
    loaded.people.insert(person.login.clone(), true);
    changes.people.push(person.clone());
    let payload = Payload::PersonCreated(PersonCreated {
        login: person.login.clone(),
        name: person.name.clone(),
        role: person.role,
    });
    Ok(("person.created", payload, outcome(&person.login)))
}

/// Gives an active person a new password and TOTP secret.
pub(crate) fn reset(
    login: &str,
    secrets: &PersonSecrets,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    active(login, loaded)?;
    changes
        .people_reset
        .push((login.to_owned(), secrets.clone()));
    Ok(("person.reset", changed(login), outcome(login)))
}

/// Disables an active person (disabling twice is refused).
pub(crate) fn disable(
    login: &str,
    loaded: &mut Loaded,
    changes: &mut Changes,
) -> Result<Applied<'static>, CommandError> {
    active(login, loaded)?;
    loaded.people.insert(login.to_owned(), false);
    changes.people_disabled.push(login.to_owned());
    Ok(("person.disabled", changed(login), outcome(login)))
}

/// Whether `login` can be one: 1 to 64 of ASCII letters, digits and `.`,
/// `_`, `-`, `@` (typed at a login form, shown in the journal as
/// `person:LOGIN`).
#[must_use]
pub fn valid_login(login: &str) -> bool {
    (1..=64).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn active(login: &str, loaded: &Loaded) -> Result<(), CommandError> {
    if loaded.people.get(login) == Some(&true) {
        Ok(())
    } else {
        Err(CommandError::UnknownPerson)
    }
}

fn changed(login: &str) -> Payload {
    Payload::PersonChanged(PersonChanged {
        login: login.to_owned(),
    })
}

fn outcome(login: &str) -> Outcome {
    Outcome::Person {
        login: login.to_owned(),
    }
}

/// A console session ends after this long without a page.
pub const SESSION_IDLE: chrono::TimeDelta = chrono::TimeDelta::minutes(30);
/// A console session ends this long after its login, however busy.
pub const SESSION_MAX: chrono::TimeDelta = chrono::TimeDelta::hours(12);
/// Failures of one login from one address within [`LOCKOUT_WINDOW`] that
/// lock it there.
pub const LOCKOUT_FAILURES: i64 = 5;
/// How far back failures count, and so how long a lockout lasts.
pub const LOCKOUT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// Whether a session begun at `created` and last used at `last_seen` is
/// still open at `now`.
#[must_use]
pub fn session_open(
    created: chrono::DateTime<chrono::Utc>,
    last_seen: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    now < created + SESSION_MAX && now < last_seen + SESSION_IDLE
}

/// Whether a login with `failures` failed attempts from one address in the
/// last [`LOCKOUT_WINDOW`] is locked there.
#[must_use]
pub fn locked_out(failures: i64) -> bool {
    failures >= LOCKOUT_FAILURES
}
