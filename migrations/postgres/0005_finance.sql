-- Finance: the surcharge rate fixed on each invoice, what has been paid of it,
-- and its payments (SPEC §5).

ALTER TABLE invoices ADD COLUMN daily_rate numeric NOT NULL DEFAULT 0.0005
    CHECK (daily_rate >= 0 AND daily_rate <= 1);
ALTER TABLE invoices ADD COLUMN surcharge_paid numeric NOT NULL DEFAULT 0
    CHECK (surcharge_paid >= 0);
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_within_amount CHECK (paid <= amount);

CREATE TABLE invoice_payments (
    id              uuid PRIMARY KEY,
    invoice_id      uuid NOT NULL REFERENCES invoices (id),
    amount          numeric NOT NULL CHECK (amount > 0),
    surcharge       numeric NOT NULL CHECK (surcharge >= 0),
    principal       numeric NOT NULL CHECK (principal >= 0),
    source          text NOT NULL CHECK (source IN ('cash_account', 'external')),
    reference       text NOT NULL,
    -- The ledger transaction of a payment from the participant's cash; an
    -- external (bank) payment moves no ledger cash.
    transaction_id  uuid REFERENCES ledger_transactions (id),
    business_date   date NOT NULL,
    at              timestamptz NOT NULL,
    CHECK (surcharge + principal = amount),
    CHECK ((source = 'cash_account') = (transaction_id IS NOT NULL))
);
CREATE INDEX invoice_payments_by_invoice ON invoice_payments (invoice_id, at);

-- A day's settlement reads the day's ledger transactions by time.
CREATE INDEX ledger_transactions_by_at ON ledger_transactions (at);
