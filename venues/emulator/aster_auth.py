"""Aster request authentication over the emulator: both signature generations, windows, nonces, limits.

``/fapi/v3/...`` paths take v3 auth: ``user``, ``signer``, a microsecond
``nonce`` within ``NONCE_WINDOW_US`` of the emulator's clock and never used
before by that signer (else -4225), and an EIP-712 ``signature`` that must
recover to ``signer`` (else -1022), sent ``0x``-prefixed.  Other paths take v1 auth: the
``X-MBX-APIKEY`` header, ``timestamp`` accepted when ``timestamp < now + 1000``
and ``now - timestamp <= recvWindow`` (else -1021), and a hex HMAC-SHA256
``signature`` of the query string followed by the body (else -1022).  Either
way the signed text is exactly what was sent, less the ``signature`` pair.

Signed requests count against a per-account limit per minute: past it the
answer is 429 with ``Retry-After``; an account that goes on sending while
limited is banned (418, "banned until <ms>") for ``ban_s``.
"""

from __future__ import annotations

import heapq
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from venues.aster.signing import hmac_signature, recover_signer
from venues.emulator.aster_credentials import AsterAccountSpec
from venues.emulator.aster_errors import (
    bad_api_key,
    bad_param,
    bad_signature,
    banned,
    missing,
    nonce_expired,
    outside_window,
    too_many_requests,
)
from venues.emulator.core import EmulatorCore
from venues.emulator.ratelimit import SlidingWindowLimit, retry_after_header_s

NONCE_WINDOW_US = 10_000_000
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
FUTURE_TOLERANCE_MS = 1000


class SignedRequest:
    """A verified request: the account it acts for and its parameters (signature and auth fields removed)."""

    def __init__(self, account_id: str, params: dict[str, str]) -> None:
        self.account_id = account_id
        self.params = params


def _strip_signature(text: str) -> tuple[str, str | None]:
    """``text`` without its ``signature=...`` pair, and the signature (None when absent)."""
    if not text:
        return text, None
    pairs = text.split("&")
    for index, pair in enumerate(pairs):
        if pair.startswith("signature="):
            del pairs[index]
            return "&".join(pairs), pair[len("signature=") :]
    return text, None


class AsterAuth:
    def __init__(
        self,
        core: EmulatorCore,
        accounts: list[AsterAccountSpec],
        *,
        chain_id: int,
        ban_after_refusals: int = 20,
        ban_s: int = 120,
    ) -> None:
        self.core = core
        self.chain_id = chain_id
        self.by_api_key = {spec.api_key: spec for spec in accounts if spec.api_key}
        self.by_signer = {spec.signer.lower(): spec for spec in accounts if spec.signer}
        self.limits = SlidingWindowLimit(limit=core.config.rate_limit_per_min)
        self.ban_after_refusals = ban_after_refusals
        self.ban_s = ban_s
        self._refusals: dict[str, int] = {}
        self._banned_until_ms: dict[str, int] = {}
        self._nonces: dict[str, tuple[list[int], set[int]]] = {}

    @staticmethod
    async def raw_params(request: web.Request) -> tuple[str, str]:
        """The raw query string and body text, exactly as sent."""
        body = await request.text() if request.can_read_body else ""
        return request.query_string, body

    @staticmethod
    def params_of(query: str, body: str) -> dict[str, str]:
        return dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))

    async def signed(self, request: web.Request) -> SignedRequest:
        """Verify a signed request by its path's generation; raises ``AsterApiError`` when refused."""
        query, body = await self.raw_params(request)
        query, query_signature = _strip_signature(query)
        body, body_signature = _strip_signature(body)
        signature = query_signature or body_signature
        if not signature:
            raise missing("signature")
        payload = query + body
        params = self.params_of(query, body)
        if request.path.startswith("/fapi/v3/"):
            account = self._verify_v3(payload, params, signature)
        else:
            account = self._verify_v1(request, payload, params, signature)
        self.throttle(account.account_id)
        return SignedRequest(account.account_id, params)

    def api_key_account(self, request: web.Request) -> str:
        """The account of a v1 ``X-MBX-APIKEY``-only request (user-stream keys)."""
        account = self.by_api_key.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None:
            raise bad_api_key()
        self.throttle(account.account_id)
        return account.account_id

    def _verify_v1(
        self, request: web.Request, payload: str, params: Mapping[str, str], signature: str
    ) -> AsterAccountSpec:
        account = self.by_api_key.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None or account.secret is None:
            raise bad_api_key()
        timestamp = params.get("timestamp")
        if not timestamp:
            raise missing("timestamp")
        try:
            timestamp_ms = int(timestamp)
            window_ms = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW_MS)
        except ValueError:
            raise bad_param(
                "Illegal characters found in parameter 'timestamp' or 'recvWindow'.", code=-1100
            ) from None
        if not 0 < window_ms <= MAX_RECV_WINDOW_MS:
            raise bad_param(f"recvWindow must be less than {MAX_RECV_WINDOW_MS}.", code=-1131)
        now_ms = self.core.now_ms()
        if not (timestamp_ms < now_ms + FUTURE_TOLERANCE_MS and now_ms - timestamp_ms <= window_ms):
            raise outside_window()
        if not hmac.compare_digest(hmac_signature(account.secret, payload), signature.lower()):
            raise bad_signature()
        return account

    def _verify_v3(self, payload: str, params: Mapping[str, str], signature: str) -> AsterAccountSpec:
        for name in ("user", "signer", "nonce"):
            if not params.get(name):
                raise missing(name)
        account = self.by_signer.get(params["signer"].lower())
        if account is None or account.user is None or account.user.lower() != params["user"].lower():
            raise bad_signature()
        try:
            nonce = int(params["nonce"])
        except ValueError:
            raise bad_param("Illegal characters found in parameter 'nonce'.", code=-1100) from None
        # The docs' demos and the official SDKs send the signature as 0x-prefixed hex: the stricter reading.
        if not signature.startswith("0x"):
            raise bad_signature()
        recovered = recover_signer(payload, signature, chain_id=self.chain_id)
        if recovered is None or recovered.lower() != params["signer"].lower():
            raise bad_signature()
        self._use_nonce(params["signer"].lower(), nonce)
        return account

    def _use_nonce(self, signer: str, nonce: int) -> None:
        now_us = self.core.now_ms() * 1000
        if abs(now_us - nonce) > NONCE_WINDOW_US:
            raise nonce_expired()
        oldest, seen = self._nonces.setdefault(signer, ([], set()))
        # Nonces older than the window are refused as stale anyway, so they need not be kept.
        while oldest and oldest[0] < now_us - NONCE_WINDOW_US:
            seen.discard(heapq.heappop(oldest))
        if nonce in seen:
            raise nonce_expired()
        seen.add(nonce)
        heapq.heappush(oldest, nonce)

    def throttle(self, account_id: str) -> None:
        """Count a request; 429 past the limit, 418 (a ban) for an account that keeps sending."""
        now_ms = self.core.now_ms()
        until_ms = self._banned_until_ms.get(account_id, 0)
        if until_ms > now_ms:
            raise banned(until_ms, retry_after_header_s((until_ms - now_ms) / 1000))
        wait_s = self.limits.check(account_id, now_ms)
        if wait_s is None:
            self._refusals.pop(account_id, None)
            return
        refusals = self._refusals.get(account_id, 0) + 1
        self._refusals[account_id] = refusals
        if refusals > self.ban_after_refusals:
            until_ms = now_ms + self.ban_s * 1000
            self._banned_until_ms[account_id] = until_ms
            self._refusals.pop(account_id, None)
            raise banned(until_ms, self.ban_s)
        raise too_many_requests(retry_after_header_s(wait_s), self.limits.limit)
