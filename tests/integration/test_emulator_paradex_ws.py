"""The emulator's Paradex WebSocket order methods and its connection-scoped cancel-on-disconnect, spoken raw.

docs.paradex.trade: ``order.create``/``order.cancel``/``order.cancel_batch``
share the REST checks and rate limits; ``order.cancel_on_disconnect`` covers
the orders placed over that connection only, fires when it is lost without a
close handshake, not on a clean close, and does not survive a reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from paradex_kit import SYMBOL, paradex_emulator, paradex_venue
from websockets.asyncio.client import ClientConnection, connect

from services.wire import OrderType, Place, Side
from venues.emulator.server import EmulatorServer
from venues.paradex.venue import ParadexVenue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
_ids = itertools.count(1)
_client_ids = itertools.count(5000)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmulatorServer, ParadexVenue]]:
    emu, account = await paradex_emulator(seed=5)
    emulator_venue = paradex_venue(emu, account)
    try:
        yield emu, emulator_venue
    finally:
        await emulator_venue.close()
        await emu.stop()


async def _call(ws: ClientConnection, method: str, params: dict[str, Any]) -> dict[str, Any]:
    request_id = next(_ids)
    await ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}))
    while True:
        message = json.loads(await ws.recv())
        if message.get("id") == request_id:
            answer: dict[str, Any] = message
            return answer


async def _session(emu: EmulatorServer, venue: ParadexVenue, *, armed: bool) -> ClientConnection:
    ws = await connect(emu.ws_url + "v1")
    assert "result" in await _call(ws, "auth", {"bearer": await venue.transport.jwt.token()})
    if armed:
        assert (await _call(ws, "order.cancel_on_disconnect", {"enabled": True}))["result"] == {
            "enabled": True
        }
    return ws


def _place(emu: EmulatorServer) -> Place:
    """A resting sell far above the best ask."""
    _, ask = emu.engine.top(SYMBOL)
    assert ask is not None
    return Place(
        client_id=next(_client_ids),
        symbol=SYMBOL,
        side=Side.SELL,
        quantity=Decimal("0.01"),
        price=ask[0] + 500,
        order_type=OrderType.LIMIT,
    )


async def _create(ws: ClientConnection, venue: ParadexVenue, place: Place) -> dict[str, Any]:
    body = (await venue.rest.signed_order(place))()
    return await _call(ws, "order.create", body)


def _open_ids(emu: EmulatorServer, account: str) -> set[str]:
    return {order.order_id for order in emu.engine.open_orders(account)}


async def test_order_methods_check_and_answer_as_rest_does(
    setup: tuple[EmulatorServer, ParadexVenue],
) -> None:
    emu, venue = setup
    account = hex(venue.transport.require_signer().account)
    anonymous = await connect(emu.ws_url + "v1")
    try:
        refused = await _call(anonymous, "order.cancel", {"id": "1"})
        assert refused["error"]["code"] == 40110
    finally:
        await anonymous.close()
    ws = await _session(emu, venue, armed=False)
    try:
        created = await _create(ws, venue, _place(emu))
        order = created["result"]["order"]
        assert order["status"] == "NEW" and order["id"] in _open_ids(emu, account)
        tampered = (await venue.rest.signed_order(_place(emu)))()
        tampered["size"] = "0.02"  # no longer what was signed
        refused = await _call(ws, "order.create", tampered)
        assert refused["error"]["code"] == 100
        assert refused["error"]["message"] == "INVALID_ORDER_SIGNATURE"
        cancelled = await _call(ws, "order.cancel", {"id": order["id"]})
        assert cancelled["result"] == {"order_id": order["id"], "status": "QUEUED_FOR_CANCELLATION"}
        again = await _call(ws, "order.cancel", {"id": order["id"]})
        # A known order that is no longer open: the venue's ORDER_IS_NOT_OPEN, as over REST.
        assert again["error"]["message"] == "ORDER_IS_NOT_OPEN"
        other = (await _create(ws, venue, _place(emu)))["result"]["order"]
        batch = await _call(ws, "order.cancel_batch", {"order_ids": [order["id"], other["id"], "999999"]})
        statuses = [item["status"] for item in batch["result"]["results"]]
        assert statuses == ["ALREADY_CLOSED", "QUEUED_FOR_CANCELLATION", "NOT_FOUND"]
        assert _open_ids(emu, account) == set()
    finally:
        await ws.close()


async def test_cancel_on_disconnect_covers_only_its_own_orders_and_only_an_unexpected_drop(
    setup: tuple[EmulatorServer, ParadexVenue],
) -> None:
    emu, venue = setup
    account = hex(venue.transport.require_signer().account)
    over_rest = await venue.rest.place_order(_place(emu))
    dropped = await _session(emu, venue, armed=True)
    mine = (await _create(dropped, venue, _place(emu)))["result"]["order"]["id"]
    closed = await _session(emu, venue, armed=True)
    kept = (await _create(closed, venue, _place(emu)))["result"]["order"]["id"]
    assert _open_ids(emu, account) == {over_rest.order_id, mine, kept}

    # A second auth on a live connection is refused: it needs none for its lifetime.
    reauth = await _call(closed, "auth", {"bearer": await venue.transport.jwt.token()})
    assert "error" in reauth and emu.front.streams.reauths == 1  # type: ignore[attr-defined]

    await closed.close()  # a clean close: the switch does not fire
    dropped.transport.abort()  # the connection is lost without a close handshake
    fired = emu.front.streams.ws_orders  # type: ignore[attr-defined]
    for _ in range(200):
        if fired.fired == 1 and mine not in _open_ids(emu, account):
            break
        await asyncio.sleep(0.02)
    assert _open_ids(emu, account) == {over_rest.order_id, kept}
    assert fired.fired == 1
