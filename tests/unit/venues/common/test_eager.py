"""aiohttp's request body goes out at once; other tasks, and a body writer that must wait, as before."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from venues.common import eager

needs_311 = pytest.mark.skipif(sys.version_info >= (3, 12), reason="aiohttp starts the writer eagerly itself")


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A local aiohttp server answering every POST with ``{}``."""
    received: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(len(await request.read()))
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


@pytest.fixture
async def factory_restored() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    yield
    loop.set_task_factory(previous)


async def _turns_from_headers_to_body(url: str) -> int:
    """Turns of the event loop between aiohttp buffering a request's headers and writing its body."""
    loop = asyncio.get_running_loop()
    turns = 0
    marks: dict[str, int] = {}

    def tick() -> None:
        nonlocal turns
        turns += 1
        ticker[0] = loop.call_soon(tick)

    async def on_headers(*_: object) -> None:
        marks["headers"] = turns

    async def on_body(*_: object) -> None:
        marks.setdefault("body", turns)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers)
    trace.on_request_chunk_sent.append(on_body)
    ticker = [loop.call_soon(tick)]
    try:
        async with (
            aiohttp.ClientSession(trace_configs=[trace]) as session,
            session.post(url, data=b'{"clientId":42}') as answer,
        ):
            assert answer.status == 200
    finally:
        ticker[0].cancel()
    return marks["body"] - marks["headers"]


@needs_311
async def test_the_request_body_goes_out_in_the_same_turn_as_its_headers(
    url: str, factory_restored: None
) -> None:
    assert eager.install(asyncio.get_running_loop())
    assert await _turns_from_headers_to_body(url) == 0


@needs_311
async def test_without_it_the_body_waits_for_a_later_turn_of_the_loop(url: str) -> None:
    # What install() is for: aiohttp's own behaviour on 3.11.
    assert await _turns_from_headers_to_body(url) >= 1


@needs_311
async def test_installed_once_and_never_over_another_factory(factory_restored: None) -> None:
    loop = asyncio.get_running_loop()
    assert eager.install(loop)
    assert not eager.install(loop)
    # Other coroutines still get plain tasks, run on the next turn.
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    assert isinstance(task, asyncio.Task) and ran == []
    await task
    assert ran == ["other"]


async def test_a_large_body_that_fills_the_socket_buffer_still_arrives_whole(
    url: str, factory_restored: None
) -> None:
    # The writer waits for the socket to drain: the task resumes it until the body is sent.
    eager.install(asyncio.get_running_loop())
    async with aiohttp.ClientSession() as session:
        for size in (8 * 1024 * 1024, 10, 8 * 1024 * 1024):
            async with session.post(url, data=b"x" * size) as answer:
                assert answer.status == 200


async def test_start_eagerly_runs_to_the_first_wait_and_a_task_goes_on_from_there() -> None:
    loop = asyncio.get_running_loop()
    steps: list[str] = []
    gate: asyncio.Future[int] = loop.create_future()

    async def finishes_at_once() -> str:
        steps.append("at once")
        return "done"

    started = eager.start_eagerly(loop, finishes_at_once())
    assert steps == ["at once"] and started.done() and started.result() == "done"

    async def waits() -> int:
        steps.append("before")
        await asyncio.sleep(0)
        value = await gate
        steps.append("after")
        return value + 1

    task = eager.start_eagerly(loop, waits())
    assert steps[-1] == "before" and not task.done()
    loop.call_later(0.01, gate.set_result, 41)
    assert await task == 42 and steps[-1] == "after"

    async def fails() -> None:
        raise ValueError("bad body")

    failed = eager.start_eagerly(loop, fails())
    assert failed.done() and isinstance(failed.exception(), ValueError)

    late: asyncio.Future[None] = loop.create_future()

    async def raises_later() -> None:
        await late
        raise OSError("connection reset")

    task = eager.start_eagerly(loop, raises_later())
    late.set_result(None)
    with pytest.raises(OSError, match="connection reset"):
        await task


async def test_a_cancel_reaches_the_coroutine_and_what_it_waits_on() -> None:
    loop = asyncio.get_running_loop()
    forever: asyncio.Future[None] = loop.create_future()
    cleaned: list[str] = []

    async def waits_forever() -> None:
        try:
            await forever
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise

    task = eager.start_eagerly(loop, waits_forever())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cancelled"] and forever.cancelled()
