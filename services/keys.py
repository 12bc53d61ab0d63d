"""Generate CURVE key pairs for tcp:// bus endpoints: ``python -m services.keys DIR``.

Writes ``<process>.key`` (public) and ``<process>.key_secret`` (mode 0600) for
each process; the directory is created with mode 0700.  Existing pairs are kept
unless ``--force``, so running it twice never locks a running system out.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import zmq.auth

from services.endpoints import ensure_private_dir

PROCESSES = ("md_gateway", "order_gateway", "strategy", "risk", "ctl")


def generate(keys_dir: Path, *, processes: tuple[str, ...] = PROCESSES, force: bool = False) -> list[str]:
    """Create the missing key pairs; returns the processes whose pair was written."""
    ensure_private_dir(keys_dir)
    written = []
    for name in processes:
        public, secret = keys_dir / f"{name}.key", keys_dir / f"{name}.key_secret"
        if public.exists() and secret.exists() and not force:
            continue
        for path in (public, secret):
            path.unlink(missing_ok=True)
        old_umask = os.umask(0o077)
        try:
            zmq.auth.create_certificates(str(keys_dir), name)
        finally:
            os.umask(old_umask)
        secret.chmod(0o600)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.keys", description=__doc__.splitlines()[0])
    parser.add_argument("keys_dir", type=Path, help="directory for the key files (created with mode 0700)")
    parser.add_argument("--process", action="append", help="only these processes (repeatable)")
    parser.add_argument("--force", action="store_true", help="replace existing pairs")
    args = parser.parse_args(argv)
    written = generate(args.keys_dir, processes=tuple(args.process or PROCESSES), force=args.force)
    print(
        f"wrote {len(written)} key pair(s) to {args.keys_dir}: {', '.join(written) or 'none (all present)'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
