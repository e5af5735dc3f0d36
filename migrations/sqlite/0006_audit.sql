-- Audit: signing keys rotate (SPEC §6). Each key is a generation, id 1, 2, …;
-- the greatest signs tokens and checkpoints, and every one stays published in
-- the JWKS so that old checkpoints still verify. SQLite cannot drop a CHECK,
-- so the table is made again with the same rows.

CREATE TABLE signing_keys_by_generation (
    id          INTEGER PRIMARY KEY CHECK (id >= 1),
    kid         TEXT NOT NULL UNIQUE,
    pkcs8       BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
INSERT INTO signing_keys_by_generation (id, kid, pkcs8, public_key, created_at)
    SELECT id, kid, pkcs8, public_key, created_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_by_generation RENAME TO signing_keys;
