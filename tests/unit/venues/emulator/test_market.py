"""The market simulator: seeded reproducibility, scripted moves, house liquidity and taker flow."""

from __future__ import annotations

from decimal import Decimal

from services.wire import Side
from venues.emulator.catalog import KNOWN_MARKETS, select_markets
from venues.emulator.engine import Engine
from venues.emulator.events import Event, FundingEvent, OrderEvent, OrderEventKind, TradeEvent
from venues.emulator.market import HOUSE_MAKER, MarketSimulator, SimulatorConfig
from venues.emulator.records import OrderRequest

D = Decimal
SOL = "SOL_USDC_PERP"
BTC = "BTC_USDC_PERP"
T0 = 1_700_000_000_000
STEP_MS = 50


def make(
    seed: int = 7, *, symbols: tuple[str, ...] = (SOL, BTC), funding_ms: int = 8 * 3_600_000, **config: object
) -> tuple[Engine, MarketSimulator]:
    profiles = select_markets(symbols)
    engine = Engine(markets={p.symbol: p.rules for p in profiles}, now_ms=T0, funding_interval_ms=funding_ms)
    engine.add_account("me", collateral=D(100_000))
    sim = MarketSimulator(engine, profiles, seed=seed, config=SimulatorConfig(**config))  # type: ignore[arg-type]
    return engine, sim


def run(sim: MarketSimulator, *, start_ms: int, seconds: float) -> list[Event]:
    events: list[Event] = []
    for i in range(round(seconds * 1000 / STEP_MS) + 1):
        events += sim.step(start_ms + i * STEP_MS)
    return events


def trace(seed: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[int, Decimal, Decimal]]]:
    _, sim = make(seed)
    fairs = []
    trades: list[tuple[int, Decimal, Decimal]] = []
    for i in range(200):
        events = sim.step(T0 + i * STEP_MS)
        fairs.append((sim.fair(SOL), sim.fair(BTC)))
        trades += [(e.trade_id, e.price, e.quantity) for e in events if isinstance(e, TradeEvent)]
    return fairs, trades


def test_same_seed_same_market() -> None:
    first = trace(11)
    assert first == trace(11)
    assert first[0] != trace(12)[0]
    assert first[1]  # the flow did trade


def test_house_ladder_around_fair() -> None:
    engine, sim = make(volatility=D(0), taker_rate_per_s=0.0)
    sim.step(T0)
    bids, asks, _ = engine.depth(SOL)
    assert len(bids) == len(asks) == 10
    # 4 bps inside, 2 bps apart, sizes growing 4, 6, 8 ...
    assert [price for price, _ in bids[:3]] == [D("149.94"), D("149.91"), D("149.88")]
    assert [price for price, _ in asks[:3]] == [D("150.06"), D("150.09"), D("150.12")]
    assert [qty for _, qty in asks[:3]] == [D("4"), D("6"), D("8")]
    state = engine.mark_state(SOL)
    assert (state.mark, state.index) == (D("150.00"), D("150.00"))
    assert state.funding_rate == D("0.0001")


def test_jump_moves_fair_mark_and_ladder() -> None:
    engine, sim = make(volatility=D(0), taker_rate_per_s=0.0)
    sim.step(T0)
    sim.set_paused(True)
    sim.jump_to(SOL, D("140.5"), now_ms=T0 + 10)
    assert sim.fair(SOL) == D("140.5")
    assert engine.mark_state(SOL).mark == D("140.50")
    (bid, _), (ask, _) = engine.top(SOL)  # type: ignore[misc]
    assert bid < D("140.5") < ask
    assert all(o.price is not None and o.price < D("142") for o in engine.open_orders(HOUSE_MAKER, SOL))
    # Paused: later steps leave the book exactly as it is.
    before = engine.depth(SOL)
    run(sim, start_ms=T0 + 50, seconds=2)
    assert engine.depth(SOL) == before


def test_trend_moves_fair_at_the_rate_for_the_duration() -> None:
    engine, sim = make(volatility=D(0), taker_rate_per_s=0.0)
    sim.step(T0)
    sim.trend(SOL, per_s=D("0.5"), duration_s=10, now_ms=T0)
    run(sim, start_ms=T0 + STEP_MS, seconds=5)
    assert sim.fair(SOL) == D("152.525")  # 5.05 s of 0.5 per second
    run(sim, start_ms=T0 + 6000, seconds=10)
    assert sim.fair(SOL) == D("155")
    assert engine.mark_state(SOL).mark == D("155.00")
    assert sim.fair(BTC) == D("60000")


def test_taker_flow_fills_resting_orders_inside_the_house_spread() -> None:
    engine, sim = make(volatility=D(0))
    sim.step(T0)
    bid, _ = engine.place(
        "me", OrderRequest(symbol=SOL, side=Side.BUY, quantity=D("0.1"), price=D("149.97")), now_ms=T0
    )
    ask, _ = engine.place(
        "me", OrderRequest(symbol=SOL, side=Side.SELL, quantity=D("0.1"), price=D("150.03")), now_ms=T0
    )
    events = run(sim, start_ms=T0 + STEP_MS, seconds=5)
    mine = [
        e
        for e in events
        if isinstance(e, OrderEvent) and e.kind is OrderEventKind.FILL and e.account_id == "me"
    ]
    assert {e.order.order_id for e in mine} == {bid.order_id, ask.order_id}
    assert all(e.fill is not None and e.fill.is_maker for e in mine)
    assert engine.account("me").fills


def test_pause_stops_moves_and_flow_and_rate_control() -> None:
    _, sim = make()
    sim.step(T0)
    sim.set_paused(True, symbol=SOL)
    fair = sim.fair(SOL)
    events = run(sim, start_ms=T0 + STEP_MS, seconds=3)
    assert sim.fair(SOL) == fair and sim.is_paused(SOL) and not sim.is_paused(BTC)
    assert not [e for e in events if isinstance(e, TradeEvent) and e.symbol == SOL]
    assert [e for e in events if isinstance(e, TradeEvent) and e.symbol == BTC]
    sim.set_paused(False)
    sim.set_taker_rate(SOL, 0.0)
    events = run(sim, start_ms=T0 + 4000, seconds=3)
    assert not [e for e in events if isinstance(e, TradeEvent) and e.symbol == SOL]
    assert sim.fair(SOL) != fair


def test_funding_settles_on_the_interval() -> None:
    engine, sim = make(symbols=(SOL,), funding_ms=1000, volatility=D(0), taker_rate_per_s=0.0)
    sim.step(T0)
    engine.set_position("me", SOL, quantity=D("2"), entry_price=D("150"), now_ms=T0)
    sim.set_funding_base_rate(SOL, D("0.001"))
    events = run(sim, start_ms=T0 + STEP_MS, seconds=3)
    payments = [e.row.amount for e in events if isinstance(e, FundingEvent)]
    assert payments == [D("-0.3")] * 3  # 2 * 150 * 0.001, longs pay
    assert engine.position("me", SOL).funding == D("-0.9")


def test_catalog_rejects_unknown_symbols() -> None:
    assert [p.symbol for p in select_markets([BTC, SOL, BTC])] == [BTC, SOL]
    assert KNOWN_MARKETS[BTC].rules.step_size == D("0.00001")
    try:
        select_markets(["ETH_USDC_PERP"])
    except ValueError as error:
        assert "ETH_USDC_PERP" in str(error) and SOL in str(error)
    else:
        raise AssertionError("unknown symbol accepted")
