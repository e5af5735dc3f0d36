-- Each verification of the whole journal that someone asked for (the API's
-- GET /v1/audit/verify, the console's "verify now"): when, by whom, and
-- what it found. The console's overview shows the last one instead of
-- verifying the journal on every page.
CREATE TABLE journal_verifications (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL,
    verified_by    text NOT NULL,
    ok             boolean NOT NULL,
    entries        bigint NOT NULL,
    head_hash      text NOT NULL,
    first_bad_seq  bigint
);
