-- Audit: signing keys rotate (SPEC §6). Each key is a generation, id 1, 2, …;
-- the greatest signs tokens and checkpoints, and every one stays published in
-- the JWKS so that old checkpoints still verify.

ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_id_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_id_check CHECK (id >= 1);
