"""The emulator for ``run.py --sim``: start it, wait for its READY line, point a run at it.

``start`` runs ``python -m venues.emulator`` for one venue and symbol with a
generated account; ``sim_env`` is the environment that sends the connectors
there with that account's keys, spelled as each venue's variables.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.secrets import AsterV3Credentials, ParadexCredentials, Secret, credentials_env
from services.supervise import tail_text

START_S = 30.0


class EmulatorStartError(Exception):
    """The emulator did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    proc: subprocess.Popen[bytes]
    rest_url: str
    ws_url: str
    env: dict[str, str]  # the venue's URL and key variables for the generated account


def start(
    exchange: str,
    symbol: str,
    *,
    port: int,
    seed: int,
    run_dir: Path,
    log_file: Path,
    env: Mapping[str, str],
    cwd: Path,
) -> RunningEmulator:
    """Start the emulator on 127.0.0.1:``port`` (0: any) in its own session; raises ``EmulatorStartError``."""
    accounts_file = run_dir / "sim-accounts.json"
    accounts_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "venues.emulator", "--venue", exchange, "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--seed", str(seed), "--symbol", symbol]
    argv += ["--write-accounts", str(accounts_file)]
    with log_file.open("ab") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=err, env=dict(env), start_new_session=True
        )
    words = _ready_line(proc)
    if words is None:
        proc.kill()
        proc.wait()
        raise EmulatorStartError(f"the emulator did not start:\n{tail_text(log_file)}")
    rest_url, ws_url = words[1], words[2]
    account = json.loads(accounts_file.read_text())[0]
    return RunningEmulator(
        proc, rest_url, ws_url, sim_env(exchange, account, rest_url=rest_url, ws_url=ws_url)
    )


def sim_env(exchange: str, account: Mapping[str, Any], *, rest_url: str, ws_url: str) -> dict[str, str]:
    """The variables that point ``exchange``'s connector at the emulator with ``account``'s keys."""
    if exchange == "aster":
        # The generated account has both generations; the sim runs the default, v3 (EIP-712).
        creds = AsterV3Credentials(
            user=account["user"],
            signer=account["signer"],
            signer_private_key=Secret(account["signer_private_key"]),
        )
        return {"ASTER_API_URL": rest_url, "ASTER_WS_URL": ws_url, **credentials_env(creds)}
    if exchange == "paradex":
        # Paradex serves REST and its stream under /v1, as the venue does.
        paradex = ParadexCredentials(
            account_address=account["account_address"], l2_private_key=Secret(account["l2_private_key"])
        )
        return {
            "PARADEX_API_URL": rest_url.rstrip("/") + "/v1",
            "PARADEX_WS_URL": ws_url.rstrip("/") + "/v1",
            **credentials_env(paradex),
        }
    return {
        "BACKPACK_API_URL": rest_url,
        "BACKPACK_WS_URL": ws_url,
        "BACKPACK_API_KEY": account["api_key"],
        "BACKPACK_SECRET_KEY": account["secret"],
    }


def _ready_line(proc: subprocess.Popen[bytes]) -> list[str] | None:
    """``READY <rest_url> <ws_url>`` split, or None when it did not come within ``START_S``."""
    found: list[list[str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            words = raw.decode(errors="replace").split()
            if len(words) == 3 and words[0] == "READY":
                found.append(words)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_S)
    return found[0] if found else None
