"""Admin helper: create topics, read queue offsets, inspect routes (a small ``mqadmin``).

Read-side operations (the ``mqadmin`` ``topicList`` / ``topicStatus`` / ``consumerProgress`` /
``consumerConnection`` / ``brokerStatus`` family) ask every master broker of the cluster and merge
the answers, so callers such as dashboards never deal with broker addresses themselves.

Uses its own client instance (instance name ``<pid>#<ns>``), so it never disturbs producers or
consumers. Topic creation goes to every master of a cluster (found with GET_BROKER_CLUSTER_INFO)
or to one broker address; :meth:`Admin.wait_for_route` then polls the NameServer until the topic is
routable, which is what tests and start-up scripts want before starting consumers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt, MessageQueue
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.remoting.body.cluster import ClusterInfo
from broker_core.remoting.body.consumer_admin import (
    MQ,
    ConsumerConnection,
    ConsumeStats,
    OffsetWrapper,
    TopicOffset,
)
from broker_core.remoting.body.route import MASTER_ID, TopicRouteData
from broker_core.remoting.body.topic_config import TopicConfig
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.headers.client import CreateTopicRequestHeader
from rocketmq_integration.client.config import AUTO_CREATE_TOPIC_KEY, ClientConfig, unique_instance_name
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.route import publish_queues, subscribe_queues
from rocketmq_integration.client.validation import check_group, check_topic
from rocketmq_integration.errors import MQBrokerError, MQClientError, NoRouteError, RemotingError

__all__ = ["Admin"]


class Admin:
    """Async admin operations; use as ``async with Admin(namesrv_addr) as admin: ...``."""

    def __init__(self, namesrv_addr: str | None = None, *, client_config: ClientConfig | None = None) -> None:
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self._client: MQClientInstance | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = MQClientInstance.acquire(self.client_config, f"admin-{unique_instance_name()}")

    async def shutdown(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.release()

    async def __aenter__(self) -> Admin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    @property
    def client(self) -> MQClientInstance:
        if self._client is None:
            raise MQClientError("admin is not started")
        return self._client

    async def cluster_info(self) -> ClusterInfo:
        """GET_BROKER_CLUSTER_INFO from the first NameServer that answers."""
        last: RemotingError | None = None
        for addr in self.client_config.namesrv_addrs:
            try:
                return await self.client.api.get_cluster_info(addr)
            except RemotingError as exc:
                last = exc
        raise last or MQClientError("no NameServer address configured")

    async def create_topic(
        self,
        topic: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        read_queue_nums: int = 4,
        write_queue_nums: int = 4,
        perm: int = 6,
        order: bool = False,
    ) -> list[str]:
        """UPDATE_AND_CREATE_TOPIC on ``broker_addr``, or on every master of ``cluster``
        (every master of every cluster when neither is given). Returns the addresses updated."""
        check_topic(topic)
        if broker_addr:
            addrs = [broker_addr]
        else:
            info = await self.cluster_info()
            names = (
                list(info.cluster_addr_table.get(cluster, ()))
                if cluster
                else [n for ns in info.cluster_addr_table.values() for n in ns]
            )
            addrs = [
                a for n in names
                if (bd := info.broker_addr_table.get(n)) is not None and (a := bd.broker_addrs.get(MASTER_ID))
            ]  # fmt: skip
            if not addrs:
                raise MQClientError(f"no master broker found for cluster {cluster!r}")
        header = CreateTopicRequestHeader(
            topic=topic, default_topic=AUTO_CREATE_TOPIC_KEY, read_queue_nums=read_queue_nums,
            write_queue_nums=write_queue_nums, perm=perm, topic_sys_flag=0, order=order,
        )  # fmt: skip
        await asyncio.gather(*(self.client.api.create_topic(a, header) for a in addrs))
        return addrs

    async def delete_topic(self, topic: str) -> None:
        """``mqadmin deleteTopic``: DELETE_TOPIC_IN_BROKER on every master, then
        DELETE_TOPIC_IN_NAMESRV on every NameServer (its messages go with the commit log's expiry).

        Raises:
            MQBrokerError: a server refused (ACL, a system topic).
        """
        check_topic(topic)
        for addr in (await self.master_addrs()).values():
            await self._call_ok(addr, RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": topic})
        for addr in self.client_config.namesrv_addrs:
            await self._call_ok(addr, RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": topic})

    async def delete_subscription_group(self, group: str, *, remove_offset: bool = True) -> None:
        """``mqadmin deleteSubGroup`` on every master: the group's subscription config and, with
        ``remove_offset``, its consume offsets."""
        check_group(group)
        ext = {"groupName": group, "removeOffset": "true" if remove_offset else "false"}
        for addr in (await self.master_addrs()).values():
            await self._call_ok(addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)

    async def _call_ok(self, addr: str, code: int, ext: dict[str, str]) -> None:
        api = self.client.api
        resp = await api.invoke(addr, api.request(code, ext), self.client_config.mq_client_api_timeout)
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark or "", addr)

    async def examine_route(self, topic: str) -> TopicRouteData:
        """The NameServer's route of ``topic``. Raises NoRouteError when unknown."""
        route = await self.client.update_route(topic)
        if route is None:
            raise NoRouteError(topic)
        return route

    async def wait_for_route(
        self, topic: str, *, min_write_queues: int = 1, timeout: float = 30.0
    ) -> TopicRouteData:
        """Poll until ``topic`` has at least ``min_write_queues`` publish queues.

        Raises:
            TimeoutError: not routable within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            route = await self.client.update_route(topic)
            if route is not None and len(publish_queues(topic, route)) >= min_write_queues:
                return route
            if time.monotonic() >= deadline:
                raise TimeoutError(f"topic {topic!r} is not routable after {timeout}s")
            await asyncio.sleep(0.1)

    async def message_queues(self, topic: str) -> list[MessageQueue]:
        """Readable queues of ``topic`` (sorted)."""
        return subscribe_queues(topic, await self.examine_route(topic))

    async def _addr(self, mq: MessageQueue) -> str:
        addr = self.client.broker_addr(mq.broker_name)
        if addr is None:
            await self.examine_route(mq.topic)
            addr = self.client.broker_addr(mq.broker_name)
        if addr is None:
            raise NoRouteError(mq.topic, f"broker {mq.broker_name} unknown")
        return addr

    async def get_max_offset(self, mq: MessageQueue) -> int:
        return await self.client.api.get_max_offset(await self._addr(mq), mq)

    async def get_min_offset(self, mq: MessageQueue) -> int:
        return await self.client.api.get_min_offset(await self._addr(mq), mq)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        return await self.client.api.search_offset(await self._addr(mq), mq, timestamp_ms)

    async def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        """The committed offset of ``group`` on ``mq``, ``None`` if the broker has none."""
        check_group(group)
        return await self.client.api.query_consumer_offset(await self._addr(mq), group, mq)

    # ---- message queries (QUERY_MESSAGE / VIEW_MESSAGE_BY_ID) ----------------------------------
    async def _master_addrs(self, topic: str) -> list[str]:
        route = await self.examine_route(topic)
        return [bd.broker_addrs[MASTER_ID] for bd in route.broker_datas if MASTER_ID in bd.broker_addrs]

    async def query_message(
        self, topic: str, key: str, max_num: int = 32, begin: int = 0, end: int = 2**63 - 1
    ) -> list[MessageExt]:
        """Messages of ``topic`` whose KEYS contain ``key`` stored in [begin, end] ms, from every master."""
        out: list[MessageExt] = []
        for addr in await self._master_addrs(topic):
            body = await self.client.api.query_message(addr, topic, key, max_num, begin, end)
            out += [
                m
                for m in decode_records(body, decompress=True)
                if m.topic == topic and key in (m.keys or "").split()
            ]
        return out[:max_num] if max_num > 0 else out

    async def query_by_uniq_key(self, topic: str, uniq_key: str) -> MessageExt | None:
        """The message whose client msgId (UNIQ_KEY) is ``uniq_key``; the newest copy if stored twice."""
        found: list[MessageExt] = []
        for addr in await self._master_addrs(topic):
            body = await self.client.api.query_message(
                addr, topic, uniq_key, 32, 0, 2**63 - 1, unique_key=True
            )
            found += [m for m in decode_records(body, decompress=True)
                      if m.topic == topic and m.properties.get("UNIQ_KEY") == uniq_key]  # fmt: skip
        return max(found, key=lambda m: m.store_timestamp) if found else None

    async def view_message(self, offset_msg_id: str) -> MessageExt:
        """The message with broker-side (offset) msgId ``offset_msg_id``: store host + commit-log offset."""
        (host, port), phy = decode_offset_msg_id(offset_msg_id)
        body = await self.client.api.view_message(f"{host}:{port}", phy)
        (msg,) = decode_records(body, decompress=True)
        return msg

    # ---- read-side admin (topics, groups, lag, broker figures) ---------------------------------
    async def master_addrs(self) -> dict[str, str]:
        """Broker name → master address, for every broker the NameServer knows."""
        info = await self.cluster_info()
        return {
            name: bd.broker_addrs[MASTER_ID]
            for name, bd in sorted(info.broker_addr_table.items())
            if MASTER_ID in bd.broker_addrs
        }

    async def topic_list(self) -> list[str]:
        """Every topic registered on the NameServer (GET_ALL_TOPIC_LIST_FROM_NAMESERVER)."""
        last: RemotingError | None = None
        for addr in self.client_config.namesrv_addrs:
            try:
                return await self.client.api.get_all_topic_list(addr)
            except RemotingError as exc:
                last = exc
        raise last or MQClientError("no NameServer address configured")

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO of one broker (``mqadmin brokerStatus``)."""
        return await self.client.api.get_broker_runtime_info(broker_addr)

    async def topic_configs(self) -> dict[str, TopicConfig]:
        """The topic tables of every master, merged (the first broker's config wins on a name clash)."""
        out: dict[str, TopicConfig] = {}
        for addr in (await self.master_addrs()).values():
            for name, tc in (await self.client.api.get_all_topic_config(addr)).items():
                out.setdefault(name, tc)
        return out

    async def subscription_groups(self) -> dict[str, dict[str, object]]:
        """Subscription-group configs of every master, merged (group name → broker JSON object)."""
        out: dict[str, dict[str, object]] = {}
        for addr in (await self.master_addrs()).values():
            for name, cfg in (await self.client.api.get_all_subscription_groups(addr)).items():
                out.setdefault(name, cfg)
        return out

    async def topic_stats(self, topic: str) -> dict[MQ, TopicOffset]:
        """Min/max offset and last store time of every queue of ``topic`` on every master."""
        check_topic(topic)
        out: dict[MQ, TopicOffset] = {}
        for addr in await self._master_addrs(topic):
            out.update(await self.client.api.get_topic_stats(addr, topic))
        return dict(sorted(out.items()))

    async def consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """Broker vs committed offset of ``group`` per queue on every master; ``diff_total`` is the lag."""
        check_group(group)
        table: dict[MQ, OffsetWrapper] = {}
        tps = 0.0
        for addr in (await self.master_addrs()).values():
            stats = await self.client.api.get_consume_stats(addr, group, topic)
            table.update(stats.offset_table)
            tps += stats.consume_tps
        return ConsumeStats(dict(sorted(table.items())), tps)

    async def consumer_connection(self, group: str) -> ConsumerConnection | None:
        """Online members of ``group`` with their subscriptions (first master that knows it)."""
        check_group(group)
        for addr in (await self.master_addrs()).values():
            conn = await self.client.api.get_consumer_connection(addr, group)
            if conn is not None:
                return conn
        return None

    async def groups_of_topic(self, topic: str) -> list[str]:
        """Groups subscribed to ``topic`` or holding offsets on it, on any master."""
        groups: set[str] = set()
        for addr in await self._master_addrs(topic):
            groups.update(await self.client.api.query_topic_consume_by_who(addr, topic))
        return sorted(groups)
