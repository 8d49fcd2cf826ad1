"""Project-wide pytest fixtures: real NameServer / broker subprocesses on free loopback ports.

Fixtures (all function-scoped; every server is stopped at teardown, SIGKILL if SIGTERM is ignored
for 5 s, and any survivor is SIGKILLed by PID at the end of the session):

* ``servers`` -> :class:`tests.support.cluster.ServerGroup`: ``servers.namesrv(**kw)``,
  ``servers.broker(namesrv_addr, conf=None, **kw)`` for extra servers.
* ``namesrv`` -> :class:`tests.support.process.ServerProcess` (``.addr``, ``.pid``, ``.stop()``,
  ``.kill()``, ``.restart()``).
* ``broker_conf`` -> ``dict`` of extra broker.conf entries; override it in a test module or with
  ``@pytest.mark.parametrize("broker_conf", [{...}])`` to configure the ``broker`` fixture.
* ``broker`` -> ServerProcess registered with ``namesrv``.
* ``cluster`` -> :class:`tests.support.cluster.Cluster` (``.namesrv``, ``.broker``,
  ``.namesrv_addr``, ``.broker_addr``).
* ``cpp`` -> :class:`tests.support.cpp.CppRunner`: runs ``tests/interop/cpp_client.py`` /
  ``cpp_pull.py`` (the official C++ client) in subprocesses with HOME under ``tmp_path``;
  ``cpp.run("produce", namesrv=..., topic=..., group=..., count=10)`` -> ``CppResult``,
  ``cpp.start("consume", ..., expect=10, timeout=60)`` -> ``CppProcess``.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.cluster import Cluster, ServerGroup
from tests.support.cpp import CppRunner, cpp_client_status
from tests.support.process import ConfValue, ServerProcess, kill_all

# Hypothesis: every property test runs under an explicit per-example deadline. "dev" (default) keeps
# hypothesis' random exploration; "ci" (CI=true, or HYPOTHESIS_PROFILE=ci) is derandomized, so a CI
# failure reproduces, and allows 5 s per example: on a loaded 2-core runner a slow example is the
# machine, while a hang or a quadratic blow-up still fails instead of passing slowly.
settings.register_profile("dev", deadline=datetime.timedelta(seconds=2))
settings.register_profile(
    "ci",
    deadline=datetime.timedelta(seconds=5),
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerGroup]:
    group = ServerGroup(tmp_path)
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def namesrv(servers: ServerGroup) -> ServerProcess:
    return servers.namesrv()


@pytest.fixture
def broker_conf() -> dict[str, ConfValue]:
    return {}


@pytest.fixture
def broker(servers: ServerGroup, namesrv: ServerProcess, broker_conf: dict[str, ConfValue]) -> ServerProcess:
    return servers.broker(namesrv, conf=broker_conf)


@pytest.fixture
def cluster(namesrv: ServerProcess, broker: ServerProcess) -> Cluster:
    return Cluster(namesrv=namesrv, broker=broker)


@pytest.fixture
def cpp(tmp_path: Path) -> Iterator[CppRunner]:
    """Fails when PyPI ``rocketmq`` (a dev dependency) is missing or its library does not load: an
    environment bug the dev install must not hide behind a skip."""
    if importlib.util.find_spec("rocketmq") is None:
        pytest.fail("PyPI rocketmq (the C++ client wrapper) is not installed: run `make venv`")
    reason = cpp_client_status()
    if reason is not None:
        pytest.fail(reason)
    runner = CppRunner(tmp_path)
    try:
        yield runner
    finally:
        runner.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    kill_all()


@pytest.fixture(scope="session")
def rocketmq_broker_conf() -> dict[str, ConfValue]:
    """broker.conf of the ``rocketmq`` plugin's session cluster, for every test that uses it.

    One definition on purpose: the cluster is started once per test process by whichever test asks
    first, so per-directory overrides would race (a tests/django test starting it without SQL92
    filtering broke a framework test on the same xdist worker). 1 s delay levels make retry/DLQ
    paths quick; half messages are checked back after 1 s.
    """
    return {
        "messageDelayLevel": " ".join(["1s"] * 18),
        "mapedFileSizeCommitLog": 8 * 1024 * 1024,
        "enablePropertyFilter": "true",
        "transactionTimeOut": 1000,
        "transactionCheckInterval": 1000,
    }
