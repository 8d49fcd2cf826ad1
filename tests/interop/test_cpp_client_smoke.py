"""The C++ client harness itself: the library loads and nothing hangs without a NameServer."""

from __future__ import annotations

import time

import pytest

from tests.support.cpp import CppRunner
from tests.support.net import free_port

pytestmark = pytest.mark.interop


def unreachable() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing listens there


def test_producer_without_namesrv_fails_fast(cpp: CppRunner) -> None:
    t0 = time.monotonic()
    result = cpp.run(
        "produce",
        namesrv=unreachable(),
        topic="NoSuchTopic",
        group="smoke_pg",
        count=2,
        first_send_timeout=2,
        retries=0,
        deadline=60,
    )
    assert result.returncode == 1, result.describe()
    assert len(result.of("send_failed")) == 2, result.describe()
    assert result.summary is not None and result.summary["sent"] == 0
    assert time.monotonic() - t0 < 45
    assert (cpp.home / "logs" / "rocketmq-cpp").is_dir()  # HOME redirection took effect


def test_consumer_without_namesrv_times_out(cpp: CppRunner) -> None:
    result = cpp.run(
        "consume", namesrv=unreachable(), topic="NoSuchTopic", group="smoke_cg", expect=1, timeout=2
    )
    assert result.returncode == 1, result.describe()
    assert result.summary is not None and result.summary["timed_out"] is True


def test_pull_without_namesrv_finds_no_queues(cpp: CppRunner) -> None:
    result = cpp.run("pull", namesrv=unreachable(), topic="NoSuchTopic", group="smoke_pull", deadline=30)
    assert result.returncode == 0, result.describe()
    assert result.of("queues") == [{"event": "queues", "queues": []}]
