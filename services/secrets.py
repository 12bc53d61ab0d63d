"""Exchange credentials: from the environment or owner-only files, never from the command line or TOML.

Each variable ``X`` may instead be given as ``X_FILE``, the path of a file owned
by this user with mode 0600 or stricter (a looser file is refused).  The risk
guardian (``role="risk"``) reads ``RISK_X`` first, so it can hold its own key,
and falls back to ``X``.  Secret values are wrapped in ``Secret`` and registered
with the log redaction filter the moment they are read.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from services.config import Config, ConfigError
from services.logs import register_secret
from venues.backpack.signing import Signer

__all__ = [
    "CREDENTIAL_VARIABLES",
    "AsterV1Credentials",
    "AsterV3Credentials",
    "BackpackCredentials",
    "Credentials",
    "ParadexCredentials",
    "Secret",
    "credentials_env",
    "load_credentials",
    "read_secret_file",
]

Role = Literal["trading", "risk"]
RISK_PREFIX = "RISK_"
FILE_SUFFIX = "_FILE"
ASTER_AUTH = "ASTER_AUTH"
ASTER_AUTHS = ("v3", "v1")

_ADDRESS_20 = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_KEY_32 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_FELT = re.compile(r"0x[0-9a-fA-F]{1,64}")
_FELT_KEY = re.compile(r"(0x)?[0-9a-fA-F]{1,64}")


class Secret:
    """A secret string: ``repr`` and ``str`` show ``Secret('***')``; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class BackpackCredentials:
    api_key: str  # base64 ED25519 public key
    secret_key: Secret  # base64 32-byte ED25519 seed


@dataclass(frozen=True, slots=True)
class AsterV3Credentials:
    user: str  # main wallet address
    signer: str  # API wallet address
    signer_private_key: Secret


@dataclass(frozen=True, slots=True)
class AsterV1Credentials:
    api_key: str
    secret_key: Secret  # HMAC-SHA256 key


@dataclass(frozen=True, slots=True)
class ParadexCredentials:
    account_address: str
    l2_private_key: Secret  # Starknet STARK-curve key


Credentials = BackpackCredentials | AsterV3Credentials | AsterV1Credentials | ParadexCredentials

# The variables of each credential set, in the order of the dataclass fields.
CREDENTIAL_VARIABLES: dict[type[Credentials], tuple[str, ...]] = {
    BackpackCredentials: ("BACKPACK_API_KEY", "BACKPACK_SECRET_KEY"),
    AsterV3Credentials: ("ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"),
    AsterV1Credentials: ("ASTER_API_KEY", "ASTER_SECRET_KEY"),
    ParadexCredentials: ("PARADEX_ACCOUNT_ADDRESS", "PARADEX_L2_PRIVATE_KEY"),
}
_SECRET_VARIABLES = frozenset(
    {"BACKPACK_SECRET_KEY", "ASTER_SIGNER_PRIVATE_KEY", "ASTER_SECRET_KEY", "PARADEX_L2_PRIVATE_KEY"}
)


def read_secret_file(path: Path, *, variable: str) -> str:
    """The stripped text of ``path``; refuses a file another user owns or that group/others may read."""
    try:
        # Non-blocking, so a FIFO planted at the path cannot hang the start; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError([f"{variable} {path}: cannot open it ({exc.strerror or exc})"]) from None
    # Checks run on the opened file, so a swap between check and read cannot slip through.
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError([f"{variable} {path} is not a regular file"])
        if st.st_uid != os.geteuid():
            raise ConfigError(
                [f"{variable} {path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"]
            )
        if mode & 0o077:
            raise ConfigError(
                [
                    f"{variable} {path} has mode {mode:04o}: a secret file must be readable by its owner "
                    f"only; run: chmod 600 {path}"
                ]
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    try:
        text = data.decode().strip()
    except UnicodeDecodeError:
        raise ConfigError([f"{variable} {path} is not UTF-8 text"]) from None
    if not text:
        raise ConfigError([f"{variable} {path} is empty"])
    return text


def _lookup(name: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(where it came from, value) of ``name`` or ``name_FILE``; None when neither is set."""
    direct, file_name = env.get(name, "").strip(), env.get(name + FILE_SUFFIX, "").strip()
    if direct and file_name:
        raise ConfigError([f"both {name} and {name}{FILE_SUFFIX} are set: keep one"])
    if file_name:
        return name + FILE_SUFFIX, read_secret_file(Path(file_name), variable=name + FILE_SUFFIX)
    return (name, direct) if direct else None


def _names(variable: str, role: Role) -> tuple[str, ...]:
    return (RISK_PREFIX + variable, variable) if role == "risk" else (variable,)


def _read(variable: str, role: Role, env: Mapping[str, str]) -> tuple[str, str] | None:
    for name in _names(variable, role):
        found = _lookup(name, env)
        if found is not None:
            return found
    return None


def _aster_kind(role: Role, env: Mapping[str, str]) -> type[Credentials]:
    found = _read(ASTER_AUTH, role, env)
    auth = found[1].lower() if found else "v3"
    if auth not in ASTER_AUTHS:
        where = found[0] if found else ASTER_AUTH
        raise ConfigError([f"{where} {auth} is not supported: use v3 (the default, EIP-712) or v1 (HMAC)"])
    return AsterV3Credentials if auth == "v3" else AsterV1Credentials


def _missing_message(exchange: str, variables: tuple[str, ...], missing: list[str], role: Role) -> str:
    secrets = [v for v in variables if v in _SECRET_VARIABLES]
    text = (
        f"missing {exchange} credentials: set {' and '.join(variables)} in the environment "
        f"(missing: {', '.join(missing)}); "
        f"{' or '.join(s + FILE_SUFFIX for s in secrets)} may instead name a file with mode 0600"
    )
    if role == "risk":
        text += f"; the risk guardian reads {RISK_PREFIX}<NAME> first (e.g. {RISK_PREFIX}{variables[0]})"
    return text


def load_credentials(
    cfg: Config, *, role: Role = "trading", env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The API credentials for ``cfg.exchange``; None only in ``--sim`` when none are set."""
    if role not in ("trading", "risk"):
        raise ValueError(f"role must be 'trading' or 'risk', not {role!r}")
    env = os.environ if env is None else env
    kind: type[Credentials]
    if cfg.exchange == "backpack":
        kind = BackpackCredentials
    elif cfg.exchange == "paradex":
        kind = ParadexCredentials
    else:
        kind = _aster_kind(role, env)
    variables = CREDENTIAL_VARIABLES[kind]
    found = {variable: _read(variable, role, env) for variable in variables}
    missing = [_names(variable, role)[0] for variable, hit in found.items() if hit is None]
    if missing and cfg.sim and len(missing) == len(variables):
        return None
    if missing:
        raise ConfigError([_missing_message(cfg.exchange, variables, missing, role)])
    where = {variable: hit[0] for variable, hit in found.items() if hit is not None}
    args: list[Any] = [
        Secret(hit[1]) if variable in _SECRET_VARIABLES else hit[1]
        for variable, hit in found.items()
        if hit is not None
    ]
    creds = kind(*args)
    problems = _check(creds, where)
    if problems:
        raise ConfigError(problems)
    return creds


def _check(creds: Credentials, where: Mapping[str, str]) -> list[str]:
    """Shape and key-pair consistency, so a wrong key fails at start and not at the first order."""
    if isinstance(creds, BackpackCredentials):
        try:
            derived = Signer(creds.secret_key.reveal()).api_key
        except ValueError as exc:
            return [f"{where['BACKPACK_SECRET_KEY']}: {exc}"]
        if derived != creds.api_key:
            return [
                f"{where['BACKPACK_API_KEY']} is not the public key of {where['BACKPACK_SECRET_KEY']}: "
                "they come from different key pairs"
            ]
    elif isinstance(creds, AsterV3Credentials):
        from eth_account import Account

        problems = [
            f"{where[v]} {value} is not a 0x-prefixed 20-byte hex address"
            for v, value in (("ASTER_USER", creds.user), ("ASTER_SIGNER", creds.signer))
            if not _ADDRESS_20.fullmatch(value)
        ]
        if not _HEX_KEY_32.fullmatch(creds.signer_private_key.reveal()):
            return [*problems, f"{where['ASTER_SIGNER_PRIVATE_KEY']} is not a 32-byte hex private key"]
        signer = Account.from_key(creds.signer_private_key.reveal()).address
        if not problems and signer.lower() != creds.signer.lower():
            problems.append(
                f"{where['ASTER_SIGNER']} {creds.signer} is not the address of "
                f"{where['ASTER_SIGNER_PRIVATE_KEY']} (that key signs as {signer})"
            )
        return problems
    elif isinstance(creds, ParadexCredentials):
        problems = []
        if not _FELT.fullmatch(creds.account_address):
            problems.append(
                f"{where['PARADEX_ACCOUNT_ADDRESS']} {creds.account_address} is not a 0x hex address"
            )
        if not _FELT_KEY.fullmatch(creds.l2_private_key.reveal()):
            problems.append(f"{where['PARADEX_L2_PRIVATE_KEY']} is not a hex private key")
        return problems
    return []


def credentials_env(creds: Credentials, *, role: Role = "trading") -> dict[str, str]:
    """The environment variables that make ``load_credentials`` return ``creds`` (for child processes)."""
    prefix = RISK_PREFIX if role == "risk" else ""
    variables = CREDENTIAL_VARIABLES[type(creds)]
    values = [getattr(creds, f.name) for f in fields(creds)]
    env = {
        prefix + v: value.reveal() if isinstance(value, Secret) else value
        for v, value in zip(variables, values, strict=True)
    }
    if isinstance(creds, AsterV3Credentials | AsterV1Credentials):
        env[prefix + ASTER_AUTH] = "v3" if isinstance(creds, AsterV3Credentials) else "v1"
    return env
