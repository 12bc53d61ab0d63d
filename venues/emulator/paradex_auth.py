"""Paradex authentication over the emulator: Starknet-signed ``POST /v1/auth``, JWTs, order signatures.

``POST /v1/auth`` verifies the STARK signature of the ``Request`` typed data
(``PARADEX-STARKNET-ACCOUNT``, ``-SIGNATURE``, ``PARADEX-TIMESTAMP`` and
``-SIGNATURE-EXPIRATION`` headers, seconds) with the account's public key and
issues an HS256 JWT that lives ``jwt_lifetime_s``; every private call needs it
as ``Authorization: Bearer``.  Orders carry their own signature over the
``Order`` typed data, verified the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from venues.emulator.core import EmulatorCore
from venues.emulator.paradex_limits import ParadexLimits
from venues.emulator.ratelimit import retry_after_header_s
from venues.paradex.signing import (
    auth_hash,
    auth_message,
    chain_id_felt,
    parse_signature,
    public_key,
    verify_hash,
)

CHAIN_ID = "PRIVATE_SN_PERP_MM_EMULATOR"
AUTH_SKEW_S = 30  # how far PARADEX-TIMESTAMP may be from the emulator's clock
MAX_SIGNATURE_LIFE_S = 7 * 24 * 3600


class ApiError(Exception):
    """Raised by a handler to answer with a Paradex error body ``{error, message}``."""

    def __init__(self, status: int, error: str, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after_s = retry_after_s

    def to_body(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return web.json_response(self.to_body(), status=self.status, headers=headers)


def validation_error(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


def unauthorized(message: str = "invalid bearer jwt") -> ApiError:
    return ApiError(401, "UNAUTHORIZED_ERROR", message)


def address_key(text: Any) -> str | None:
    """An account address in one canonical form (lowercase 0x hex, no leading zeros), or None."""
    if not isinstance(text, str) or not text.lower().startswith("0x"):
        return None
    try:
        return hex(int(text, 16))
    except ValueError:
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Bearer:
    account: str
    expires_s: int


class ParadexAuth:
    """Public keys of the accounts, JWTs, signature checks and the per-account rate limit."""

    def __init__(self, core: EmulatorCore, *, jwt_lifetime_s: float) -> None:
        if jwt_lifetime_s < 1:
            raise ValueError("jwt_lifetime_s must be at least 1 (tokens expire in whole seconds)")
        self.core = core
        self.jwt_lifetime_s = jwt_lifetime_s
        self.chain_id = chain_id_felt(CHAIN_ID)
        self.public_keys: dict[str, int] = {}
        for spec in core.config.accounts:
            if spec.secret is None:
                raise ValueError(f"Paradex account {spec.api_key} needs its L2 private key")
            self.public_keys[spec.api_key] = public_key(int(spec.secret, 16))
        self._jwt_key = secrets.token_bytes(32)
        # The venue's own limits; a rate limit of 0 in the config turns them off, as for every venue.
        self.limits = ParadexLimits(enabled=core.config.rate_limit_per_min > 0)
        self.refused_tokens = 0  # private calls answered 401 (tests check a refresh came in time)

    # ------------------------------------------------------------ JWT

    def issue(self, account: str) -> str:
        now_s = self.core.now_ms() // 1000
        claims = {
            "sub": account,
            "iat": now_s,
            "exp": now_s + round(self.jwt_lifetime_s),
            "token_usage": "trading",
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self._jwt_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(mac)}"

    def bearer(self, token: str) -> Bearer | None:
        """The account and expiry of a valid, unexpired token of this emulator; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            mac = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError):
            return None
        expected = hmac.new(self._jwt_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected) or not isinstance(claims, dict):
            return None
        account, expires_s = claims.get("sub"), claims.get("exp")
        if not isinstance(account, str) or not isinstance(expires_s, int):
            return None
        if expires_s <= self.core.now_ms() // 1000 or account not in self.public_keys:
            return None
        return Bearer(account, expires_s)

    def account_of(self, request: web.Request) -> str:
        """The account behind the request's bearer token; 401 without a valid one; 429 over the limit."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("missing bearer jwt")
        found = self.bearer(token.strip())
        if found is None:
            self.refused_tokens += 1
            raise unauthorized()
        self.charge(found.account, read=request.method == "GET", ip=request.remote or "")
        return found.account

    def charge(self, account: str, *, read: bool, ip: str = "") -> None:
        """Count one request of ``account`` from ``ip`` (REST or WebSocket order method: the same
        counters, per second and per minute); 429 over any of them."""
        refusal = self.limits.check(
            account=account, ip=ip, method="GET" if read else "POST", now_ms=self.core.now_ms()
        )
        if refusal is not None:
            raise ApiError(
                429,
                "RATE_LIMIT_EXCEEDED",
                f"rate limit exceeded: {refusal.limit}",
                retry_after_s=retry_after_header_s(refusal.wait_s),
            )

    # ------------------------------------------------------------ signatures

    def check_signature(self, account: str, msg_hash: int, raw_signature: Any, *, error: str) -> None:
        signature = parse_signature(raw_signature)
        if signature is None or not verify_hash(msg_hash, signature, self.public_keys[account]):
            raise ApiError(400, error, "signature verification failed")

    async def auth(self, request: web.Request) -> web.Response:
        """``POST /v1/auth``: a JWT for a valid Starknet signature of the auth request."""
        headers = request.headers
        account = address_key(headers.get("PARADEX-STARKNET-ACCOUNT"))
        if account is None:
            raise validation_error("PARADEX-STARKNET-ACCOUNT header is missing or not an address")
        if account not in self.public_keys:
            raise ApiError(400, "STARKNET_SIGNATURE_VERIFICATION_FAILED", "account not found")
        try:
            timestamp_s = int(headers.get("PARADEX-TIMESTAMP", ""))
            expiration_s = int(headers.get("PARADEX-SIGNATURE-EXPIRATION", ""))
        except ValueError:
            raise validation_error(
                "PARADEX-TIMESTAMP and PARADEX-SIGNATURE-EXPIRATION must be integers"
            ) from None
        now_s = self.core.now_ms() // 1000
        if abs(now_s - timestamp_s) > AUTH_SKEW_S:
            raise ApiError(400, "INVALID_TIMESTAMP", f"timestamp {timestamp_s} is too far from {now_s}")
        if expiration_s <= now_s or expiration_s - timestamp_s > MAX_SIGNATURE_LIFE_S:
            raise ApiError(400, "INVALID_TIMESTAMP", "signature expiration is out of range")
        message = auth_message(timestamp_s=timestamp_s, expiration_s=expiration_s)
        msg_hash = auth_hash(self.chain_id, int(account, 16), message)
        self.check_signature(
            account,
            msg_hash,
            headers.get("PARADEX-STARKNET-SIGNATURE"),
            error="STARKNET_SIGNATURE_VERIFICATION_FAILED",
        )
        return web.json_response({"jwt_token": self.issue(account)})
