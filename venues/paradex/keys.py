"""``python -m venues.paradex.keys``: a Paradex account's address and L2 key from its Ethereum (L1) key.

Paradex derives the STARK key from the Ethereum key's signature of a fixed
'STARK Key' message, and the account address from that key and the account
contract hashes of ``/system/config``.  The L1 key is read from
``PARADEX_L1_PRIVATE_KEY`` (or an owner-only file named by
``PARADEX_L1_PRIVATE_KEY_FILE``); the L2 key is written to a new owner-only
file for ``PARADEX_L2_PRIVATE_KEY_FILE``, never printed.  The account must
have been onboarded on Paradex (its web app) for the address to trade.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.secrets import FILE_SUFFIX, Secret, read_secret_file
from venues.base import VenueError
from venues.paradex.signing import account_address, l2_private_key_from_l1, public_key
from venues.paradex.transport import ParadexTransport
from venues.paradex.venue import DEFAULT_API_URL

L1_VARIABLE = "PARADEX_L1_PRIVATE_KEY"


def derive_account(config: Mapping[str, Any], l1_private_key: Secret) -> tuple[str, Secret]:
    """``(account_address, l2_private_key)`` of an Ethereum key under a venue's ``/system/config``."""
    l2_key = l2_private_key_from_l1(l1_private_key.reveal(), l1_chain_id=int(config["l1_chain_id"]))
    address = account_address(
        public_key(l2_key),
        proxy_class_hash=int(config["paraclear_account_proxy_hash"], 16),
        account_class_hash=int(config["paraclear_account_hash"], 16),
    )
    return hex(address), Secret(hex(l2_key))


def l1_key_from(env: Mapping[str, str]) -> Secret:
    """The L1 key from the environment or its owner-only file; ``ValueError`` when absent."""
    direct, file_name = env.get(L1_VARIABLE, "").strip(), env.get(L1_VARIABLE + FILE_SUFFIX, "").strip()
    if direct and file_name:
        raise ValueError(f"set {L1_VARIABLE} or {L1_VARIABLE}{FILE_SUFFIX}, not both")
    if file_name:
        return Secret(read_secret_file(Path(file_name), variable=L1_VARIABLE + FILE_SUFFIX))
    if direct:
        return Secret(direct)
    raise ValueError(f"set {L1_VARIABLE} (or {L1_VARIABLE}{FILE_SUFFIX}) to the account's Ethereum key")


def write_new_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by the owner only; an existing file is never overwritten."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


async def fetch_config(api_url: str) -> dict[str, Any]:
    transport = ParadexTransport(api_url=api_url)
    try:
        return await transport.system_config()
    finally:
        await transport.close()


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m venues.paradex.keys", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--api-url", default=DEFAULT_API_URL, help="Paradex REST base URL, ending in /v1")
    parser.add_argument(
        "--write-l2-key",
        type=Path,
        required=True,
        help="new file (mode 0600) for PARADEX_L2_PRIVATE_KEY_FILE",
    )
    args = parser.parse_args(argv)
    try:
        l1_key = l1_key_from(os.environ if env is None else env)
        config = asyncio.run(fetch_config(args.api_url))
        address, l2_key = derive_account(config, l1_key)
        write_new_secret(args.write_l2_key, l2_key.reveal())
    except (ValueError, KeyError, OSError, VenueError) as exc:
        print(f"paradex keys: {exc}", file=sys.stderr)
        return 2
    print(f"PARADEX_ACCOUNT_ADDRESS={address}")
    print(f"PARADEX_L2_PRIVATE_KEY_FILE={args.write_l2_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
