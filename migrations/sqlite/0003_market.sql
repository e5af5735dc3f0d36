-- The market: order book, trades, negotiated trades, auctions, reclamations,
-- pledges. Decimals are exact text; price_ticks (the price in fen) orders the
-- book in SQL.

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    instrument      TEXT NOT NULL REFERENCES instruments (code),
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price           TEXT NOT NULL,
    price_ticks     INTEGER NOT NULL CHECK (price_ticks > 0),
    quantity        TEXT NOT NULL,
    filled          TEXT NOT NULL,
    hold_amount     TEXT NOT NULL,
    exact_value     TEXT NOT NULL,
    value           TEXT NOT NULL,
    commission      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'partially_filled', 'filled', 'cancelled')),
    seq             INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX orders_asks ON orders (instrument, price_ticks, seq)
    WHERE side = 'sell' AND status IN ('open', 'partially_filled');
CREATE INDEX orders_bids ON orders (instrument, price_ticks DESC, seq)
    WHERE side = 'buy' AND status IN ('open', 'partially_filled');
CREATE INDEX orders_by_participant ON orders (participant_id, id);

CREATE TABLE trades (
    id                 TEXT PRIMARY KEY,
    instrument         TEXT NOT NULL REFERENCES instruments (code),
    method             TEXT NOT NULL CHECK (method IN ('order_book', 'negotiated', 'auction')),
    quantity           TEXT NOT NULL,
    price              TEXT NOT NULL,
    value              TEXT NOT NULL,
    buyer_id           TEXT NOT NULL REFERENCES participants (id),
    seller_id          TEXT REFERENCES participants (id),
    buy_order_id       TEXT,
    sell_order_id      TEXT,
    buyer_commission   TEXT NOT NULL,
    seller_commission  TEXT NOT NULL,
    executed_at        TEXT NOT NULL,
    business_date      TEXT NOT NULL,
    transaction_id     TEXT NOT NULL REFERENCES ledger_transactions (id)
) STRICT;
CREATE INDEX trades_by_instrument_day ON trades (instrument, business_date);
CREATE INDEX trades_by_buyer ON trades (buyer_id, id);
CREATE INDEX trades_by_seller ON trades (seller_id, id);

CREATE TABLE negotiated_trades (
    id            TEXT PRIMARY KEY,
    seller_id     TEXT NOT NULL REFERENCES participants (id),
    buyer_id      TEXT NOT NULL REFERENCES participants (id),
    instrument    TEXT NOT NULL REFERENCES instruments (code),
    quantity      TEXT NOT NULL,
    price         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('proposed', 'settled', 'rejected', 'cancelled', 'expired')),
    expires_at    TEXT NOT NULL,
    trade_id      TEXT REFERENCES trades (id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX negotiated_due ON negotiated_trades (expires_at) WHERE status = 'proposed';
CREATE INDEX negotiated_by_seller ON negotiated_trades (seller_id, id);
CREATE INDEX negotiated_by_buyer ON negotiated_trades (buyer_id, id);

CREATE TABLE auctions (
    id                TEXT PRIMARY KEY,
    instrument        TEXT NOT NULL REFERENCES instruments (code),
    quantity          TEXT NOT NULL,
    reserve_price     TEXT NOT NULL,
    source            TEXT NOT NULL CHECK (source IN ('reserve', 'issuance')),
    lot_size          TEXT,
    max_bidder_share  TEXT,
    closes_at         TEXT,
    status            TEXT NOT NULL CHECK (status IN ('open', 'cleared', 'failed')),
    clearing_price    TEXT,
    sold_quantity     TEXT,
    created_at        TEXT NOT NULL,
    closed_at         TEXT
) STRICT;

CREATE TABLE bids (
    id              TEXT PRIMARY KEY,
    auction_id      TEXT NOT NULL REFERENCES auctions (id),
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    quantity        TEXT NOT NULL,
    price           TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    awarded         TEXT,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX bids_by_auction ON bids (auction_id, seq);

CREATE TABLE reclamations (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    instrument      TEXT NOT NULL REFERENCES instruments (code),
    quantity        TEXT NOT NULL,
    reason          TEXT NOT NULL CHECK (reason IN ('closure', 'relocation', 'unused', 'penalty', 'other')),
    compensation    TEXT NOT NULL,
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions (id),
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX reclamations_by_participant ON reclamations (participant_id, id);

CREATE TABLE pledges (
    id              TEXT PRIMARY KEY,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    instrument      TEXT NOT NULL REFERENCES instruments (code),
    quantity        TEXT NOT NULL,
    pledgee         TEXT NOT NULL,
    reference       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'released')),
    created_at      TEXT NOT NULL,
    released_at     TEXT
) STRICT;
CREATE INDEX pledges_by_participant ON pledges (participant_id, id);
