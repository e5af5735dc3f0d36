-- The order path's rows carry no foreign keys (see docs/DECISIONS.md 35).
-- Each key's check costs a lookup and a row lock on the referenced row for
-- every written row: a quarter of the time of a batch of orders. Every one of
-- these references holds by construction: postings and trades are written in
-- the same statement as the ledger transaction they name, and the writer
-- reads the participant and instrument an order names (from this database)
-- before it accepts the order; nothing deletes participants, instruments or
-- transactions. Foreign keys stay on the tables written off the hot path.
ALTER TABLE postings DROP CONSTRAINT postings_transaction_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_participant_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_instrument_fkey;
ALTER TABLE trades DROP CONSTRAINT trades_instrument_fkey;
ALTER TABLE trades DROP CONSTRAINT trades_buyer_id_fkey;
ALTER TABLE trades DROP CONSTRAINT trades_seller_id_fkey;
ALTER TABLE trades DROP CONSTRAINT trades_transaction_id_fkey;

-- A journal payload (an order with its fills and postings) is often over the
-- ~2 kB past which PostgreSQL compresses a row; lz4 compresses several times
-- faster than the default pglz. Only new values change; reading is the same.
ALTER TABLE journal ALTER COLUMN payload SET COMPRESSION lz4;
ALTER TABLE idempotency_keys ALTER COLUMN outcome SET COMPRESSION lz4;

-- Two indexes no query uses, which only cost every write: holds are read by
-- id (an order's, proposal's, bid's or pledge's), never by account; postings
-- are read by account (history, balances as of an instant), never by
-- transaction (a transaction's postings are in its journal entry).
DROP INDEX holds_open_by_account;
DROP INDEX postings_by_transaction;
