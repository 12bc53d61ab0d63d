"""Aster's trade and income history, paged: fills forward by trade id, funding forward by time.

``Fetch`` is a signed GET of one endpoint with the given parameters, so the
paging here is the same whichever auth generation signs it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from services.wire import Fill, FundingPayment, OrderUpdate
from venues.aster.parse import fill_from_rest, funding_from_rest
from venues.base import Unavailable
from venues.common.parse import MalformedResponse, field, integer

T = TypeVar("T")
MAX_PAGE = 1000
Fetch = Callable[[dict[str, Any]], Awaitable[Any]]


async def user_trades(fetch: Fetch, symbol: str, *, since_ms: int | None, limit: int) -> list[Fill]:
    """``userTrades`` oldest first: from ``since_ms`` on (paged by ``fromId``), else the newest ``limit``."""
    found: list[Any] = []
    params: dict[str, Any] = {"symbol": symbol, "startTime": since_ms}
    while len(found) < limit:
        page_size = min(MAX_PAGE, limit - len(found))
        page = rows(await fetch({**params, "limit": page_size}), "user trades")
        found.extend(page)
        if len(page) < page_size or since_ms is None:
            break
        params = {"symbol": symbol, "fromId": parsed("user trade", _trade_id, page[-1]) + 1}
    fills = [parsed("fill", fill_from_rest, row) for row in found]
    unique = {fill.trade_id: fill for fill in fills if fill.symbol == symbol}
    return sorted(unique.values(), key=lambda fill: int(fill.trade_id))[:limit]


async def funding_income(fetch: Fetch, symbol: str, *, since_ms: int | None) -> list[FundingPayment]:
    """``income`` of type ``FUNDING_FEE`` oldest first, paged forward by time."""
    found: list[Any] = []
    start_ms = since_ms
    while True:
        params = {"symbol": symbol, "incomeType": "FUNDING_FEE", "startTime": start_ms, "limit": MAX_PAGE}
        page = rows(await fetch(params), "income")
        found.extend(page)
        if len(page) < MAX_PAGE:
            break
        start_ms = parsed("income", _time_ms, page[-1]) + 1
    timed = sorted(((parsed("income", _time_ms, row), row) for row in found), key=lambda item: item[0])
    payments = [parsed("funding", funding_from_rest, row) for _, row in timed]
    return [payment for payment in payments if payment.symbol == symbol]


class OrderClientIds:
    """Our client id per venue order id, remembered from every order seen (``userTrades`` lacks it).

    Also which orders were last seen open, per symbol, since ``DELETE allOpenOrders`` gives no count.
    """

    def __init__(self, *, max_orders: int = 10_000) -> None:
        self.max_orders = max_orders
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._open: dict[str, set[str]] = {}

    def forget_open(self, symbol: str) -> int:
        """How many orders on ``symbol`` were last seen open; none are from now on."""
        return len(self._open.pop(symbol, set()))

    def remember(self, update: OrderUpdate) -> OrderUpdate:
        open_ids = self._open.setdefault(update.symbol, set())
        if update.status.is_open:
            if len(open_ids) < self.max_orders:
                open_ids.add(update.order_id)
        else:
            open_ids.discard(update.order_id)
        if update.client_id is not None:
            self._ids[update.order_id] = update.client_id
            self._ids.move_to_end(update.order_id)
            while len(self._ids) > self.max_orders:
                self._ids.popitem(last=False)
        return update

    def fill_in(self, fills: list[Fill]) -> tuple[list[Fill], list[str]]:
        """``fills`` with the client ids known, and the order ids still without one (oldest first)."""
        done = [
            dataclasses.replace(f, client_id=self._ids[f.order_id])
            if f.client_id is None and f.order_id in self._ids
            else f
            for f in fills
        ]
        missing = list(dict.fromkeys(f.order_id for f in done if f.client_id is None))
        return done, missing


def rows(raw: Any, what: str) -> list[Any]:
    """A list answer (None: empty); ``Unavailable`` when it is not a list."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Unavailable(f"malformed {what} answer: not a list")
    return raw


def parsed(what: str, parse: Callable[[Any], T], raw: Any) -> T:
    """``parse(raw)``, a malformed payload turned into ``Unavailable``."""
    try:
        return parse(raw)
    except MalformedResponse as exc:
        raise Unavailable(f"malformed {what}: {exc}") from exc


def _trade_id(row: Any) -> int:
    return integer(field(row, "id"))


def _time_ms(row: Any) -> int:
    return integer(field(row, "time"))
