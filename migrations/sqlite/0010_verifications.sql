-- Each verification of the whole journal that someone asked for; see the
-- PostgreSQL migration.
CREATE TABLE journal_verifications (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    verified_by    TEXT NOT NULL,
    ok             INTEGER NOT NULL,
    entries        INTEGER NOT NULL,
    head_hash      TEXT NOT NULL,
    first_bad_seq  INTEGER
) STRICT;
