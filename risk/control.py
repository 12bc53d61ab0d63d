"""``python -m risk status|halt|resume``: talk to a running guardian over ``risk_ctl``.

The client's bus identity is the process ``ctl`` (its CURVE key pair over tcp).
"""

from __future__ import annotations

from decimal import Decimal

from services.bus import Bus
from services.config import Config
from services.endpoints import EndpointError
from services.reqrep import RequestClient, RequestTimeout
from services.service import endpoints_of
from services.wire import ErrorReply, Message, RiskCommand, RiskStatus
from venues.precision import fmt

CLIENT_PROCESS = "ctl"
# Marked to an average entry, the PnL carries dozens of digits; a terminal needs four.
_SHOWN_PNL = Decimal("0.0001")


class ControlError(Exception):
    """The guardian did not answer, or refused the command."""


async def send_command(cfg: Config, action: str, *, note: str = "", timeout_s: float = 3.0) -> RiskStatus:
    """Send one command and return the guardian's status after it; ``ControlError`` otherwise."""
    bus = Bus(endpoints_of(cfg), process=CLIENT_PROCESS, keys_dir=cfg.keys_dir)
    try:
        client = RequestClient(bus, "risk_ctl")
    except EndpointError as exc:
        bus.close()
        raise ControlError(str(exc)) from None
    try:
        command = RiskCommand(action=action, reason=note)
        reply: Message = await client.request(command, timeout_s=timeout_s, retries=0)
    except RequestTimeout:
        raise ControlError(
            f"no guardian answered on {cfg.risk_ctl_endpoint} within {timeout_s:g} s: is `python -m risk` "
            "running with the same --run-dir (or --risk-ctl-endpoint)?"
        ) from None
    finally:
        client.close()
        bus.close()
    if isinstance(reply, ErrorReply):
        raise ControlError(f"the guardian refused {action}: {reply.message} ({reply.reason.value})")
    if not isinstance(reply, RiskStatus):
        raise ControlError(f"unexpected answer {reply.TYPE} to {action}")
    return reply


def render_status(status: RiskStatus) -> str:
    """The status as lines for a terminal."""
    upnl = status.unrealized_pnl
    lines = [
        f"state:          {status.state.value}" + (f" ({status.reason})" if status.reason else ""),
        f"symbol:         {status.symbol}",
        f"position:       {fmt(status.position) if status.position is not None else 'unknown'}",
        f"unrealized PnL: {fmt(upnl.quantize(_SHOWN_PNL)) if upnl is not None else 'unknown'}",
    ]
    for process, age_s in sorted(status.heartbeat_ages_s.items()):
        lines.append(f"heartbeat {process}: {age_s:.2f} s ago")
    return "\n".join(lines)
