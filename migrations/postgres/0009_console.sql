-- The web console's people (SPEC §9): regulators, finance staff and
-- administrators who log in with a password and a TOTP code. None of this is
-- ledger data; creating, resetting and disabling a person is journaled.
-- `totp_secret` is the RFC 6238 key in base32: it must be read to check a
-- code, so it is kept as is (like the signing keys' private halves).
-- `totp_last_step` is the 30 s step of the last code accepted: a code is
-- accepted once.
CREATE TABLE people (
    login           text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL,
    password_hash   text NOT NULL,
    totp_secret     text NOT NULL,
    totp_last_step  bigint,
    created_at      timestamptz NOT NULL,
    reset_at        timestamptz,
    disabled_at     timestamptz
);

-- A console session: the SHA-256 of its cookie (the cookie itself is never
-- stored). It ends 30 minutes idle, 12 hours after it began, at logout, or
-- when its person is disabled or reset.
CREATE TABLE console_sessions (
    token_hash    text PRIMARY KEY,
    login         text NOT NULL REFERENCES people (login),
    address       text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    ended_at      timestamptz
);

-- Every login attempt and logout, with time and address: the lockout (five
-- failures of a login from one address in 15 minutes) is counted from here,
-- so every node agrees.
CREATE TABLE console_logins (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    login    text NOT NULL,
    address  text NOT NULL,
    outcome  text NOT NULL
);
CREATE INDEX console_logins_by_login ON console_logins (login, address, at);
