-- The HTTP API: the token signing key, allocations and their paid-use invoices.

CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    kid         TEXT NOT NULL UNIQUE,
    pkcs8       BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    kind            TEXT NOT NULL,
    amount          TEXT NOT NULL,
    paid            TEXT NOT NULL DEFAULT '0',
    due_date        TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX invoices_by_participant ON invoices (participant_id, id);

CREATE TABLE allocations (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    instrument      TEXT NOT NULL REFERENCES instruments (code),
    quantity        TEXT NOT NULL,
    method          TEXT NOT NULL CHECK (method IN ('free', 'paid')),
    unit_fee        TEXT,
    years           INTEGER,
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions (id),
    invoice_id      TEXT REFERENCES invoices (id),
    created_at      TEXT NOT NULL
) STRICT;
