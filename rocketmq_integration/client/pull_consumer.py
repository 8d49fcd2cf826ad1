"""Pull consumer with explicit offsets (Java ``DefaultMQPullConsumer``, storage spec §3.1).

The application decides which queue to read and from which offset; the consumer only speaks the
protocol: :meth:`PullConsumer.pull` returns a :class:`PullResult` (status, next begin offset,
min/max offset, messages) and never moves any offset by itself. Offsets the application wants to
keep are stored in the group's broker-side table with :meth:`update_consume_offset` and read back
with :meth:`fetch_consume_offset`.

The group is registered in heartbeats as ``CONSUME_ACTIVELY`` so broker tooling sees it, and each
pull carries its own subscription (SUBSCRIPTION flag), so no rebalance or heartbeat subscription
is needed.
"""

from __future__ import annotations

import dataclasses

from broker_core.message.model import MessageQueue
from broker_core.remoting.body.heartbeat import ConsumerData, SubscriptionData
from rocketmq_integration.client.config import ClientConfig, ConsumerConfig, unique_instance_name
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.pull import pull_once
from rocketmq_integration.client.results import PullResult
from rocketmq_integration.client.sending import now_ms
from rocketmq_integration.client.validation import ServiceState, check_group, check_topic
from rocketmq_integration.errors import MQClientError, NoRouteError

__all__ = ["PullConsumer"]


class PullConsumer:
    """Explicit-offset consumer; see the module docstring."""

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ConsumerConfig | None = None,
    ) -> None:
        check_group(group)
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self.config = dataclasses.replace(config or ConsumerConfig(), group=group)
        self.state = ServiceState.CREATE_JUST
        self._client: MQClientInstance | None = None
        self._topics: set[str] = set()

    @property
    def group(self) -> str:
        return self.config.group

    @property
    def client(self) -> MQClientInstance:
        self.state.ensure_running(f"pull consumer {self.group}")
        assert self._client is not None
        return self._client

    # ConsumerMember protocol
    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_ACTIVELY",
            message_model=self.config.message_model.value,
            consume_from_where=self.config.consume_from_where.value,
            subscriptions=[SubscriptionData.build(t, "*", 0) for t in sorted(self._topics)],
        )

    def subscribed_topics(self) -> list[str]:
        return sorted(self._topics)

    def trigger_rebalance(self) -> None:
        return None

    async def start(self) -> None:
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError(f"pull consumer {self.group} was already started")
        client = MQClientInstance.acquire(self.client_config, unique_instance_name())
        try:
            client.register_consumer(self)
        except MQClientError:
            await client.release()
            raise
        self._client = client
        self.state = ServiceState.RUNNING

    async def shutdown(self) -> None:
        if self.state is not ServiceState.RUNNING:
            self.state = ServiceState.SHUTDOWN_ALREADY
            return
        self.state = ServiceState.SHUTDOWN_ALREADY
        client, self._client = self._client, None
        assert client is not None
        await client.unregister(consumer_group=self.group)
        await client.release()

    async def __aenter__(self) -> PullConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """All readable queues of ``topic`` (fresh from the NameServer).

        Raises:
            NoRouteError: the topic does not exist.
        """
        check_topic(topic)
        client = self.client
        if await client.update_route(topic) is None:
            raise NoRouteError(topic, "topic does not exist")
        self._topics.add(topic)
        return sorted(client.subscribe_queues(topic) or [])

    async def pull(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32, *, timeout: float = 10.0
    ) -> PullResult:
        """Read up to ``max_nums`` messages of ``mq`` from ``offset`` matching the TAG ``expression``."""
        return await self._pull(mq, expression, offset, max_nums, 0.0, timeout)

    async def pull_block_if_not_found(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32, *, hold: float = 15.0
    ) -> PullResult:
        """Like :meth:`pull`, but the broker holds the request up to ``hold`` s until a message arrives."""
        return await self._pull(mq, expression, offset, max_nums, hold, hold + 5.0)

    async def _pull(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int, hold: float, timeout: float
    ) -> PullResult:
        if offset < 0:
            raise MQClientError(f"offset must be >= 0, got {offset}")
        if max_nums <= 0:
            raise MQClientError(f"max_nums must be > 0, got {max_nums}")
        sub = SubscriptionData.build(mq.topic, expression or "*", now_ms())
        return await pull_once(
            self.client, group=self.group, mq=mq, sub=sub, offset=offset, max_nums=max_nums,
            suspend_timeout=hold, timeout=timeout,
        )  # fmt: skip

    async def _addr(self, mq: MessageQueue) -> str:
        client = self.client
        addr = client.broker_addr(mq.broker_name)
        if addr is None:
            await client.update_route(mq.topic)
            addr = client.broker_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"broker {mq.broker_name} not found")
        return addr

    async def update_consume_offset(self, mq: MessageQueue, offset: int) -> None:
        """Store ``offset`` (the next offset to consume) for this group on the broker."""
        await self.client.api.update_consumer_offset(
            await self._addr(mq), self.group, mq, offset, oneway=False
        )

    async def fetch_consume_offset(self, mq: MessageQueue) -> int:
        """The group's stored offset of ``mq``, -1 if none."""
        found = await self.client.api.query_consumer_offset(await self._addr(mq), self.group, mq)
        return -1 if found is None else found

    async def min_offset(self, mq: MessageQueue) -> int:
        return await self.client.api.get_min_offset(await self._addr(mq), mq)

    async def max_offset(self, mq: MessageQueue) -> int:
        return await self.client.api.get_max_offset(await self._addr(mq), mq)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        return await self.client.api.search_offset(await self._addr(mq), mq, timestamp_ms)
