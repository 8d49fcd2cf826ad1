"""Replication across implementations (issue 11, acceptance 5), against Apache RocketMQ 4.9.8.

* An Apache broker as SLAVE replicates from our master: its commit log reaches our master's end
  and it serves every message from its rebuilt consume queues.
* Our slave replicates from an Apache master: same checks, plus the metadata sync (topics, consumer
  offsets) parses Apache's answers.

Both need the Apache oracle (``ROCKETMQ_ORACLE_HOME``); without it they skip with that reason.
Both sides use 4 MiB commit-log segments: the HA stream carries raw segment bytes, so master and
slave must agree on the segment size (as they must in Apache).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from tests.integration.ha.helpers import (
    read_queue,
    runtime_max_offset,
    send,
    start_master,
    start_slave,
    wait_for,
)
from tests.support import admin
from tests.support.apache_oracle import ApacheBroker, free_apache_port, oracle_home
from tests.support.cluster import ServerGroup

pytestmark = [pytest.mark.slow]

SEGMENT = 4 * 1024 * 1024


@pytest.fixture
def apache_brokers() -> Iterator[list[ApacheBroker]]:
    started: list[ApacheBroker] = []
    try:
        yield started
    finally:
        for broker in started:
            broker.stop()


def apache_conf(namesrv: str, store: Path, role: str, broker_id: int) -> dict[str, str | int]:
    return {
        "brokerClusterName": "DefaultCluster",
        "brokerName": "broker-a",
        "brokerId": broker_id,
        "brokerRole": role,
        "brokerIP1": "127.0.0.1",
        "namesrvAddr": namesrv,
        "listenPort": free_apache_port(),
        "storePathRootDir": str(store),
        "storePathCommitLog": str(store / "commitlog"),
        "mappedFileSizeCommitLog": SEGMENT,
        "flushDiskType": "ASYNC_FLUSH",
        "autoCreateTopicEnable": "true",
        "slaveReadEnable": "true",
    }


def all_bodies(client: BlockingRemotingClient, addr: str, topic: str, queues: int) -> list[bytes] | None:
    bodies: list[bytes] = []
    for q in range(queues):
        got = read_queue(client, addr, topic, q)
        if got is None:
            return None
        bodies += got
    return bodies


def topic_known(addr: str, topic: str) -> bool:
    resp = admin.invoke(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
    return resp.code == ResponseCode.SUCCESS and topic in resp.json_body()["topicConfigTable"]


def test_apache_slave_replicates_from_our_master(
    servers: ServerGroup, tmp_path: Path, apache_brokers: list[ApacheBroker]
) -> None:
    home = oracle_home()
    namesrv = servers.namesrv()
    port = free_apache_port()  # Apache slaves fetch topics through the master's listenPort - 2
    master = start_master(
        servers,
        namesrv,
        "ASYNC_MASTER",
        {"mappedFileSizeCommitLog": SEGMENT, "fastListenPort": port - 2},
        port=port,
    )
    admin.create_topic(master.addr, "ApacheSlaveT", queues=2)
    client = BlockingRemotingClient()
    try:
        sent = [f"a-{i}".encode() for i in range(100)]
        for i, body in enumerate(sent[:50]):
            assert (
                send(client, master.addr, "ApacheSlaveT", body, queue_id=i % 2).code == ResponseCode.SUCCESS
            )
        slave = ApacheBroker(
            home, tmp_path / "apache-slave", apache_conf(namesrv.addr, tmp_path / "as", "SLAVE", 1)
        )
        apache_brokers.append(slave.start())
        for i, body in enumerate(sent[50:]):
            assert (
                send(client, master.addr, "ApacheSlaveT", body, queue_id=i % 2).code == ResponseCode.SUCCESS
            )
        end = runtime_max_offset(master.addr)
        wait_for(lambda: runtime_max_offset(slave.addr) == end, 60, "Apache slave caught up")
        wait_for(lambda: topic_known(slave.addr, "ApacheSlaveT"), 30, "Apache slave synced the topic")
        got = wait_for(
            lambda: (
                (b := all_bodies(client, slave.addr, "ApacheSlaveT", 2)) is not None and len(b) == 100 and b
            ),
            30,
            "every message readable on the Apache slave",
        )
        assert sorted(got) == sorted(sent)
    finally:
        client.close()


def test_our_slave_replicates_from_an_apache_master(
    servers: ServerGroup, tmp_path: Path, apache_brokers: list[ApacheBroker]
) -> None:
    home = oracle_home()
    namesrv = servers.namesrv()
    master = ApacheBroker(
        home, tmp_path / "apache-master", apache_conf(namesrv.addr, tmp_path / "am", "ASYNC_MASTER", 0)
    )
    apache_brokers.append(master.start())
    admin.create_topic(master.addr, "ApacheMasterT", queues=2)
    committed = admin.invoke(
        master.addr,
        RequestCode.UPDATE_CONSUMER_OFFSET,
        {"consumerGroup": "apache-g", "topic": "ApacheMasterT", "queueId": "0", "commitOffset": "3"},
    )
    assert committed.code == ResponseCode.SUCCESS
    client = BlockingRemotingClient()
    try:
        sent = [f"b-{i}".encode() for i in range(100)]
        for i, body in enumerate(sent[:50]):
            assert (
                send(client, master.addr, "ApacheMasterT", body, queue_id=i % 2).code == ResponseCode.SUCCESS
            )
        slave = start_slave(servers, namesrv, {"mappedFileSizeCommitLog": SEGMENT})
        for i, body in enumerate(sent[50:]):
            assert (
                send(client, master.addr, "ApacheMasterT", body, queue_id=i % 2).code == ResponseCode.SUCCESS
            )
        end = runtime_max_offset(master.addr)
        wait_for(lambda: runtime_max_offset(slave.addr) == end, 60, "our slave caught up with Apache")
        wait_for(lambda: topic_known(slave.addr, "ApacheMasterT"), 30, "our slave synced Apache's topics")
        got = wait_for(
            lambda: (
                (b := all_bodies(client, slave.addr, "ApacheMasterT", 2)) is not None and len(b) == 100 and b
            ),
            30,
            "every message readable on our slave",
        )
        assert sorted(got) == sorted(sent)
        offsets = admin.invoke(slave.addr, RequestCode.GET_ALL_CONSUMER_OFFSET).json_body()["offsetTable"]
        assert offsets["ApacheMasterT@apache-g"] == {"0": 3}
    finally:
        client.close()
