"""The guardian as a real process against the emulator: stop-loss, take-profit, max position, the
hang watchdog, risk_ctl, and the standalone watch and flatten commands.  No order gateway runs in
any of these tests: the guardian acts on the venue with its own client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ROOT,
    Children,
    Emulator,
    account_state,
    async_wait_for,
    bus_for,
    child_env,
    emulator_control,
    emulator_state,
    free_port,
    process_log,
    read_config,
    stop_process,
    wait_for,
    write_config,
)

from risk.control import ControlError, send_command
from services.config_checks import ENDPOINT_NAMES
from services.keys import generate as generate_keys
from services.reqrep import RequestClient
from services.wire import ErrorReply, OrderType, Ping, Place, RejectReason, RiskStatus, Side, TradingState
from venues.backpack.venue import BackpackVenue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYM = "SOL_USDC_PERP"
PEER = Path(__file__).with_name("risk_peer.py")


# ---------------------------------------------------------------- helpers


def mark(emu: Emulator) -> Decimal:
    return Decimal(emulator_state(emu.rest_url)["markets"][SYM]["mark"])


def position(emu: Emulator) -> Decimal:
    held = account_state(emu)["positions"].get(SYM)
    return Decimal(held["quantity"]) if held else Decimal(0)


def open_orders(emu: Emulator) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = account_state(emu)["open_orders"]
    return orders


def set_position(emu: Emulator, quantity: str, entry_price: Decimal) -> None:
    body = {"api_key": emu.api_key, "symbol": SYM, "quantity": quantity, "entry_price": str(entry_price)}
    emulator_control(emu.rest_url, "position", body)


def order_requests(emu: Emulator) -> int:
    """How many order entry and cancel requests the emulator has seen."""
    by_path = emulator_state(emu.rest_url)["requests"]["by_path"]
    return int(by_path.get("/api/v1/order", 0)) + int(by_path.get("/api/v1/orders", 0))


def jump(emu: Emulator, price: Decimal) -> None:
    emulator_control(emu.rest_url, "price", {"symbol": SYM, "jump_to": str(price)})


def closes(emu: Emulator) -> list[dict[str, Any]]:
    """The account's taker fills, which in these tests only the guardian makes."""
    return [fill for fill in account_state(emu)["fills"] if not fill["is_maker"]]


async def rest_orders(emu: Emulator, count: int) -> None:
    """``count`` bids resting well below the market, placed directly on the venue (no gateway)."""
    venue = BackpackVenue(api_url=emu.rest_url, ws_url=emu.ws_url, api_key=emu.api_key, secret=emu.secret)
    try:
        price = (mark(emu) * Decimal("0.8")).quantize(Decimal("0.01"))
        for i in range(count):
            order = Place(
                client_id=1000 + i,
                symbol=SYM,
                side=Side.BUY,
                quantity=Decimal("0.1"),
                price=price - i,
                order_type=OrderType.LIMIT,
                post_only=True,
            )
            await venue.place_order(order)
    finally:
        await venue.close()
    assert len(open_orders(emu)) == count


class Peers:
    """Fake strategy heartbeats and a live market-data status, each its own process."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config, self.env = config, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, kind: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, str(PEER), kind, str(self.config)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs[kind] = proc
        return proc

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
            stop_process(proc)


@pytest.fixture
def peers(run_dir: Path, emulator: Emulator) -> Iterator[Peers]:
    group = Peers(run_dir / "config.toml", child_env(emulator))
    try:
        yield group
    finally:
        group.close()


async def status(config: Path) -> RiskStatus | None:
    try:
        return await send_command(read_config(config), "status", timeout_s=1.0)
    except ControlError:
        return None


async def wait_state(config: Path, state: TradingState, *, timeout_s: float = 30.0) -> RiskStatus:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await status(config)
        if last is not None and last.state is state:
            return last
        await async_wait_for(lambda: True, 0.1)
    raise AssertionError(f"guardian never {state.value}; last status {last}\n{process_log(config, 'risk')}")


def guardian(
    run_dir: Path, emu: Emulator, children: Children, peers: Peers, **settings: Any
) -> tuple[Path, subprocess.Popen[bytes]]:
    """The config (with ``settings``), the running guardian, a fake strategy and a live feed."""
    config = write_config(run_dir, **settings)
    peers.start("md")
    peers.start("strategy")
    proc = children.start("risk", config, child_env(emu))
    return config, proc


def risk_log(config: Path) -> str:
    return process_log(config, "risk", lines=2000)


# ---------------------------------------------------------------- stop-loss, take-profit, max position


async def test_stop_loss_closes_at_market_logs_and_returns_to_active(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, stop_loss="-5", max_position="5")
    await wait_state(config, TradingState.ACTIVE)
    entry = mark(emulator)
    set_position(emulator, "1", entry)
    jump(emulator, entry - 10)
    wait_for(lambda: position(emulator) == 0, 15, what="the stop-loss close")
    assert [(c["side"], c["quantity"]) for c in closes(emulator)] == [("sell", "1")]
    wait_for(lambda: "止損觸發，已以市價平倉" in risk_log(config), 5, what="the stop-loss log line")
    back = await wait_state(config, TradingState.ACTIVE, timeout_s=10)
    assert back.position == 0


async def test_take_profit_closes_and_locks_the_profit(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, take_profit="5", lang="en")
    await wait_state(config, TradingState.ACTIVE)
    entry = mark(emulator)
    set_position(emulator, "-1", entry)
    jump(emulator, entry - 10)
    wait_for(lambda: position(emulator) == 0, 15, what="the take-profit close")
    assert [(c["side"], c["quantity"]) for c in closes(emulator)] == [("buy", "1")]
    wait_for(lambda: "Take-profit triggered, profit locked in" in risk_log(config), 5, what="the log line")
    await wait_state(config, TradingState.ACTIVE, timeout_s=10)


@pytest.mark.parametrize(("held", "maximum", "left"), [("0.5", "0.4", "0.4"), ("-7.3", "5", "-5")])
async def test_a_position_beyond_max_is_reduced_by_exactly_the_excess(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers, held: str, maximum: str, left: str
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, max_position=maximum, quantity="0.1")
    await wait_state(config, TradingState.ACTIVE)
    set_position(emulator, held, mark(emulator))
    wait_for(lambda: position(emulator) == Decimal(left), 15, what=f"the position reduced to {left}")
    excess = abs(Decimal(held)) - Decimal(maximum)
    assert [Decimal(c["quantity"]) for c in closes(emulator)] == [excess]
    await wait_state(config, TradingState.ACTIVE, timeout_s=10)
    assert position(emulator) == Decimal(left)
    assert "Position above the maximum" in risk_log(config) or "超過最大倉位" in risk_log(config)


# ---------------------------------------------------------------- hang watchdog


async def test_a_hung_strategy_gets_every_order_cancelled_then_recovers(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, hang_timeout=1.5)
    await wait_state(config, TradingState.ACTIVE)
    await rest_orders(emulator, 3)
    strategy = peers.procs["strategy"]
    os.kill(strategy.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    wait_for(lambda: not open_orders(emulator), 10, interval_s=0.02, what="every order cancelled")
    took_s = time.monotonic() - stopped
    assert took_s <= 1.5 + 0.5, f"cancelled {took_s:.2f} s after the strategy stopped"
    halted = await wait_state(config, TradingState.HALTED, timeout_s=5)
    assert halted.reason == "strategy_hang"
    os.kill(strategy.pid, signal.SIGCONT)
    await wait_state(config, TradingState.ACTIVE, timeout_s=10)


async def test_a_stale_market_data_feed_halts_until_it_is_fresh_again(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, md_stale=1.0)
    await wait_state(config, TradingState.ACTIVE)
    await rest_orders(emulator, 2)
    feed = peers.procs["md"]
    os.kill(feed.pid, signal.SIGSTOP)
    halted = await wait_state(config, TradingState.HALTED, timeout_s=5)
    assert halted.reason == "md_stale"
    await async_wait_for(lambda: not open_orders(emulator), 5, what="orders cancelled on the stale feed")
    os.kill(feed.pid, signal.SIGCONT)
    await wait_state(config, TradingState.ACTIVE, timeout_s=10)


async def test_on_hang_flatten_also_closes_the_position(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers, on_hang="flatten")
    await wait_state(config, TradingState.ACTIVE)
    set_position(emulator, "-0.4", mark(emulator))
    await rest_orders(emulator, 1)
    peers.procs["strategy"].kill()
    await async_wait_for(lambda: position(emulator) == 0 and not open_orders(emulator), 15, what="flat")
    assert [(c["side"], c["quantity"]) for c in closes(emulator)] == [("buy", "0.4")]
    halted = await wait_state(config, TradingState.HALTED, timeout_s=5)
    assert halted.reason == "strategy_hang"


# ---------------------------------------------------------------- risk_ctl


async def test_risk_ctl_status_halt_resume_and_flatten_without_an_order_gateway(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    config, _ = guardian(run_dir, emulator, children, peers)
    cfg = read_config(config)
    active = await wait_state(config, TradingState.ACTIVE)
    assert active.symbol == SYM and "strategy" in active.heartbeat_ages_s
    await rest_orders(emulator, 2)
    halted = await send_command(cfg, "halt", note="test halt")
    assert (halted.state, halted.reason) == (TradingState.HALTED, "manual")
    await async_wait_for(lambda: not open_orders(emulator), 5, what="orders cancelled by the halt")
    resumed = await send_command(cfg, "resume")
    assert resumed.state is TradingState.ACTIVE
    set_position(emulator, "0.3", mark(emulator))
    await rest_orders(emulator, 1)
    flattening = await send_command(cfg, "flatten")
    assert flattening.state is TradingState.REDUCING
    await async_wait_for(lambda: position(emulator) == 0 and not open_orders(emulator), 10, what="flat")
    await wait_state(config, TradingState.ACTIVE, timeout_s=10)
    with pytest.raises(ControlError, match="unknown command"):
        await send_command(cfg, "explode")


async def test_risk_ctl_over_tcp_with_curve_keys(
    run_dir: Path, emulator: Emulator, children: Children, peers: Peers
) -> None:
    keys_dir = run_dir / "keys"
    generate_keys(keys_dir)
    ports: set[int] = set()
    while len(ports) < len(ENDPOINT_NAMES):
        ports.add(free_port())
    urls = (f"tcp://127.0.0.1:{port}" for port in ports)
    endpoints = {f"{name}_endpoint": url for name, url in zip(ENDPOINT_NAMES, urls, strict=True)}
    config, _ = guardian(run_dir, emulator, children, peers, keys_dir=str(keys_dir), **endpoints)
    active = await wait_state(config, TradingState.ACTIVE)
    assert "strategy" in active.heartbeat_ages_s
    bus = bus_for(config, process="ctl")
    try:
        client = RequestClient(bus, "risk_ctl")
        refused = await client.request(Ping(), timeout_s=2.0)
        client.close()
    finally:
        bus.close()
    assert isinstance(refused, ErrorReply) and refused.reason is RejectReason.MALFORMED


def test_ctl_commands_say_when_no_guardian_answers(run_dir: Path) -> None:
    config = write_config(run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "risk", "status", "--config", str(config), "--timeout", "0.3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "no guardian answered" in done.stderr


# ---------------------------------------------------------------- start-up refusals


def test_refuses_to_arm_when_the_account_cannot_carry_the_max_position(
    run_dir: Path, emulator: Emulator
) -> None:
    # 10 000 of collateral at the emulator's 10x carries about 660 SOL at 150.
    config = write_config(run_dir, max_position="1000")
    done = subprocess.run(
        [sys.executable, "-m", "risk", "--config", str(config), "--lang", "en"],
        cwd=ROOT,
        env=child_env(emulator),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "not armed: Max position 1000" in done.stderr
    assert "lower the max position" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stop-loss", "25"], "stop-loss 25 must be negative"),
        (["--symbol", "DOGE_USDC_PERP"], "unknown symbol DOGE_USDC_PERP"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_sent(emulator: Emulator, args: list[str], message: str) -> None:
    requests_before = order_requests(emulator)
    base = ["watch", "--exchange", "backpack", "--symbol", SYM, "--risk-metrics-port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "risk", *base, *args],
        cwd=ROOT,
        env=child_env(emulator),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert order_requests(emulator) == requests_before


def test_missing_keys_are_refused(run_dir: Path) -> None:
    config = write_config(run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "risk", "flatten", "--config", str(config)],
        cwd=ROOT,
        env=child_env(None),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "BACKPACK_API_KEY" in done.stderr


# ---------------------------------------------------------------- the standalone kill switch


async def test_watch_guards_a_position_with_no_other_process(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    entry = mark(emulator)
    set_position(emulator, "0.5", entry)
    log_file = run_dir / "watch.log"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "risk", "watch", "--exchange", "backpack", "--symbol", SYM),
                *("--max-position", "0.4", "--stop-loss", "-3", "--take-profit", "50", "--lang", "en"),
                *("--risk-metrics-port", "0", "--run-dir", str(run_dir)),
            ],
            cwd=ROOT,
            env=child_env(emulator),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    children.procs.append(proc)
    # The original's table case: 0.5 held with a max of 0.4 closes 0.1.
    await async_wait_for(lambda: position(emulator) == Decimal("0.4"), 15, what="the excess closed")
    assert [c["quantity"] for c in closes(emulator)] == ["0.1"]
    jump(emulator, entry - 10)
    await async_wait_for(lambda: position(emulator) == 0, 15, what="the stop-loss close")
    assert "Stop-loss triggered, position closed at market" in log_file.read_text()
    assert stop_process(proc) == 0


def test_flatten_cancels_and_closes_then_exits_zero(emulator: Emulator) -> None:
    import asyncio

    asyncio.run(rest_orders(emulator, 2))
    set_position(emulator, "-0.7", mark(emulator))
    done = subprocess.run(
        [sys.executable, "-m", "risk", "flatten", "--exchange", "backpack", "--symbol", SYM],
        cwd=ROOT,
        env=child_env(emulator),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert position(emulator) == 0 and open_orders(emulator) == []
    assert [(c["side"], c["quantity"]) for c in closes(emulator)] == [("buy", "0.7")]


def test_flatten_gives_up_with_the_reason_after_its_timeout(emulator: Emulator) -> None:
    set_position(emulator, "0.2", mark(emulator))
    emulator_control(emulator.rest_url, "faults", {"freeze_s": 30})
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "risk", "flatten"),
            *("--exchange", "backpack", "--symbol", SYM, "--timeout", "3"),
        ],
        cwd=ROOT,
        env=child_env(emulator),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "not flat after 3 s" in done.stderr
    assert time.monotonic() - started < 30
