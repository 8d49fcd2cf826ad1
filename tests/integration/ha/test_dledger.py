"""DLedger mode with three broker processes (issue 11, acceptance 2).

The members elect a leader, which registers as master (brokerId 0) while the others register as
slaves (brokerId = selfId number + 1). Under continuous load the leader is SIGKILLed: a new leader is
registered within 10 s, sends succeed again, and no acknowledged message is lost. The killed member
restarts, rejoins as a follower and catches up: in the end the three commit logs are identical up to
the committed end.
"""

from __future__ import annotations

import os
import time

import pytest

from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from tests.integration.ha.helpers import commit_log_bytes, read_queue, runtime_max_offset, wait_for
from tests.integration.ha.test_master_kill import LoadProducer
from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.net import free_port
from tests.support.process import ServerProcess

TOPIC = "DlTopic"
ROUNDS = int(os.environ.get("DLEDGER_KILL_ROUNDS", "3"))


def start_group(servers: ServerGroup, namesrv: ServerProcess) -> list[ServerProcess]:
    ids = ["n0", "n1", "n2"]
    peers = ";".join(f"{i}-127.0.0.1:{free_port()}" for i in ids)
    members = []
    for i in ids:
        conf = {
            "enableDLegerCommitLog": "true",
            "dLegerGroup": "broker-a",
            "dLegerPeers": peers,
            "dLegerSelfId": i,
            "heartBeatTimeIntervalMs": 500,
            "maxHeartBeatLeak": 3,
            "maxVoteIntervalMs": 500,
            "registerNameServerPeriod": 10000,
        }
        members.append(servers.broker(namesrv, conf=conf, broker_name="broker-a", broker_id=int(i[1:]) + 1))
    return members


def topic_synced(addr: str) -> bool:
    resp = admin.invoke(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
    return resp.code == ResponseCode.SUCCESS and TOPIC in resp.json_body()["topicConfigTable"]


@pytest.mark.slow
def test_dledger_leader_kill_elects_a_new_leader_and_loses_no_acknowledged_message(
    servers: ServerGroup,
) -> None:
    namesrv = servers.namesrv()
    members = start_group(servers, namesrv)
    by_addr = {m.addr: m for m in members}

    def leader() -> str | None:
        route = admin.get_route(namesrv.addr, "broker-a")  # the broker-name topic is always routed
        if route is None:
            return None
        addrs = route["brokerDatas"][0]["brokerAddrs"]
        addr: str | None = addrs.get("0")
        return addr if addr in by_addr and by_addr[addr].running else None

    first = wait_for(leader, 30, "a leader registered as brokerId 0")
    route = admin.get_route(namesrv.addr, "broker-a")
    assert route is not None
    ids = set(route["brokerDatas"][0]["brokerAddrs"])
    assert "0" in ids and ids <= {"0", "1", "2", "3"}
    admin.create_topic(first, TOPIC, queues=1)
    for m in members:
        wait_for(lambda a=m.addr: topic_synced(a), 30, "topic on every member")  # type: ignore[misc]

    reader = BlockingRemotingClient()
    acked: list[bytes] = []
    failover_s: list[float] = []
    current = first
    try:
        for round_no in range(ROUNDS):
            producer = LoadProducer(current, TOPIC, f"r{round_no}")
            producer.start()
            wait_for(lambda p=producer: len(p.acked) >= 20, 60, f"acks in round {round_no}")  # type: ignore[misc]
            killed = by_addr[current]
            t0 = time.monotonic()
            killed.kill()
            new = wait_for(lambda c=current: (a := leader()) is not None and a != c and a, 30, "a new leader")  # type: ignore[misc]
            failover_s.append(time.monotonic() - t0)
            producer.stopping.set()
            producer.join(30)
            acked += producer.acked
            # producers resume on the new leader
            resumed = LoadProducer(new, TOPIC, f"r{round_no}-resumed")
            resumed.start()
            wait_for(lambda p=resumed: len(p.acked) >= 5, 30, "sends accepted by the new leader")  # type: ignore[misc]
            resumed.stopping.set()
            resumed.join(30)
            acked += resumed.acked
            got = wait_for(
                lambda a=new, want=set(acked): (  # type: ignore[misc]
                    (q := read_queue(reader, a, TOPIC, 0)) is not None and want <= set(q) and q
                ),
                30,
                f"acknowledged messages on the new leader after kill {round_no}",
            )
            assert len(got) == len(set(got)), "a message is stored twice"
            killed.restart()
            current = new
        # everyone converges: identical commit logs up to the committed end
        end = wait_for(
            lambda: (
                len({runtime_max_offset(m.addr) for m in members}) == 1
                and runtime_max_offset(members[0].addr)
            ),
            60,
            "all members at the same committed end",
        )
    finally:
        reader.close()
    print(f"DLedger failover seconds: {[round(s, 2) for s in failover_s]}")
    assert max(failover_s) < 10.0
    for m in members:
        m.stop()
    logs = [commit_log_bytes(m.store_dir, end) for m in members if m.store_dir is not None]
    assert logs[0] == logs[1] == logs[2]
