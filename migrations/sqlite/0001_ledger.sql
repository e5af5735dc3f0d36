-- The ledger's tables. Never edit an applied migration: add a new one.
-- Decimals are stored as their exact text; times as RFC 3339 UTC text with six
-- fractional digits, which sorts chronologically.

CREATE TABLE participants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    credit_code  TEXT NOT NULL UNIQUE,
    region_code  TEXT NOT NULL,
    industry     TEXT,
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE instruments (
    code             TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    pollutant        TEXT,
    unit             TEXT NOT NULL,
    scale            INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 6),
    region_code      TEXT,
    vintage          INTEGER,
    valid_from       TEXT,
    valid_to         TEXT,
    commission_rate  TEXT NOT NULL,
    price_band       TEXT,
    created_at       TEXT NOT NULL
) STRICT;

CREATE TABLE accounts (
    owner       TEXT NOT NULL,
    instrument  TEXT NOT NULL,
    balance     TEXT NOT NULL,
    held        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (owner, instrument)
) STRICT;

CREATE TABLE ledger_transactions (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    at           TEXT NOT NULL,
    journal_seq  INTEGER NOT NULL,
    reference    TEXT
) STRICT;

CREATE TABLE postings (
    owner           TEXT NOT NULL,
    instrument      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions (id),
    at              TEXT NOT NULL,
    amount          TEXT NOT NULL,
    held_change     TEXT NOT NULL,
    balance_after   TEXT NOT NULL,
    held_after      TEXT NOT NULL,
    hold_id         TEXT,
    PRIMARY KEY (owner, instrument, version)
) STRICT;
CREATE INDEX postings_by_transaction ON postings (transaction_id);

CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    instrument  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    amount      TEXT NOT NULL,
    remaining   TEXT NOT NULL,
    settled     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'settled', 'released'))
) STRICT;
CREATE INDEX holds_open_by_account ON holds (owner, instrument) WHERE status = 'open';

CREATE TABLE credentials (
    client_id       TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    participant_id  TEXT REFERENCES participants (id),
    secret_hash     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
) STRICT;

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;

CREATE TABLE journal (
    seq              INTEGER PRIMARY KEY CHECK (seq > 0),
    at               TEXT NOT NULL,
    actor_client_id  TEXT NOT NULL,
    actor_role       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
) STRICT;

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused');
END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused');
END;

CREATE TABLE journal_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL,
    at    TEXT
) STRICT;
INSERT INTO journal_head (id, seq, hash, at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);
