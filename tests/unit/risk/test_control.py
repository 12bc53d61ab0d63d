"""The status a control command prints."""

from __future__ import annotations

from decimal import Decimal as D

from risk.control import render_status
from services.wire import RiskStatus, TradingState


def test_render_status() -> None:
    status = RiskStatus(
        state=TradingState.HALTED,
        reason="strategy_hang",
        symbol="SOL_USDC_PERP",
        position=D("-0.30"),
        unrealized_pnl=None,
        heartbeat_ages_s={"strategy": 2.345},
    )
    marked = RiskStatus(
        state=TradingState.ACTIVE,
        reason="",
        symbol="SOL_USDC_PERP",
        position=D("1.6"),
        unrealized_pnl=D("0.04249999999999999999999984"),
    )
    assert render_status(marked).splitlines()[:4] == [
        "state:          ACTIVE",
        "symbol:         SOL_USDC_PERP",
        "position:       1.6",
        "unrealized PnL: 0.0425",
    ]
    assert render_status(status).splitlines() == [
        "state:          HALTED (strategy_hang)",
        "symbol:         SOL_USDC_PERP",
        "position:       -0.3",
        "unrealized PnL: unknown",
        "heartbeat strategy: 2.35 s ago",
    ]
