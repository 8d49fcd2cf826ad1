"""Timer messages (5.x): deliver-at times honoured within 1 s, across a broker restart."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from broker_core.remoting.codes import ResponseCode
from rocketmq_integration.client import ConsumeResult, Message, MessageExt, Producer, PushConsumer
from rocketmq_integration.client.timer import deliver_after, deliver_at
from rocketmq_integration.errors import MQBrokerError
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DELAYS = (3.0, 10.0, 65.0)
LATE_TOLERANCE = 1.0
CONSUMER_RECONNECT_SLACK = 3.0


def test_timer_messages_survive_restart(cluster: Cluster) -> None:
    """3 s, 10 s and 65 s timers; the broker is killed and restarted after the first one arrived."""
    topic = unique("Timer")
    arrivals: dict[str, float] = {}
    got: dict[str, MessageExt] = {}
    deliveries: set[tuple[str, int, int]] = set()
    changed = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        for m in msgs:
            arrivals.setdefault(m.properties["name"], time.time())
            deliveries.add((m.properties["name"], m.queue_id, m.queue_offset))
            got[m.properties["name"]] = m
        changed.set()
        return ConsumeResult.SUCCESS

    async def wait_for(names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not names <= arrivals.keys():
            changed.clear()
            await asyncio.wait_for(changed.wait(), max(0.01, deadline - time.monotonic()))

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        consumer = PushConsumer(
            unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic, "*")
        consumer.register_listener(listener)
        await consumer.start()
        try:
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                base = time.time()
                due: dict[str, float] = {}
                for delay in DELAYS:
                    name = f"at{int(delay)}"
                    due[name] = base + delay
                    await p.send(
                        deliver_at(Message(topic, name.encode(), properties={"name": name}), due[name])
                    )
                # relative form, and an immediate one (a time in the past is delivered at once)
                due["rel3"] = time.time() + 3.0
                await p.send(deliver_after(Message(topic, b"r", properties={"name": "rel3"}), 3.0))
                sent_past = time.time()
                await p.send(deliver_at(Message(topic, b"now", properties={"name": "past"}), base - 5))
                with pytest.raises(MQBrokerError) as err:
                    await p.send(deliver_after(Message(topic, b"x"), 4 * 86400))
                assert err.value.code == ResponseCode.MESSAGE_ILLEGAL
                assert "timerMaxDelaySec" in str(err.value)

            await wait_for({"past"}, 20)
            assert got["past"].store_timestamp / 1000 - sent_past < 1.0  # a past time is not parked
            consumer_ready = arrivals["past"]
            await wait_for({"at3", "rel3"}, 20)
            # a crash, not a clean stop: the wheel must come back from the timer log alone
            crash_at = time.time()
            await asyncio.to_thread(cluster.broker.restart, signal.SIGKILL)
            back_at = time.time()
            await wait_for({"at10", "at65"}, 80)
            for name, when in due.items():
                # the broker re-puts the message into its topic within 1 s after its time (or at
                # once after the restart if it fell due while the broker was down) ...
                down = crash_at <= when <= back_at
                stored_bound = LATE_TOLERANCE + (back_at - when if down else 0.0)
                stored_late = got[name].store_timestamp / 1000 - when
                assert -0.05 <= stored_late <= stored_bound, f"{name} stored {stored_late:+.3f}s late"
                # ... and the consumer gets it within 1 s too once it is up, except that right after
                # the crash it may wait for its reconnect back-off (a client matter)
                late = arrivals[name] - when
                settled = when > consumer_ready and not crash_at <= when <= back_at + CONSUMER_RECONNECT_SLACK
                bound = LATE_TOLERANCE if settled else stored_bound + CONSUMER_RECONNECT_SLACK + 5.0
                assert -0.05 <= late <= bound, f"{name} arrived {late:+.3f}s from its time"
            m = got["at65"]
            assert m.topic == topic and m.body == b"at65"
            assert "REAL_TOPIC" not in m.properties and "TIMER_OUT_MS" in m.properties
            # each stored in its topic exactly once although the broker restarted in between (a
            # consumer-side redelivery of the same queue offset is allowed, a second copy is not)
            await asyncio.sleep(1.5)
            assert sorted(name for name, _, _ in deliveries) == sorted([*due, "past"])
        finally:
            await consumer.shutdown()

    run(scenario(), timeout=150)
