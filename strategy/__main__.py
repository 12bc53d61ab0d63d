"""``python -m strategy``: the quoting process (market data and fills in, orders through the gateway)."""

from __future__ import annotations

import asyncio
import sys

from services.config import ConfigError, load_config
from strategy.markets import MarketError, load_rules
from strategy.runner import StrategyService


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(
        argv,
        prog="python -m strategy",
        description="Strategy: quotes a ladder around mid with inventory skew and threshold reduce, "
        "through the order gateway, and prints a cycle report every --interval.",
    )
    try:
        rules = asyncio.run(load_rules(cfg))
    except (MarketError, ConfigError) as exc:
        print(f"strategy: {exc}", file=sys.stderr)
        return 2
    return StrategyService(cfg, rules=rules).run()


if __name__ == "__main__":
    sys.exit(main())
