"""POST /_emulator/book: the depth stream carries the asked floor of updates a second, top unchanged."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from venues.emulator.credentials import generate_account
from venues.emulator.server import EmulatorServer

SOL = "SOL_USDC_PERP"


async def count_streams(ws_url: str, *, seconds: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"depth.{SOL}", f"bookTicker.{SOL}"]})
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if message.type is aiohttp.WSMsgType.TEXT:
                kind = json.loads(message.data)["stream"].split(".")[0]
                counts[kind] = counts.get(kind, 0) + 1
    return counts


async def test_book_rate_floor_top_unchanged_and_reset_clears() -> None:
    async with (
        EmulatorServer(venue="backpack", seed=2, symbols=[SOL], accounts=[generate_account()]) as emu,
        aiohttp.ClientSession(base_url=emu.rest_url) as http,
    ):
        # A still market: every depth update is the churn's.
        async with http.post("/_emulator/taker", json={"symbol": SOL, "pause": True}) as answer:
            assert answer.status == 200
        await asyncio.sleep(0.2)
        top = emu.engine.top(SOL)
        async with http.post("/_emulator/book", json={"symbol": SOL, "updates_per_s": 50}) as answer:
            assert answer.status == 200 and (await answer.json())["depth_updates_per_s"] == 50
        counts = await count_streams(emu.ws_url, seconds=2.0)
        assert 60 <= counts.get("depth", 0) <= 110  # 100 in 2 s, with room for a slow 2-core machine
        assert counts.get("bookTicker", 0) == 0 and emu.engine.top(SOL) == top
        async with http.get("/_emulator/state") as answer:
            assert (await answer.json())["markets"][SOL]["depth_updates_per_s"] == 50
        async with http.post("/_emulator/book", json={"symbol": SOL, "updates_per_s": -5}) as answer:
            assert answer.status == 400
        async with http.post("/_emulator/reset", json={}) as answer:
            assert answer.status == 200
        async with http.get("/_emulator/state") as answer:
            assert (await answer.json())["markets"][SOL]["depth_updates_per_s"] == 0
