"""pytest plugin (``pytest11`` entry point ``rocketmq``): an embedded NameServer + broker for tests.

Loaded in every pytest run of a project that installs this package, so importing it is cheap
(stdlib + pytest only) and every fixture is opt-in — nothing starts unless a test requests one:

* ``rocketmq_broker_conf`` (session) — extra ``broker.conf`` keys for the embedded broker;
  override it in a ``conftest.py`` (e.g. ``{"messageDelayLevel": "1s 1s 1s"}``).
* ``rocketmq_cluster`` (session) — :class:`EmbeddedCluster`: ``python -m broker_core namesrv`` and
  ``... broker`` subprocesses on free loopback ports with the store in a tmp dir. When the
  environment variable ``ROCKETMQ_NAMESRV`` is set, an :class:`ExternalCluster` pointing there is
  used instead (e.g. a real Apache RocketMQ) and the tests using it get the
  ``rocketmq_external`` marker. Both offer ``namesrv_addr``, ``create_topic()``, ``unique()``.
* ``rocketmq_template`` (session) — a :class:`~rocketmq_integration.template.RocketMQTemplate`
  bound to the cluster.
* ``rocketmq_listeners`` — a :class:`ListenerHarness`: ``run(fn, topic=..., consumer_group=...,
  **attrs)`` starts a listener container with fast timers; all are stopped at teardown.
* :class:`MessageCollector` — a thread-safe recorder with ``wait_for(n, timeout)`` to use as (or
  inside) a listener, instead of sleeping.
* marker ``rocketmq_5x`` — the test needs RocketMQ >= 5.0 features (timer messages, POP); against
  an external cluster whose brokers lack them it is skipped with that reason (the embedded broker
  has them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "EmbeddedCluster",
    "ExternalCluster",
    "ListenerHarness",
    "MessageCollector",
    "rocketmq_broker_conf",
    "rocketmq_cluster",
    "rocketmq_listeners",
    "rocketmq_template",
]

ENV_NAMESRV = "ROCKETMQ_NAMESRV"
_FIXTURES = ("rocketmq_cluster", "rocketmq_template", "rocketmq_listeners")
_ids = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers", "rocketmq_external: runs against the external cluster named by ROCKETMQ_NAMESRV"
    )
    config.addinivalue_line(
        "markers",
        "rocketmq_5x: needs RocketMQ >= 5.0 features (timer messages, POP); skipped against an older "
        "external cluster",
    )


_FIVE_X: dict[str, str | None] = {}


def _external_lacks_5x(namesrv_addr: str) -> str | None:
    """Why the external cluster cannot run a 5.x test (None: every master has the features)."""
    if namesrv_addr not in _FIVE_X:
        from rocketmq_integration.client import Admin
        from rocketmq_integration.client.features import version_name

        async def probe() -> str | None:
            async with Admin(namesrv_addr) as admin:
                for name, addr in sorted((await admin.master_addrs()).items()):
                    if not await admin.client.features.has_5x(addr):
                        version = version_name(admin.client.features.version(addr) or 0)
                        return (
                            f"needs RocketMQ >= 5.0 (timer messages, POP): broker {name} at {addr} of the "
                            f"external cluster reports {version}"
                        )
            return None

        _FIVE_X[namesrv_addr] = _run(probe())
    return _FIVE_X[namesrv_addr]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``rocketmq_5x`` tests, with the reason, on an external cluster without 5.x brokers."""
    addr = os.environ.get(ENV_NAMESRV)
    if addr and item.get_closest_marker("rocketmq_5x") is not None:
        reason = _external_lacks_5x(addr)
        if reason is not None:
            pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use the cluster when it is external, so reports show where they ran."""
    if not os.environ.get(ENV_NAMESRV):
        return
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in _FIXTURES):
            item.add_marker(pytest.mark.rocketmq_external)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which cluster the RocketMQ fixtures use."""
    addr = os.environ.get(ENV_NAMESRV)
    return f"rocketmq: external cluster {addr}" if addr else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)  # a port has no event to await
    raise RuntimeError(f"server did not open port {port} within {timeout}s")


def _run(coro: Any, timeout: float = 60.0) -> Any:
    import asyncio

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


class _ClusterBase:
    namesrv_addr: str
    broker_addr: str | None
    external: bool

    def unique(self, prefix: str) -> str:
        """A name unique in this session (topics, groups)."""
        return f"{prefix}_{os.getpid()}_{next(_ids)}"

    def create_topic(self, topic: str, queues: int = 4) -> str:
        """Create ``topic`` on the broker(s) and wait until it is routable; returns it."""
        from rocketmq_integration.client import Admin

        async def go() -> None:
            async with Admin(self.namesrv_addr) as admin:
                await admin.create_topic(
                    topic, broker_addr=self.broker_addr, read_queue_nums=queues, write_queue_nums=queues
                )
                await admin.wait_for_route(topic, min_write_queues=queues, timeout=30.0)

        _run(go())
        return topic


class EmbeddedCluster(_ClusterBase):
    """NameServer + broker subprocesses (``python -m broker_core``) in ``root``.

    Args:
        root: directory for the store, the broker.conf and the server logs.
        broker_conf: extra broker.conf entries.
    """

    external = False

    def __init__(self, root: Path, broker_conf: Mapping[str, Any] | None = None) -> None:
        self.root = root
        self.broker_conf = dict(broker_conf or {})
        self._procs: list[subprocess.Popen[bytes]] = []
        self.namesrv_addr = ""
        self.broker_addr: str | None = None

    def _spawn(self, name: str, argv: list[str], port: int) -> None:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "broker_core", *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._procs.append(proc)
        _wait_port(port, proc, log)

    def start(self) -> EmbeddedCluster:
        """Start both servers and wait until the broker is registered."""
        ns_port, br_port = _free_port(), _free_port()
        self._spawn("namesrv", ["namesrv", "--host", "127.0.0.1", "--port", str(ns_port)], ns_port)
        self.namesrv_addr = f"127.0.0.1:{ns_port}"
        conf = self.root / "broker.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.broker_conf.items()))
        store = self.root / "store"
        store.mkdir(exist_ok=True)
        argv = [
            "broker", "--namesrv", self.namesrv_addr, "--host", "127.0.0.1", "--port", str(br_port),
            "--store-dir", str(store), "-c", str(conf),
        ]  # fmt: skip
        self._spawn("broker", argv, br_port)
        self.broker_addr = f"127.0.0.1:{br_port}"
        return self

    def stop(self) -> None:
        """SIGTERM the servers (SIGKILL after 10 s)."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._procs.clear()


class ExternalCluster(_ClusterBase):
    """An already running cluster (``ROCKETMQ_NAMESRV``); topics are created on every master."""

    external = True

    def __init__(self, namesrv_addr: str) -> None:
        self.namesrv_addr = namesrv_addr
        self.broker_addr = None


class MessageCollector:
    """Thread-safe recorder usable as a listener: ``collector(payload[, ctx])``.

    Args:
        fn: optional inner handler called after recording (its exception propagates).
    """

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        self.items: list[Any] = []
        self.contexts: list[Any] = []
        self.times: list[float] = []
        self._fn = fn
        self._cond = threading.Condition()

    def __call__(self, payload: Any, ctx: Any = None) -> Any:
        with self._cond:
            self.items.append(payload)
            self.contexts.append(ctx)
            self.times.append(time.monotonic())
            self._cond.notify_all()
        return self._fn(payload, ctx) if self._fn is not None else None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Any]:
        """Block until ``count`` items arrived; AssertionError (with what did) on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout}s, got {len(self.items)}")
            return list(self.items)

    def __len__(self) -> int:
        with self._cond:
            return len(self.items)


class ListenerHarness:
    """Starts listener containers against a cluster with fast timers; stops them at teardown."""

    def __init__(self, cluster: _ClusterBase) -> None:
        from rocketmq_integration.client import ClientConfig, ConsumeFromWhere, ConsumerConfig
        from rocketmq_integration.idempotency import InMemoryIdempotencyStore

        self.cluster = cluster
        self.client_config = ClientConfig(
            poll_name_server_interval=1.0, heartbeat_broker_interval=2.0, persist_consumer_offset_interval=1.0
        )
        self.consumer_config = ConsumerConfig(
            consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, rebalance_interval=2.0
        )
        self.idempotency_store = InMemoryIdempotencyStore()
        self.containers: list[Any] = []

    def container(self, target: Any, *, middlewares: Any = (), **attrs: Any) -> Any:
        """A not-yet-started ListenerContainer for ``target`` (a function, class or ListenerSpec)."""
        from rocketmq_integration.listeners import ConsumeFrom, ListenerContainer, ListenerSpec, build_spec

        attrs.setdefault("await_termination_when_shutdown", 10.0)
        attrs.setdefault("consume_from", ConsumeFrom.FIRST_OFFSET)
        spec = target if isinstance(target, ListenerSpec) else build_spec(target, **attrs)
        container = ListenerContainer(
            spec, namesrv_addr=self.cluster.namesrv_addr, client_config=self.client_config,
            consumer_config=self.consumer_config, middlewares=middlewares,
            idempotency_store=self.idempotency_store,
        )  # fmt: skip
        self.containers.append(container)
        return container

    def run(self, target: Any, **attrs: Any) -> Any:
        """Start a listener container and wait until it owns its queues."""
        container = self.container(target, **attrs)
        container.start()
        self.wait_assigned(container)
        return container

    def wait_assigned(self, container: Any, timeout: float = 20.0) -> None:
        """Wait until the container's consumer has queues of its topic (rebalance done)."""
        deadline = time.monotonic() + timeout
        topic = container.spec.topic
        while time.monotonic() < deadline:
            consumer = container.consumer
            if consumer is not None and any(mq.topic == topic for mq in consumer.assigned_queues()):
                return
            time.sleep(0.05)
        raise AssertionError(f"listener {container.spec.name} got no queue of {topic} within {timeout}s")

    def stop_all(self) -> None:
        """Stop every container started through the harness."""
        for c in self.containers:
            c.stop()
        self.containers.clear()


@pytest.fixture(scope="session")
def rocketmq_broker_conf() -> dict[str, Any]:
    """Extra broker.conf entries for the embedded broker (override in a conftest)."""
    return {}


@pytest.fixture(scope="session")
def rocketmq_cluster(
    tmp_path_factory: pytest.TempPathFactory, rocketmq_broker_conf: dict[str, Any]
) -> Iterator[_ClusterBase]:
    """The embedded (or ``ROCKETMQ_NAMESRV`` external) cluster of this session."""
    external = os.environ.get(ENV_NAMESRV)
    if external:
        yield ExternalCluster(external)
        return
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("rocketmq"), rocketmq_broker_conf)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def rocketmq_template(rocketmq_cluster: _ClusterBase) -> Iterator[Any]:
    """A started RocketMQTemplate on the session cluster."""
    from rocketmq_integration.template import RocketMQTemplate

    template = RocketMQTemplate(
        rocketmq_cluster.unique("pytest_template"), namesrv_addr=rocketmq_cluster.namesrv_addr
    )
    try:
        yield template
    finally:
        template.close()


@pytest.fixture
def rocketmq_listeners(rocketmq_cluster: _ClusterBase) -> Iterator[ListenerHarness]:
    """A :class:`ListenerHarness`; its containers are stopped after the test."""
    harness = ListenerHarness(rocketmq_cluster)
    try:
        yield harness
    finally:
        harness.stop_all()
