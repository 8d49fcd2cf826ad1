"""``SuspendQueue(duration)`` end to end: an orderly listener's pause is the duration it raised, and
``SuspendQueue()`` (like any other failure) falls back to ``suspend_current_queue_time``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rocketmq_integration.listeners import ConsumeMode, MessageContext, SuspendQueue
from rocketmq_integration.pytest_plugin import MessageCollector

from .helpers import new_topic

#: the listeners' default pause: far longer than the per-call one, so the gaps are unambiguous
DEFAULT_SUSPEND = 3.0


def _fails_once_on_1(seen: MessageCollector, outcome: SuspendQueue) -> Callable[[int, MessageContext], None]:
    failed = threading.Event()

    def handler(payload: int, ctx: MessageContext) -> None:
        seen(payload, ctx)
        if payload == 1 and not failed.is_set():
            failed.set()
            raise outcome

    return handler


def test_suspend_queue_duration_is_honoured(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    collectors: dict[str, MessageCollector] = {}
    for name, outcome in (("short", SuspendQueue(0.2)), ("default", SuspendQueue())):
        topic = new_topic(rocketmq_cluster, f"f_susp_{name}", queues=1)
        seen = collectors[name] = MessageCollector()
        handler = _fails_once_on_1(seen, outcome)
        for i in range(3):
            rocketmq_template.send_orderly(topic, i, hash_key="k")
        rocketmq_listeners.run(
            handler, topic=topic, consumer_group=rocketmq_cluster.unique(f"f_susp_{name}_g"),
            consume_mode=ConsumeMode.ORDERLY, suspend_current_queue_time=DEFAULT_SUSPEND, name=f"susp_{name}",
        )  # fmt: skip
    short, default = collectors["short"], collectors["default"]
    assert short.wait_for(4, 30) == [0, 1, 1, 2]
    assert default.wait_for(4, 30) == [0, 1, 1, 2]
    assert [c.reconsume_times for c in short.contexts] == [0, 0, 1, 0]
    short_pause = short.times[2] - short.times[1]
    default_pause = default.times[2] - default.times[1]
    assert 0.15 <= short_pause < 1.5, f"SuspendQueue(0.2) paused {short_pause:.2f}s"
    assert default_pause >= DEFAULT_SUSPEND - 0.1, f"SuspendQueue() paused only {default_pause:.2f}s"
