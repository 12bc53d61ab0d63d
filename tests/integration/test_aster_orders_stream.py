"""Aster orders perp-mm did not place, the venue's order answers and the user stream's order, on the wire.

A stop or take-profit set in the web app is placed here with a signed request
of its own (not through the connector), as the web app would; the connector
must list, stream and cancel around it without failing.
"""

# The fixtures come from test_aster_connector; tests name them as parameters.
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from harness import counter_total
from test_aster_connector import (  # noqa: F401  (fixtures)
    SYMBOL,
    account,
    best,
    emulator,
    front,
    limit,
    make_venue,
    market,
    next_of,
    venue,
)

from services import metrics
from services.wire import (
    ExStatus,
    FeedState,
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    RejectReason,
    Side,
)
from venues.aster.signing import Eip712Signer
from venues.aster.venue import AsterVenue
from venues.base import Rejected, VenueEvent
from venues.emulator.aster_credentials import AsterAccountSpec
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def web_app_order(emulator: EmulatorServer, account: AsterAccountSpec, **fields: str) -> Any:
    """Place an order with a signed v3 request of its own, as the venue's web app would; the answer."""
    assert account.user and account.signer and account.signer_private_key
    signer = Eip712Signer(user=account.user, signer=account.signer, private_key=account.signer_private_key)
    # A nonce of its own, well clear of the connector's.
    text = signer.sign([("symbol", SYMBOL), *fields.items()], now_ms=emulator.core.now_ms() - 3000)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator.rest_url}/fapi/v3/order",
            data=text,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 200, body
        return body


def stop_below(emulator: EmulatorServer) -> dict[str, str]:
    bid, _ = best(emulator)
    stop = str(bid - 20)
    return {"side": "SELL", "type": "STOP_MARKET", "stopPrice": stop, "quantity": "0.5", "reduceOnly": "true"}


async def test_a_foreign_stop_is_listed_streamed_and_cancelled_with_the_rest(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        placed = await web_app_order(emulator, account, **stop_below(emulator))
        assert placed["type"] == "STOP_MARKET" and placed["status"] == "NEW"
        streamed = await next_of(stream, OrderUpdate)
        assert streamed.order_type is OrderType.CONDITIONAL and streamed.venue_type == "STOP_MARKET"
        assert streamed.status is OrderStatus.NEW and streamed.client_id is None
        bid, _ = best(emulator)
        ours = await venue.place_order(limit(Side.BUY, str(bid - 1)))
        listed = {o.order_id: o for o in await venue.open_orders(SYMBOL)}
        assert set(listed) == {str(placed["orderId"]), ours.order_id}
        foreign = listed[str(placed["orderId"])]
        assert foreign.order_type is OrderType.CONDITIONAL and foreign.venue_type == "STOP_MARKET"
        assert foreign.price is None and foreign.quantity == Decimal("0.5") and foreign.reduce_only
        assert await venue.get_order(SYMBOL, order_id=foreign.order_id) == foreign
        assert await venue.cancel_all(SYMBOL) >= 1
        # The venue's cancel-all is not documented to reach conditional orders: one by one.
        assert [o.order_id for o in await venue.open_orders(SYMBOL)] == [foreign.order_id]
        gone = await venue.cancel_order(SYMBOL, order_id=foreign.order_id)
        assert gone.status is OrderStatus.CANCELLED and gone.venue_type == "STOP_MARKET"
        assert await venue.open_orders(SYMBOL) == []
        cancelled = await next_of(
            stream, OrderUpdate, where=lambda o: o.order_id == foreign.order_id and not o.status.is_open
        )
        assert cancelled.status is OrderStatus.CANCELLED and cancelled.order_type is OrderType.CONDITIONAL
    finally:
        await stream.aclose()


async def test_cancel_all_sends_the_delete_first(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    bid, _ = best(emulator)
    await venue.place_order(limit(Side.BUY, str(bid - 1)))
    await web_app_order(emulator, account, **stop_below(emulator))
    paths: list[str] = []
    original = venue.transport.call

    async def recording(method: str, path: str, **kwargs: Any) -> Any:
        paths.append(f"{method} {path.rsplit('/', 1)[-1]}")
        return await original(method, path, **kwargs)

    venue.transport.call = recording  # type: ignore[method-assign]
    await venue.cancel_all(SYMBOL)
    assert paths[0] == "DELETE allOpenOrders", paths
    assert emulator.engine.open_orders(account.account_id) == []


async def test_a_triggered_stop_fills_as_a_foreign_order(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    bid, _ = best(emulator)
    emulator.engine.set_position(
        account.account_id, SYMBOL, quantity=Decimal("0.5"), entry_price=bid, now_ms=emulator.core.now_ms()
    )
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        stop = {**stop_below(emulator), "stopPrice": str(bid - 2), "workingType": "MARK_PRICE"}
        placed = await web_app_order(emulator, account, **stop)
        emulator.core.publish(emulator.simulator.jump_to(SYMBOL, bid - 5, now_ms=emulator.core.now_ms()))
        fill = await next_of(stream, Fill, timeout_s=10)
        assert fill.order_id == str(placed["orderId"]) and fill.side is Side.SELL and fill.client_id is None
        done = await next_of(stream, OrderUpdate, where=lambda o: o.status is OrderStatus.FILLED)
        assert done.order_type is OrderType.CONDITIONAL and done.venue_type.startswith("STOP_MARKET")
        assert (await next_of(stream, Position, where=lambda p: p.quantity == 0)).quantity == 0
    finally:
        await stream.aclose()


async def test_orders_answer_ack_by_default_and_the_connector_asks_for_the_result(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    acked = await web_app_order(emulator, account, side="BUY", type="MARKET", quantity="0.2")
    assert acked["status"] == "NEW" and acked["executedQty"] == "0"  # the venue's default answer
    filled = await venue.place_order(market(Side.BUY, "0.2"))
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == Decimal("0.2")
    await venue.place_order(market(Side.SELL, "0.4", reduce_only=True))


async def test_a_post_only_order_that_would_take_expires_on_the_venue(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    _, ask = best(emulator)
    # The venue accepts it (no error code) and expires it at once; the user stream says so.
    acked = await web_app_order(
        emulator, account, side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.1", price=str(ask + 1)
    )
    assert acked["status"] == "NEW"
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        with pytest.raises(Rejected) as refused:
            await venue.place_order(limit(Side.BUY, str(ask + 1), post_only=True))
        assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
        expired = await next_of(stream, OrderUpdate, where=lambda o: o.status is OrderStatus.EXPIRED)
        assert expired.post_only and expired.filled_quantity == 0
        assert await venue.open_orders(SYMBOL) == []
    finally:
        await stream.aclose()


# ---------------------------------------------------------------- the user stream's order


async def positions_until(events: AsyncIterator[VenueEvent], quantity: Decimal) -> list[Decimal]:
    """Every position quantity the stream yields, up to the first equal to ``quantity``."""
    seen: list[Decimal] = []
    while not seen or seen[-1] != quantity:
        seen.append((await next_of(events, Position, timeout_s=10)).quantity)
    return seen


async def test_account_updates_apply_in_event_time_order(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account)
    stream = connector.private_stream(SYMBOL)
    bid, _ = best(emulator)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        assert (await next_of(stream, Position)).quantity == 0
        emulator.core.apply_faults(FaultSpec(user_events_out_of_order=True))
        for quantity in ("1", "2", "3"):
            emulator.core.publish(
                emulator.engine.set_position(
                    account.account_id,
                    SYMBOL,
                    quantity=Decimal(quantity),
                    entry_price=bid,
                    now_ms=emulator.core.now_ms(),
                )
            )
        # Delivered 2, 1, 3: the older 1 must not overwrite the newer 2.
        assert await positions_until(stream, Decimal(3)) == [Decimal(2), Decimal(3)]
    finally:
        await stream.aclose()
        await connector.close()


async def test_order_updates_never_go_back_and_fills_are_all_kept(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account)
    stream = connector.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        assert (await next_of(stream, Position)).quantity == 0
        emulator.core.apply_faults(FaultSpec(user_events_out_of_order=True))
        filled = await connector.place_order(market(Side.BUY, "0.3"))
        got: list[OrderUpdate | Fill] = []
        position = Decimal(0)
        # Every fill, the order filled and the position: by then each swapped update has arrived.
        deadline = time.monotonic() + 10
        while (
            position != filled.filled_quantity
            or sum(f.quantity for f in got if isinstance(f, Fill)) < filled.filled_quantity
            or not any(isinstance(o, OrderUpdate) and o.status is OrderStatus.FILLED for o in got)
        ):
            assert time.monotonic() < deadline, got
            event = await asyncio.wait_for(anext(stream), 10)
            if isinstance(event.msg, Position):
                position = event.msg.quantity
            elif isinstance(event.msg, OrderUpdate | Fill):
                got.append(event.msg)
        assert sum(f.quantity for f in got if isinstance(f, Fill)) == filled.filled_quantity
        # Swapped on the wire (FILLED before NEW): the order never shows open again once filled.
        updates = [o for o in got if isinstance(o, OrderUpdate)]
        first_done = next(i for i, o in enumerate(updates) if not o.status.is_open)
        assert all(not o.status.is_open for o in updates[first_done:]), updates
    finally:
        await stream.aclose()
        await connector.close()


async def test_a_funding_update_without_positions_is_valid(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account)
    stream = connector.private_stream(SYMBOL)
    bid, _ = best(emulator)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        emulator.core.publish(
            emulator.engine.set_position(
                account.account_id,
                SYMBOL,
                quantity=Decimal(2),
                entry_price=bid,
                now_ms=emulator.core.now_ms(),
            )
        )
        assert (await next_of(stream, Position, where=lambda p: p.quantity == 2)).quantity == 2
        before = counter_total(metrics.VENUE_MALFORMED, venue="aster")
        emulator.simulator.set_funding_base_rate(SYMBOL, Decimal("0.0001"))
        emulator.core.step()
        state = emulator.engine.mark_state(SYMBOL)
        emulator.core.publish(emulator.engine.advance(state.next_funding_ms))
        # The funding fee comes as a balance update with no position list, then the next change.
        emulator.core.publish(
            emulator.engine.set_position(
                account.account_id,
                SYMBOL,
                quantity=Decimal(1),
                entry_price=bid,
                now_ms=emulator.core.now_ms(),
            )
        )
        assert (await next_of(stream, Position, where=lambda p: p.quantity == 1)).quantity == 1
        assert counter_total(metrics.VENUE_MALFORMED, venue="aster") == before
    finally:
        await stream.aclose()
        await connector.close()


async def test_a_liquidation_is_reported_as_fills_of_a_foreign_order(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    bid, _ = best(emulator)
    emulator.engine.set_position(
        account.account_id, SYMBOL, quantity=Decimal("-0.4"), entry_price=bid, now_ms=emulator.core.now_ms()
    )
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        assert (await next_of(stream, Position)).quantity == Decimal("-0.4")
        order_id = front(emulator).api.conditionals.liquidate(account.account_id, SYMBOL)
        fills: list[Fill] = []
        while sum(f.quantity for f in fills) < Decimal("0.4"):
            fills.append(await next_of(stream, Fill))  # execution type CALCULATED: fills all the same
        venue_fills = [f for f in emulator.engine.account(account.account_id).fills if f.order_id == order_id]
        assert [(f.trade_id, f.side, f.price, f.quantity) for f in fills] == [
            (str(f.trade_id), f.side, f.price, f.quantity) for f in venue_fills
        ]
        assert all(f.side is Side.BUY and f.client_id is None and f.order_id == order_id for f in fills)
        done = await next_of(stream, OrderUpdate, where=lambda o: o.status is OrderStatus.FILLED)
        assert done.order_type is OrderType.CONDITIONAL and done.venue_type == "LIQUIDATION"
        assert (await next_of(stream, Position, where=lambda p: p.quantity == 0)).quantity == 0
    finally:
        await stream.aclose()
