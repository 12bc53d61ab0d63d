"""Every Aster connector call against the emulator's Aster front end (real HTTP and WebSocket on loopback).

Each test gets a fresh in-process emulator; the connector talks to it over
sockets exactly as to the venue, in both auth generations where it matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, TypeVar, cast

import aiohttp
import pytest
from harness import counter_total

from md_gateway.service import rest_snapshot
from services import metrics
from services.secrets import AsterV1Credentials, AsterV3Credentials, Secret
from services.wire import (
    Bbo,
    Book,
    ExStatus,
    FeedState,
    Fill,
    Mark,
    MdStatus,
    Message,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    Side,
    TimeInForce,
)
from venues.aster.signing import HmacSigner
from venues.aster.venue import AsterVenue
from venues.base import AuthError, RateLimited, Rejected, VenueEvent
from venues.emulator.aster_credentials import AsterAccountSpec, generate_aster_account
from venues.emulator.aster_front import AsterFrontEnd
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SYMBOL = "SOLUSDT"
M = TypeVar("M", bound=Message)
_ids = itertools.count(1000)


@pytest.fixture
async def account() -> AsterAccountSpec:
    return generate_aster_account()


@pytest.fixture
async def emulator(account: AsterAccountSpec) -> AsyncIterator[EmulatorServer]:
    server = EmulatorServer(venue="aster", symbols=[SYMBOL], accounts=[account], taker_rate_per_s=0.0)
    async with server:
        yield server


def make_venue(
    emulator: EmulatorServer, account: AsterAccountSpec, auth: str = "v3", **options: Any
) -> AsterVenue:
    settings: dict[str, Any] = {
        "timeout_s": 2.0,
        "resolve_poll_s": 0.1,
        "resolve_timeout_s": 8.0,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
        "reconnect_base_s": 0.1,
        "reconnect_cap_s": 0.5,
    } | options
    credentials: AsterV3Credentials | AsterV1Credentials
    if auth == "v3":
        assert account.user and account.signer and account.signer_private_key
        credentials = AsterV3Credentials(account.user, account.signer, Secret(account.signer_private_key))
    else:
        assert account.api_key and account.secret
        credentials = AsterV1Credentials(account.api_key, Secret(account.secret))
    return AsterVenue(api_url=emulator.rest_url, ws_url=emulator.ws_url, credentials=credentials, **settings)


@pytest.fixture(params=["v3", "v1"])
async def venue(
    request: pytest.FixtureRequest, emulator: EmulatorServer, account: AsterAccountSpec
) -> AsyncIterator[AsterVenue]:
    connector = make_venue(emulator, account, request.param)
    yield connector
    await connector.close()


def front(emulator: EmulatorServer) -> AsterFrontEnd:
    return cast(AsterFrontEnd, emulator.front)


def limit(side: Side, price: str, quantity: str = "0.1", **fields: Any) -> Place:
    return Place(
        client_id=next(_ids),
        symbol=SYMBOL,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        **fields,
    )


def market(side: Side, quantity: str, **fields: Any) -> Place:
    return Place(
        client_id=next(_ids),
        symbol=SYMBOL,
        side=side,
        quantity=Decimal(quantity),
        order_type=OrderType.MARKET,
        **fields,
    )


def best(emulator: EmulatorServer) -> tuple[Decimal, Decimal]:
    bid, ask = emulator.engine.top(SYMBOL)
    assert bid is not None and ask is not None
    return bid[0], ask[0]


async def next_of(
    events: AsyncIterator[VenueEvent], kind: type[M], *, timeout_s: float = 5.0, where: Any = None
) -> M:
    async def find() -> M:
        async for event in events:
            if isinstance(event.msg, kind) and (where is None or where(event.msg)):
                return event.msg
        raise AssertionError("stream ended")

    return await asyncio.wait_for(find(), timeout_s)


# ---------------------------------------------------------------- public data


async def test_markets_time_mark_depth_and_ticker(venue: AsterVenue, emulator: EmulatorServer) -> None:
    rules = (await venue.load_markets())[SYMBOL]
    assert (rules.tick_size, rules.step_size, rules.min_quantity) == (
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.01"),
    )
    assert rules.min_notional == Decimal(5) and rules.quote_asset == "USDT"
    assert abs(await venue.server_time_ms() - emulator.core.now_ms()) < 2000
    mark = await venue.mark(SYMBOL)
    assert mark.mark > 0 and mark.next_funding_ms > 0
    assert await venue.mark_price(SYMBOL) > 0
    depth = await venue.depth(SYMBOL)
    bid, ask = best(emulator)
    assert await venue.leverage(SYMBOL) == emulator.core.engine.leverage
    assert depth.bids[0][0] == bid and depth.asks[0][0] == ask
    ticker = await venue.rest.book_ticker(SYMBOL)
    assert (ticker.bid, ticker.ask) == (bid, ask)


async def test_public_stream_book_bbo_trade_mark_and_gap_reseed(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account)
    emulator.simulator.set_taker_rate(SYMBOL, 20.0)
    stream = connector.public_stream(SYMBOL)
    try:
        assert (await next_of(stream, MdStatus)).state is FeedState.LIVE
        book = await next_of(stream, Book)
        assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
        await next_of(stream, Mark, timeout_s=5)
        emulator.core.apply_faults(FaultSpec(depth_gap=True))
        # The dropped diff shows as a pu gap: the book is re-seeded on the same connection.
        for _ in range(40):
            event = await asyncio.wait_for(anext(stream), 5)
            assert not (isinstance(event.msg, MdStatus) and event.msg.state is FeedState.RECONNECTING)
        top = await next_of(stream, Book)
        bid, ask = best(emulator)
        assert top.bids[0][0] <= bid or top.asks[0][0] >= ask
    finally:
        await stream.aclose()
        await connector.close()


# ---------------------------------------------------------------- orders


async def test_order_lifecycle_by_client_id(venue: AsterVenue, emulator: EmulatorServer) -> None:
    bid, _ = best(emulator)
    order = limit(Side.BUY, str(bid - Decimal("1")), post_only=True)
    placed = await venue.place_order(order)
    assert placed.status is OrderStatus.NEW and placed.client_id == order.client_id and placed.post_only
    assert (await venue.get_order(SYMBOL, client_id=order.client_id)) == placed
    assert [o.client_id for o in await venue.open_orders(SYMBOL)] == [order.client_id]
    cancelled = await venue.cancel_order(SYMBOL, client_id=order.client_id)
    assert cancelled.status is OrderStatus.CANCELLED
    # The venue still answers for a closed order, by client id or by its own id.
    found = await venue.get_order(SYMBOL, order_id=placed.order_id)
    assert found is not None and found.status is OrderStatus.CANCELLED
    with pytest.raises(Rejected) as refused:
        await venue.cancel_order(SYMBOL, client_id=order.client_id)
    assert refused.value.reason is RejectReason.UNKNOWN_ORDER
    assert await venue.get_order(SYMBOL, client_id=999_999_999) is None
    for step in (1, 2, 3):
        await venue.place_order(limit(Side.BUY, str(bid - step)))
    assert await venue.cancel_all(SYMBOL) == 3
    assert await venue.open_orders(SYMBOL) == []


async def test_gtx_that_would_take_is_refused_as_post_only(
    venue: AsterVenue, emulator: EmulatorServer
) -> None:
    _, ask = best(emulator)
    with pytest.raises(Rejected) as refused:
        await venue.place_order(limit(Side.BUY, str(ask + 1), post_only=True))
    # The venue expires it at once (no error code): the RESULT answer says so.
    assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    assert "expired at once" in str(refused.value)
    assert await venue.open_orders(SYMBOL) == []


async def test_min_notional_refused_locally_and_by_the_venue_reduce_only_exempt(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    bid, _ = best(emulator)
    small = limit(Side.BUY, str(bid - 1), quantity="0.02")  # about 3 USDT, under MIN_NOTIONAL 5
    await venue.load_markets()
    requests_before = sum(emulator.core.requests.values())
    with pytest.raises(Rejected) as refused:
        await venue.place_order(small)
    assert refused.value.reason is RejectReason.MIN_NOTIONAL and "minimum notional of 5 USDT" in str(
        refused.value
    )
    assert sum(emulator.core.requests.values()) == requests_before  # never sent
    # The venue refuses it too (-4164) when a client skips the check.
    raw = [("symbol", SYMBOL), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC")]
    raw += [("quantity", "0.02"), ("price", str(bid - 1)), ("newClientOrderId", "77")]
    with pytest.raises(Rejected) as venue_refused:
        await venue.transport.call(
            "POST", venue.rest.path("order"), params=raw, signed=True, idempotent=False
        )
    assert venue_refused.value.reason is RejectReason.MIN_NOTIONAL
    # Reduce-only orders are exempt on both sides.
    emulator.engine.set_position(
        account.account_id, SYMBOL, quantity=Decimal("1"), entry_price=bid, now_ms=emulator.core.now_ms()
    )
    placed = await venue.place_order(limit(Side.SELL, str(bid + 5), quantity="0.02", reduce_only=True))
    assert placed.reduce_only and placed.status is OrderStatus.NEW


async def test_market_fill_position_fills_and_collateral(venue: AsterVenue, emulator: EmulatorServer) -> None:
    before = await venue.collateral()
    assert before.asset == "USDT" and before.equity == Decimal(10_000)
    filled = await venue.place_order(market(Side.BUY, "0.5"))
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == Decimal("0.5")
    position = await venue.position(SYMBOL)
    assert position.quantity == Decimal("0.5") and position.entry_price > 0
    fills = await venue.fills(SYMBOL)
    assert sum(f.quantity for f in fills) == Decimal("0.5") and all(
        f.order_id == filled.order_id for f in fills
    )
    assert all(not f.is_maker and f.fee > 0 and f.client_id == filled.client_id for f in fills)
    assert await venue.fills(SYMBOL, since_ms=emulator.core.now_ms() + 60_000) == []
    after = await venue.collateral()
    assert after.equity < before.equity and after.margin_fraction is not None
    closing = await venue.place_order(market(Side.SELL, "0.5", reduce_only=True))
    assert closing.status is OrderStatus.FILLED
    assert (await venue.position(SYMBOL)).quantity == 0
    with pytest.raises(Rejected) as refused:
        await venue.place_order(market(Side.SELL, "0.5", reduce_only=True))
    assert refused.value.reason is RejectReason.REDUCE_ONLY


async def test_ioc_that_cannot_fill_expires(venue: AsterVenue, emulator: EmulatorServer) -> None:
    bid, _ = best(emulator)
    update = await venue.place_order(limit(Side.BUY, str(bid - 2), tif=TimeInForce.IOC))
    assert update.status is OrderStatus.EXPIRED and update.filled_quantity == 0


async def test_funding_payments(
    venue: AsterVenue, emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    now_ms = emulator.core.now_ms()
    bid, _ = best(emulator)
    emulator.engine.set_position(
        account.account_id, SYMBOL, quantity=Decimal("2"), entry_price=bid, now_ms=now_ms
    )
    emulator.simulator.set_funding_base_rate(SYMBOL, Decimal("0.0001"))
    emulator.core.step()
    state = emulator.engine.mark_state(SYMBOL)
    emulator.core.publish(emulator.engine.advance(state.next_funding_ms))
    payments = await venue.funding_payments(SYMBOL)
    assert len(payments) == 1 and payments[0].amount != 0
    assert await venue.funding_payments(SYMBOL, since_ms=state.next_funding_ms + 1) == []


# ---------------------------------------------------------------- private stream


async def test_private_stream_orders_fills_positions(venue: AsterVenue, emulator: EmulatorServer) -> None:
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        assert (await next_of(stream, Position)).quantity == 0
        filled = await venue.place_order(market(Side.BUY, "0.3"))
        fill = await next_of(stream, Fill)
        assert fill.order_id == filled.order_id and fill.client_id is not None
        update = await next_of(stream, OrderUpdate, where=lambda o: o.status is OrderStatus.FILLED)
        assert update.client_id == filled.client_id
        position = await next_of(stream, Position, where=lambda p: p.quantity != 0)
        assert position.quantity == Decimal("0.3")
    finally:
        await stream.aclose()


async def test_listen_key_kept_alive_and_renewed_after_expiry(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    keys = front(emulator).api.listen_keys
    keys.ttl_ms = 1500
    alive = make_venue(emulator, account, listen_key_keepalive_s=0.3)
    stream = alive.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        with pytest.raises(TimeoutError):
            await next_of(stream, ExStatus, timeout_s=3.0)  # kept alive: no drop
    finally:
        await stream.aclose()
        await alive.close()
    lapsing = make_venue(emulator, account, listen_key_keepalive_s=60.0)
    stream = lapsing.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        dropped = await next_of(stream, ExStatus, timeout_s=5.0)
        assert dropped.state is FeedState.RECONNECTING and "listenKey expired" in dropped.reason
        assert (await next_of(stream, ExStatus, timeout_s=5.0)).state is FeedState.LIVE
    finally:
        await stream.aclose()
        await lapsing.close()


# ---------------------------------------------------------------- auth, limits, outcomes


async def test_bad_credentials_and_stale_clock(emulator: EmulatorServer, account: AsterAccountSpec) -> None:
    assert account.api_key is not None
    wrong = AsterVenue(
        api_url=emulator.rest_url, ws_url=emulator.ws_url, credentials=HmacSigner(account.api_key, "0" * 64)
    )
    try:
        with pytest.raises(AuthError) as refused:
            await wrong.collateral()
        assert "-1022" in str(refused.value)
    finally:
        await wrong.close()
    for auth in ("v3", "v1"):
        connector = make_venue(emulator, account, auth)
        try:
            await connector.collateral()  # measures the offset
            # The venue's clock jumps past v3's 60 s nonce window (and v1's recvWindow): the next
            # request is refused for its time, then re-synced and re-sent.
            emulator.core.apply_faults(FaultSpec(clock_offset_ms=90_000))
            assert (await connector.collateral()).equity == Decimal(10_000)
            assert abs(connector.transport.offset_ms - 90_000) < 2000
            emulator.core.apply_faults(FaultSpec())
        finally:
            await connector.close()


async def test_v3_nonce_reuse_is_refused(emulator: EmulatorServer, account: AsterAccountSpec) -> None:
    connector = make_venue(emulator, account)
    signer = connector.transport.signer
    assert signer is not None
    text = signer.sign([("symbol", SYMBOL)], now_ms=emulator.core.now_ms())
    try:
        async with aiohttp.ClientSession() as session:
            answers = []
            for _ in range(2):
                async with session.get(f"{emulator.rest_url}/fapi/v3/openOrders?{text}") as response:
                    answers.append((response.status, await response.json()))
        assert answers[0][0] == 200
        assert answers[1] == (400, {"code": -4225, "msg": "nonce expired or already used"})
    finally:
        await connector.close()


async def test_429_pauses_and_418_ban_stops_every_request(account: AsterAccountSpec) -> None:
    async with EmulatorServer(
        venue="aster", symbols=[SYMBOL], accounts=[account], rate_limit_per_min=5
    ) as emulator:
        connector = make_venue(emulator, account, max_attempts=1)
        try:
            with pytest.raises(RateLimited):
                for _ in range(6):
                    await connector.open_orders(SYMBOL)
            sent = emulator.core.requests["/fapi/v3/openOrders"]
            with pytest.raises(RateLimited):
                await connector.open_orders(SYMBOL)
            assert emulator.core.requests["/fapi/v3/openOrders"] == sent  # paused locally, not sent
            # A client that ignores 429s gets the account banned (418 with the ban's end).
            signer = connector.transport.signer
            assert signer is not None
            async with aiohttp.ClientSession() as session:
                for _ in range(30):
                    text = signer.sign([("symbol", SYMBOL)], now_ms=emulator.core.now_ms())
                    async with session.get(f"{emulator.rest_url}/fapi/v3/openOrders?{text}") as response:
                        status, body = response.status, await response.json()
                assert status == 418 and "banned until" in body["msg"]
            connector.transport._paused_until_s = 0.0  # the 429 pause is over; the ban is not
            with pytest.raises(RateLimited) as banned:
                await connector.open_orders(SYMBOL)
            assert connector.transport.banned and banned.value.retry_after_s > 60
            sent = emulator.core.requests["/fapi/v3/openOrders"]
            with pytest.raises(RateLimited, match="IP banned"):
                await connector.position(SYMBOL)
            assert emulator.core.requests["/fapi/v3/openOrders"] == sent
        finally:
            await connector.close()


async def test_unknown_outcome_is_resolved_by_client_id(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, timeout_s=0.5)
    try:
        bid, _ = best(emulator)
        emulator.core.apply_faults(FaultSpec(hang_after_execute=1))
        order = limit(Side.BUY, str(bid - 1))
        placed = await connector.place_order(order)  # the answer hangs; the order is found by its client id
        assert placed.client_id == order.client_id and placed.status is OrderStatus.NEW
        assert len(await connector.open_orders(SYMBOL)) == 1
    finally:
        await connector.close()


async def test_countdown_cancel_all_fires_unless_rearmed(venue: AsterVenue, emulator: EmulatorServer) -> None:
    bid, _ = best(emulator)
    await venue.place_order(limit(Side.BUY, str(bid - 1)))
    await venue.arm(SYMBOL, timeout_s=1.0)
    for _ in range(3):
        await asyncio.sleep(0.4)
        await venue.arm(SYMBOL, timeout_s=1.0)
    assert len(await venue.open_orders(SYMBOL)) == 1  # re-armed in time
    await asyncio.sleep(1.5)
    assert await venue.open_orders(SYMBOL) == []  # not re-armed: cancelled by the venue
    await venue.place_order(limit(Side.BUY, str(bid - 1)))
    await venue.arm(SYMBOL, timeout_s=1.0)
    await venue.disarm(SYMBOL)
    await asyncio.sleep(1.5)
    assert len(await venue.open_orders(SYMBOL)) == 1


async def test_md_gateway_rest_fallback_serves_aster_book_bbo_and_mark(
    venue: AsterVenue, emulator: EmulatorServer
) -> None:
    book, bbo, mark = (event.msg for event in await rest_snapshot(venue, SYMBOL))
    bid, ask = best(emulator)
    assert isinstance(book, Book) and isinstance(bbo, Bbo) and isinstance(mark, Mark)
    assert (book.bids[0][0], book.asks[0][0]) == (bid, ask) == (bbo.bid, bbo.ask)
    assert len(book.bids) == venue.stream.depth_levels and mark.mark > 0


async def control(emulator: EmulatorServer, action: str, body: dict[str, Any] | None = None) -> Any:
    async with aiohttp.ClientSession() as session:
        method = "GET" if body is None else "POST"
        async with session.request(method, f"{emulator.rest_url}/_emulator/{action}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def test_control_api_and_a_dropped_user_stream_reconnects_and_reconciles(
    emulator: EmulatorServer, account: AsterAccountSpec
) -> None:
    connector = make_venue(emulator, account, auth="v1")
    stream = connector.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        state = await control(emulator, "state")
        assert list(state["accounts"]) == [account.account_id] and SYMBOL in state["markets"]
        bid, _ = best(emulator)
        body = {"api_key": account.account_id, "symbol": SYMBOL, "quantity": "1.5", "entry_price": str(bid)}
        await control(emulator, "position", body)
        assert (await next_of(stream, Position, where=lambda p: p.quantity != 0)).quantity == Decimal("1.5")
        assert (await connector.position(SYMBOL)).quantity == Decimal("1.5")
        await connector.place_order(limit(Side.SELL, str(bid + 3)))
        await control(emulator, "faults", {"drop_ws": True})
        assert (await next_of(stream, ExStatus)).state is FeedState.RECONNECTING
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        # After the reconnect the REST snapshot brings the position and the open order.
        assert (await next_of(stream, Position)).quantity == Decimal("1.5")
        assert (await next_of(stream, OrderUpdate)).status is OrderStatus.NEW
        await control(emulator, "reset", {})
        assert (await next_of(stream, ExStatus)).state is FeedState.RECONNECTING
        assert (await connector.position(SYMBOL)).quantity == 0
        assert await connector.open_orders(SYMBOL) == []
    finally:
        await stream.aclose()
        await connector.close()


# ---------------------------------------------------------------- injected stream faults


def malformed_total() -> float:
    return counter_total(metrics.VENUE_MALFORMED, venue="aster")


async def fills_for(events: AsyncIterator[VenueEvent], seconds: float) -> list[Fill]:
    got: list[Fill] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for event in events:
                if isinstance(event.msg, Fill):
                    got.append(event.msg)
    return got


async def test_malformed_payloads_are_skipped_and_counted_and_a_replayed_fill_arrives_again(
    venue: AsterVenue, emulator: EmulatorServer
) -> None:
    stream = venue.private_stream(SYMBOL)
    try:
        assert (await next_of(stream, ExStatus)).state is FeedState.LIVE
        before = malformed_total()
        emulator.core.apply_faults(FaultSpec(malformed_ws=True, replay_fills=True))
        filled = await venue.place_order(market(Side.BUY, "0.2"))
        fills = await fills_for(stream, 2.0)
        # Every trade twice, and nothing but this order's trades: the malformed copies were skipped.
        counts = Counter(fill.trade_id for fill in fills)
        assert counts and set(counts.values()) == {2}, counts
        assert {fill.order_id for fill in fills} == {filled.order_id}
        assert sum(fill.quantity for fill in fills) == 2 * filled.filled_quantity
        assert malformed_total() > before
    finally:
        emulator.core.apply_faults(FaultSpec())
        await stream.aclose()
        await venue.place_order(market(Side.SELL, "0.2", reduce_only=True))
