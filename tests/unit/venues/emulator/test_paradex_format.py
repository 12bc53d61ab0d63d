"""The emulator's Paradex JSON for engine records, read back by the connector's parsers."""

from __future__ import annotations

from decimal import Decimal

from services.wire import OrderStatus, OrderType, Side, TimeInForce
from venues.emulator.accounts import PositionView
from venues.emulator.paradex_format import OrderMeta, fill_json, order_json, position_json
from venues.emulator.records import ExpiryReason, Fill, Order, SelfTradePrevention
from venues.paradex.parse import fill_from_venue, order_from_venue, position_from_venue

META = OrderMeta(client_id="42", instruction="POST_ONLY", signature_ms=1, received_ms=2, seq_no=3)


def _order(**fields: object) -> Order:
    values: dict[str, object] = {
        "order_id": "7",
        "account_id": "0xabc",
        "symbol": "BTC-USD-PERP",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "price": Decimal("60000.5"),
        "quantity": Decimal("0.05"),
        "quote_quantity": None,
        "tif": TimeInForce.GTC,
        "fill_or_kill": False,
        "post_only": True,
        "reduce_only": False,
        "client_id": 42,
        "stp": SelfTradePrevention.REJECT_TAKER,
        "created_ms": 1000,
    }
    return Order(**(values | fields))  # type: ignore[arg-type]


def test_order_lifecycle_as_paradex_reports_it() -> None:
    resting = _order(filled_quantity=Decimal("0.02"))
    raw = order_json(resting, META)
    assert (raw["status"], raw["remaining_size"], raw["instruction"], raw["client_id"]) == (
        "OPEN",
        "0.03",
        "POST_ONLY",
        "42",
    )
    assert order_from_venue(raw).status is OrderStatus.PARTIALLY_FILLED
    assert order_from_venue(order_json(resting, META, status="NEW")).status is OrderStatus.NEW
    cancelled = _order(status=OrderStatus.CANCELLED)
    assert order_json(cancelled, META)["cancel_reason"] == "USER_CANCELED"
    assert order_from_venue(order_json(cancelled, META)).status is OrderStatus.CANCELLED
    ioc = _order(status=OrderStatus.EXPIRED, expiry_reason=ExpiryReason.IMMEDIATE_OR_CANCEL, post_only=False)
    assert order_json(ioc, None)["cancel_reason"] == "REMAINING_IOC_CANCEL"
    assert order_from_venue(order_json(ioc, None)).status is OrderStatus.EXPIRED
    refused = order_json(
        _order(status=OrderStatus.REJECTED), META, status="CLOSED", reason="POST_ONLY_WOULD_CROSS"
    )
    assert order_from_venue(refused).status is OrderStatus.REJECTED
    filled = _order(
        status=OrderStatus.FILLED, filled_quantity=Decimal("0.05"), filled_quote=Decimal("3000.025")
    )
    raw = order_json(filled, META)
    assert raw["avg_fill_price"] == "60000.5" and order_from_venue(raw).status is OrderStatus.FILLED


def test_fills_and_positions_read_back() -> None:
    fill = Fill(
        trade_id=9,
        account_id="0xabc",
        order_id="7",
        client_id=42,
        symbol="BTC-USD-PERP",
        side=Side.SELL,
        price=Decimal("60000"),
        quantity=Decimal("0.01"),
        fee=Decimal("0.12"),
        fee_asset="USD",
        is_maker=True,
        ts_ms=5,
    )
    parsed = fill_from_venue(fill_json(fill, client_id="42"))
    assert (parsed.trade_id, parsed.client_id, parsed.fee_asset, parsed.is_maker) == ("9", 42, "USDC", True)
    view = PositionView(
        symbol="BTC-USD-PERP",
        position_id="p",
        quantity=Decimal("-0.02"),
        entry_price=Decimal(60000),
        realized_pnl=Decimal(0),
        funding=Decimal(0),
        mark=Decimal(59000),
    )
    raw = position_json(view, account="0xabc", now_ms=1, seq_no=1)
    assert (raw["side"], raw["size"], raw["unrealized_pnl"]) == ("SHORT", "-0.02", "20")
    position = position_from_venue(raw, mark=None)
    assert position.quantity == Decimal("-0.02") and position.unrealized_pnl == Decimal(20)
