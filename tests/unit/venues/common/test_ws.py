from __future__ import annotations

from aiohttp import web
from websockets.asyncio.client import connect

from venues.common.ws import open_ws


async def test_a_venue_socket_is_opened_without_compression() -> None:
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # offers permessage-deflate to a client that asks, as venues do
        await ws.prepare(request)
        await ws.send_str("hello")
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with connect(url) as default:
            assert default.protocol.extensions, "the server would compress for a client that asks"
        async with open_ws(url, open_timeout_s=5, ping_interval_s=20, ping_timeout_s=20, max_queue=16) as ws:
            assert ws.protocol.extensions == []
            assert await ws.recv() == "hello"
    finally:
        await runner.cleanup()
