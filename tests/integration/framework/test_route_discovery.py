"""Fast route discovery: listeners started before their topic exists (created by the first send,
``autoCreateTopicEnable``) get the first message within seconds, not at the next 30 s NameServer
poll; the first ``send_and_receive`` succeeds; and nothing is logged at WARNING meanwhile."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rocketmq_integration.client import ClientConfig
from rocketmq_integration.listeners import ConsumeFrom, ListenerContainer, build_spec
from rocketmq_integration.pytest_plugin import MessageCollector
from rocketmq_integration.template import RocketMQTemplate


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_logged() -> Iterator[Warnings]:
    handler = Warnings()
    names = ("rocketmq_integration", "broker_core")
    for name in names:
        logging.getLogger(name).addHandler(handler)
    try:
        yield handler
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(handler)


def start(spec: Any, namesrv: str, stack: list[ListenerContainer]) -> ListenerContainer:
    # the default client timers (30 s NameServer poll): what a user's worker runs with
    container = ListenerContainer(spec, namesrv_addr=namesrv, client_config=ClientConfig())
    stack.append(container)
    container.start()
    return container


def test_listener_started_before_its_topic_gets_the_first_message_within_3s(
    rocketmq_cluster: Any, warnings_logged: Warnings
) -> None:
    topic = rocketmq_cluster.unique("late_topic")
    got = MessageCollector()
    containers: list[ListenerContainer] = []
    template = RocketMQTemplate(rocketmq_cluster.unique("late_p"), namesrv_addr=rocketmq_cluster.namesrv_addr)
    try:
        start(build_spec(got, topic=topic, consumer_group=rocketmq_cluster.unique("late_g")),
              rocketmq_cluster.namesrv_addr, containers)  # fmt: skip
        time.sleep(3.0)  # the listener has been waiting a while: discovery must not have given up
        t0 = time.monotonic()
        template.send(topic, "first")
        got.wait_for(1, timeout=30)
        elapsed = got.times[0] - t0
        print(f"first message {elapsed:.2f}s after the first send")
        assert elapsed < 3.0, f"first message after {elapsed:.1f}s"
        assert got.items == ["first"]
    finally:
        for c in containers:
            c.stop()
        template.close()
    assert [r.getMessage() for r in warnings_logged.records] == []


def test_first_send_and_receive_to_a_reply_listener_started_before_its_topic_succeeds(
    rocketmq_cluster: Any, warnings_logged: Warnings
) -> None:
    topic = rocketmq_cluster.unique("late_rr")
    containers: list[ListenerContainer] = []

    def answer(payload: str) -> str:
        return payload.upper()

    template = RocketMQTemplate(
        rocketmq_cluster.unique("late_rr_p"), namesrv_addr=rocketmq_cluster.namesrv_addr
    )
    try:
        spec = build_spec(
            answer, topic=topic, consumer_group=rocketmq_cluster.unique("late_rr_g"),
            consume_from=ConsumeFrom.LAST_OFFSET,
        )  # fmt: skip
        start(spec, rocketmq_cluster.namesrv_addr, containers)
        assert template.send_and_receive(topic, "ping", reply_type=str) == "PING"
    finally:
        for c in containers:
            c.stop()
        template.close()
    assert [r.getMessage() for r in warnings_logged.records] == []
