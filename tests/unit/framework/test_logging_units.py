"""``get_logger`` / ``configure_logging``: stdlib routing, levels, formats, ISO 8601 UTC time."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import orjson
import pytest

from broker_core.logsetup import StructuredFormatter, iso_utc
from rocketmq_integration.logging import bound_context, configure_logging, get_logger


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_records_go_to_the_stdlib_logger_of_the_module_name() -> None:
    target = logging.getLogger("rocketmq_integration.test_routing")
    cap = Capture()
    target.addHandler(cap)
    target.setLevel(logging.DEBUG)
    try:
        log = get_logger("rocketmq_integration.test_routing")
        with bound_context(msg_id="M1"):
            log.bind(topic="t").info("hello", queue_id=2)
    finally:
        target.removeHandler(cap)
        target.setLevel(logging.NOTSET)
    (record,) = cap.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "hello topic=t queue_id=2 msg_id=M1"
    assert record.structlog == {"topic": "t", "queue_id": 2, "msg_id": "M1", "event": "hello"}  # type: ignore[attr-defined]
    assert record.funcName == "test_records_go_to_the_stdlib_logger_of_the_module_name"


def test_below_the_stdlib_level_nothing_is_built(root_restored: None) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    cap = Capture()
    logging.getLogger().addHandler(cap)

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("rendered although disabled")

    log = get_logger("rocketmq_integration.test_levels")
    log.debug("quiet", x=Exploding())
    log.info("quiet", x=Exploding())
    log.warning("loud")
    assert [r.getMessage() for r in cap.records] == ["loud"]


def test_configure_logging_console_line(root_restored: None) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    get_logger("rocketmq_integration.test_console").info("started", group="g")
    get_logger("rocketmq_integration.test_console").debug("hidden")
    line = out.getvalue().strip()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[info   \] rocketmq_integration.test_console: started group=g",
        line,
    ), line


def test_configure_logging_json_with_exception_and_no_duplicate_handlers(root_restored: None) -> None:
    out = io.StringIO()
    configure_logging("info")
    configure_logging("warning", json=True, stream=out)  # replaces the first handler
    try:
        raise ValueError("boom")
    except ValueError as exc:
        get_logger("rocketmq_integration.test_json").error("failed", error=repr(exc), exc_info=exc)
    (line,) = out.getvalue().splitlines()
    doc = orjson.loads(line)
    assert doc["level"] == "error" and doc["event"] == "failed" and doc["error"] == "ValueError('boom')"
    assert doc["logger"] == "rocketmq_integration.test_json"
    assert doc["timestamp"].endswith("Z") and "ValueError: boom" in doc["exception"]
    assert sum(1 for h in logging.getLogger().handlers if isinstance(h.formatter, StructuredFormatter)) == 1


def test_unknown_level_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="use debug, info, warning or error"):
        configure_logging("verbose")


def test_iso_utc() -> None:
    assert iso_utc(0.25) == "1970-01-01T00:00:00.250Z"
