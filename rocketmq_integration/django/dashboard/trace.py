"""Message trace: the records clients with tracing on write to the trace topic, found by msgId.

A client with message trace enabled (Java ``enableMsgTrace``, rocketmq-spring
``enable-msg-trace``, ``python -m broker_core admin sendMessage -m true``) sends, for each produce /
consume / end-transaction, a message to the trace topic (``RMQ_SYS_TRACE_TOPIC`` unless customised;
the broker creates it with ``traceTopicEnable=true``) whose KEYS hold the traced msgId. The records
are decoded by :mod:`broker_core.message.trace` (Apache's ``TraceDataEncoder`` format); a cluster
without the trace topic has no trace to show.
"""

from __future__ import annotations

from broker_core.message.trace import TRACE_TOPIC, TraceView, views_for
from rocketmq_integration.client import Admin

__all__ = ["DEFAULT_TRACE_TOPIC", "lookup"]

DEFAULT_TRACE_TOPIC = TRACE_TOPIC


async def lookup(admin: Admin, msg_id: str, trace_topic: str = DEFAULT_TRACE_TOPIC) -> list[TraceView] | None:
    """Trace steps of ``msg_id`` in time order (Pub first); ``None`` when there is no trace topic."""
    if trace_topic not in await admin.topic_list():
        return None
    steps: list[TraceView] = []
    for msg in await admin.query_message(trace_topic, msg_id, max_num=64):
        try:
            steps += views_for(msg_id, msg.body, f"{msg.born_host[0]}:{msg.born_host[1]}")
        except ValueError:  # a malformed record of some client: skip that trace message
            continue
    order = {"Pub": 0, "EndTransaction": 1, "SubBefore": 2, "SubAfter": 3}
    return sorted(steps, key=lambda v: (v.msg_type != "Pub", v.time_stamp, order.get(v.msg_type, 9)))
