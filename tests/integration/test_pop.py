"""POP consumption (5.x): leases, out-of-order acks, re-delivery once after expiry, restart."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from broker_core.remoting.codes import RequestCode, ResponseCode
from rocketmq_integration.client import Message, Producer
from rocketmq_integration.client.pop_consumer import PopConsumer, PoppedMessage
from rocketmq_integration.errors import MQBrokerError
from tests.integration.client.helpers import CLIENT, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LEASE_S = 12.0  # long enough to outlast a broker restart on a loaded machine


async def _send(cluster: Cluster, topic: str, n: int) -> None:
    async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
        for i in range(n):
            await p.send(Message(topic, f"m{i}".encode(), properties={"idx": str(i)}))


async def _receive_all(c: PopConsumer, n: int, invisible: float, timeout: float = 15) -> list[PoppedMessage]:
    got: list[PoppedMessage] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += await c.receive(32, invisible_time=invisible, poll_time=1.0)
    return got


def test_pop_out_of_order_acks_and_lease_expiry(cluster: Cluster) -> None:
    topic, group = unique("Pop"), unique("cg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=2)
        await _send(cluster, topic, 6)
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            got = await _receive_all(c, 6, invisible=20.0)
            assert sorted(m.message.properties["idx"] for m in got) == [str(i) for i in range(6)]
            assert all(m.message.topic == topic for m in got)
            by_idx = {m.message.properties["idx"]: m for m in got}
            # nothing more while the leases run
            assert await c.receive(32, invisible_time=3.0, poll_time=0.5) == []
            # out-of-order acks: everything but idx 2, last message first
            for idx in ("5", "0", "4", "1", "3"):
                await c.ack(by_idx[idx].receipt_handle)
            # idx 2 is not acked: shorten its lease to 2 s (its old handle is stale from now on)
            await c.change_invisible_time(by_idx["2"].receipt_handle, 2.0)
            # acking twice is a clear error, as is a malformed handle; the broker carries on
            with pytest.raises(MQBrokerError) as err:
                await c.ack(by_idx["5"].receipt_handle)
            assert err.value.code == ResponseCode.NO_MESSAGE
            bad = PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
            await bad.start()
            try:
                h = by_idx["2"].receipt_handle.split(" ")
                h[7] = "not-a-number"
                with pytest.raises(Exception, match="invalid receipt handle"):
                    await bad.ack(" ".join(h))
                cmd_handle = " ".join(by_idx["2"].receipt_handle.split(" ")[:7]) + " 999999"
                with pytest.raises(MQBrokerError) as err:
                    await bad.ack(cmd_handle)
                assert err.value.code == ResponseCode.NO_MESSAGE
                # garbage straight on the wire (bypassing the client's own check)
                addr = cluster.broker_addr
                for extra in ("garbage", "1 2 3", ""):
                    ext = {
                        "consumerGroup": group,
                        "topic": topic,
                        "queueId": "0",
                        "extraInfo": extra,
                        "offset": "0",
                    }
                    resp = await bad.client.api.invoke(addr, bad._command(RequestCode.ACK_MESSAGE, ext), 5.0)
                    assert resp.code == ResponseCode.MESSAGE_ILLEGAL, resp.remark
                    assert "receipt handle" in (resp.remark or "") or "extraInfo" in (resp.remark or "")
            finally:
                await bad.shutdown()
            # idx 2 comes back exactly once after its lease, with its original topic
            t0 = time.monotonic()
            again = await _receive_all(c, 1, invisible=3.0, timeout=10)
            assert [m.message.properties["idx"] for m in again] == ["2"]
            assert again[0].message.topic == topic and again[0].message.reconsume_times == 1
            assert time.monotonic() - t0 < 6
            with pytest.raises(MQBrokerError):  # the old handle is stale now
                await c.ack(by_idx["2"].receipt_handle)
            # extend, then ack: never delivered again
            handle = await c.change_invisible_time(again[0].receipt_handle, 5.0)
            await c.ack(handle)
            await asyncio.sleep(3.5)
            assert await c.receive(32, invisible_time=3.0, poll_time=1.0) == []

    run(scenario(), timeout=90)


def test_pop_leases_survive_restart(cluster: Cluster) -> None:
    topic, group = unique("PopRestart"), unique("cg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=1)
        await _send(cluster, topic, 3)
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            got = await _receive_all(c, 3, invisible=LEASE_S)
            popped_at = time.monotonic()
            by_idx = {m.message.properties["idx"]: m for m in got}
            await c.ack(by_idx["1"].receipt_handle)
            await asyncio.sleep(0.3)  # the lease table is written within popCkPersistDelayMs (50 ms)
            await asyncio.to_thread(cluster.broker.restart, signal.SIGKILL)  # crash, no shutdown hook
            # still leased after the restart: nothing to receive, old handles still valid
            assert time.monotonic() - popped_at < LEASE_S - 1, "restart too slow for this check"
            assert await c.receive(32, invisible_time=LEASE_S, poll_time=0.5) == []
            await c.ack(by_idx["0"].receipt_handle)
            # idx 2 is re-delivered once when its lease (from before the restart) runs out
            again = await _receive_all(c, 1, invisible=30.0, timeout=LEASE_S + 10)
            assert [m.message.properties["idx"] for m in again] == ["2"]
            assert time.monotonic() - popped_at >= LEASE_S - 0.5
            await c.ack(again[0].receipt_handle)
            assert await c.receive(32, invisible_time=5.0, poll_time=1.0) == []

    run(scenario(), timeout=90)


@pytest.mark.parametrize("broker_conf", [{"popCkPersistDelayMs": 600_000}])
def test_pop_acks_answered_before_a_crash_survive_it_through_the_journal(cluster: Cluster) -> None:
    """No lease snapshot is written before the kill (its delay is 10 min): what the broker answered
    (pops, an ack, a changed invisible time) must come back from ``popLeases.journal``."""
    topic, group = unique("PopJournal"), unique("cg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=1)
        await _send(cluster, topic, 3)
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            got = await _receive_all(c, 3, invisible=LEASE_S)
            popped_at = time.monotonic()
            by_idx = {m.message.properties["idx"]: m for m in got}
            assert sorted(by_idx) == ["0", "1", "2"]
            await c.ack(by_idx["1"].receipt_handle)
            changed = await c.change_invisible_time(by_idx["0"].receipt_handle, LEASE_S)
            await asyncio.to_thread(cluster.broker.restart, signal.SIGKILL)  # at once: no snapshot yet
            assert time.monotonic() - popped_at < LEASE_S - 1, "restart too slow for this check"
            # the acked message is not delivered again, the leased ones are still leased
            assert await c.receive(32, invisible_time=LEASE_S, poll_time=0.5) == []
            with pytest.raises(MQBrokerError) as err:  # the ack is remembered
                await c.ack(by_idx["1"].receipt_handle)
            assert err.value.code == ResponseCode.NO_MESSAGE
            await c.ack(changed)  # the changed handle is the live one after the crash
            await c.ack(by_idx["2"].receipt_handle)
            assert await c.receive(32, invisible_time=5.0, poll_time=1.0) == []

    run(scenario(), timeout=90)
