"""Process logging: one console or JSON line per record, secrets redacted, noisy kinds logged once.

Console lines read ``2026-11-23 12:00:00.123 INFO  strategy: message key=value`` (local
time); JSON lines carry ``ts`` (UTC, ISO 8601), ``level``, ``process``, ``logger``,
``msg``, any ``extra=`` fields and ``exc`` when there is a traceback.  Every value
given to ``register_secret`` is replaced by ``***`` wherever it appears in a record,
as a last line of defence behind ``services.secrets.Secret``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TextIO

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "ConsoleFormatter",
    "JsonFormatter",
    "RedactingFilter",
    "log_once",
    "redact",
    "register_secret",
    "setup_logging",
]

LogFormat = Literal["console", "json"]
LOG_FORMATS: tuple[str, ...] = ("console", "json")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDACTED = "***"
# Shorter values would blank out ordinary words; real keys and seeds are far longer.
MIN_SECRET_CHARS = 8

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_lock = threading.Lock()
# Replaced whole (never mutated) so readers on other threads need no lock; longest first,
# so a secret that contains another is removed whole.
_secrets: tuple[str, ...] = ()
_logged_kinds: set[str] = set()


def register_secret(value: str) -> None:
    """Redact ``value`` from every log record from now on (values under 8 characters are ignored)."""
    global _secrets
    if len(value) >= MIN_SECRET_CHARS:
        with _lock:
            _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def log_once(logger: logging.Logger, kind: str, msg: str, *, level: int = logging.WARNING) -> bool:
    """Log ``msg`` the first time ``kind`` is seen in this process; True when it was logged."""
    with _lock:
        if kind in _logged_kinds:
            return False
        _logged_kinds.add(kind)
    logger.log(level, msg, extra={"kind": kind})
    return True


class RedactingFilter(logging.Filter):
    """Rewrites a record so no registered secret survives in its message, traceback or extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in _extras(record).items():
            text = value if isinstance(value, str) else str(value)
            cleaned = redact(text)
            if cleaned != text:
                setattr(record, key, cleaned)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


def _plain(value: Any) -> Any:
    """A JSON-ready form of an extra field: exact text for Decimal, values for enums."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _traceback(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    parts = [text for text in (record.exc_text, record.stack_info) if text]
    return "\n".join(parts)


class ConsoleFormatter(logging.Formatter):
    """``2026-11-23 12:00:00.123 INFO  strategy: message key=value`` in local time."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        line = f"{stamp}.{millis:03d} {record.levelname:<5} {self.process}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_plain(v)}" for k, v in extras.items())
        trace = _traceback(self, record)
        return f"{line}\n{trace}" if trace else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, process, logger, msg, extras and exc."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        doc: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "process": self.process,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            doc.setdefault(key, _plain(value))
        trace = _traceback(self, record)
        if trace:
            doc["exc"] = trace
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class _ProcessHandler(logging.StreamHandler[TextIO]):
    """The handler ``setup_logging`` installs; a later call replaces it instead of adding a second."""


def setup_logging(
    process: str, *, fmt: LogFormat | str = "console", level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record of this process to ``stream`` (stderr) in ``fmt``, at ``level`` and above."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
    level_name = level.upper()
    if level_name not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    handler = _ProcessHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(process) if fmt == "json" else ConsoleFormatter(process))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ProcessHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level_name)
    logging.captureWarnings(True)
    return handler
