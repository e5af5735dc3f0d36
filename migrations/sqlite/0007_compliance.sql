-- Compliance (SPEC §6): verified emissions per participant, period, kind and
-- pollutant, and the surrenders of carbon allowances and offsets against them.
-- Decimals are exact text, as everywhere here.

-- Every record ever made stays; a later record for the same key replaces the
-- earlier one, which then names it in replaced_by. One current record a key.
CREATE TABLE emissions (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    period          TEXT NOT NULL CHECK (length(period) = 4 AND period NOT GLOB '*[^0-9]*'),
    kind            TEXT NOT NULL CHECK (kind IN ('carbon', 'pollutant')),
    pollutant       TEXT,
    quantity        TEXT NOT NULL CHECK (quantity NOT LIKE '-%'),
    recorded_at     TEXT NOT NULL,
    replaces        TEXT REFERENCES emissions (id),
    replaced_by     TEXT,
    CHECK ((kind = 'pollutant') = (pollutant IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX emissions_current
    ON emissions (participant_id, period, kind, COALESCE(pollutant, ''))
    WHERE replaced_by IS NULL;
CREATE INDEX emissions_by_period ON emissions (period, participant_id) WHERE replaced_by IS NULL;

CREATE TABLE surrenders (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    instrument      TEXT NOT NULL REFERENCES instruments (code),
    kind            TEXT NOT NULL CHECK (kind IN ('allowance', 'offset')),
    quantity        TEXT NOT NULL CHECK (quantity NOT LIKE '-%'),
    period          TEXT NOT NULL CHECK (length(period) = 4 AND period NOT GLOB '*[^0-9]*'),
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions (id),
    at              TEXT NOT NULL
) STRICT;
CREATE INDEX surrenders_by_participant ON surrenders (participant_id, period);
CREATE INDEX surrenders_by_period ON surrenders (period);
