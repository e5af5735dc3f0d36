//! What the web console keeps outside the ledger: its people's secrets as
//! read for a login, the step of each person's last TOTP code, sessions
//! and the record of logins. None of it moves the journal head, so it is
//! written straight to the database, not through the writer; each write is
//! one statement, so nodes sharing a database agree on it.

use chrono::{DateTime, Utc};
use ets_core::Role;

use crate::database::Param::{Integer, Text, Time};
use crate::load::Read;
use crate::rows::{StoredRow, decode_error};
use crate::{Store, StoreError};

/// A console person as a login reads them.
#[derive(Clone)]
pub struct Person {
    /// What they log in as.
    pub login: String,
    /// Their name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// argon2id hash of the password.
    pub password_hash: String,
    /// The TOTP secret, base32.
    pub totp_secret: String,
    /// Whether they are disabled.
    pub disabled: bool,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("login", &self.login)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// An open or ended console session and its person.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Whose.
    pub login: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// When they logged in.
    pub created_at: DateTime<Utc>,
    /// Their last page.
    pub last_seen_at: DateTime<Utc>,
    /// Whether it was ended (logout, reset, disabled), its person is
    /// disabled, or it began before its person's last reset (a login whose
    /// check was under way while the reset committed).
    pub ended: bool,
}

/// What became of a login attempt, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in.
    Success,
    /// No such active person, or a wrong password.
    WrongPassword,
    /// The right password with a wrong (or reused) TOTP code.
    WrongCode,
    /// Refused unchecked: too many failures from this address.
    Locked,
    /// A logout.
    Logout,
}

impl LoginOutcome {
    /// As stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::WrongCode => "wrong_code",
            Self::Locked => "locked",
            Self::Logout => "logout",
        }
    }
}

fn role(row: &dyn StoredRow) -> Read<Role> {
    let text = row.text("role")?;
    Role::parse(&text).map_err(|_| decode_error("people.role"))
}

impl Store {
    /// A console person by login, disabled or not.
    ///
    /// # Errors
    /// The database failure.
    pub async fn person(&self, login: &str) -> Result<Option<Person>, StoreError> {
        let sql = "SELECT login, name, role, password_hash, totp_secret, \
             disabled_at IS NOT NULL AS disabled FROM people WHERE login = $1";
        self.db
            .first(sql, &[Text(Some(login))], |row| {
                Ok(Person {
                    login: row.text("login")?,
                    name: row.text("name")?,
                    role: role(row)?,
                    password_hash: row.text("password_hash")?,
                    totp_secret: row.text("totp_secret")?,
                    disabled: row.flag("disabled")?,
                })
            })
            .await
    }

    /// Marks TOTP step `step` used by `login`, if it is later than the last
    /// one used: whether it was (a code is accepted once, on every node).
    ///
    /// # Errors
    /// The database failure.
    pub async fn use_totp_step(&self, login: &str, step: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE people SET totp_last_step = $2 WHERE login = $1 \
             AND (totp_last_step IS NULL OR totp_last_step < $2)";
        let changed = self
            .db
            .execute(sql, &[Text(Some(login)), Integer(Some(step))])
            .await?;
        Ok(changed == 1)
    }

    /// Records a login attempt or a logout; the record's id.
    ///
    /// An attempt is recorded as `wrong_password` before it is checked and
    /// its outcome set after ([`Store::set_login_outcome`]), so attempts
    /// made at once each count the others: of any number sent together, at
    /// most the lockout's allowance is checked.
    ///
    /// # Errors
    /// The database failure.
    pub async fn record_login(
        &self,
        at: DateTime<Utc>,
        login: &str,
        address: &str,
        outcome: LoginOutcome,
    ) -> Result<i64, StoreError> {
        let sql = "INSERT INTO console_logins (at, login, address, outcome) \
             VALUES ($1::timestamptz, $2, $3, $4) RETURNING id";
        let params = [
            Time(Some(at)),
            Text(Some(login)),
            Text(Some(address)),
            Text(Some(outcome.as_str())),
        ];
        let id = self.db.first(sql, &params, |row| row.integer("id")).await?;
        id.ok_or(StoreError::Internal("INSERT … RETURNING answered no row"))
    }

    /// Sets what became of login attempt `id`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn set_login_outcome(
        &self,
        id: i64,
        outcome: LoginOutcome,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE console_logins SET outcome = $2 WHERE id = $1";
        self.db
            .execute(sql, &[Integer(Some(id)), Text(Some(outcome.as_str()))])
            .await?;
        Ok(())
    }

    /// Failed attempts of `login` from `address` since `since`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn login_failures(
        &self,
        login: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) AS failures FROM console_logins WHERE login = $1 \
             AND address = $2 AND at >= $3::timestamptz \
             AND outcome IN ('wrong_password', 'wrong_code')";
        let params = [Text(Some(login)), Text(Some(address)), Time(Some(since))];
        let failures = self
            .db
            .first(sql, &params, |row| row.integer("failures"))
            .await?;
        Ok(failures.unwrap_or(0))
    }

    /// Opens a session under the SHA-256 of its cookie.
    ///
    /// # Errors
    /// The database failure.
    pub async fn open_session(
        &self,
        token_hash: &str,
        login: &str,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO console_sessions (token_hash, login, address, created_at, \
             last_seen_at) VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz)";
        let params = [
            Text(Some(token_hash)),
            Text(Some(login)),
            Text(Some(address)),
            Time(Some(at)),
        ];
        self.db.execute(sql, &params).await?;
        Ok(())
    }

    /// The session under `token_hash`, with its person.
    ///
    /// # Errors
    /// The database failure.
    pub async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let sql = "SELECT s.login, p.name, p.role, s.created_at, s.last_seen_at, \
             (s.ended_at IS NOT NULL OR p.disabled_at IS NOT NULL \
             OR (p.reset_at IS NOT NULL AND s.created_at < p.reset_at)) AS ended \
             FROM console_sessions s JOIN people p ON p.login = s.login \
             WHERE s.token_hash = $1";
        self.db
            .first(sql, &[Text(Some(token_hash))], |row| {
                Ok(ConsoleSession {
                    login: row.text("login")?,
                    name: row.text("name")?,
                    role: role(row)?,
                    created_at: row.time("created_at")?,
                    last_seen_at: row.time("last_seen_at")?,
                    ended: row.flag("ended")?,
                })
            })
            .await
    }

    /// Notes a page of the session at `at`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE console_sessions SET last_seen_at = $2::timestamptz \
             WHERE token_hash = $1 AND ended_at IS NULL";
        self.db
            .execute(sql, &[Text(Some(token_hash)), Time(Some(at))])
            .await?;
        Ok(())
    }

    /// Ends the session (a logout).
    ///
    /// # Errors
    /// The database failure.
    pub async fn end_session(&self, token_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = "UPDATE console_sessions SET ended_at = $2::timestamptz \
             WHERE token_hash = $1 AND ended_at IS NULL";
        self.db
            .execute(sql, &[Text(Some(token_hash)), Time(Some(at))])
            .await?;
        Ok(())
    }
}

/// A verification of the journal as recorded: when, by whom, what it found.
#[derive(Debug, Clone)]
pub struct RecordedVerification {
    /// When it ran.
    pub at: DateTime<Utc>,
    /// Who asked (a client id, or `person:LOGIN`).
    pub verified_by: String,
    /// What it found.
    pub verification: ets_core::Verification,
}

impl Store {
    /// Records a verification of the journal.
    ///
    /// # Errors
    /// The database failure.
    pub async fn record_verification(
        &self,
        at: DateTime<Utc>,
        verified_by: &str,
        verification: &ets_core::Verification,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO journal_verifications \
             (at, verified_by, ok, entries, head_hash, first_bad_seq) \
             VALUES ($1::timestamptz, $2, $3::bigint <> 0, $4, $5, $6)";
        let params = [
            Time(Some(at)),
            Text(Some(verified_by)),
            Integer(Some(i64::from(verification.ok))),
            Integer(Some(verification.entries)),
            Text(Some(&verification.head_hash)),
            Integer(verification.first_bad_seq),
        ];
        self.db.execute(sql, &params).await?;
        Ok(())
    }

    /// The last verification recorded, if any.
    ///
    /// # Errors
    /// The database failure.
    pub async fn last_verification(&self) -> Result<Option<RecordedVerification>, StoreError> {
        let sql = "SELECT at, verified_by, ok, entries, head_hash, first_bad_seq \
             FROM journal_verifications ORDER BY id DESC LIMIT 1";
        self.db
            .first(sql, &[], |row| {
                Ok(RecordedVerification {
                    at: row.time("at")?,
                    verified_by: row.text("verified_by")?,
                    verification: ets_core::Verification {
                        ok: row.flag("ok")?,
                        entries: row.integer("entries")?,
                        head_hash: row.text("head_hash")?,
                        first_bad_seq: row.optional_integer("first_bad_seq")?,
                    },
                })
            })
            .await
    }
}
