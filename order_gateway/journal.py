"""The order gateway's journal: orders, their state transitions, fills and funding in SQLite (WAL).

An order is written as an intent (``pending``) before it is sent, so a crash
at any point leaves a row to resolve against the venue on restart.  Fills are
unique by the venue's trade id and funding payments by their id, so the same
fill seen on the stream and again in the REST history is stored once.  Every
write commits at once; WAL makes it survive a killed process.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from services.wire import (
    Fill,
    FundingPayment,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Side,
    TimeInForce,
)
from venues.precision import fmt

PENDING = "pending"  # sent (or about to be), no answer yet
UNKNOWN = "unknown"  # the venue's answer was lost and could not be resolved yet
ACTIVE = (PENDING, UNKNOWN, OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_id INTEGER PRIMARY KEY,
    order_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    tif TEXT NOT NULL,
    price TEXT,
    quantity TEXT NOT NULL,
    filled TEXT NOT NULL,
    status TEXT NOT NULL,
    post_only INTEGER NOT NULL,
    reduce_only INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_order_id ON orders (order_id);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL,
    order_id TEXT,
    status TEXT NOT NULL,
    filled TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    ts_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_client ON order_events (client_id);
CREATE TABLE IF NOT EXISTS fills (
    symbol TEXT NOT NULL,
    trade_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    client_id INTEGER,
    side TEXT NOT NULL,
    price TEXT NOT NULL,
    quantity TEXT NOT NULL,
    fee TEXT NOT NULL,
    fee_asset TEXT NOT NULL,
    is_maker INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_order ON fills (order_id);
CREATE TABLE IF NOT EXISTS funding (
    symbol TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    rate TEXT,
    ts_ns INTEGER NOT NULL,
    PRIMARY KEY (symbol, payment_id)
);
"""


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """One order as journaled: the request, and what the venue last said about it."""

    place: Place
    order_id: str | None
    status: str
    filled: Decimal
    reason: str
    created_ns: int
    updated_ns: int

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def as_update(self) -> OrderUpdate | None:
        """The order as an ``OrderUpdate`` (None while the venue has not given it an id)."""
        if self.order_id is None or self.status in (PENDING, UNKNOWN):
            return None
        p = self.place
        return OrderUpdate(
            symbol=p.symbol,
            order_id=self.order_id,
            client_id=p.client_id,
            side=p.side,
            order_type=p.order_type,
            price=p.price,
            quantity=p.quantity,
            filled_quantity=self.filled,
            status=OrderStatus(self.status),
            post_only=p.post_only,
            reduce_only=p.reduce_only,
            reason=self.reason,
        )


class Journal:
    """One SQLite file; not shared between processes (the order gateway owns it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is durable against a killed process (only a power loss may lose the tail).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_ns', ?)", (str(time.time_ns()),)
            )

    def close(self) -> None:
        self._db.close()

    @property
    def created_ns(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'created_ns'").fetchone()
        return int(row[0])

    # ------------------------------------------------------------ orders

    def record_intent(self, place: Place, *, now_ns: int) -> None:
        """Journal an order about to be sent (``pending``); the client id must be new."""
        with self._db:
            self._db.execute(
                "INSERT INTO orders (client_id, order_id, symbol, side, order_type, tif, price, quantity, "
                "filled, status, post_only, reduce_only, reason, created_ns, updated_ns) "
                "VALUES (?, NULL, ?, ?, ?, ?, ?, ?, '0', ?, ?, ?, '', ?, ?)",
                (
                    place.client_id,
                    place.symbol,
                    place.side.value,
                    place.order_type.value,
                    place.tif.value,
                    _text(place.price),
                    fmt(place.quantity),
                    PENDING,
                    int(place.post_only),
                    int(place.reduce_only),
                    now_ns,
                    now_ns,
                ),
            )
            self._event(place.client_id, None, PENDING, Decimal(0), "", now_ns)

    def owner(self, update: OrderUpdate) -> int | None:
        """The client id ``update`` was placed under here (by client id and venue id, else venue id)."""
        known = self.order(update.client_id) if update.client_id is not None else None
        if known is not None and known.place.symbol == update.symbol:
            return update.client_id if known.order_id in (None, update.order_id) else None
        return self._client_of(update.order_id)

    def record_order(self, update: OrderUpdate, *, now_ns: int, client_id: int | None = None) -> bool:
        """Journal the venue's view of one of ours (``client_id``: its known ``owner``); False if not ours."""
        if client_id is None:
            client_id = update.client_id if update.client_id is not None else self._client_of(update.order_id)
            if client_id is None or self.order(client_id) is None:
                return False
        with self._db:
            self._db.execute(
                "UPDATE orders SET order_id = ?, filled = ?, status = ?, reason = ?, updated_ns = ? "
                "WHERE client_id = ?",
                (
                    update.order_id,
                    fmt(update.filled_quantity),
                    update.status.value,
                    update.reason,
                    now_ns,
                    client_id,
                ),
            )
            self._event(
                client_id, update.order_id, update.status.value, update.filled_quantity, update.reason, now_ns
            )
        return True

    def record_status(self, client_id: int, status: str, *, reason: str, now_ns: int) -> None:
        """Set an order's state without a venue answer (``unknown``, or ``rejected`` with the reason)."""
        with self._db:
            self._db.execute(
                "UPDATE orders SET status = ?, reason = ?, updated_ns = ? WHERE client_id = ?",
                (status, reason, now_ns, client_id),
            )
            row = self._db.execute(
                "SELECT order_id, filled FROM orders WHERE client_id = ?", (client_id,)
            ).fetchone()
            if row is not None:
                self._event(client_id, row[0], status, Decimal(row[1]), reason, now_ns)

    def order(self, client_id: int) -> JournalOrder | None:
        row = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?", (client_id,)
        ).fetchone()
        return None if row is None else _order(row)

    def order_by_id(self, order_id: str) -> JournalOrder | None:
        row = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else _order(row)

    def active_orders(self, symbol: str) -> list[JournalOrder]:
        """Orders that may still rest on the venue: pending, unknown, new or partially filled."""
        marks = ", ".join("?" * len(ACTIVE))
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE symbol = ? AND status IN ({marks}) "
            "ORDER BY created_ns",
            (symbol, *ACTIVE),
        ).fetchall()
        return [_order(row) for row in rows]

    def orders(self, symbol: str) -> list[JournalOrder]:
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE symbol = ? ORDER BY created_ns", (symbol,)
        ).fetchall()
        return [_order(row) for row in rows]

    def transitions(self, client_id: int) -> list[tuple[str, Decimal, int]]:
        """``(status, filled, ts_ns)`` of every state an order went through, oldest first."""
        rows = self._db.execute(
            "SELECT status, filled, ts_ns FROM order_events WHERE client_id = ? ORDER BY id", (client_id,)
        ).fetchall()
        return [(status, Decimal(filled), ts_ns) for status, filled, ts_ns in rows]

    def _client_of(self, order_id: str) -> int | None:
        row = self._db.execute("SELECT client_id FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else int(row[0])

    def _event(
        self, client_id: int, order_id: str | None, status: str, filled: Decimal, reason: str, ts_ns: int
    ) -> None:
        self._db.execute(
            "INSERT INTO order_events (client_id, order_id, status, filled, reason, ts_ns) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (client_id, order_id, status, fmt(filled), reason, ts_ns),
        )

    # ------------------------------------------------------------ fills and funding

    def add_fill(self, fill: Fill, *, ts_ns: int) -> bool:
        """Journal a fill; False when its trade id is already there."""
        with self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO fills (symbol, trade_id, order_id, client_id, side, price, quantity, "
                "fee, fee_asset, is_maker, ts_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.symbol,
                    fill.trade_id,
                    fill.order_id,
                    fill.client_id,
                    fill.side.value,
                    fmt(fill.price),
                    fmt(fill.quantity),
                    fmt(fill.fee),
                    fill.fee_asset,
                    int(fill.is_maker),
                    ts_ns,
                ),
            )
        return cursor.rowcount == 1

    def fills(self, symbol: str, *, order_id: str | None = None) -> list[Fill]:
        query = f"SELECT {_FILL_COLUMNS} FROM fills WHERE symbol = ?"
        args: tuple[str, ...] = (symbol,)
        if order_id is not None:
            query += " AND order_id = ?"
            args = (symbol, order_id)
        return [_fill(row) for row in self._db.execute(query + " ORDER BY ts_ns, trade_id", args)]

    def filled_quantity(self, symbol: str, *, client_id: int, order_id: str | None) -> Decimal:
        """The size journaled as filled for one order, matched by venue id or client id."""
        rows = self._db.execute(
            "SELECT quantity FROM fills WHERE symbol = ? AND (order_id = ? OR client_id = ?)",
            (symbol, order_id, client_id),
        ).fetchall()
        return sum((Decimal(row[0]) for row in rows), Decimal(0))

    def order_id_of_fills(self, symbol: str, client_id: int) -> str | None:
        """The venue id of the order behind fills with ``client_id`` (None: no such fill)."""
        row = self._db.execute(
            "SELECT order_id FROM fills WHERE symbol = ? AND client_id = ? ORDER BY ts_ns LIMIT 1",
            (symbol, client_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def last_fill_ns(self, symbol: str) -> int | None:
        row = self._db.execute("SELECT MAX(ts_ns) FROM fills WHERE symbol = ?", (symbol,)).fetchone()
        return None if row[0] is None else int(row[0])

    def add_funding(self, payment: FundingPayment, *, ts_ns: int) -> bool:
        """Journal a funding payment; False when its id is already there."""
        with self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO funding (symbol, payment_id, amount, rate, ts_ns) "
                "VALUES (?, ?, ?, ?, ?)",
                (payment.symbol, payment.payment_id, fmt(payment.amount), _text(payment.rate), ts_ns),
            )
        return cursor.rowcount == 1

    def funding(self, symbol: str) -> list[FundingPayment]:
        rows = self._db.execute(
            "SELECT symbol, payment_id, amount, rate FROM funding WHERE symbol=? ORDER BY ts_ns, payment_id",
            (symbol,),
        ).fetchall()
        return [
            FundingPayment(symbol=sym, payment_id=pid, amount=Decimal(amount), rate=_decimal(rate))
            for sym, pid, amount, rate in rows
        ]

    def last_funding_ns(self, symbol: str) -> int | None:
        row = self._db.execute("SELECT MAX(ts_ns) FROM funding WHERE symbol = ?", (symbol,)).fetchone()
        return None if row[0] is None else int(row[0])


_ORDER_COLUMNS = (
    "client_id, order_id, symbol, side, order_type, tif, price, quantity, filled, status, "
    "post_only, reduce_only, reason, created_ns, updated_ns"
)
_FILL_COLUMNS = "symbol, trade_id, order_id, client_id, side, price, quantity, fee, fee_asset, is_maker"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _order(row: tuple[object, ...]) -> JournalOrder:
    (client_id, order_id, symbol, side, order_type, tif, price, quantity, filled, status) = row[:10]
    post_only, reduce_only, reason, created_ns, updated_ns = row[10:]
    place = Place(
        client_id=int(str(client_id)),
        symbol=str(symbol),
        side=Side(str(side)),
        quantity=Decimal(str(quantity)),
        price=None if price is None else Decimal(str(price)),
        order_type=OrderType(str(order_type)),
        tif=TimeInForce(str(tif)),
        post_only=bool(post_only),
        reduce_only=bool(reduce_only),
    )
    return JournalOrder(
        place=place,
        order_id=None if order_id is None else str(order_id),
        status=str(status),
        filled=Decimal(str(filled)),
        reason=str(reason),
        created_ns=int(str(created_ns)),
        updated_ns=int(str(updated_ns)),
    )


def _fill(row: tuple[object, ...]) -> Fill:
    symbol, trade_id, order_id, client_id, side, price, quantity, fee, fee_asset, is_maker = row
    return Fill(
        symbol=str(symbol),
        trade_id=str(trade_id),
        order_id=str(order_id),
        client_id=None if client_id is None else int(str(client_id)),
        side=Side(str(side)),
        price=Decimal(str(price)),
        quantity=Decimal(str(quantity)),
        fee=Decimal(str(fee)),
        fee_asset=str(fee_asset),
        is_maker=bool(is_maker),
    )
