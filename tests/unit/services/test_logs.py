from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum

import pytest

from services.logs import log_once, redact, register_secret, setup_logging


class Color(Enum):
    RED = "red"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(False)


def lines(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line]


def test_console_line_has_time_level_process_message_and_extras(stream: io.StringIO) -> None:
    setup_logging("strategy", fmt="console", level="info", stream=stream)
    logging.getLogger("strategy.quoter").info("quoted %s levels", 2, extra={"price": Decimal("101.50")})
    (line,) = lines(stream)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  strategy: quoted 2 levels price=101\.50", line
    ), line


def test_level_filters_lower_records(stream: io.StringIO) -> None:
    setup_logging("risk", fmt="console", level="WARNING", stream=stream)
    logging.getLogger("risk").info("hidden")
    logging.getLogger("risk").warning("shown")
    assert [line.split(": ", 1)[1] for line in lines(stream)] == ["shown"]


def test_json_lines_parse_with_fields_and_extras(stream: io.StringIO) -> None:
    setup_logging("order_gateway", fmt="json", level="DEBUG", stream=stream)
    log = logging.getLogger("order_gateway.journal")
    log.debug("fill %s", "t-1", extra={"qty": Decimal("0.1"), "side": Color.RED, "ids": (1, 2)})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["level"] == "DEBUG"
    assert first["process"] == "order_gateway"
    assert first["logger"] == "order_gateway.journal"
    assert first["msg"] == "fill t-1"
    assert first["qty"] == "0.1"
    assert first["side"] == "red"
    assert first["ids"] == [1, 2]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["level"] == "ERROR"
    assert "RuntimeError: boom" in second["exc"]


def test_setup_twice_keeps_one_handler(stream: io.StringIO) -> None:
    setup_logging("md_gateway", fmt="console", level="INFO", stream=stream)
    setup_logging("md_gateway", fmt="json", level="INFO", stream=stream)
    logging.getLogger("x").info("once")
    (line,) = lines(stream)
    assert json.loads(line)["msg"] == "once"


def test_bad_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="console, json"):
        setup_logging("p", fmt="xml", level="INFO")
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING, ERROR, CRITICAL"):
        setup_logging("p", fmt="console", level="LOUD")


def test_log_once_logs_a_kind_once(stream: io.StringIO) -> None:
    setup_logging("strategy", fmt="json", level="INFO", stream=stream)
    log = logging.getLogger("strategy.bus")
    assert log_once(log, "malformed:test-once-a", "malformed message of kind a") is True
    assert log_once(log, "malformed:test-once-a", "malformed message of kind a") is False
    assert log_once(log, "malformed:test-once-b", "malformed message of kind b") is True
    records = [json.loads(line) for line in lines(stream)]
    assert [r["msg"] for r in records] == ["malformed message of kind a", "malformed message of kind b"]
    assert records[0]["level"] == "WARNING"
    assert records[0]["kind"] == "malformed:test-once-a"


def test_registered_secret_is_redacted_everywhere(stream: io.StringIO) -> None:
    secret = "s3cr3t-VALUE-for-logs-test"
    register_secret(secret)
    setup_logging("risk", fmt="json", level="INFO", stream=stream)
    log = logging.getLogger("risk.venue")
    log.info("key is %s", secret, extra={"header": f"X-Key {secret}"})
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        log.exception("auth failed for %r", secret)
    text = stream.getvalue()
    assert secret not in text
    first, second = (json.loads(line) for line in lines(stream) if line.startswith("{"))
    assert first["msg"] == "key is ***"
    assert first["header"] == "X-Key ***"
    assert second["msg"] == "auth failed for '***'"
    assert "ValueError: bad key ***" in second["exc"]


def test_redaction_also_applies_to_console_and_keeps_other_text(stream: io.StringIO) -> None:
    register_secret("another-secret-123456")
    setup_logging("strategy", fmt="console", level="INFO", stream=stream)
    logging.getLogger("s").warning("x another-secret-123456 y")
    assert lines(stream)[0].endswith("strategy: x *** y")


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_longer_secret_containing_a_shorter_one_is_removed_whole() -> None:
    register_secret("overlap-secret")
    register_secret("overlap-secret-extended")
    assert redact("[overlap-secret-extended]") == "[***]"
