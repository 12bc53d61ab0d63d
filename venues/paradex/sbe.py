"""Paradex's SBE market-data frames (schema 1, versions 0-2), decoded and encoded (pure, no I/O).

Since 21 September 2026 Paradex sends public channel payloads only as Simple
Binary Encoding frames, negotiated with ``?sbeSchemaId=1&sbeSchemaVersion=1``
on the WebSocket URL; the JSON-RPC control messages and private channels stay
JSON.  Frames are little-endian: an 8-byte header (block length, template id,
schema id, version), the fixed root block, repeating groups (block length and
count, then entries) and length-prefixed strings.  Prices and sizes are int64
mantissas of 1e-8 (the precise funding rate: 1e-12); INT64_MIN is null.

``decode`` turns a frame into the channel name and the same ``data`` object
the JSON channel carries, so one set of parsers serves both encodings.
Unknown template ids are skipped (None), as the schema's policy asks.
"""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

from venues.common.parse import MalformedResponse
from venues.precision import fmt

SCHEMA_ID = 1
SCHEMA_VERSION = 1  # the newest every environment negotiates
SBE_QUERY = f"sbeSchemaId={SCHEMA_ID}&sbeSchemaVersion={SCHEMA_VERSION}"
NULL = -(2**63)
TRADE, BBO, BOOK, SUMMARY = 1, 2, 3, 4
BOOK_CHANNEL_SUFFIX = "snapshot@15@100ms"
_HEADER = struct.Struct("<HHHH")
_GROUP = struct.Struct("<HH")
_SIDES = {1: "BUY", 2: "SELL"}
_SIDE_CODES = {"BUY": 1, "SELL": 2}
_E8 = Decimal("1e-8")
_E12 = Decimal("1e-12")
_TRADE = struct.Struct("<qqqBqqqB")  # ts, seq, tradeId, side, price, size, createdAt, tradeType
_BBO = struct.Struct("<qqqqqq")  # ts, seq, bid, bid size, ask, ask size
_BOOK = struct.Struct("<qqB" + "q" * 9)  # ts, seq, pkgType, best/API prices and sizes, spread
_LEVEL = struct.Struct("<qq")
# MarketSummaryEvent v0: ts, seq, then 25 eight-byte fields; v1 appends three more.
_SUMMARY_V0 = struct.Struct("<" + "q" * 27)
_SUMMARY_PRECISE_OFFSET = 29 * 8  # fundingRatePrecise, after forwardRate and riskFreeRate


def _number(mantissa: int, scale: Decimal = _E8) -> Decimal | None:
    return None if mantissa == NULL else Decimal(mantissa).scaleb(scale.adjusted())


def _text(value: Decimal | None) -> str:
    return fmt(value) if value is not None else ""


def _mantissa(value: Decimal | None) -> int:
    if value is None:
        return NULL
    scaled = value.scaleb(8)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 8 decimals")
    return int(scaled)


class _Reader:
    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.frame):
            raise MalformedResponse("SBE frame shorter than its layout")
        chunk = self.frame[self.at : self.at + size]
        self.at += size
        return chunk

    def string(self) -> str:
        length = self.take(1)[0]
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedResponse("SBE string is not UTF-8") from None

    def levels(self) -> list[tuple[int, int]]:
        block_length, count = _GROUP.unpack(self.take(_GROUP.size))
        if block_length < _LEVEL.size:
            raise MalformedResponse("SBE book level shorter than price and size")
        return [_LEVEL.unpack(self.take(block_length)[: _LEVEL.size]) for _ in range(count)]


def decode(frame: bytes) -> tuple[str, dict[str, Any]] | None:
    """``(channel, data)`` of a public market-data frame; None for a template this decoder skips."""
    reader = _Reader(frame)
    block_length, template, schema, _version = _HEADER.unpack(reader.take(_HEADER.size))
    if schema != SCHEMA_ID:
        raise MalformedResponse(f"SBE schema {schema}, expected {SCHEMA_ID}")
    block = reader.take(block_length)
    layout = {TRADE: _TRADE, BBO: _BBO, BOOK: _BOOK, SUMMARY: _SUMMARY_V0}.get(template)
    if layout is None:
        return None
    if block_length < layout.size:
        raise MalformedResponse(f"SBE template {template} block of {block_length} bytes is too short")
    fields = layout.unpack(block[: layout.size])
    if template == TRADE:
        market = reader.string()
        ts_us, _seq, trade_id, side, price, size, created_us, _kind = fields
        data = {
            "id": str(trade_id),
            "market": market,
            "side": _SIDES.get(side, ""),
            "price": _text(_number(price)),
            "size": _text(_number(size)),
            "created_at": created_us // 1000,
        }
        return f"trades.{market}", data
    if template == BBO:
        market = reader.string()
        ts_us, seq, bid, bid_size, ask, ask_size = fields
        data = {
            "market": market,
            "bid": _text(_number(bid)),
            "bid_size": _text(_number(bid_size)),
            "ask": _text(_number(ask)),
            "ask_size": _text(_number(ask_size)),
            "seq_no": seq,
            "last_updated_at": ts_us // 1000,
        }
        return f"bbo.{market}", data
    if template == BOOK:
        bids, asks = reader.levels(), reader.levels()
        market = reader.string()
        snapshot = fields[2] == 0
        entries = [("BUY", price, size) for price, size in bids] + [
            ("SELL", price, size) for price, size in asks
        ]
        levels = [
            {"side": side, "price": _text(_number(p)), "size": _text(_number(s))} for side, p, s in entries
        ]
        data = {
            "market": market,
            "seq_no": fields[1],
            "last_updated_at": fields[0] // 1000,
            "update_type": "s" if snapshot else "d",
            "inserts": levels if snapshot else [],
            "updates": [] if snapshot else [lv for lv in levels if lv["size"] != "0"],
            "deletes": [] if snapshot else [lv for lv in levels if lv["size"] == "0"],
        }
        return f"order_book.{market}.{BOOK_CHANNEL_SUFFIX}", data
    market = reader.string()
    rate = _number(fields[7])
    if block_length >= _SUMMARY_PRECISE_OFFSET + 8:
        (precise,) = struct.unpack_from("<q", block, _SUMMARY_PRECISE_OFFSET)
        rate = _number(precise, _E12) if precise != NULL else rate
    data = {
        "symbol": market,
        "mark_price": _text(_number(fields[2])),
        "underlying_price": _text(_number(fields[3])),
        "last_traded_price": _text(_number(fields[4])),
        "funding_rate": _text(rate),
        "bid": _text(_number(fields[8])),
        "ask": _text(_number(fields[9])),
        "created_at": fields[0] // 1000,
    }
    return f"markets_summary.{market}", data


# ---------------------------------------------------------------- encoding (the emulator's side)


def _frame(template: int, block: bytes, tail: bytes = b"") -> bytes:
    return _HEADER.pack(len(block), template, SCHEMA_ID, SCHEMA_VERSION) + block + tail


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError("SBE strings hold at most 255 bytes")
    return bytes([len(raw)]) + raw


def encode_trade(
    *, market: str, trade_id: int, side: str, price: Decimal, size: Decimal, seq: int, ts_us: int
) -> bytes:
    block = _TRADE.pack(ts_us, seq, trade_id, _SIDE_CODES[side], _mantissa(price), _mantissa(size), ts_us, 1)
    return _frame(TRADE, block, _string(market))


def encode_bbo(
    *,
    market: str,
    bid: tuple[Decimal, Decimal] | None,
    ask: tuple[Decimal, Decimal] | None,
    seq: int,
    ts_us: int,
) -> bytes:
    bid_price, bid_size = bid if bid else (None, None)
    ask_price, ask_size = ask if ask else (None, None)
    block = _BBO.pack(
        ts_us, seq, _mantissa(bid_price), _mantissa(bid_size), _mantissa(ask_price), _mantissa(ask_size)
    )
    return _frame(BBO, block, _string(market))


def encode_book(
    *,
    market: str,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
    snapshot: bool,
    seq: int,
    ts_us: int,
) -> bytes:
    block = _BOOK.pack(ts_us, seq, 0 if snapshot else 1, *([NULL] * 9))
    groups = b"".join(
        _GROUP.pack(_LEVEL.size, len(levels))
        + b"".join(_LEVEL.pack(_mantissa(price), _mantissa(size)) for price, size in levels)
        for levels in (bids, asks)
    )
    return _frame(BOOK, block, groups + _string(market))


def encode_summary(
    *,
    market: str,
    mark: Decimal,
    index: Decimal,
    last: Decimal | None,
    funding_rate: Decimal,
    bid: Decimal | None,
    ask: Decimal | None,
    seq: int,
    ts_us: int,
) -> bytes:
    precise = funding_rate.scaleb(12).to_integral_value()
    values = [ts_us, seq, _mantissa(mark), _mantissa(index), _mantissa(last), 0, 0]
    values += [_mantissa(funding_rate.quantize(_E8)), _mantissa(bid), _mantissa(ask), 0, 0]
    values += [NULL] * 13 + [NULL, NULL]  # options fields, bid and ask sizes
    block = _SUMMARY_V0.pack(*values) + struct.pack("<qqq", NULL, NULL, int(precise))
    return _frame(SUMMARY, block, _string(market))
