"""Bus endpoints and their security: ipc:// in a private run directory, tcp:// with CURVE.

Every endpoint is a URL.  Over tcp each process has its own CURVE key pair in
``keys_dir`` (``<process>.key`` public, ``<process>.key_secret`` secret, made
by ``python -m services.keys``); a binding socket admits only clients whose
public key is in that directory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator

# Which process binds each endpoint (the CURVE server key a client must trust).
OWNERS = {
    "md": "md_gateway",
    "exec": "order_gateway",
    "orders": "order_gateway",
    "strategy": "strategy",
    "risk": "risk",
    "risk_ctl": "risk",
}
SCHEMES = ("ipc://", "tcp://", "inproc://")


class EndpointError(ValueError):
    """An endpoint URL or key setup that cannot work."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    md: str
    exec: str
    orders: str
    strategy: str
    risk: str
    risk_ctl: str

    def __post_init__(self) -> None:
        for f in fields(self):
            check_url(getattr(self, f.name), name=f.name)

    @classmethod
    def in_run_dir(cls, run_dir: Path) -> Endpoints:
        """Default ipc:// endpoints inside ``run_dir``."""
        return cls(**{name: f"ipc://{run_dir / (name + '.sock')}" for name in OWNERS})

    def url(self, name: str) -> str:
        if name not in OWNERS:
            raise EndpointError(f"unknown endpoint {name!r}; known: {', '.join(OWNERS)}")
        url: str = getattr(self, name)
        return url


def check_url(url: str, *, name: str = "endpoint") -> None:
    if not url.startswith(SCHEMES):
        raise EndpointError(f"{name} endpoint {url!r} must start with one of {', '.join(SCHEMES)}")


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700, or tighten an existing directory we own to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise EndpointError(f"run directory {path} belongs to another user; choose another --run-dir")
    if stat.S_IMODE(st.st_mode) != 0o700:
        path.chmod(0o700)
    return path


class Security:
    """Applies CURVE to tcp:// sockets of one process; ipc:// relies on the 0700 run directory."""

    def __init__(self, *, process: str, keys_dir: Path | None) -> None:
        self.process = process
        self.keys_dir = keys_dir
        self._authenticator: AsyncioAuthenticator | None = None

    def _pair(self, process: str) -> tuple[bytes, bytes | None]:
        if self.keys_dir is None:
            raise EndpointError(
                "tcp:// endpoints need --keys-dir with CURVE keys (python -m services.keys DIR)"
            )
        public_file = self.keys_dir / f"{process}.key"
        secret_file = self.keys_dir / f"{process}.key_secret"
        try:
            if process == self.process:
                return zmq.auth.load_certificate(secret_file)
            public, _ = zmq.auth.load_certificate(public_file)
        except (OSError, ValueError) as exc:
            raise EndpointError(f"cannot load CURVE key for {process} from {self.keys_dir}: {exc}") from None
        return public, None

    def bind(self, ctx: zmq.Context, socket: zmq.Socket, url: str) -> None:
        if url.startswith("tcp://"):
            public, secret = self._pair(self.process)
            if self._authenticator is None:
                self._authenticator = AsyncioAuthenticator(ctx)
                self._authenticator.start()
                self._authenticator.configure_curve(domain="*", location=str(self.keys_dir))
            socket.curve_publickey = public
            socket.curve_secretkey = secret
            socket.curve_server = True
        elif url.startswith("ipc://"):
            ensure_private_dir(Path(url.removeprefix("ipc://")).parent)
        socket.bind(url)

    def connect(self, socket: zmq.Socket, url: str, *, endpoint: str) -> None:
        if url.startswith("tcp://"):
            public, secret = self._pair(self.process)
            server_public, _ = self._pair(OWNERS[endpoint])
            socket.curve_publickey = public
            socket.curve_secretkey = secret
            socket.curve_serverkey = server_public
        socket.connect(url)

    def close(self) -> None:
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
