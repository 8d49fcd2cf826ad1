"""Fixtures for the gRPC proxy tests: one NameServer + broker + proxy per test process.

``proxy_cluster`` is session-scoped (one per xdist worker: starting servers costs seconds); tests
isolate themselves by topic and group names. ``rmq5`` opens official 5.x clients that are closed at teardown.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.admin import ensure_topic
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess
from tests.support.rmq5 import Rmq5Client

#: short transaction check-back timing so the check-back test finishes in seconds
PROXY_BROKER_CONF = {
    "transactionTimeOut": "2000",
    "transactionCheckInterval": "1000",
}

_names = itertools.count(1)


@dataclass
class ProxyCluster:
    namesrv: ServerProcess
    broker: ServerProcess
    proxy: ServerProcess
    tmp: Path

    @property
    def endpoint(self) -> str:
        return self.proxy.addr

    def topic(self, prefix: str = "T", queues: int = 4) -> str:
        name = f"{prefix}{next(_names)}"
        ensure_topic(self.broker.addr, self.namesrv.addr, name, queues=queues)
        return name


def start_proxy(group: ServerGroup, namesrv: ServerProcess, tmp: Path, *extra: str) -> ServerProcess:
    proc = ServerProcess("proxy", ["--namesrv", namesrv.addr, *extra], name="proxy", log_dir=tmp / "logs")
    return group.track(proc.start())


@pytest.fixture(scope="session")
def proxy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyCluster]:
    tmp = tmp_path_factory.mktemp("proxy")
    group = ServerGroup(tmp)
    try:
        ns = group.namesrv()
        broker = group.broker(ns, conf=PROXY_BROKER_CONF)
        proxy = start_proxy(group, ns, tmp)
        yield ProxyCluster(ns, broker, proxy, tmp)
    finally:
        group.close()


@pytest.fixture
def rmq5(proxy_cluster: ProxyCluster, tmp_path: Path) -> Iterator[Callable[..., Rmq5Client]]:
    clients: list[Rmq5Client] = []
    seq = itertools.count()

    def open_client(
        endpoint: str | None = None, *, tls: bool = False, env: dict[str, str] | None = None
    ) -> Rmq5Client:
        client = Rmq5Client(
            endpoint or proxy_cluster.endpoint,
            tmp_path / f"rmq5-{next(seq)}" / "driver.log",
            tls=tls,
            env=env,
        )
        clients.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            client.close()
