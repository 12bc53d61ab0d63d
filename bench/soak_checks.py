"""The soak's instruments and verdicts: the emulator it runs on, RSS, the logs, the journal against the venue.

Each ``*_problems`` function returns what is wrong, one sentence each; an
empty list means the check passed.
"""

from __future__ import annotations

import configparser
import itertools
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from order_gateway.journal import Journal
from order_gateway.ledger import journal_pnl
from order_gateway.service import journal_path
from services.config import Config
from services.supervise import PROGRAMS, SUPERVISORD_CONF
from strategy.runner import StrategyService
from venues.emulator.catalog import KNOWN_MARKETS

ROOT = Path(__file__).resolve().parent.parent
CENT = Decimal("0.01")
MAX_RSS_GROWTH = 0.10
# In a trending market the quotes move every few seconds; this long without a new one is a stall
# (a guardian halt or a stop-loss close lasts a few seconds).
MAX_QUOTE_GAP_S = 30.0
EMULATOR_START_S = 30.0
# run.py's stop after the programs': supervisord reaped (services.supervise.reap's wait), then one
# venue sweep (a list and a cancel-all, each under the connector's request timeout).
REAP_S = 30.0
LEFTOVER_SWEEP_S = 30.0
# Log lines that mean something went wrong: a level of ERROR or CRITICAL, a traceback,
# or supervisord seeing a program die.
_BAD_LINE = re.compile(r" (ERROR|CRITICAL) |Traceback \(most recent call last\)|not expected")


@dataclass
class Emulator:
    """An emulator subprocess on a free loopback port, with its generated account."""

    proc: subprocess.Popen[bytes]
    rest_url: str
    ws_url: str
    first_account: dict[str, Any]

    @classmethod
    def start(
        cls, work_dir: Path, *, venue: str, symbol: str, seed: int, extra_args: Iterable[str]
    ) -> Emulator:
        """Start ``python -m venues.emulator`` and wait for its READY line (TimeoutError if none)."""
        accounts_file = work_dir / "accounts.json"
        log_file = work_dir / "emulator.log"
        command = [
            sys.executable, "-m", "venues.emulator", "--venue", venue, "--host", "127.0.0.1", "--port", "0",
            "--seed", str(seed), "--symbol", symbol, "--write-accounts", str(accounts_file), *extra_args,
        ]  # fmt: skip
        with log_file.open("wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + EMULATOR_START_S
        while time.monotonic() < deadline and proc.poll() is None:
            for line in log_file.read_text(errors="replace").splitlines():
                words = line.split()
                if len(words) == 3 and words[0] == "READY" and accounts_file.exists():
                    account: dict[str, Any] = json.loads(accounts_file.read_text())[0]
                    return cls(proc=proc, rest_url=words[1], ws_url=words[2], first_account=account)
            time.sleep(0.1)
        proc.kill()
        proc.wait()
        raise TimeoutError(
            f"the {venue} emulator did not start:\n{log_file.read_text(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def state(self) -> dict[str, Any]:
        """``GET /_emulator/state``."""
        with urllib.request.urlopen(f"{self.rest_url}/_emulator/state", timeout=10) as answer:
            state: dict[str, Any] = json.loads(answer.read())
            return state

    def control(self, action: str, body: Mapping[str, Any]) -> None:
        """``POST /_emulator/<action>``."""
        request = urllib.request.Request(
            f"{self.rest_url}/_emulator/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    @property
    def account_id(self) -> str:
        (account_id,) = self.state()["accounts"]
        return str(account_id)

    def account(self) -> dict[str, Any]:
        account: dict[str, Any] = self.state()["accounts"][self.account_id]
        return account


def read_rss_kb(pids: Mapping[str, int]) -> dict[str, int]:
    """Each program's resident set size in kB (``VmRSS`` of /proc/<pid>/status).

    A pid that is gone means the program died or was restarted (a new pid): OSError saying which.
    """
    rss_kb = {}
    for name, pid in pids.items():
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            raise OSError(
                f"{name} (pid {pid}) is gone before the end of the run: it died or was restarted"
            ) from None
        rss_kb[name] = next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
        if not rss_kb[name]:
            raise OSError(f"{name} (pid {pid}) has no memory left: it is exiting before the end of the run")
    return rss_kb


def rss_problems(baseline_kb: Mapping[str, int], final_kb: Mapping[str, int]) -> list[str]:
    """Growth of ``MAX_RSS_GROWTH`` or more from the steady baseline to the last sample of the run."""
    problems = []
    for name, before in baseline_kb.items():
        growth = (final_kb[name] - before) / before
        if growth >= MAX_RSS_GROWTH:
            problems.append(
                f"{name} RSS grew {growth:.1%} after warm-up ({before} kB -> {final_kb[name]} kB)"
            )
    return problems


def stop_bound_s() -> float:
    """How long run.py may take to stop once the strategy's run has ended, by the stop protocol's own
    bounds: the strategy's shutdown, each program stopped in turn (supervisord SIGKILLs it after its
    ``stopwaitsecs``), supervisord reaped, then the venue swept for orders left open."""
    conf = configparser.RawConfigParser()
    conf.read(SUPERVISORD_CONF)
    stop_waits_s = sum(conf.getfloat(f"program:{name}", "stopwaitsecs") for name in PROGRAMS)
    return StrategyService.stop_deadline_s + stop_waits_s + REAP_S + LEFTOVER_SWEEP_S


def log_problems(logs_dir: Path) -> list[str]:
    """Every error, traceback or unexpected exit in the programs' and supervisord's logs."""
    problems = []
    for path in sorted(logs_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if _BAD_LINE.search(line):
                problems.append(f"{path.name}: {line}")
    return problems


def journal_problems(
    cfg: Config, state: Mapping[str, Any], *, start_collateral: Decimal, account_id: str
) -> tuple[list[str], dict[str, Any]]:
    """The journal's PnL against the emulator's books (to the cent), and orders left open; with figures."""
    symbol = cfg.symbol
    account = state["accounts"][account_id]
    mark_text = state["markets"][symbol]["mark"]
    mark = None if mark_text is None else Decimal(mark_text)
    venue_fills = [f for f in account["fills"] if f["symbol"] == symbol]
    position = account["positions"].get(symbol, {})
    quantity = Decimal(position.get("quantity", "0"))
    entry = Decimal(position.get("entry_price", "0"))
    truth = {
        "position": quantity,
        "realized": Decimal(position.get("realized_pnl", "0")),
        "fees": sum((Decimal(f["fee"]) for f in venue_fills), Decimal(0)),
        "funding": Decimal(position.get("funding", "0")),
        "collateral change": Decimal(account["collateral"]) - start_collateral,
        "unrealized": Decimal(0) if quantity == 0 or mark is None else quantity * (mark - entry),
    }
    journal = Journal(journal_path(cfg))
    try:
        snap = journal_pnl(journal, KNOWN_MARKETS[symbol].rules, mark=mark)
        left_in_journal = journal.active_orders(symbol)
        funding_payments = len(journal.funding(symbol))
        quoted_ns = sorted(o.created_ns for o in journal.orders(symbol) if o.place.post_only)
    finally:
        journal.close()
    ours = {
        "position": snap.position,
        "realized": snap.realized,
        "fees": snap.fees,
        "funding": snap.funding,
        "collateral change": snap.net_realized,
        "unrealized": snap.unrealized,
    }
    problems = []
    for name, expected in truth.items():
        got = ours[name]
        if got is None or abs(got - expected) >= CENT:
            problems.append(f"journal {name} {got} != emulator {expected}")
    if snap.fill_count != len(venue_fills):
        problems.append(f"journal has {snap.fill_count} fills, the emulator {len(venue_fills)}")
    if account["open_orders"]:
        problems.append(f"{len(account['open_orders'])} order(s) left open on the emulator")
    if left_in_journal:
        problems.append(f"{len(left_in_journal)} order(s) still active in the journal")
    gap_s = max((b - a for a, b in itertools.pairwise(quoted_ns)), default=0) / 1e9
    if gap_s > MAX_QUOTE_GAP_S:
        problems.append(f"no new quote for {gap_s:.0f} s: quoting stalled")
    figures: dict[str, Any] = {
        "fills": snap.fill_count,
        "orders_placed": account["orders_placed"],
        "funding_payments": funding_payments,
        "volume_quote": str(snap.volume_quote),
        "max_quote_gap_s": round(gap_s, 1),
        **{name: str(value) for name, value in ours.items()},
    }
    return problems, figures
