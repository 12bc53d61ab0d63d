"""Aster request authentication over the emulator: both signature generations, windows, nonces, limits.

``/fapi/v3/...`` paths take v3 auth: ``user``, ``signer``, a microsecond
``nonce`` within ``NONCE_WINDOW_US`` (60 s) either side of the emulator's
clock, and an EIP-712 ``signature`` that must recover to ``signer`` (else
-1022), sent ``0x``-prefixed.  As the venue documents, each signer (API wallet) keeps its most recent
``RECENT_NONCES`` nonces: a nonce among them is a duplicate, and once the list
is full one below its smallest is expired (either way -4225).  Other paths take v1 auth: the
``X-MBX-APIKEY`` header, ``timestamp`` accepted when ``timestamp < now + 1000``
and ``now - timestamp <= recvWindow`` (else -1021), and a hex HMAC-SHA256
``signature`` of the query string followed by the body (else -1022).  Either
way the signed text is exactly what was sent, less the ``signature`` pair.

Request limits are ``venues.emulator.aster_limits``'s, applied by the API's middleware.
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
    missing,
    nonce_expired,
    outside_window,
)
from venues.emulator.core import EmulatorCore

NONCE_WINDOW_US = 60_000_000
RECENT_NONCES = 100
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
    ) -> None:
        self.core = core
        self.chain_id = chain_id
        self.by_api_key = {spec.api_key: spec for spec in accounts if spec.api_key}
        self.by_signer = {spec.signer.lower(): spec for spec in accounts if spec.signer}
        self._nonces: dict[str, tuple[list[int], set[int]]] = {}  # per signer: a min-heap and its members

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
        return SignedRequest(account.account_id, params)

    def api_key_account(self, request: web.Request) -> str:
        """The account of a v1 ``X-MBX-APIKEY``-only request (user-stream keys)."""
        account = self.by_api_key.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None:
            raise bad_api_key()
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
        if nonce in seen:
            raise nonce_expired()
        if len(oldest) >= RECENT_NONCES:
            if nonce < oldest[0]:
                raise nonce_expired()
            seen.discard(heapq.heappop(oldest))
        seen.add(nonce)
        heapq.heappush(oldest, nonce)
