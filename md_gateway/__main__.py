"""``python -m md_gateway``: publish the venue's public market data on the bus (no credentials)."""

from __future__ import annotations

import sys

from md_gateway.service import MdGateway
from services.config import load_config


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(
        argv,
        prog="python -m md_gateway",
        description="Market-data gateway: the venue's public stream (bbo, book, trades, mark, status) "
        "onto the md bus endpoint.",
    )
    return MdGateway(cfg).run()


if __name__ == "__main__":
    sys.exit(main())
