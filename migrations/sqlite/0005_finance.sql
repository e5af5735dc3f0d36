-- Finance: the surcharge rate fixed on each invoice, what has been paid of it,
-- and its payments (SPEC §5). Decimals are exact text, as everywhere here.

ALTER TABLE invoices ADD COLUMN daily_rate TEXT NOT NULL DEFAULT '0.0005';
ALTER TABLE invoices ADD COLUMN surcharge_paid TEXT NOT NULL DEFAULT '0';

CREATE TABLE invoice_payments (
    id              TEXT PRIMARY KEY,
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    amount          TEXT NOT NULL,
    surcharge       TEXT NOT NULL,
    principal       TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('cash_account', 'external')),
    reference       TEXT NOT NULL,
    -- The ledger transaction of a payment from the participant's cash; an
    -- external (bank) payment moves no ledger cash.
    transaction_id  TEXT REFERENCES ledger_transactions (id),
    business_date   TEXT NOT NULL,
    at              TEXT NOT NULL,
    CHECK ((source = 'cash_account') = (transaction_id IS NOT NULL))
) STRICT;
CREATE INDEX invoice_payments_by_invoice ON invoice_payments (invoice_id, at);

-- A day's settlement reads the day's ledger transactions by time.
CREATE INDEX ledger_transactions_by_at ON ledger_transactions (at);
