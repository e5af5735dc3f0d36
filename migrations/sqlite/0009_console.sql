-- The web console's people (SPEC §9); see the PostgreSQL migration.
CREATE TABLE people (
    login           TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT NOT NULL,
    totp_last_step  INTEGER,
    created_at      TEXT NOT NULL,
    reset_at        TEXT,
    disabled_at     TEXT
) STRICT;

CREATE TABLE console_sessions (
    token_hash    TEXT PRIMARY KEY,
    login         TEXT NOT NULL REFERENCES people (login),
    address       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    ended_at      TEXT
) STRICT;

CREATE TABLE console_logins (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    login    TEXT NOT NULL,
    address  TEXT NOT NULL,
    outcome  TEXT NOT NULL
) STRICT;
CREATE INDEX console_logins_by_login ON console_logins (login, address, at);
