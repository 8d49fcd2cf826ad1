"""Fixtures of the kombu-transport tests: the plugin's session cluster, a broker URL, unique names.

Every test uses its own queue names, so tests sharing the session cluster never see each
other's messages.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from tests.integration.kombu.celery_app import make_app
from tests.integration.kombu.workers import CeleryWorker

_ids = itertools.count()


@pytest.fixture
def broker_url(rocketmq_cluster: Any) -> str:
    return f"rocketmq://{rocketmq_cluster.namesrv_addr}//"


@pytest.fixture(scope="session")
def broker_has_pop(rocketmq_cluster: Any) -> bool:
    """Whether the cluster's brokers answer POP (ours: yes; Apache 4.9.8 via ROCKETMQ_NAMESRV: no)."""
    from kombu import Connection

    import rocketmq_integration.kombu  # noqa: F401

    with Connection(f"rocketmq://{rocketmq_cluster.namesrv_addr}//") as conn:
        session = conn.transport.session
        return bool(session.run(session.pop_supported()))


@pytest.fixture
def needs_timers(broker_has_pop: bool) -> None:
    """Skip on a 4.x broker: no timer messages (the worker holds ETA tasks, as on Redis)."""
    if not broker_has_pop:
        pytest.skip("4.x broker: no timer messages, ETA tasks are held by the worker")


@pytest.fixture
def needs_pop(broker_has_pop: bool) -> None:
    """Skip on a 4.x broker (CI never runs one: only the Apache-oracle run does): no POP leases,
    a push consumer holds a message while its worker lives, so there is no lease to renew or cap."""
    if not broker_has_pop:
        pytest.skip("4.x broker: no POP leases (a push consumer holds the message while the worker lives)")


@pytest.fixture
def qname() -> str:
    """A queue name unique in the session, with the dots Celery names have."""
    return f"kt.q{os.getpid()}.{next(_ids)}"


@pytest.fixture
def celery_client(broker_url: str, qname: str) -> Iterator[Celery]:
    app = make_app(broker_url, qname)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def workers(broker_url: str, qname: str, tmp_path: Path) -> Iterator[list[CeleryWorker]]:
    """Started workers are SIGKILLed at teardown (with their pool children; the queues are the test's own)."""
    started: list[CeleryWorker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.kill()


@pytest.fixture(scope="session", autouse=True)
def _close_sessions(rocketmq_cluster: Any) -> Iterator[None]:
    """Stop this process's transport sessions before the cluster goes away (no noisy reconnects)."""
    from rocketmq_integration.kombu.session import shutdown_sessions

    yield
    shutdown_sessions()
