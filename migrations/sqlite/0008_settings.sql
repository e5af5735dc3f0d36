-- Settings fixed when the ledger's database is created and never changed
-- after: every node reads them at start. `business_utc_offset` is the zone
-- the ledger counts its business days in (`+08:00`, Asia/Shanghai, unless
-- configured at the first start), written by the first node to start.
CREATE TABLE ledger_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
