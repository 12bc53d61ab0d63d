"""``python -m order_gateway``: order entry, account stream, journal and pre-trade limits."""

from __future__ import annotations

import sys

from order_gateway.service import OrderGateway
from services.config import load_config


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(
        argv,
        prog="python -m order_gateway",
        description="Order gateway: the only process that trades for the strategy (orders ROUTER, exec PUB, "
        "SQLite journal, pre-trade limits, reconciliation with the venue).",
    )
    return OrderGateway(cfg).run()


if __name__ == "__main__":
    sys.exit(main())
