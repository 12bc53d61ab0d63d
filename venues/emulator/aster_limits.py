"""Aster's request limits as documented (pure: time passed in): weight per IP, orders per account, bans.

Every request spends its route's weight from its IP's ``REQUEST_WEIGHT``
budget per minute; every new order counts against its account's ``ORDERS``
budget per minute.  Past either budget the answer is 429 (-1003).  The venue
documents no ``Retry-After`` for it, so none is sent: a client must back off on
its own.  An IP that goes on sending while limited is banned (418, "banned
until <ms>"); bans scale for repeat offenders, from 2 minutes up to 3 days.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from venues.emulator.aster_errors import banned, too_many_requests

WINDOW_MS = 60_000
FIRST_BAN_S = 120
MAX_BAN_S = 3 * 24 * 3600
MAX_REFUSALS_BEFORE_BAN = 20

# Route weights from the futures docs (v1 and v3 alike); unlisted routes weigh 1.
_WEIGHTS = {
    ("POST", "batchOrders"): 5,
    ("GET", "balance"): 5,
    ("GET", "account"): 5,
    ("GET", "accountWithJoinMargin"): 5,
    ("GET", "positionRisk"): 5,
    ("GET", "userTrades"): 5,
    ("GET", "income"): 30,
    ("POST", "countdownCancelAll"): 10,
}
_DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))


def route_weight(method: str, path: str, query: dict[str, str]) -> int:
    """The documented weight of one request (depth by ``limit``, open orders by ``symbol``)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name == "depth":
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 500
        return next((weight for top, weight in _DEPTH_WEIGHTS if limit <= top), 20)
    if name == "openOrders" and method == "GET" and not query.get("symbol"):
        return 40
    if name in ("bookTicker", "premiumIndex") and not query.get("symbol"):
        return 5 if name == "bookTicker" else 10
    return _WEIGHTS.get((method, name), 1)


def budgets(rate_limit_per_min: int) -> tuple[int, int]:
    """(weight, orders) a minute for the emulator's ``rate_limit_per_min``.

    The documented budgets are 2400 weight per IP and 1200 orders per account;
    the emulator's default of 2000 gives exactly those, and a test's lower
    setting scales both alike (0 disables them).
    """
    return rate_limit_per_min * 6 // 5, rate_limit_per_min * 3 // 5


class _Window:
    """Amounts spent per key in the last ``WINDOW_MS``."""

    def __init__(self) -> None:
        self._spent: dict[str, deque[tuple[int, int]]] = {}

    def used(self, key: str, now_ms: int) -> int:
        spent = self._spent.setdefault(key, deque())
        while spent and spent[0][0] <= now_ms - WINDOW_MS:
            spent.popleft()
        return sum(amount for _, amount in spent)

    def spend(self, key: str, amount: int, now_ms: int) -> None:
        self._spent.setdefault(key, deque()).append((now_ms, amount))


@dataclass(slots=True)
class _Offender:
    refusals: int = 0
    bans: int = 0
    banned_until_ms: int = 0


class AsterLimits:
    """``REQUEST_WEIGHT`` per IP and ``ORDERS`` per account per minute; 0 disables a limit."""

    def __init__(self, *, weight_per_min: int, orders_per_min: int) -> None:
        if weight_per_min < 0 or orders_per_min < 0:
            raise ValueError("limits must be >= 0")
        self.weight_per_min = weight_per_min
        self.orders_per_min = orders_per_min
        self._weights = _Window()
        self._orders = _Window()
        self._offenders: dict[str, _Offender] = {}

    def admit(self, ip: str, weight: int, now_ms: int) -> int:
        """Spend ``weight`` for ``ip``; the IP's used weight this minute.  Raises 429 or 418 when refused."""
        offender = self._offenders.setdefault(ip, _Offender())
        if offender.banned_until_ms > now_ms:
            raise banned(offender.banned_until_ms, None)
        used = self._weights.used(ip, now_ms)
        if self.weight_per_min and used + weight > self.weight_per_min:
            self._refuse(offender, now_ms)
            raise too_many_requests(None, self.weight_per_min)
        offender.refusals = 0
        self._weights.spend(ip, weight, now_ms)
        return used + weight

    def count_order(self, ip: str, account_id: str, now_ms: int) -> int:
        """Count one new order of ``account_id``; the account's orders this minute.  Raises 429 when over."""
        count = self._orders.used(account_id, now_ms)
        if self.orders_per_min and count >= self.orders_per_min:
            self._refuse(self._offenders.setdefault(ip, _Offender()), now_ms)
            raise too_many_requests(None, self.orders_per_min)
        self._orders.spend(account_id, 1, now_ms)
        return count + 1

    def _refuse(self, offender: _Offender, now_ms: int) -> None:
        offender.refusals += 1
        if offender.refusals <= MAX_REFUSALS_BEFORE_BAN:
            return
        # Each ban of the same IP lasts twice the one before, within the documented 2 minutes to 3 days.
        ban_s = min(FIRST_BAN_S * 2**offender.bans, MAX_BAN_S)
        offender.bans += 1
        offender.refusals = 0
        offender.banned_until_ms = now_ms + ban_s * 1000
        raise banned(offender.banned_until_ms, None)
