-- The HTTP API: the token signing key, allocations and their paid-use invoices.

-- At most one active signing key (id = 1); tokens carry its kid.
CREATE TABLE signing_keys (
    id          integer PRIMARY KEY CHECK (id = 1),
    kid         text NOT NULL UNIQUE,
    pkcs8       bytea NOT NULL,
    public_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE invoices (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    kind            text NOT NULL,
    amount          numeric NOT NULL CHECK (amount >= 0),
    paid            numeric NOT NULL DEFAULT 0 CHECK (paid >= 0),
    due_date        date NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX invoices_by_participant ON invoices (participant_id, id);

CREATE TABLE allocations (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    instrument      text NOT NULL REFERENCES instruments (code),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    method          text NOT NULL CHECK (method IN ('free', 'paid')),
    unit_fee        numeric,
    years           integer,
    transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
    invoice_id      uuid REFERENCES invoices (id),
    created_at      timestamptz NOT NULL
);
