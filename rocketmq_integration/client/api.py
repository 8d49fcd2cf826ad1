"""One method per remoting request the client sends (Java ``MQClientAPIImpl``), over the asyncio client.

Every call goes through :meth:`MQClientAPI.invoke`, the single place where ``broker_core``
remoting exceptions become :class:`~rocketmq_integration.errors.RemotingError` subclasses and
where the client's language and serialisation are stamped on requests. Methods that expect
``SUCCESS`` raise :class:`~rocketmq_integration.errors.MQBrokerError` otherwise; the send and pull
paths return the raw response because several codes are normal outcomes there.
"""

from __future__ import annotations

import hmac
from typing import Any

from broker_core import errors as core_errors
from broker_core.message.model import MessageQueue
from broker_core.remoting import fastjson
from broker_core.remoting.body.cluster import ClusterInfo
from broker_core.remoting.body.consumer_admin import (
    MQ,
    ConsumerConnection,
    ConsumeStats,
    TopicOffset,
    decode_group_list,
    decode_topic_stats,
)
from broker_core.remoting.body.heartbeat import (
    HeartbeatData,
    LockBatchBody,
    SubscriptionData,
    decode_consumer_list,
    decode_lock_response,
)
from broker_core.remoting.body.kv import TopicList
from broker_core.remoting.body.route import TopicRouteData
from broker_core.remoting.body.topic_config import TopicConfig, TopicConfigSerializeWrapper
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.client import (
    ConsumerGroupRequestHeader,
    ConsumerSendMsgBackRequestHeader,
    CreateTopicRequestHeader,
    UnregisterClientRequestHeader,
)
from broker_core.remoting.headers.offset import (
    QueryConsumerOffsetRequestHeader,
    QueueRequestHeader,
    SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from broker_core.remoting.signing import hmac_template, sign_request
from rocketmq_integration.client.config import ClientConfig
from rocketmq_integration.errors import (
    MQBrokerError,
    RemotingConnectError,
    RemotingError,
    RemotingTimeoutError,
)

__all__ = ["MQClientAPI"]


def _code_name(code: int) -> str:
    """``SEND_MESSAGE_V2 (310)`` for a known request code, else the number."""
    try:
        return f"{RequestCode(code).name} ({code})"
    except ValueError:
        return str(code)


class MQClientAPI:
    """Typed requests over one :class:`RemotingClient`."""

    def __init__(self, remoting: RemotingClient, config: ClientConfig) -> None:
        self.remoting = remoting
        self.config = config
        #: the version ordinal each server address reported in its last response
        self.versions: dict[str, int] = {}
        self._hmac: hmac.HMAC | None = None

    def request(
        self, code: int, ext: dict[str, str] | None = None, body: bytes | None = None
    ) -> RemotingCommand:
        cmd = RemotingCommand.request(code, ext, body, serialize_type=self.config.serialize_type)
        cmd.language = self.config.language
        return cmd

    def sign(self, cmd: RemotingCommand) -> RemotingCommand:
        """Add the ACL signature when credentials are configured (``AclClientRPCHook``)."""
        cfg = self.config
        if cfg.access_key and cfg.secret_key:
            if self._hmac is None:
                self._hmac = hmac_template(cfg.secret_key)
            sign_request(cmd, cfg.access_key, self._hmac, cfg.security_token or None)
        return cmd

    async def invoke(self, addr: str, cmd: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send and await the response; network failures raise :class:`RemotingError` subclasses."""
        if self.config.access_key:
            self.sign(cmd)
        try:
            resp = await self.remoting.invoke(addr, cmd, timeout)
            self.versions[addr] = resp.version
            return resp
        except core_errors.RemotingTimeoutError as exc:
            raise RemotingTimeoutError(
                f"request {_code_name(cmd.code)} to {addr} got no answer within {timeout:.1f}s "
                "(is the server overloaded or unreachable? a longer timeout may help)",
                addr,
            ) from exc
        except core_errors.RemotingConnectError as exc:
            raise RemotingConnectError(str(exc), addr) from exc
        except core_errors.BrokerCoreError as exc:
            raise RemotingError(f"request {cmd.code} to {addr} failed: {exc}", addr) from exc

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand) -> None:
        if self.config.access_key:
            self.sign(cmd)
        try:
            await self.remoting.invoke_oneway(addr, cmd)
        except core_errors.RemotingConnectError as exc:
            raise RemotingConnectError(str(exc), addr) from exc
        except core_errors.BrokerCoreError as exc:
            raise RemotingError(f"oneway request {cmd.code} to {addr} failed: {exc}", addr) from exc

    async def _call_ok(
        self,
        addr: str,
        code: int,
        ext: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> RemotingCommand:
        resp = await self.invoke(
            addr, self.request(code, ext, body), timeout or self.config.mq_client_api_timeout
        )
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        return resp

    # ----------------------------------------------------------------------------- namesrv

    async def get_route(self, namesrv: str, topic: str) -> TopicRouteData | None:
        """The route of ``topic``, or ``None`` when the NameServer answers TOPIC_NOT_EXIST."""
        resp = await self.invoke(
            namesrv,
            self.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}),
            self.config.mq_client_api_timeout,
        )
        if resp.code == ResponseCode.TOPIC_NOT_EXIST:
            return None
        if resp.code != ResponseCode.SUCCESS or not resp.body:
            raise MQBrokerError(resp.code, resp.remark, namesrv)
        return TopicRouteData.from_json(resp.body)

    async def get_cluster_info(self, namesrv: str) -> ClusterInfo:
        resp = await self._call_ok(namesrv, RequestCode.GET_BROKER_CLUSTER_INFO)
        return ClusterInfo.from_json(resp.body or b"{}")

    # --------------------------------------------------------------------------- clients

    async def heartbeat(self, addr: str, data: HeartbeatData) -> None:
        await self._call_ok(addr, RequestCode.HEART_BEAT, None, data.encode())

    async def check_client_config(self, addr: str, client_id: str, group: str, sub: SubscriptionData) -> None:
        """CHECK_CLIENT_CONFIG: can the broker serve this (non-TAG) subscription? MQBrokerError if not."""
        body = fastjson.dumps({"clientId": client_id, "group": group, "subscriptionData": sub.to_json()})
        await self._call_ok(addr, RequestCode.CHECK_CLIENT_CONFIG, None, body.encode())

    async def unregister_client(
        self,
        addr: str,
        client_id: str,
        *,
        producer_group: str | None = None,
        consumer_group: str | None = None,
    ) -> None:
        hdr = UnregisterClientRequestHeader(client_id, producer_group, consumer_group)
        await self._call_ok(addr, RequestCode.UNREGISTER_CLIENT, hdr.to_ext_fields())

    async def get_consumer_ids(self, addr: str, group: str) -> list[str]:
        ext = ConsumerGroupRequestHeader(group).to_ext_fields()
        resp = await self._call_ok(addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, ext)
        return decode_consumer_list(resp.body)

    async def send_back(self, addr: str, header: ConsumerSendMsgBackRequestHeader, timeout: float) -> None:
        await self._call_ok(addr, RequestCode.CONSUMER_SEND_MSG_BACK, header.to_ext_fields(), timeout=timeout)

    async def lock_batch_mq(
        self, addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> set[MessageQueue]:
        """LOCK_BATCH_MQ: the subset of ``mqs`` this client now holds (granted or renewed)."""
        body = LockBatchBody(group, client_id, [(mq.topic, mq.broker_name, mq.queue_id) for mq in mqs])
        resp = await self._call_ok(addr, RequestCode.LOCK_BATCH_MQ, None, body.encode())
        return {MessageQueue(t, b, q) for t, b, q in decode_lock_response(resp.body)}

    async def unlock_batch_mq(self, addr: str, group: str, client_id: str, mqs: list[MessageQueue]) -> None:
        body = LockBatchBody(group, client_id, [(mq.topic, mq.broker_name, mq.queue_id) for mq in mqs])
        await self._call_ok(addr, RequestCode.UNLOCK_BATCH_MQ, None, body.encode())

    # --------------------------------------------------------------------------- offsets

    async def query_consumer_offset(self, addr: str, group: str, mq: MessageQueue) -> int | None:
        """Committed offset, or ``None`` on QUERY_NOT_FOUND."""
        ext = QueryConsumerOffsetRequestHeader(group, mq.topic, mq.queue_id, mq.broker_name).to_ext_fields()
        resp = await self.invoke(
            addr, self.request(RequestCode.QUERY_CONSUMER_OFFSET, ext), self.config.mq_client_api_timeout
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        return int((resp.ext_fields or {}).get("offset", "-1"))

    async def update_consumer_offset(
        self, addr: str, group: str, mq: MessageQueue, offset: int, *, oneway: bool
    ) -> None:
        ext = UpdateConsumerOffsetRequestHeader(
            group, mq.topic, mq.queue_id, offset, mq.broker_name
        ).to_ext_fields()
        if oneway:
            await self.invoke_oneway(addr, self.request(RequestCode.UPDATE_CONSUMER_OFFSET, ext))
        else:
            await self._call_ok(addr, RequestCode.UPDATE_CONSUMER_OFFSET, ext)

    async def _offset_call(self, addr: str, code: int, ext: dict[str, str]) -> int:
        resp = await self._call_ok(addr, code, ext)
        return int((resp.ext_fields or {}).get("offset", "0"))

    async def get_max_offset(self, addr: str, mq: MessageQueue) -> int:
        ext = QueueRequestHeader(mq.topic, mq.queue_id, mq.broker_name).to_ext_fields()
        return await self._offset_call(addr, RequestCode.GET_MAX_OFFSET, ext)

    async def get_min_offset(self, addr: str, mq: MessageQueue) -> int:
        ext = QueueRequestHeader(mq.topic, mq.queue_id, mq.broker_name).to_ext_fields()
        return await self._offset_call(addr, RequestCode.GET_MIN_OFFSET, ext)

    async def search_offset(self, addr: str, mq: MessageQueue, timestamp_ms: int) -> int:
        ext = SearchOffsetRequestHeader(mq.topic, mq.queue_id, timestamp_ms, mq.broker_name).to_ext_fields()
        return await self._offset_call(addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, ext)

    # ----------------------------------------------------------------------------- admin

    async def create_topic(self, addr: str, header: CreateTopicRequestHeader) -> None:
        await self._call_ok(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, header.to_ext_fields())

    # ----------------------------------------------------------------------------- queries

    async def query_message(
        self, addr: str, topic: str, key: str, max_num: int, begin: int, end: int, *, unique_key: bool = False
    ) -> bytes:
        """QUERY_MESSAGE: raw store records (hash matches; caller re-filters), b"" when none."""
        ext = {"topic": topic, "key": key, "maxNum": str(max_num), "beginTimestamp": str(begin),
               "endTimestamp": str(end)}  # fmt: skip
        if unique_key:
            ext["_UNIQUE_KEY_QUERY"] = "true"
        resp = await self.invoke(
            addr, self.request(RequestCode.QUERY_MESSAGE, ext), self.config.mq_client_api_timeout
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return b""
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        return resp.body or b""

    async def view_message(self, addr: str, phy_offset: int) -> bytes:
        """VIEW_MESSAGE_BY_ID: the raw record at a commit-log offset."""
        resp = await self._call_ok(addr, RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(phy_offset)})
        return resp.body or b""

    # ----------------------------------------------------------------------------- admin reads

    async def get_all_topic_list(self, namesrv: str) -> list[str]:
        """GET_ALL_TOPIC_LIST_FROM_NAMESERVER: every topic some broker registered."""
        resp = await self._call_ok(namesrv, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return sorted(TopicList.from_json(resp.body or b"{}").topic_list)

    async def get_broker_runtime_info(self, addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO: the broker's ``table`` of figures (all values are strings)."""
        resp = await self._call_ok(addr, RequestCode.GET_BROKER_RUNTIME_INFO)
        table = fastjson.loads(resp.body or b"{}").get("table") or {}
        return {str(k): str(v) for k, v in table.items()}

    async def get_all_topic_config(self, addr: str) -> dict[str, TopicConfig]:
        """GET_ALL_TOPIC_CONFIG: the broker's topic table."""
        resp = await self._call_ok(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
        return dict(TopicConfigSerializeWrapper.from_json(resp.body or b"{}").topic_config_table)

    async def get_all_subscription_groups(self, addr: str) -> dict[str, dict[str, Any]]:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG: group name → its config as the broker's JSON object."""
        resp = await self._call_ok(addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        table = fastjson.loads(resp.body or b"{}").get("subscriptionGroupTable") or {}
        return {str(k): dict(v) for k, v in table.items()}

    async def get_topic_stats(self, addr: str, topic: str) -> dict[MQ, TopicOffset]:
        """GET_TOPIC_STATS_INFO: min/max offset and last store time per queue; {} when unknown there."""
        resp = await self.invoke(
            addr,
            self.request(RequestCode.GET_TOPIC_STATS_INFO, {"topic": topic}),
            self.config.mq_client_api_timeout,
        )
        if resp.code == ResponseCode.TOPIC_NOT_EXIST:
            return {}
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        return decode_topic_stats(resp.body or b"{}")

    async def get_consume_stats(self, addr: str, group: str, topic: str | None = None) -> ConsumeStats:
        """GET_CONSUME_STATS: broker and committed offsets of ``group`` per queue (all its topics)."""
        ext = {"consumerGroup": group}
        if topic:
            ext["topic"] = topic
        resp = await self._call_ok(addr, RequestCode.GET_CONSUME_STATS, ext)
        return ConsumeStats.decode(resp.body or b"{}")

    async def get_consumer_connection(self, addr: str, group: str) -> ConsumerConnection | None:
        """GET_CONSUMER_CONNECTION_LIST: the online members of ``group``; ``None`` when none is online."""
        resp = await self.invoke(
            addr,
            self.request(RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group}),
            self.config.mq_client_api_timeout,
        )
        if resp.code == ResponseCode.CONSUMER_NOT_ONLINE:
            return None
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        return ConsumerConnection.decode(resp.body or b"{}")

    async def query_topic_consume_by_who(self, addr: str, topic: str) -> list[str]:
        """QUERY_TOPIC_CONSUME_BY_WHO: groups subscribed to ``topic`` or holding offsets on it."""
        resp = await self._call_ok(addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic})
        return decode_group_list(resp.body or b"{}")
