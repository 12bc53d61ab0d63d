"""A venue request on the wire at once, on Python 3.11 as on 3.12.

aiohttp writes a request's body in a task of its own.  From Python 3.12 that
task starts eagerly, so the request is on the wire before ``session.request``
waits for the answer.  On 3.11 the task waits for the next turn of the event
loop, behind whatever else is ready: in the order gateway, the next orders'
journaling and signing, so an urgent cancel reached the venue last.

``install(loop)`` gives 3.11 the 3.12 behaviour for that one task: a task
factory that runs aiohttp's body writer at once, up to its first real wait
(a full socket buffer), and resumes it in a plain task from there.  Every
other coroutine gets a plain ``asyncio.Task``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Generator
from typing import Any

try:
    from aiohttp.client_reqrep import ClientRequest

    _BODY_WRITER: Any = ClientRequest.write_bytes.__code__
except (ImportError, AttributeError):  # an aiohttp without it: nothing to start early
    _BODY_WRITER = None


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Start aiohttp's request-body writer eagerly on ``loop``; False where it is not needed or possible."""
    if sys.version_info >= (3, 12) or _BODY_WRITER is None or loop.get_task_factory() is not None:
        return False
    loop.set_task_factory(_factory)
    return True


def _factory(
    loop: asyncio.AbstractEventLoop, coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Future[Any]:
    # Every task of the process comes through here: the cheap identity test first.
    if getattr(coro, "cr_code", None) is _BODY_WRITER and isinstance(coro, Coroutine):
        return start_eagerly(loop, coro, **kwargs)
    return asyncio.Task(coro, loop=loop, **kwargs)


def start_eagerly(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Future[Any]:
    """Run ``coro`` now to its first wait: a finished future if it ended there, else its task from there."""
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result(stop.value)
        return done
    except asyncio.CancelledError:
        cancelled: asyncio.Future[Any] = loop.create_future()
        cancelled.cancel()
        return cancelled
    except Exception as exc:
        failed: asyncio.Future[Any] = loop.create_future()
        failed.set_exception(exc)
        return failed
    return asyncio.Task(_resume(coro, waiting), loop=loop, **kwargs)


async def _resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Drive ``coro`` on from a wait, as its task would have: each awaited future, then the next step."""
    while True:
        try:
            if waiting is None:  # a bare yield (``asyncio.sleep(0)``): one turn of the loop
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False
                await asyncio.wait((waiting,))
        except asyncio.CancelledError as cancel:
            # Cancelled while waiting: cancel what it waits on and let the coroutine see it.
            if waiting is not None:
                waiting.cancel()
            try:
                waiting = coro.throw(cancel)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting = coro.send(None)
        except StopIteration as stop:
            return stop.value
