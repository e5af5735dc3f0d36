-- The ledger's tables. Never edit an applied migration: add a new one.

CREATE TABLE participants (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    credit_code  text NOT NULL UNIQUE,
    region_code  text NOT NULL,
    industry     text,
    created_at   timestamptz NOT NULL
);

CREATE TABLE instruments (
    code             text PRIMARY KEY,
    kind             text NOT NULL,
    pollutant        text,
    unit             text NOT NULL,
    scale            integer NOT NULL CHECK (scale BETWEEN 0 AND 6),
    region_code      text,
    vintage          integer,
    valid_from       date,
    valid_to         date,
    commission_rate  numeric NOT NULL,
    price_band       numeric,
    created_at       timestamptz NOT NULL
);

-- One account per owner and instrument. owner is a participant's UUID or
-- 'system:NAME'. balance and held are the sums of the account's postings.
CREATE TABLE accounts (
    owner       text NOT NULL,
    instrument  text NOT NULL,
    balance     numeric NOT NULL,
    held        numeric NOT NULL CHECK (held >= 0),
    version     bigint NOT NULL,
    PRIMARY KEY (owner, instrument),
    CHECK (owner LIKE 'system:issuance' OR owner LIKE 'system:external_cash' OR (balance >= 0 AND balance >= held))
);

CREATE TABLE ledger_transactions (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    journal_seq  bigint NOT NULL,
    reference    text
);

-- Every change of an account, with its state after the change: a balance as
-- of an instant is the last posting at or before it.
CREATE TABLE postings (
    owner           text NOT NULL,
    instrument      text NOT NULL,
    version         bigint NOT NULL,
    transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
    at              timestamptz NOT NULL,
    amount          numeric NOT NULL,
    held_change     numeric NOT NULL,
    balance_after   numeric NOT NULL,
    held_after      numeric NOT NULL,
    hold_id         uuid,
    PRIMARY KEY (owner, instrument, version)
);
CREATE INDEX postings_by_transaction ON postings (transaction_id);

CREATE TABLE holds (
    id          uuid PRIMARY KEY,
    owner       text NOT NULL,
    instrument  text NOT NULL,
    purpose     text NOT NULL,
    amount      numeric NOT NULL CHECK (amount > 0),
    remaining   numeric NOT NULL CHECK (remaining >= 0),
    settled     numeric NOT NULL CHECK (settled >= 0),
    status      text NOT NULL CHECK (status IN ('open', 'settled', 'released')),
    CHECK (remaining + settled <= amount)
);
CREATE INDEX holds_open_by_account ON holds (owner, instrument) WHERE status = 'open';

CREATE TABLE credentials (
    client_id       text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL,
    participant_id  uuid REFERENCES participants (id),
    secret_hash     text NOT NULL,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

-- Stored results of requests that carried an Idempotency-Key.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    outcome      text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The journal: append-only, hash-chained. payload is the canonical JSON text.
CREATE TABLE journal (
    seq              bigint PRIMARY KEY CHECK (seq > 0),
    at               timestamptz NOT NULL,
    actor_client_id  text NOT NULL,
    actor_role       text NOT NULL,
    kind             text NOT NULL,
    payload          text NOT NULL,
    prev_hash        text NOT NULL,
    hash             text NOT NULL
);

CREATE FUNCTION journal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();

-- The journal's head: one row, locked by every writing transaction first.
-- It is the single point that orders all writes of all server nodes.
CREATE TABLE journal_head (
    id    integer PRIMARY KEY CHECK (id = 1),
    seq   bigint NOT NULL,
    hash  text NOT NULL,
    at    timestamptz
);
INSERT INTO journal_head (id, seq, hash, at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);
