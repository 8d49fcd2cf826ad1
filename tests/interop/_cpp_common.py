"""Shared plumbing for the C++ client scripts (``cpp_client.py``, ``cpp_pull.py``).

The scripts run in their own process because the ctypes wrapper can take the interpreter down.
They print one JSON object per line on stdout (``ensure_ascii=False``, so UTF-8), always with an
``event`` key, and they end with ``os._exit`` so that the wrapper's ``__del__`` methods never run
against a half-torn-down library. A watchdog ends the process with exit code 3 after
``--deadline`` seconds whatever the C++ side is doing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from typing import Any

_print_lock = threading.Lock()

#: properties the consumer scripts query on every message (the wrapper cannot enumerate them)
SYSTEM_PROPERTY_KEYS = (
    "UNIQ_KEY",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "RECONSUME_TIME",
    "MAX_RECONSUME_TIMES",
    "ORIGIN_MESSAGE_ID",
    "TRAN_MSG",
    "PGROUP",
    "WAIT",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "CONSUME_START_TIME",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WATCHDOG = 0, 1, 2, 3

LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}


def emit(event: str, **fields: Any) -> None:
    """Print one JSON line (thread-safe, flushed)."""
    line = json.dumps({"event": event, **fields}, ensure_ascii=False)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def hard_exit(code: int) -> None:
    """Flush and leave without running finalisers (ctypes handles may be in any state)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def start_watchdog(seconds: float) -> None:
    """Exit with :data:`EXIT_WATCHDOG` after ``seconds`` no matter what."""

    def fire() -> None:
        emit("watchdog", after_s=seconds)
        hard_exit(EXIT_WATCHDOG)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namesrv", required=True, help="host:port[;host:port]")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--home", help="HOME for the C++ client's logs and offsets (set before loading it)")
    parser.add_argument("--log-level", choices=sorted(LOG_LEVELS), default="info")
    parser.add_argument("--access-key", help="ACL session credentials (with --secret-key)")
    parser.add_argument("--secret-key")
    parser.add_argument("--channel", default="", help="ACL channel (OnsChannel)")
    parser.add_argument("--deadline", type=float, default=300.0, help="watchdog: hard exit 3 after S seconds")


def prepare_home(home: str | None) -> None:
    """Point HOME at ``home`` before librocketmq.so reads it (logs, offsets)."""
    if home:
        os.makedirs(home, exist_ok=True)
        os.environ["HOME"] = home


def text_or_none(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def describe_message(msg: Any, property_keys: tuple[str, ...]) -> dict[str, Any]:
    """JSON-able view of a ``rocketmq.client.RecvMessage``."""
    body: bytes = msg.body or b""
    record: dict[str, Any] = {
        "msg_id": msg.id,
        "topic": msg.topic,
        "tags": text_or_none(msg.tags),
        "keys": text_or_none(msg.keys),
        "queue_id": msg.queue_id,
        "queue_offset": msg.queue_offset,
        "commit_log_offset": msg.commit_log_offset,
        "reconsume_times": msg.reconsume_times,
        "delay_time_level": msg.delay_time_level,
        "store_size": msg.store_size,
        "born_timestamp": msg.born_timestamp,
        "store_timestamp": msg.store_timestamp,
        "body_len": len(body),
    }
    try:
        record["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_b64"] = base64.b64encode(body).decode("ascii")
    props: dict[str, str] = {}
    for key in property_keys:
        value = text_or_none(msg.get_property(key))
        if value:  # the C++ client answers "" for an absent property
            props[key] = value
    record["properties"] = props
    return record


def now() -> float:
    return time.time()
