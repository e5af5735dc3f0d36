"""Drives a running ets-ledger with the typed client generated from
api-spec/openapi.yaml (package ets_ledger_client), through its typed API
functions and models only: no raw HTTP. A market day in miniature: an admin
registers two enterprises of one region and a pollutant right, allocates rights
to the seller, finance deposits cash, the seller offers on the book and the
buyer crosses it; every figure is checked. Exits non-zero with the reason on
the first mismatch.

Usage: openapi_client_drive.py BASE_URL ADMIN_CREDENTIAL_JSON
(the JSON that `ets-ledger credential create --role admin` prints).
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from decimal import Decimal

from ets_ledger_client import AuthenticatedClient, Client
from ets_ledger_client.api.auth import create_credential, create_token
from ets_ledger_client.api.ledger import create_allocation, create_deposit, get_holdings
from ets_ledger_client.api.market import create_order, get_book, list_trades
from ets_ledger_client.api.registry import create_instrument, create_participant, get_instrument, list_instruments
from ets_ledger_client.models import (
    Allocation,
    AllocationCreate,
    AllocationCreateMethod,
    Book,
    CashCreate,
    CashMovement,
    CredentialCreate,
    CredentialCreated,
    Holdings,
    Instrument,
    InstrumentCreate,
    InstrumentKind,
    InstrumentKindWithCash,
    InstrumentPage,
    OrderCreate,
    OrderPlaced,
    OrderStatus,
    Participant,
    ParticipantCreate,
    Problem,
    Role,
    Side,
    TokenRequest,
    TokenResponse,
    TradeMethod,
    TradePage,
)
from ets_ledger_client.types import UNSET, Response

REGION = "320500"  # Suzhou
COMMISSION_RATE = Decimal("0.0015")


class Mismatch(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def same(what: str, got: object, expected: object) -> None:
    """Equal values; decimals given as strings compare as exact decimals."""
    if isinstance(expected, Decimal):
        check(isinstance(got, str), f"{what}: expected the decimal string {expected}, got {got!r}")
        equal = Decimal(got) == expected
    else:
        equal = got == expected
    check(equal, f"{what}: expected {expected!r}, got {got!r}")


def answer(what: str, response: Response, status: int, kind: type):
    """The parsed answer of a call, which must have the given status and model."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        detail = ""
        if isinstance(parsed, Problem):
            detail = f" (problem {parsed.code}: {parsed.detail})"
        raise Mismatch(
            f"{what}: expected {status} {kind.__name__}, got {int(response.status_code)} "
            f"{type(parsed).__name__}{detail}; body: {response.content[:500]!r}"
        )
    return parsed


def credit_code(region: str, serial: str) -> str:
    """A unified social credit code (GB 32100) with its check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    prefix = f"91{region}{serial}"
    assert len(prefix) == 17, prefix
    total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(prefix))
    return prefix + alphabet[(31 - total % 31) % 31]


assert credit_code("350100", "M000100Y4") == "91350100M000100Y43"  # a published code


def log_in(base_url: str, client_id: str, client_secret: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    token = answer(
        f"POST /v1/auth/token ({client_id})",
        create_token.sync_detailed(
            client=anonymous, body=TokenRequest(client_id=client_id, client_secret=client_secret)
        ),
        200,
        TokenResponse,
    )
    check(token.token_type == "Bearer", f"token_type: expected Bearer, got {token.token_type!r}")
    check(token.expires_in > 0, f"expires_in: expected > 0, got {token.expires_in}")
    return AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)


def holding(holdings: Holdings, instrument: str):
    rows = [row for row in holdings.holdings if row.instrument == instrument]
    check(len(rows) == 1, f"holdings of {holdings.participant_id}: expected one {instrument} row, got {len(rows)}")
    return rows[0]


def same_holding(holdings: Holdings, instrument: str, balance: str, held: str) -> None:
    row = holding(holdings, instrument)
    who = f"{instrument} of {holdings.participant_id}"
    same(f"{who} balance", row.balance, Decimal(balance))
    same(f"{who} held", row.held, Decimal(held))
    same(f"{who} available", row.available, Decimal(balance) - Decimal(held))


def drive(base_url: str, admin_credential: dict) -> None:
    admin = log_in(base_url, admin_credential["client_id"], admin_credential["client_secret"])
    print("logged in as admin")

    # Two enterprises of one region, so that a pollutant right may pass between them.
    run = uuid.uuid4().hex[:6].upper()
    participants = {}
    for label, serial in (("seller", "MA1A00001"), ("buyer", "MA1B00002")):
        body = ParticipantCreate(
            name=f"{label} {run}", credit_code=credit_code(REGION, serial), region_code=REGION, industry="chemicals"
        )
        participant = answer(
            f"POST /v1/participants ({label})",
            create_participant.sync_detailed(client=admin, body=body),
            201,
            Participant,
        )
        same(f"{label} credit_code", participant.credit_code, body.credit_code)
        same(f"{label} region_code", participant.region_code, REGION)
        participants[label] = participant
        print(f"participant {label}: {participant.id}")
    seller_id, buyer_id = participants["seller"].id, participants["buyer"].id

    # A pollutant right valid today (the business date is Asia/Shanghai's, within a day of UTC's).
    today = datetime.datetime.now(datetime.timezone.utc).date()
    code = f"SO2-{REGION}-{today.year}"
    instrument = answer(
        "POST /v1/instruments",
        create_instrument.sync_detailed(
            client=admin,
            body=InstrumentCreate(
                code=code,
                kind=InstrumentKind.POLLUTANT_RIGHT,
                pollutant="SO2",
                unit="t",
                scale=4,
                region_code=REGION,
                valid_from=today - datetime.timedelta(days=30),
                valid_to=today + datetime.timedelta(days=365),
                commission_rate=str(COMMISSION_RATE),
            ),
        ),
        201,
        Instrument,
    )
    same("instrument code", instrument.code, code)
    same("instrument kind", instrument.kind, InstrumentKindWithCash.POLLUTANT_RIGHT)
    same("instrument scale", instrument.scale, 4)
    same("instrument commission_rate", instrument.commission_rate, COMMISSION_RATE)
    same("instrument valid_from", instrument.valid_from, today - datetime.timedelta(days=30))
    print(
        f"instrument {instrument.code}: {instrument.kind.value}, {instrument.region_code}, "
        f"{instrument.valid_from} to {instrument.valid_to}"
    )

    # Credentials: one enterprise per participant, and finance for the cash.
    def credential(name: str, role: Role, participant_id=UNSET) -> CredentialCreated:
        created = answer(
            f"POST /v1/credentials ({name})",
            create_credential.sync_detailed(
                client=admin, body=CredentialCreate(name=name, role=role, participant_id=participant_id)
            ),
            201,
            CredentialCreated,
        )
        same(f"credential {name} role", created.role, role)
        return created

    seller_credential = credential(f"seller desk {run}", Role.ENTERPRISE, seller_id)
    buyer_credential = credential(f"buyer desk {run}", Role.ENTERPRISE, buyer_id)
    finance_credential = credential(f"treasury {run}", Role.FINANCE)
    same("seller credential participant_id", seller_credential.participant_id, seller_id)
    same("finance credential participant_id", finance_credential.participant_id, None)
    print("credentials: two enterprises, one finance")

    # Rights to the seller, free.
    allocation = answer(
        "POST /v1/allocations",
        create_allocation.sync_detailed(
            client=admin,
            body=AllocationCreate(
                participant_id=seller_id, instrument=code, quantity="100", method=AllocationCreateMethod.FREE
            ),
        ),
        201,
        Allocation,
    )
    same("allocation quantity", allocation.quantity, Decimal("100"))
    same("allocation invoice_id", allocation.invoice_id, None)
    print(f"allocated {allocation.quantity} {code} to the seller")

    # Cash, by finance; the buyer's deposit carries an Idempotency-Key and is retried.
    finance = log_in(base_url, finance_credential.client_id, finance_credential.client_secret)
    key = f"deposit-{run}"
    deposits = []
    for participant_id, amount, idempotency_key in (
        (buyer_id, "10000.00", key),
        (buyer_id, "10000.00", key),
        (seller_id, "1000.00", UNSET),
    ):
        deposit = answer(
            "POST /v1/cash/deposits",
            create_deposit.sync_detailed(
                client=finance,
                body=CashCreate(participant_id=participant_id, amount=amount, reference=f"bank {run}"),
                idempotency_key=idempotency_key,
            ),
            201,
            CashMovement,
        )
        same("deposit amount", deposit.amount, "10000.00" if participant_id == buyer_id else "1000.00")
        deposits.append(deposit)
    same("the retried deposit's id (same Idempotency-Key)", deposits[1].id, deposits[0].id)
    print("deposited 10000.00 CNY to the buyer (retried once with its key) and 1000.00 CNY to the seller")

    seller = log_in(base_url, seller_credential.client_id, seller_credential.client_secret)
    buyer = log_in(base_url, buyer_credential.client_id, buyer_credential.client_secret)
    print("logged in as both enterprises")

    def holdings_of(client: AuthenticatedClient, participant_id) -> Holdings:
        result = answer(
            f"GET /v1/participants/{participant_id}/holdings",
            get_holdings.sync_detailed(participant_id, client=client),
            200,
            Holdings,
        )
        same("holdings participant_id", result.participant_id, participant_id)
        return result

    same_holding(holdings_of(seller, seller_id), code, "100", "0")
    same_holding(holdings_of(seller, seller_id), "CNY", "1000.00", "0")
    same_holding(holdings_of(buyer, buyer_id), "CNY", "10000.00", "0")
    print("holdings before: seller 100 SO2 and 1000.00 CNY, buyer 10000.00 CNY")

    book = answer(f"GET /v1/markets/{code}/book", get_book.sync_detailed(code, client=buyer), 200, Book)
    check(not book.bids and not book.asks, f"empty book expected, got {book.to_dict()}")

    # The seller offers 10 at 220.50; the buyer bids 4 at 221.00 and trades at the resting price.
    sell = answer(
        "POST /v1/orders (sell)",
        create_order.sync_detailed(
            client=seller, body=OrderCreate(instrument=code, side=Side.SELL, quantity="10", price="220.50")
        ),
        201,
        OrderPlaced,
    )
    same("sell status", sell.status, OrderStatus.OPEN)
    same("sell trades", sell.trades, [])
    same("sell held", sell.held, Decimal("10"))
    book = answer(f"GET /v1/markets/{code}/book", get_book.sync_detailed(code, client=buyer), 200, Book)
    check(
        [(level.price, Decimal(level.quantity)) for level in book.asks] == [("220.50", Decimal("10"))]
        and not book.bids,
        f"book after the sell: expected one ask of 10 at 220.50, got {book.to_dict()}",
    )
    print(
        f"sell order {sell.id}: 10 at 220.50, {sell.status.value}; book asks {[level.to_dict() for level in book.asks]}"
    )

    value = Decimal("882.00")  # 4 x 220.50
    commission = Decimal("1.32")  # 882.00 x 0.0015 = 1.323, half-up to the fen
    buy = answer(
        "POST /v1/orders (buy)",
        create_order.sync_detailed(
            client=buyer, body=OrderCreate(instrument=code, side=Side.BUY, quantity="4", price="221.00")
        ),
        201,
        OrderPlaced,
    )
    same("buy status", buy.status, OrderStatus.FILLED)
    same("buy filled_quantity", buy.filled_quantity, Decimal("4"))
    same("buy remaining_quantity", buy.remaining_quantity, Decimal("0"))
    same("buy value", buy.value, "882.00")
    same("buy commission", buy.commission, "1.32")
    same("buy held", buy.held, Decimal("0"))
    check(len(buy.trades) == 1, f"buy trades: expected 1, got {len(buy.trades)}")
    trade = buy.trades[0]
    same("trade price (the resting order's)", trade.price, "220.50")
    same("trade quantity", trade.quantity, Decimal("4"))
    same("trade value", trade.value, "882.00")
    same("trade buyer_commission", trade.buyer_commission, "1.32")
    same("trade seller_commission", trade.seller_commission, "1.32")
    same("trade method", trade.method, TradeMethod.ORDER_BOOK)
    print(
        f"buy order {buy.id}: {buy.status.value}, trade {trade.id}: {trade.quantity} at {trade.price}, "
        f"value {trade.value}, commissions {trade.buyer_commission}/{trade.seller_commission}"
    )

    # The trade, as the admin sees it (both sides) and as the buyer does (its own, no counterparty).
    trades = answer("GET /v1/trades (admin)", list_trades.sync_detailed(client=admin, instrument=code), 200, TradePage)
    check(len(trades.items) == 1, f"trades of {code}: expected 1, got {len(trades.items)}")
    listed = trades.items[0]
    same("listed trade id", listed.id, trade.id)
    same("listed trade quantity", listed.quantity, Decimal("4"))
    same("listed trade price", listed.price, "220.50")
    same("listed trade buyer", listed.buyer_participant_id, buyer_id)
    same("listed trade seller", listed.seller_participant_id, seller_id)
    same("trades next_cursor", trades.next_cursor, None)
    own = answer("GET /v1/trades (buyer)", list_trades.sync_detailed(client=buyer, instrument=code), 200, TradePage)
    check(
        [t.id for t in own.items] == [trade.id],
        f"the buyer's trades: expected [{trade.id}], got {[t.id for t in own.items]}",
    )
    same("the buyer's view of the seller (anonymous book trade)", own.items[0].seller_participant_id, UNSET)
    print(
        f"trades: {len(trades.items)} ({listed.method.value}), buyer {listed.buyer_participant_id}, "
        f"seller {listed.seller_participant_id}; the buyer sees no counterparty"
    )

    # Holdings after: rights moved 4; cash moved the value, each side paid its commission.
    seller_after, buyer_after = holdings_of(seller, seller_id), holdings_of(buyer, buyer_id)
    same_holding(seller_after, code, "96", "6")  # 6 still offered
    same_holding(seller_after, "CNY", str(Decimal("1000.00") + value - commission), "0")
    same_holding(buyer_after, code, "4", "0")
    same_holding(buyer_after, "CNY", str(Decimal("10000.00") - value - commission), "0")
    print(
        "holdings after: "
        + "; ".join(
            f"{label} " + ", ".join(f"{h.instrument} {h.balance} (held {h.held})" for h in holdings.holdings)
            for label, holdings in (("seller", seller_after), ("buyer", buyer_after))
        )
    )
    book = answer(f"GET /v1/markets/{code}/book", get_book.sync_detailed(code, client=seller), 200, Book)
    check(
        [(level.price, Decimal(level.quantity)) for level in book.asks] == [("220.50", Decimal("6"))] and not book.bids,
        f"book after the trade: expected one ask of 6 at 220.50, got {book.to_dict()}",
    )

    # Instruments: a typed page of typed instruments, and the built-in cash
    # instrument, whose kind (`cash`) an admin may not create.
    page = answer("GET /v1/instruments", list_instruments.sync_detailed(client=buyer), 200, InstrumentPage)
    check(all(isinstance(item, Instrument) for item in page.items), "instrument page items are not Instrument")
    kinds = {item.code: item.kind for item in page.items}
    if "CNY" in kinds:  # built in, not stored: the list leaves it out today
        same("listed CNY kind", kinds.pop("CNY"), InstrumentKindWithCash.CASH)
    same("instruments listed (CNY aside)", kinds, {code: InstrumentKindWithCash.POLLUTANT_RIGHT})
    same("instruments next_cursor", page.next_cursor, None)
    cny = answer("GET /v1/instruments/CNY", get_instrument.sync_detailed("CNY", client=buyer), 200, Instrument)
    same("CNY kind", cny.kind, InstrumentKindWithCash.CASH)
    same("CNY scale", cny.scale, 2)
    same("CNY unit", cny.unit, "CNY")
    print("instruments: " + ", ".join(f"{item.code} ({item.kind.value}, scale {item.scale})" for item in page.items))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        drive(sys.argv[1], json.loads(sys.argv[2]))
    except Mismatch as mismatch:
        print(f"MISMATCH: {mismatch}", file=sys.stderr)
        return 1
    print("the typed client drove the ledger: every figure as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
