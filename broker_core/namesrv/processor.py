"""Request handlers of the NameServer (Apache ``DefaultRequestProcessor``, 4.9.8 behaviour).

Every handler decodes its typed header first; a missing or malformed required field, or a body
that does not parse, becomes a SYSTEM_ERROR response whose remark says what was wrong (Java
would fail later with a NullPointerException). Unknown codes never reach this module: the
dispatcher's default answers REQUEST_CODE_NOT_SUPPORTED.

Handlers are synchronous except the KV writes, which persist the file in a worker thread before
answering (so a SUCCESS means the value is on disk when a path is configured).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from broker_core.config.namesrv import NamesrvConfig, parse_properties
from broker_core.logsetup import get_logger
from broker_core.namesrv.kv_config import ORDER_TOPIC_CONFIG, KVConfigManager, write_file
from broker_core.namesrv.routes import RouteInfoManager
from broker_core.remoting.body import (
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicConfigSerializeWrapper,
    TopicList,
    body_crc32,
)
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.namesrv import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)

if TYPE_CHECKING:
    from broker_core.remoting.channel import Channel

__all__ = ["NamesrvProcessor", "topic_not_exist_remark"]

log = get_logger(__name__)

#: ``MQVersion.Version.V4_9_4``: from this request version routes are answered in standard JSON.
V4_9_4 = 401

_FAQ_SUFFIX = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


def topic_not_exist_remark(topic: str) -> str:
    """The exact TOPIC_NOT_EXIST remark of Apache 4.9.8 (clients show it to users)."""
    return f"No topic route info in name server for the topic: {topic}{_FAQ_SUFFIX}"


def _error(cmd: RemotingCommand, exc: Exception) -> RemotingCommand:
    if isinstance(exc, HeaderError):
        remark = f"invalid request header: {exc}"
    else:
        remark = f"invalid request body: {exc}"
    log.warning("bad namesrv request", code=cmd.code, remark=remark)
    return cmd.make_response(ResponseCode.SYSTEM_ERROR, remark)


async def _guard_async(cmd: RemotingCommand, pending: Awaitable[RemotingCommand]) -> RemotingCommand:
    try:
        return await pending
    except (HeaderError, ValueError) as exc:
        return _error(cmd, exc)


def _guard(fn: Callable[[RemotingCommand], Any]) -> Callable[[RemotingCommand, Channel], Any]:
    """Turn header/body errors of ``fn`` into SYSTEM_ERROR responses."""

    def handler(cmd: RemotingCommand, channel: Channel) -> Any:
        try:
            result = fn(cmd)
        except (HeaderError, ValueError) as exc:
            return _error(cmd, exc)
        if inspect.isawaitable(result):
            return _guard_async(cmd, result)
        return result

    return handler


class NamesrvProcessor:
    """Handlers over a :class:`RouteInfoManager` and a :class:`KVConfigManager`.

    Attributes:
        config: current settings; UPDATE_NAMESRV_CONFIG replaces it (the listen address and
            KV path of a running server do not change, as in Java).
    """

    def __init__(self, routes: RouteInfoManager, kv: KVConfigManager, config: NamesrvConfig) -> None:
        self.routes = routes
        self.kv = kv
        self.config = config
        self._kv_lock = asyncio.Lock()

    def register_to(self, dispatcher: Dispatcher) -> None:
        """Install every NameServer request code on ``dispatcher``."""
        table: dict[RequestCode, Callable[[RemotingCommand], Any]] = {
            RequestCode.PUT_KV_CONFIG: self.put_kv_config,
            RequestCode.GET_KV_CONFIG: self.get_kv_config,
            RequestCode.DELETE_KV_CONFIG: self.delete_kv_config,
            RequestCode.GET_KVLIST_BY_NAMESPACE: self.get_kv_list_by_namespace,
            RequestCode.QUERY_DATA_VERSION: self.query_data_version,
            RequestCode.UNREGISTER_BROKER: self.unregister_broker,
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self.get_route_info_by_topic,
            RequestCode.GET_BROKER_CLUSTER_INFO: self.get_broker_cluster_info,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER: self.wipe_write_perm_of_broker,
            RequestCode.ADD_WRITE_PERM_OF_BROKER: self.add_write_perm_of_broker,
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self.get_all_topic_list,
            RequestCode.DELETE_TOPIC_IN_NAMESRV: self.delete_topic_in_namesrv,
            RequestCode.GET_TOPICS_BY_CLUSTER: self.get_topics_by_cluster,
            RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS: self.get_system_topic_list,
            RequestCode.GET_UNIT_TOPIC_LIST: self.get_unit_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST: self.get_has_unit_sub_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: self.get_has_unit_sub_ununit_topic_list,
            RequestCode.UPDATE_NAMESRV_CONFIG: self.update_namesrv_config,
            RequestCode.GET_NAMESRV_CONFIG: self.get_namesrv_config,
        }
        for code, fn in table.items():
            dispatcher.register(code, _guard(fn))
        # REGISTER_BROKER needs the channel (its closing removes the broker).
        dispatcher.register(RequestCode.REGISTER_BROKER, self._register_broker_handler)

    # ------------------------------------------------------------------ brokers
    def _register_broker_handler(self, cmd: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            return self.register_broker(cmd, channel)
        except (HeaderError, ValueError) as exc:
            return _error(cmd, exc)

    def register_broker(self, cmd: RemotingCommand, channel: object | None = None) -> RemotingCommand:
        h = RegisterBrokerRequestHeader.from_ext_fields(cmd.ext_fields)
        bound = log.bind(broker_name=h.broker_name, broker_addr=h.broker_addr)
        if h.body_crc32 != 0 and body_crc32(cmd.body) != h.body_crc32:
            bound.warning("register broker: crc32 mismatch", expected=h.body_crc32)
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, "crc32 not match")
        if cmd.body:
            body = RegisterBrokerBody.decode(cmd.body, h.compressed, cmd.version)
        else:
            body = RegisterBrokerBody(TopicConfigSerializeWrapper({}, DataVersion(0, 0)))
        result = self.routes.register_broker(
            h.cluster_name,
            h.broker_addr,
            h.broker_name,
            h.broker_id,
            h.ha_server_addr,
            body.topic_config_wrapper,
            tuple(body.filter_server_list),
            channel,
        )
        bound.debug("register broker", topics=len(body.topic_config_wrapper.topic_config_table))
        order = self.kv.namespace(ORDER_TOPIC_CONFIG)
        header = RegisterBrokerResponseHeader(result.ha_server_addr, result.master_addr)
        return cmd.make_response(
            ext_fields=header.to_ext_fields(), body=KVTable(order).to_json() if order else None
        )

    def unregister_broker(self, cmd: RemotingCommand) -> RemotingCommand:
        h = UnregisterBrokerRequestHeader.from_ext_fields(cmd.ext_fields)
        self.routes.unregister_broker(h.cluster_name, h.broker_addr, h.broker_name, h.broker_id)
        return cmd.make_response()

    def query_data_version(self, cmd: RemotingCommand) -> RemotingCommand:
        h = QueryDataVersionRequestHeader.from_ext_fields(cmd.ext_fields)
        version = DataVersion.from_json(cmd.body) if cmd.body else DataVersion()
        changed = self.routes.is_topic_config_changed(h.broker_addr, version)
        if not changed:
            self.routes.touch(h.broker_addr)
        ours = self.routes.data_version_of(h.broker_addr)
        return cmd.make_response(
            ext_fields=QueryDataVersionResponseHeader(changed).to_ext_fields(),
            body=ours.to_json() if ours is not None else None,
        )

    def wipe_write_perm_of_broker(self, cmd: RemotingCommand) -> RemotingCommand:
        h = WipeWritePermOfBrokerRequestHeader.from_ext_fields(cmd.ext_fields)
        count = self.routes.change_write_perm(h.broker_name, wipe=True)
        log.info("write permission wiped", broker_name=h.broker_name, topics=count)
        return cmd.make_response(ext_fields=WipeWritePermOfBrokerResponseHeader(count).to_ext_fields())

    def add_write_perm_of_broker(self, cmd: RemotingCommand) -> RemotingCommand:
        h = AddWritePermOfBrokerRequestHeader.from_ext_fields(cmd.ext_fields)
        count = self.routes.change_write_perm(h.broker_name, wipe=False)
        log.info("write permission added", broker_name=h.broker_name, topics=count)
        return cmd.make_response(ext_fields=AddWritePermOfBrokerResponseHeader(count).to_ext_fields())

    # ------------------------------------------------------------------ routes and topics
    def get_route_info_by_topic(self, cmd: RemotingCommand) -> RemotingCommand:
        h = GetRouteInfoRequestHeader.from_ext_fields(cmd.ext_fields)
        route = self.routes.pickup_topic_route_data(h.topic)
        if route is None:
            return cmd.make_response(ResponseCode.TOPIC_NOT_EXIST, topic_not_exist_remark(h.topic))
        if self.config.order_message_enable:
            conf = self.kv.get(ORDER_TOPIC_CONFIG, h.topic)
            if conf is not None:
                route = type(route)(route.queue_datas, route.broker_datas, route.filter_server_table, conf)
        standard = bool(h.accept_standard_json_only) or cmd.version >= V4_9_4
        return cmd.make_response(body=route.to_json(standard))

    def get_broker_cluster_info(self, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(body=self.routes.cluster_info().to_json())

    def get_all_topic_list(self, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(body=self.routes.all_topics().to_json())

    def delete_topic_in_namesrv(self, cmd: RemotingCommand) -> RemotingCommand:
        h = DeleteTopicFromNamesrvRequestHeader.from_ext_fields(cmd.ext_fields)
        self.routes.delete_topic(h.topic, h.cluster_name)
        log.info("topic deleted", topic=h.topic, cluster=h.cluster_name)
        return cmd.make_response()

    def get_topics_by_cluster(self, cmd: RemotingCommand) -> RemotingCommand:
        h = GetTopicsByClusterRequestHeader.from_ext_fields(cmd.ext_fields)
        return cmd.make_response(body=self.routes.topics_by_cluster(h.cluster).to_json())

    def get_system_topic_list(self, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(body=self.routes.system_topics().to_json())

    def _unit_list(self, cmd: RemotingCommand, topics: TopicList) -> RemotingCommand:
        return cmd.make_response(body=topics.to_json())

    def get_unit_topic_list(self, cmd: RemotingCommand) -> RemotingCommand:
        return self._unit_list(cmd, self.routes.unit_topics(unit=True, unit_sub=None))

    def get_has_unit_sub_topic_list(self, cmd: RemotingCommand) -> RemotingCommand:
        return self._unit_list(cmd, self.routes.unit_topics(unit=None, unit_sub=True))

    def get_has_unit_sub_ununit_topic_list(self, cmd: RemotingCommand) -> RemotingCommand:
        return self._unit_list(cmd, self.routes.unit_topics(unit=False, unit_sub=True))

    # ------------------------------------------------------------------ KV config
    async def _persist_kv(self) -> None:
        if self.kv.path is None:
            return
        async with self._kv_lock:  # one writer at a time; the snapshot is taken on the loop
            await asyncio.to_thread(write_file, self.kv.path, self.kv.snapshot())

    async def put_kv_config(self, cmd: RemotingCommand) -> RemotingCommand:
        h = PutKVConfigRequestHeader.from_ext_fields(cmd.ext_fields)
        self.kv.put(h.namespace, h.key, h.value)
        log.info("kv config put", namespace=h.namespace, key=h.key)
        await self._persist_kv()
        return cmd.make_response()

    def get_kv_config(self, cmd: RemotingCommand) -> RemotingCommand:
        h = GetKVConfigRequestHeader.from_ext_fields(cmd.ext_fields)
        value = self.kv.get(h.namespace, h.key)
        if value is None:
            return cmd.make_response(
                ResponseCode.QUERY_NOT_FOUND, f"No config item, Namespace: {h.namespace} Key: {h.key}"
            )
        return cmd.make_response(ext_fields=GetKVConfigResponseHeader(value).to_ext_fields())

    async def delete_kv_config(self, cmd: RemotingCommand) -> RemotingCommand:
        h = DeleteKVConfigRequestHeader.from_ext_fields(cmd.ext_fields)
        if self.kv.delete(h.namespace, h.key):
            log.info("kv config deleted", namespace=h.namespace, key=h.key)
            await self._persist_kv()
        return cmd.make_response()

    def get_kv_list_by_namespace(self, cmd: RemotingCommand) -> RemotingCommand:
        h = GetKVListByNamespaceRequestHeader.from_ext_fields(cmd.ext_fields)
        table = self.kv.namespace(h.namespace)
        if table is None:
            return cmd.make_response(
                ResponseCode.QUERY_NOT_FOUND, f"No config item, Namespace: {h.namespace}"
            )
        return cmd.make_response(body=KVTable(table).to_json())

    # ------------------------------------------------------------------ namesrv config
    def get_namesrv_config(self, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(body=self.config.to_properties().encode("utf-8"))

    def update_namesrv_config(self, cmd: RemotingCommand) -> RemotingCommand:
        if not cmd.body:
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, "string2Properties error")
        props = parse_properties(cmd.body.decode("utf-8", "replace"))
        refused = self.config.black_listed(props)
        if refused:
            return cmd.make_response(ResponseCode.NO_PERMISSION, "Can not update config in black list.")
        self.config = self.config.with_properties(props)
        log.info("namesrv config updated", keys=sorted(props))
        return cmd.make_response()
