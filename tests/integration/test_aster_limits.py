"""Aster's nonce rules, unknown outcomes and request limits: connector against the emulator on loopback.

The venue keeps, per API wallet, the most recent 100 nonces within 60 s either
side of its clock; ``POST /fapi/v3/noop`` with a queued request's nonce kills
that request; -1006 means the execution status is unknown.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from risk.killswitch import flatten
from services.secrets import AsterV1Credentials, AsterV3Credentials, Secret
from services.wire import OrderStatus, OrderType, Place, RejectReason, Side
from venues.aster.signing import Eip712Signer, HmacSigner
from venues.aster.venue import AsterVenue
from venues.base import Rejected, Unavailable
from venues.emulator.aster_credentials import AsterAccountSpec, generate_aster_account
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SYMBOL = "SOLUSDT"
_ids = itertools.count(5000)


@pytest.fixture
async def account() -> AsterAccountSpec:
    return generate_aster_account()


@pytest.fixture
async def emulator(account: AsterAccountSpec) -> AsyncIterator[EmulatorServer]:
    server = EmulatorServer(venue="aster", symbols=[SYMBOL], accounts=[account], taker_rate_per_s=0.0)
    async with server:
        yield server


def make_venue(emulator: EmulatorServer, account: AsterAccountSpec, auth: str, **options: Any) -> AsterVenue:
    credentials: AsterV3Credentials | AsterV1Credentials
    if auth == "v3":
        assert account.user and account.signer and account.signer_private_key
        credentials = AsterV3Credentials(account.user, account.signer, Secret(account.signer_private_key))
    else:
        assert account.api_key and account.secret
        credentials = AsterV1Credentials(account.api_key, Secret(account.secret))
    settings: dict[str, Any] = {"timeout_s": 2.0, "resolve_poll_s": 0.1, "resolve_timeout_s": 8.0} | options
    return AsterVenue(api_url=emulator.rest_url, ws_url=emulator.ws_url, credentials=credentials, **settings)


def resting_bid(emulator: EmulatorServer) -> Place:
    bid, _ = emulator.engine.top(SYMBOL)
    assert bid is not None
    return Place(
        client_id=next(_ids), symbol=SYMBOL, side=Side.BUY, quantity=Decimal("0.1"), price=bid[0] - 1
    )


async def signed_get(emulator: EmulatorServer, signer: Eip712Signer, *, now_ms: int) -> tuple[int, Any]:
    text = signer.sign([("symbol", SYMBOL)], now_ms=now_ms)
    url = f"{emulator.rest_url}/fapi/v3/openOrders?{text}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def wallet(account: AsterAccountSpec) -> Eip712Signer:
    """A signer of the account's API wallet that has handed out no nonce yet."""
    assert account.user and account.signer and account.signer_private_key
    return Eip712Signer(user=account.user, signer=account.signer, private_key=account.signer_private_key)


async def test_nonces_within_60_s_either_side_are_accepted_and_the_last_100_remembered(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    now_ms = emulator.core.now_ms()
    assert (await signed_get(emulator, wallet(account), now_ms=now_ms - 50_000))[0] == 200
    assert (await signed_get(emulator, wallet(account), now_ms=now_ms + 50_000))[0] == 200
    status, body = await signed_get(emulator, wallet(account), now_ms=now_ms - 70_000)
    assert (status, body["code"]) == (400, -4225)
    # The list of recent nonces fills up: one below its smallest is expired, one above is fine.
    fresh, now_ms = wallet(account), emulator.core.now_ms()
    for offset_ms in range(100):
        assert (await signed_get(emulator, fresh, now_ms=now_ms + offset_ms))[0] == 200
    status, body = await signed_get(emulator, wallet(account), now_ms=now_ms - 40_000)
    assert (status, body["code"]) == (400, -4225)
    assert (await signed_get(emulator, fresh, now_ms=now_ms + 200))[0] == 200


async def test_a_noop_with_a_queued_orders_nonce_kills_it(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, "v3", timeout_s=0.5)
    try:
        emulator.core.apply_faults(FaultSpec(hang_before_execute=1))
        started_s = time.monotonic()
        # The order waits in the venue's queue past the timeout; the noop takes its nonce first.
        with pytest.raises(Unavailable, match="noop"):
            await connector.place_order(resting_bid(emulator))
        assert time.monotonic() - started_s < 30.0  # well inside the 60 s window it would otherwise wait
        assert emulator.core.requests["/fapi/v3/noop"] == 1
        assert await connector.open_orders(SYMBOL) == []
    finally:
        await connector.close()


async def test_a_noop_after_the_order_executed_is_refused_and_the_order_is_found(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, "v3", timeout_s=0.5)
    try:
        emulator.core.apply_faults(FaultSpec(hang_after_execute=1))
        order = resting_bid(emulator)
        placed = await connector.place_order(order)
        assert placed.client_id == order.client_id and placed.status is OrderStatus.NEW
        assert emulator.core.requests["/fapi/v3/noop"] == 1
    finally:
        await connector.close()


@pytest.mark.parametrize("auth", ["v3", "v1"])
async def test_1006_is_an_unknown_outcome_resolved_by_client_id(
    emulator: EmulatorServer, account: AsterAccountSpec, auth: str
) -> None:
    connector = make_venue(emulator, account, auth)
    try:
        emulator.core.apply_faults(FaultSpec(unknown_after_execute=1))
        order = resting_bid(emulator)
        placed = await connector.place_order(order)  # -1006: executed here, but the answer says unknown
        assert placed.client_id == order.client_id and placed.status is OrderStatus.NEW
        assert len(await connector.open_orders(SYMBOL)) == 1
    finally:
        await connector.close()


async def test_weight_and_order_count_headers_are_read(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, "v3")
    try:
        for _ in range(2):
            await connector.place_order(resting_bid(emulator))
        assert connector.transport.order_count_1m == 2
        before = connector.transport.used_weight_1m
        await connector.position(SYMBOL)  # positionRisk weighs 5
        assert connector.transport.used_weight_1m == before + 5
    finally:
        await connector.close()


# ---------------------------------------------------------------- filters


async def test_size_and_percent_price_filters_are_enforced_and_known_to_the_connector(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, "v1")
    try:
        rules = (await connector.load_markets())[SYMBOL]
        assert (rules.max_quantity, rules.max_market_quantity) == (Decimal(1000), Decimal(50))
        assert (rules.price_down, rules.price_up) == (Decimal("0.95"), Decimal("1.05"))
        mark = emulator.engine.mark_state(SYMBOL).mark
        assert mark is not None
        signer = connector.transport.signer
        assert isinstance(signer, HmacSigner)
        cases = [
            ([("side", "SELL"), ("type", "MARKET"), ("quantity", "51")], -4005),
            (limit_params("BUY", "1001", (mark * Decimal("0.9")).quantize(Decimal("0.01"))), -4005),
            (limit_params("BUY", "1", (mark * Decimal("1.06")).quantize(Decimal("0.01"))), -4016),
            (limit_params("SELL", "1", (mark * Decimal("0.94")).quantize(Decimal("0.01"))), -4024),
        ]
        async with aiohttp.ClientSession() as session:
            for params, code in cases:
                text = signer.sign([("symbol", SYMBOL), *params], now_ms=emulator.core.now_ms())
                headers = {**signer.headers, "Content-Type": "application/x-www-form-urlencoded"}
                url = f"{emulator.rest_url}/fapi/v1/order"
                async with session.post(url, data=text, headers=headers) as response:
                    assert (response.status, (await response.json())["code"]) == (400, code), params
        # The connector refuses an order above the maximum itself.
        sent = emulator.core.requests["/fapi/v1/order"]
        big = Place(
            client_id=next(_ids),
            symbol=SYMBOL,
            side=Side.SELL,
            quantity=Decimal(60),
            order_type=OrderType.MARKET,
            reduce_only=True,
        )
        with pytest.raises(Rejected, match="max 50") as refused:
            await connector.place_order(big)
        assert refused.value.reason is RejectReason.BAD_QUANTITY
        assert emulator.core.requests["/fapi/v1/order"] == sent
    finally:
        await connector.close()


def limit_params(side: str, quantity: str, price: Decimal) -> list[tuple[str, str]]:
    return [
        ("side", side),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", quantity),
        ("price", str(price)),
    ]


async def test_flatten_closes_a_position_larger_than_one_market_order(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    bid, _ = emulator.engine.top(SYMBOL)
    assert bid is not None
    emulator.core.engine.set_position(
        account.account_id, SYMBOL, quantity=Decimal(120), entry_price=bid[0], now_ms=emulator.core.now_ms()
    )
    connector = make_venue(emulator, account, "v3")
    try:
        result = await flatten(
            connector, (await connector.load_markets())[SYMBOL], timeout_s=30.0, retry_s=0.1
        )
        assert result.ok, result
        assert (await connector.position(SYMBOL)).quantity == 0
    finally:
        await connector.close()


# ---------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("auth", "path"), [("v1", "/fapi/v4/account"), ("v3", "/fapi/v3/accountWithJoinMargin")]
)
async def test_account_information_comes_from_the_endpoints_the_docs_name(
    emulator: EmulatorServer, account: AsterAccountSpec, auth: str, path: str
) -> None:
    connector = make_venue(emulator, account, auth)
    try:
        assert (await connector.collateral()).equity == Decimal(10_000)
        assert emulator.core.requests[path] == 1
    finally:
        await connector.close()
    async with aiohttp.ClientSession() as session:
        for gone in ("/fapi/v2/account", "/fapi/v3/account"):
            async with session.get(emulator.rest_url + gone) as response:
                assert response.status == 404, gone
