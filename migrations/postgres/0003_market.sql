-- The market: the order book, its trades, negotiated trades, auctions,
-- reclamations and pledges.

-- An order's id is also the id of the hold that reserves what it may spend
-- (rights for a sell, cash for a buy). Money so far is cumulative (see
-- ets_core::matching::OrderMoney): exact_value = Σ quantity × price of its
-- fills, value = cash paid or received, commission = commission paid.
CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    instrument      text NOT NULL REFERENCES instruments (code),
    side            text NOT NULL CHECK (side IN ('buy', 'sell')),
    price           numeric NOT NULL CHECK (price > 0),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    filled          numeric NOT NULL CHECK (filled >= 0 AND filled <= quantity),
    hold_amount     numeric NOT NULL CHECK (hold_amount > 0),
    exact_value     numeric NOT NULL,
    value           numeric NOT NULL,
    commission      numeric NOT NULL,
    status          text NOT NULL CHECK (status IN ('open', 'partially_filled', 'filled', 'cancelled')),
    seq             bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- The book: open orders of each side in priority order (best price, then
-- earliest), so reading its top is an index range scan.
CREATE INDEX orders_asks ON orders (instrument, price, seq)
    WHERE side = 'sell' AND status IN ('open', 'partially_filled');
CREATE INDEX orders_bids ON orders (instrument, price DESC, seq)
    WHERE side = 'buy' AND status IN ('open', 'partially_filled');
CREATE INDEX orders_by_participant ON orders (participant_id, id);

CREATE TABLE trades (
    id                 uuid PRIMARY KEY,
    instrument         text NOT NULL REFERENCES instruments (code),
    method             text NOT NULL CHECK (method IN ('order_book', 'negotiated', 'auction')),
    quantity           numeric NOT NULL CHECK (quantity > 0),
    price              numeric NOT NULL CHECK (price >= 0),
    value              numeric NOT NULL CHECK (value >= 0),
    buyer_id           uuid NOT NULL REFERENCES participants (id),
    seller_id          uuid REFERENCES participants (id),
    buy_order_id       uuid,
    sell_order_id      uuid,
    buyer_commission   numeric NOT NULL CHECK (buyer_commission >= 0),
    seller_commission  numeric NOT NULL CHECK (seller_commission >= 0),
    executed_at        timestamptz NOT NULL,
    business_date      date NOT NULL,
    transaction_id     uuid NOT NULL REFERENCES ledger_transactions (id)
);
CREATE INDEX trades_by_instrument_day ON trades (instrument, business_date);
CREATE INDEX trades_by_buyer ON trades (buyer_id, id);
CREATE INDEX trades_by_seller ON trades (seller_id, id);

-- A negotiated trade (协议转让): the seller's proposal to a named buyer. Its
-- id is also the id of the hold on the seller's rights.
CREATE TABLE negotiated_trades (
    id            uuid PRIMARY KEY,
    seller_id     uuid NOT NULL REFERENCES participants (id),
    buyer_id      uuid NOT NULL REFERENCES participants (id),
    instrument    text NOT NULL REFERENCES instruments (code),
    quantity      numeric NOT NULL CHECK (quantity > 0),
    price         numeric NOT NULL CHECK (price > 0),
    status        text NOT NULL CHECK (status IN ('proposed', 'settled', 'rejected', 'cancelled', 'expired')),
    expires_at    timestamptz NOT NULL,
    trade_id      uuid REFERENCES trades (id),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX negotiated_due ON negotiated_trades (expires_at) WHERE status = 'proposed';
CREATE INDEX negotiated_by_seller ON negotiated_trades (seller_id, id);
CREATE INDEX negotiated_by_buyer ON negotiated_trades (buyer_id, id);

-- A sealed-bid uniform-price auction. Offered from the reserve, its quantity
-- is held on the reserve account under the auction's id until the close.
CREATE TABLE auctions (
    id                uuid PRIMARY KEY,
    instrument        text NOT NULL REFERENCES instruments (code),
    quantity          numeric NOT NULL CHECK (quantity > 0),
    reserve_price     numeric NOT NULL CHECK (reserve_price >= 0),
    source            text NOT NULL CHECK (source IN ('reserve', 'issuance')),
    lot_size          numeric,
    max_bidder_share  numeric,
    closes_at         timestamptz,
    status            text NOT NULL CHECK (status IN ('open', 'cleared', 'failed')),
    clearing_price    numeric,
    sold_quantity     numeric,
    created_at        timestamptz NOT NULL,
    closed_at         timestamptz
);

-- A bid's id is also the id of the hold on its cash (quantity × price).
CREATE TABLE bids (
    id              uuid PRIMARY KEY,
    auction_id      uuid NOT NULL REFERENCES auctions (id),
    participant_id  uuid NOT NULL REFERENCES participants (id),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    price           numeric NOT NULL CHECK (price >= 0),
    seq             bigint NOT NULL,
    awarded         numeric,
    created_at      timestamptz NOT NULL
);
CREATE INDEX bids_by_auction ON bids (auction_id, seq);

-- Rights taken back into the government reserve, with the reason and any
-- compensation paid to the participant (from outside the ledger).
CREATE TABLE reclamations (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    instrument      text NOT NULL REFERENCES instruments (code),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    reason          text NOT NULL CHECK (reason IN ('closure', 'relocation', 'unused', 'penalty', 'other')),
    compensation    numeric NOT NULL CHECK (compensation >= 0),
    transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX reclamations_by_participant ON reclamations (participant_id, id);

-- A pledge's id is also the id of the hold that blocks the pledged rights.
CREATE TABLE pledges (
    id              uuid PRIMARY KEY,
    participant_id  uuid NOT NULL REFERENCES participants (id),
    instrument      text NOT NULL REFERENCES instruments (code),
    quantity        numeric NOT NULL CHECK (quantity > 0),
    pledgee         text NOT NULL,
    reference       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('active', 'released')),
    created_at      timestamptz NOT NULL,
    released_at     timestamptz
);
CREATE INDEX pledges_by_participant ON pledges (participant_id, id);
