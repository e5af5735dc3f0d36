-- Compliance (SPEC §6): verified emissions per participant, period, kind and
-- pollutant, and the surrenders of carbon allowances and offsets against them.

-- Every record ever made stays; a later record for the same key replaces the
-- earlier one, which then names it in replaced_by. One current record a key.
CREATE TABLE emissions (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    period          text NOT NULL CHECK (period ~ '^[0-9]{4}$'),
    kind            text NOT NULL CHECK (kind IN ('carbon', 'pollutant')),
    pollutant       text,
    quantity        numeric NOT NULL CHECK (quantity >= 0),
    recorded_at     timestamptz NOT NULL,
    replaces        uuid REFERENCES emissions (id),
    replaced_by     uuid,
    CHECK ((kind = 'pollutant') = (pollutant IS NOT NULL))
);
CREATE UNIQUE INDEX emissions_current
    ON emissions (participant_id, period, kind, COALESCE(pollutant, ''))
    WHERE replaced_by IS NULL;
CREATE INDEX emissions_by_period ON emissions (period, participant_id) WHERE replaced_by IS NULL;

CREATE TABLE surrenders (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    instrument      text NOT NULL REFERENCES instruments (code),
    kind            text NOT NULL CHECK (kind IN ('allowance', 'offset')),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    period          text NOT NULL CHECK (period ~ '^[0-9]{4}$'),
    transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
    at              timestamptz NOT NULL
);
CREATE INDEX surrenders_by_participant ON surrenders (participant_id, period);
CREATE INDEX surrenders_by_period ON surrenders (period);
