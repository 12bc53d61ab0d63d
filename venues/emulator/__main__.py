"""``python -m venues.emulator``: run the exchange emulator on loopback until SIGTERM/SIGINT.

Prints exactly one ``READY <rest_url> <ws_url>`` line on stdout once it
accepts connections; logs go to stderr.  Without ``--accounts`` it generates
one account and writes it (secret included, mode 0600) to ``--write-accounts``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.affinity import pin as pin_cpus
from venues.emulator.aster_credentials import AsterAccountSpec, generate_aster_account, load_aster_accounts
from venues.emulator.credentials import (
    AccountSpec,
    generate_account,
    load_accounts,
    write_accounts,
    write_owner_only_json,
)
from venues.emulator.depth_lag import DEFAULT_LAG
from venues.emulator.paradex_accounts import (
    generate_paradex_account,
    load_paradex_accounts,
    write_paradex_accounts,
)
from venues.emulator.paradex_front import DEFAULT_JWT_LIFETIME_S
from venues.emulator.server import EmulatorServer, check_venue

log = logging.getLogger("venues.emulator")
_DEFAULT_SYMBOL = {"paradex": "BTC-USD-PERP", "aster": "SOLUSDT"}


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite decimal: {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m venues.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--venue", default="backpack", help="protocol to speak (backpack, paradex, aster)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--symbol", action="append", dest="symbols", help="market to list (repeatable)")
    parser.add_argument(
        "--accounts",
        type=Path,
        help="JSON list of accounts: backpack {api_key, secret, collateral}; aster {user, signer, "
        "signer_private_key} and/or {api_key, secret}, with collateral; paradex {account_address, "
        "l2_private_key, collateral}",
    )
    parser.add_argument("--write-accounts", type=Path, help="where to write a generated account (mode 0600)")
    parser.add_argument("--funding-interval-s", type=float, default=8 * 3600)
    parser.add_argument(
        "--volatility", type=_decimal, help="fair's relative move per sqrt(second), e.g. 0.0002"
    )
    parser.add_argument("--taker-rate", type=float, help="house taker orders per second per symbol")
    parser.add_argument("--maker-fee-bps", type=_decimal, default=Decimal(2))
    parser.add_argument("--taker-fee-bps", type=_decimal, default=Decimal(5))
    parser.add_argument("--leverage", type=_decimal, default=Decimal(10))
    parser.add_argument(
        "--rate-limit-per-min", type=int, default=2000, help="signed requests per key; 0: none"
    )
    parser.add_argument("--ws-ping-interval-s", type=float, default=60.0)
    parser.add_argument(
        "--jwt-lifetime-s",
        type=float,
        default=DEFAULT_JWT_LIFETIME_S,
        help="paradex: lifetime of the JWTs /v1/auth issues",
    )
    parser.add_argument(
        "--depth-snapshot-lag",
        type=int,
        default=DEFAULT_LAG,
        help="backpack: REST depth snapshots this many stream updates old (at most a second), as the "
        "venue's lag its stream; 0: current",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--cpus",
        help="CPUs to run on (a CPU list: 0, 0-1): keeps the exchange's work off the CPU a benchmark "
        "gives the order gateway; unset: any",
    )
    return parser.parse_args(argv)


def resolve_accounts(args: argparse.Namespace) -> list[AccountSpec] | list[AsterAccountSpec]:
    """The accounts to serve: from ``--accounts``, or one generated and written to ``--write-accounts``."""
    if args.venue == "paradex":
        return _paradex_accounts(args)
    if args.venue == "aster":
        return _aster_accounts(args)
    if args.accounts is not None:
        return load_accounts(args.accounts)
    if args.write_accounts is None:
        raise ValueError("give --accounts FILE, or --write-accounts FILE to generate an account there")
    account = generate_account()
    write_accounts(args.write_accounts, [account])
    log.info("generated account %s into %s", account.api_key, args.write_accounts)
    return [account]


def _paradex_accounts(args: argparse.Namespace) -> list[AccountSpec]:
    """Paradex accounts files hold ``{account_address, l2_private_key, collateral}``."""
    if args.accounts is not None:
        return load_paradex_accounts(args.accounts)
    if args.write_accounts is None:
        raise ValueError("give --accounts FILE, or --write-accounts FILE to generate an account there")
    account = generate_paradex_account()
    write_paradex_accounts(args.write_accounts, [account])
    log.info("generated Paradex account %s into %s", account.api_key, args.write_accounts)
    return [account]


def _aster_accounts(args: argparse.Namespace) -> list[AsterAccountSpec]:
    """Aster accounts files hold ``{user, signer, signer_private_key}`` and/or ``{api_key, secret}``."""
    if args.accounts is not None:
        return load_aster_accounts(args.accounts)
    if args.write_accounts is None:
        raise ValueError("give --accounts FILE, or --write-accounts FILE to generate an account there")
    account = generate_aster_account()
    write_owner_only_json(args.write_accounts, [account.to_json()])
    log.info("generated Aster account %s (v3 and v1 keys) into %s", account.account_id, args.write_accounts)
    return [account]


async def serve(args: argparse.Namespace, accounts: list[AccountSpec] | list[AsterAccountSpec]) -> None:
    server = EmulatorServer(
        venue=args.venue,
        host=args.host,
        port=args.port,
        seed=args.seed,
        symbols=args.symbols or [_DEFAULT_SYMBOL.get(args.venue, "SOL_USDC_PERP")],
        accounts=accounts,
        funding_interval_s=args.funding_interval_s,
        volatility=args.volatility,
        taker_rate_per_s=args.taker_rate,
        maker_fee_bps=args.maker_fee_bps,
        taker_fee_bps=args.taker_fee_bps,
        leverage=args.leverage,
        rate_limit_per_min=args.rate_limit_per_min,
        ws_ping_interval_s=args.ws_ping_interval_s,
        jwt_lifetime_s=args.jwt_lifetime_s,
        depth_snapshot_lag=args.depth_snapshot_lag,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("listening on %s: the /_emulator/ control API has no authentication", args.host)
    await server.start()
    try:
        print(f"READY {server.rest_url} {server.ws_url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        check_venue(args.venue)
        if args.cpus is not None:
            pin_cpus(args.cpus, setting="--cpus")
        accounts = resolve_accounts(args)
        asyncio.run(serve(args, accounts))
    except (ValueError, OSError) as error:
        print(f"emulator: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
