"""Aster's per-account state beside the engine (pure): client order ids, listen keys, countdowns.

The engine knows orders by number; Aster clients name them with text
(``newClientOrderId``, which the venue generates when it is not sent), and a
lookup by it must find closed orders too.  A listen key lives 60 minutes from
its last keep-alive.  ``countdownCancelAll`` keeps one deadline per account and
symbol; when it passes, every open order there is cancelled.
"""

from __future__ import annotations

import re
import secrets

CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
LISTEN_KEY_TTL_MS = 60 * 60 * 1000


class ClientOrderIds:
    """``clientOrderId`` text per engine order, and the order behind each text per account and symbol.

    The oldest of more than ``max_orders`` are forgotten (the engine's own order
    history is bounded too), so a long simulation does not grow without limit.
    """

    def __init__(self, *, max_orders: int = 200_000) -> None:
        self.max_orders = max_orders
        self._by_order: dict[str, tuple[str, str, str]] = {}  # insertion order: oldest first
        self._by_client: dict[tuple[str, str, str], str] = {}

    def assign(self, account_id: str, symbol: str, order_id: str, client_order_id: str | None) -> str:
        """Record the order's client id (generated when none was sent); returns it."""
        text = client_order_id or f"autoclientid-{order_id}"
        self._by_order[order_id] = (account_id, symbol, text)
        self._by_client[(account_id, symbol, text)] = order_id
        while len(self._by_order) > self.max_orders:
            oldest = next(iter(self._by_order))
            name = self._by_order.pop(oldest)
            if self._by_client.get(name) == oldest:
                del self._by_client[name]
        return text

    def of(self, order_id: str) -> str:
        known = self._by_order.get(order_id)
        return known[2] if known is not None else f"autoclientid-{order_id}"

    def order_id(self, account_id: str, symbol: str, client_order_id: str) -> str | None:
        """The newest order of the account on ``symbol`` that carried this client id."""
        found = self._by_client.get((account_id, symbol, client_order_id))
        if found is None and client_order_id.startswith("autoclientid-"):
            return client_order_id.removeprefix("autoclientid-")
        return found


class ListenKeys:
    """User-stream keys: one live key per account, extended by every POST and PUT."""

    def __init__(self, *, ttl_ms: int = LISTEN_KEY_TTL_MS) -> None:
        self.ttl_ms = ttl_ms
        self._keys: dict[str, tuple[str, int]] = {}  # key -> (account, expires_ms)

    def open(self, account_id: str, *, now_ms: int) -> str:
        """The account's live key (kept, as the venue does) or a new one; valid ``ttl_ms`` from now."""
        for key, (owner, expires_ms) in self._keys.items():
            if owner == account_id and expires_ms > now_ms:
                self._keys[key] = (owner, now_ms + self.ttl_ms)
                return key
        key = secrets.token_urlsafe(48)
        self._keys[key] = (account_id, now_ms + self.ttl_ms)
        return key

    def keep_alive(self, account_id: str, *, now_ms: int) -> bool:
        """Extend the account's live key; False when it has none."""
        for key, (owner, expires_ms) in self._keys.items():
            if owner == account_id and expires_ms > now_ms:
                self._keys[key] = (owner, now_ms + self.ttl_ms)
                return True
        return False

    def close(self, account_id: str) -> list[str]:
        """Drop the account's keys; returns them (their connections end)."""
        dropped = [key for key, (owner, _) in self._keys.items() if owner == account_id]
        for key in dropped:
            del self._keys[key]
        return dropped

    def account(self, key: str, *, now_ms: int) -> str | None:
        """The account of a live key, None when unknown or expired."""
        entry = self._keys.get(key)
        return entry[0] if entry is not None and entry[1] > now_ms else None

    def expire_all(self) -> list[str]:
        """Remove and return every key, live or not (fault injection: all lapse at once)."""
        expired = list(self._keys)
        self._keys.clear()
        return expired

    def expire(self, *, now_ms: int) -> list[str]:
        """Remove and return every key past its expiry."""
        expired = [key for key, (_, expires_ms) in self._keys.items() if expires_ms <= now_ms]
        for key in expired:
            del self._keys[key]
        return expired


class Countdowns:
    """``countdownCancelAll`` deadlines per (account, symbol)."""

    def __init__(self) -> None:
        self._deadlines: dict[tuple[str, str], int] = {}

    def set(self, account_id: str, symbol: str, *, countdown_ms: int, now_ms: int) -> None:
        """Arm (or re-arm) the countdown; 0 disarms it."""
        if countdown_ms <= 0:
            self._deadlines.pop((account_id, symbol), None)
        else:
            self._deadlines[(account_id, symbol)] = now_ms + countdown_ms

    def due(self, *, now_ms: int) -> list[tuple[str, str]]:
        """The (account, symbol) pairs whose countdown has run out, removed from the table."""
        fired = [pair for pair, deadline in self._deadlines.items() if deadline <= now_ms]
        for pair in fired:
            del self._deadlines[pair]
        return sorted(fired)

    def deadline_ms(self, account_id: str, symbol: str) -> int | None:
        return self._deadlines.get((account_id, symbol))
