"""DLedger partition (issue 11, acceptance 2): the members talk through fault-injecting proxies.

The leader is cut off from both followers: it steps down and accepts no write, while the majority
elects a new leader that does (and delivers delay-level messages: the schedule service follows
leadership). After healing, the old leader rejoins as a follower, drops its
uncommitted tail, and the three commit logs converge (identical up to the committed end).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from tests.integration.ha.helpers import commit_log_bytes, read_queue, runtime_max_offset, send, wait_for
from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.net import free_port
from tests.support.process import ServerProcess
from tests.support.tcp_proxy import TcpProxy

TOPIC = "DlPartition"
IDS = ["n0", "n1", "n2"]


@pytest.fixture
def proxies() -> Iterator[dict[tuple[str, str], TcpProxy]]:
    made: dict[tuple[str, str], TcpProxy] = {}
    try:
        yield made
    finally:
        for p in made.values():
            p.close()


def topic_synced(addr: str) -> bool:
    resp = admin.invoke(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
    return resp.code == ResponseCode.SUCCESS and TOPIC in resp.json_body()["topicConfigTable"]


@pytest.mark.slow
def test_partitioned_leader_steps_down_minority_refuses_writes_and_logs_converge_after_heal(
    servers: ServerGroup, proxies: dict[tuple[str, str], TcpProxy]
) -> None:
    namesrv = servers.namesrv()
    real = {i: f"127.0.0.1:{free_port()}" for i in IDS}
    for src in IDS:
        for dst in IDS:
            if src != dst:
                proxies[(src, dst)] = TcpProxy(real[dst])
    members: dict[str, ServerProcess] = {}
    for i in IDS:
        # each member reaches the others through its own proxies, and listens on its real port
        peers = ";".join(f"{j}-{real[j] if j == i else proxies[(i, j)].addr}" for j in IDS)
        conf = {
            "enableDLegerCommitLog": "true", "dLegerGroup": "broker-a", "dLegerPeers": peers,
            "dLegerSelfId": i, "heartBeatTimeIntervalMs": 500, "maxHeartBeatLeak": 3,
            "maxVoteIntervalMs": 500, "maxWaitAckTimeMs": 1000, "registerNameServerPeriod": 10000,
            "messageDelayLevel": " ".join(["1s"] * 18),
        }  # fmt: skip
        members[i] = servers.broker(namesrv, conf=conf, broker_name="broker-a", broker_id=int(i[1:]) + 1)
    by_addr = {m.addr: i for i, m in members.items()}

    def leader(exclude: str | None = None) -> str | None:
        route = admin.get_route(namesrv.addr, "broker-a")
        addr = route["brokerDatas"][0]["brokerAddrs"].get("0") if route else None
        node = by_addr.get(addr) if addr else None
        return node if node is not None and node != exclude else None

    old = wait_for(leader, 30, "a leader")
    admin.create_topic(members[old].addr, TOPIC, queues=1)
    for m in members.values():
        wait_for(lambda a=m.addr: topic_synced(a), 30, "topic on every member")  # type: ignore[misc]
    client = BlockingRemotingClient()
    try:
        acked = []
        for i in range(20):
            body = f"before-{i}".encode()
            assert send(client, members[old].addr, TOPIC, body).code == ResponseCode.SUCCESS
            acked.append(body)

        for (src, dst), proxy in proxies.items():
            if old in (src, dst):
                proxy.block()
        new = wait_for(lambda: leader(exclude=old), 30, "the majority elects a new leader")
        # the minority: every write is refused (not committed: it steps down / times out)
        for i in range(10):
            resp = send(client, members[old].addr, TOPIC, f"minority-{i}".encode())
            assert resp.code != ResponseCode.SUCCESS, "the cut-off old leader acknowledged a write"
        for i in range(20):
            body = f"after-{i}".encode()
            assert send(client, members[new].addr, TOPIC, body).code == ResponseCode.SUCCESS
            acked.append(body)
        # delay levels are delivered by the new leader (its schedule service follows leadership)
        assert send(client, members[new].addr, TOPIC, b"delayed", delay_level=1).code == ResponseCode.SUCCESS
        acked.append(b"delayed")
        wait_for(
            lambda: b"delayed" in (read_queue(client, members[new].addr, TOPIC, 0) or []),
            20,
            "delayed message",
        )

        for proxy in proxies.values():
            proxy.unblock()
        end = wait_for(
            lambda: (
                len({runtime_max_offset(m.addr) for m in members.values()}) == 1
                and runtime_max_offset(members[new].addr)
            ),
            60,
            "all members at the same committed end after healing",
        )
        on_new = read_queue(client, members[new].addr, TOPIC, 0)
        assert on_new is not None and sorted(on_new) == sorted(acked)
        assert not any(b.startswith(b"minority-") for b in on_new)
    finally:
        client.close()
    for m in members.values():
        m.stop()
    logs = [commit_log_bytes(m.store_dir, end) for m in members.values() if m.store_dir is not None]
    assert logs[0] == logs[1] == logs[2]
