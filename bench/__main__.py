"""Run every benchmark, merge their JSON into bench/results.json and print one table.

    python -m bench [NAME ...]      (default: every bench/*.py module with a main())

Each benchmark is its own module (``python -m bench.NAME``) that writes
``bench/results/NAME.json``; this runner only sequences them and merges.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS_DIR = HERE / "results"
MERGED = HERE / "results.json"


def available() -> list[str]:
    return sorted(
        p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and "def main(" in p.read_text()
    )


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"   ({time.monotonic() - started:.1f} s, exit {code})", flush=True)
        if code:
            failed.append(name)
    merged = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))}
    MERGED.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\nwrote {MERGED} ({', '.join(merged)})")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
