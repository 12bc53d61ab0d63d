"""The emulator's public Paradex channel data as SBE frames, for connections that negotiated SBE."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venues.paradex import sbe


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text not in ("", None) else None


def negotiated(query: dict[str, str]) -> bool | None:
    """True for a supported SBE request in the URL, False for none, None for an unsupported one (400)."""
    schema, version = query.get("sbeSchemaId"), query.get("sbeSchemaVersion")
    if schema is None and version is None:
        return False
    if schema == str(sbe.SCHEMA_ID) and version in ("0", "1"):
        return True
    return None


def public_frame(channel: str, data: dict[str, Any]) -> bytes | None:
    """The SBE frame of one public channel message (None: a channel SBE does not carry here)."""
    kind = channel.split(".", 1)[0]
    if kind == "bbo":
        bid, ask = _dec(data["bid"]), _dec(data["ask"])
        bid_size, ask_size = _dec(data["bid_size"]), _dec(data["ask_size"])
        return sbe.encode_bbo(
            market=data["market"],
            bid=(bid, bid_size) if bid is not None and bid_size is not None else None,
            ask=(ask, ask_size) if ask is not None and ask_size is not None else None,
            seq=int(data["seq_no"]),
            ts_us=int(data["last_updated_at"]) * 1000,
        )
    if kind == "trades":
        return sbe.encode_trade(
            market=data["market"],
            trade_id=int(data["id"]),
            side=data["side"],
            price=Decimal(data["price"]),
            size=Decimal(data["size"]),
            seq=int(data["id"]),
            ts_us=int(data["created_at"]) * 1000,
        )
    if kind == "order_book":
        levels: dict[str, list[tuple[Decimal, Decimal]]] = {"BUY": [], "SELL": []}
        for level in data["inserts"]:
            levels[level["side"]].append((Decimal(level["price"]), Decimal(level["size"])))
        return sbe.encode_book(
            market=data["market"],
            bids=levels["BUY"],
            asks=levels["SELL"],
            snapshot=True,
            seq=int(data["seq_no"]),
            ts_us=int(data["last_updated_at"]) * 1000,
        )
    if kind == "markets_summary":
        mark, index = _dec(data["mark_price"]), _dec(data["underlying_price"])
        if mark is None or index is None:
            return None
        return sbe.encode_summary(
            market=data["symbol"],
            mark=mark,
            index=index,
            last=_dec(data["last_traded_price"]),
            funding_rate=Decimal(data["funding_rate"]),
            bid=_dec(data["bid"]),
            ask=_dec(data["ask"]),
            seq=int(data["created_at"]),
            ts_us=int(data["created_at"]) * 1000,
        )
    return None
