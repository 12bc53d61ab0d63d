"""Fixtures for the Aster connector tests: ``fake``, a scripted loopback Aster REST server.

This directory is put on ``sys.path`` so test modules can ``import fake_aster``
(pytest runs with ``--import-mode=importlib``, which adds nothing to the path).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))

from fake_aster import FakeAster, server_time


@pytest.fixture
async def fake() -> AsyncIterator[FakeAster]:
    server = FakeAster()
    server.on("GET", "/fapi/v1/time", server_time)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()
