"""Route -> queue lists, and producer queue selection (remoting spec §6.2).

Pure functions over :class:`~broker_core.remoting.body.route.TopicRouteData`:

* :func:`publish_queues` — writable queues of brokers that have a master, sorted by broker name
  (or exactly the ``orderTopicConf`` queues when the NameServer sets it).
* :func:`subscribe_queues` — readable queues of every broker group, sorted.
* :func:`cap_template_route` — the ``TBW102`` fallback: a template route whose queue counts are
  capped to ``defaultTopicQueueNums`` and whose queues are renamed to the new topic.

:class:`TopicPublishInfo` does the default selection: round-robin from a random start, avoiding
the broker of the previous failed attempt when another broker is available.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Sequence

from broker_core.message.model import MessageQueue
from broker_core.message.properties import java_string_hash
from broker_core.remoting.body.route import MASTER_ID, TopicRouteData
from broker_core.remoting.body.topic_config import PERM_READ, PERM_WRITE

__all__ = [
    "TopicPublishInfo",
    "broker_addr_table",
    "cap_template_route",
    "publish_queues",
    "select_by_hash",
    "subscribe_queues",
]


def publish_queues(topic: str, route: TopicRouteData) -> list[MessageQueue]:
    """Queues a producer may send to (Java ``topicRouteData2TopicPublishInfo``)."""
    if route.order_topic_conf:
        out: list[MessageQueue] = []
        for item in route.order_topic_conf.split(";"):
            name, _, num = item.partition(":")
            if name and num.strip().isdigit():
                out.extend(MessageQueue(topic, name, i) for i in range(int(num)))
        return out
    masters = {bd.broker_name for bd in route.broker_datas if bd.broker_addrs.get(MASTER_ID)}
    out = []
    for qd in sorted(route.queue_datas, key=lambda q: q.broker_name):
        if qd.perm & PERM_WRITE and qd.broker_name in masters:
            out.extend(MessageQueue(topic, qd.broker_name, i) for i in range(qd.write_queue_nums))
    return out


def subscribe_queues(topic: str, route: TopicRouteData) -> list[MessageQueue]:
    """Queues a consumer may read (sorted by broker name, then queue id)."""
    out = [
        MessageQueue(topic, qd.broker_name, i)
        for qd in route.queue_datas
        if qd.perm & PERM_READ
        for i in range(qd.read_queue_nums)
    ]
    out.sort()
    return out


def broker_addr_table(route: TopicRouteData) -> dict[str, dict[int, str]]:
    """``broker name -> {broker id: addr}`` of a route."""
    return {bd.broker_name: dict(bd.broker_addrs) for bd in route.broker_datas}


def cap_template_route(route: TopicRouteData, queue_nums: int) -> TopicRouteData:
    """A copy of the template (``TBW102``) route with every queue count capped to ``queue_nums``."""
    capped = tuple(
        dataclasses.replace(
            qd,
            read_queue_nums=min(qd.read_queue_nums, queue_nums),
            write_queue_nums=min(qd.write_queue_nums, queue_nums),
        )
        for qd in route.queue_datas
    )
    return dataclasses.replace(route, queue_datas=capped, order_topic_conf=None)


def select_by_hash(queues: Sequence[MessageQueue], key: str) -> MessageQueue:
    """The queue of a sharding key: ``abs(javaHash(key)) % len(queues)`` (Java ``SelectMessageQueueByHash``)."""
    if not queues:
        raise IndexError("no queue to select from")
    return queues[abs(java_string_hash(key)) % len(queues)]


class TopicPublishInfo:
    """The publish queues of one topic and the round-robin position.

    Attributes:
        queues: publish queues in selection order.
        from_template: the route is the ``TBW102`` template (topic not created yet).
        order_topic: the route came with ``orderTopicConf``.
    """

    __slots__ = ("_counter", "from_template", "order_topic", "queues", "topic")

    def __init__(
        self,
        topic: str,
        queues: Sequence[MessageQueue],
        *,
        from_template: bool = False,
        order_topic: bool = False,
    ) -> None:
        self.topic = topic
        self.queues: tuple[MessageQueue, ...] = tuple(queues)
        self.from_template = from_template
        self.order_topic = order_topic
        self._counter = itertools.count(random.randrange(1 << 16))

    @classmethod
    def from_route(
        cls, topic: str, route: TopicRouteData, *, from_template: bool = False
    ) -> TopicPublishInfo:
        return cls(
            topic,
            publish_queues(topic, route),
            from_template=from_template,
            order_topic=bool(route.order_topic_conf),
        )

    @property
    def ok(self) -> bool:
        return bool(self.queues)

    def select(self, last_broker: str | None = None) -> MessageQueue:
        """Next queue round-robin; with ``last_broker`` prefer a queue on a different broker.

        Raises:
            IndexError: the topic has no publish queue.
        """
        queues = self.queues
        n = len(queues)
        if n == 0:
            raise IndexError(f"topic {self.topic} has no writable queue")
        if last_broker is None:
            return queues[next(self._counter) % n]
        for _ in range(n):
            mq = queues[next(self._counter) % n]
            if mq.broker_name != last_broker:
                return mq
        return queues[next(self._counter) % n]
