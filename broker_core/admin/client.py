"""Blocking admin client: the requests mqadmin's ``DefaultMQAdminExt`` sends, over plain sockets.

Works against our broker and against Apache RocketMQ (same request codes and bodies). Requests are
signed (ACL 1.0) when an access key and secret key are given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from broker_core.errors import BrokerCoreError
from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.remoting import fastjson
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.body.cluster import ClusterInfo
from broker_core.remoting.body.consumer_admin import (
    MQ,
    ConsumerConnection,
    ConsumeStats,
    OffsetWrapper,
    decode_group_list,
    decode_offset_table,
    decode_topic_stats,
)
from broker_core.remoting.body.kv import TopicList
from broker_core.remoting.body.route import MASTER_ID, TopicRouteData
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import UNIQUE_MSG_QUERY_FLAG, sign_request

RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"
TOOLS_CONSUMER = "TOOLS_CONSUMER"


class AdminError(BrokerCoreError):
    """An admin call failed; ``code`` is the response code when the peer answered."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MQAdmin:
    """One admin session; ``close()`` (or ``with``) drops the connections."""

    def __init__(
        self,
        namesrv_addr: str,
        *,
        timeout: float = 5.0,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.namesrv_addrs = [a.strip() for a in namesrv_addr.split(";") if a.strip()]
        self.timeout = timeout
        self.access_key = access_key
        self.secret_key = secret_key
        self._remoting = BlockingRemotingClient(connect_timeout=timeout)

    def __enter__(self) -> MQAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._remoting.close()

    # ---- raw calls ----------------------------------------------------------------------------
    def call(
        self,
        addr: str,
        code: int,
        ext: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        ok: Iterable[int] = (ResponseCode.SUCCESS,),
    ) -> RemotingCommand:
        """Send one request; AdminError unless the response code is in ``ok``."""
        request = RemotingCommand.request(code, dict(ext) if ext else {}, body)
        if self.access_key and self.secret_key:
            sign_request(request, self.access_key, self.secret_key)
        try:
            response = self._remoting.invoke(addr, request, self.timeout)
        except BrokerCoreError as exc:
            raise AdminError(f"{addr}: {exc}") from exc
        if response.code not in set(ok):
            raise AdminError(
                f"CODE: {response.code}  DESC: {response.remark}  (request {code} to {addr})", response.code
            )
        return response

    def call_namesrv(
        self, code: int, ext: dict[str, str] | None = None, *, ok: Iterable[int] = (ResponseCode.SUCCESS,)
    ) -> RemotingCommand:
        if not self.namesrv_addrs:
            raise AdminError("no NameServer address: use -n host:port or set NAMESRV_ADDR")
        last: AdminError | None = None
        for addr in self.namesrv_addrs:
            try:
                return self.call(addr, code, ext, ok=ok)
            except AdminError as exc:
                if exc.code is not None:
                    raise
                last = exc
        assert last is not None
        raise last

    # ---- NameServer ---------------------------------------------------------------------------
    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo.from_json(self.call_namesrv(RequestCode.GET_BROKER_CLUSTER_INFO).body or b"{}")

    def route(self, topic: str) -> TopicRouteData:
        resp = self.call_namesrv(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        return TopicRouteData.from_json(resp.body or b"{}")

    def topic_list(self) -> list[str]:
        resp = self.call_namesrv(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return list(TopicList.from_json(resp.body or b"{}").topic_list)

    def master_addrs(self, cluster: str) -> list[str]:
        """Master addresses of ``cluster`` (``CommandUtil.fetchMasterAddrByClusterName``)."""
        info = self.cluster_info()
        names = info.cluster_addr_table.get(cluster)
        if names is None:
            raise AdminError(
                f"Make sure the specified clusterName exists or the name server connected is correct: {cluster}"
            )
        out = []
        for name in sorted(names):
            bd = info.broker_addr_table.get(name)
            if bd is not None and MASTER_ID in bd.broker_addrs:
                out.append(bd.broker_addrs[MASTER_ID])
        return out

    def all_addrs(self, cluster: str) -> list[tuple[str, int, str]]:
        """(broker name, broker id, address) of every broker of ``cluster``."""
        info = self.cluster_info()
        names = info.cluster_addr_table.get(cluster)
        if names is None:
            raise AdminError(
                f"Make sure the specified clusterName exists or the name server connected is correct: {cluster}"
            )
        return [
            (name, bid, addr)
            for name in sorted(names)
            if (bd := info.broker_addr_table.get(name)) is not None
            for bid, addr in sorted(bd.broker_addrs.items())
        ]

    def broker_name_of(self, addr: str) -> str:
        for bd in self.cluster_info().broker_addr_table.values():
            if addr in bd.broker_addrs.values():
                return bd.broker_name
        raise AdminError(f"broker {addr} is not registered with the NameServer")

    def topic_masters(self, topic: str) -> list[tuple[str, str]]:
        """(broker name, master address) of every broker serving ``topic``."""
        return [
            (bd.broker_name, bd.broker_addrs[MASTER_ID])
            for bd in sorted(self.route(topic).broker_datas, key=lambda b: b.broker_name)
            if MASTER_ID in bd.broker_addrs
        ]

    # ---- broker -------------------------------------------------------------------------------
    def runtime_info(self, addr: str) -> dict[str, str]:
        body = self.call(addr, RequestCode.GET_BROKER_RUNTIME_INFO).body or b"{}"
        return {str(k): str(v) for k, v in (fastjson.loads(body).get("table") or {}).items()}

    def broker_config(self, addr: str) -> dict[str, str]:
        from broker_core.config.broker import parse_properties

        text = (self.call(addr, RequestCode.GET_BROKER_CONFIG).body or b"").decode("utf-8")
        return parse_properties(text)

    def update_broker_config(self, addr: str, props: dict[str, str]) -> None:
        body = "".join(f"{k}={v}\n" for k, v in props.items()).encode()
        self.call(addr, RequestCode.UPDATE_BROKER_CONFIG, body=body)

    def view_stats(self, addr: str, name: str, key: str) -> dict[str, dict[str, float]]:
        body = self.call(addr, RequestCode.VIEW_BROKER_STATS_DATA, {"statsName": name, "statsKey": key}).body
        return {str(k): dict(v) for k, v in fastjson.loads(body or b"{}").items()}

    def topic_stats(self, topic: str) -> dict[MQ, Any]:
        out: dict[MQ, Any] = {}
        for _name, addr in self.topic_masters(topic):
            body = self.call(addr, RequestCode.GET_TOPIC_STATS_INFO, {"topic": topic}).body
            out.update(decode_topic_stats(body or b"{}"))
        return out

    def consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """GET_CONSUME_STATS on every master serving the group's retry topic, merged."""
        table: dict[MQ, OffsetWrapper] = {}
        tps = 0.0
        ext = {"consumerGroup": group}
        if topic:
            ext["topic"] = topic
        for _name, addr in self.topic_masters(RETRY_PREFIX + group):
            cs = ConsumeStats.decode(self.call(addr, RequestCode.GET_CONSUME_STATS, ext).body or b"{}")
            table.update(cs.offset_table)
            tps += cs.consume_tps
        if not table and topic is None:
            raise AdminError(
                "Not found the consumer group consume stats, because return offset table is empty, "
                "maybe the consumer not consume any message"
            )
        return ConsumeStats(table, tps)

    def consumer_connection(self, group: str, addr: str | None = None) -> ConsumerConnection:
        addrs = [addr] if addr else [a for _n, a in self.topic_masters(RETRY_PREFIX + group)]
        last: AdminError | None = None
        for a in addrs:
            try:
                body = self.call(a, RequestCode.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": group}).body
                return ConsumerConnection.decode(body or b"{}")
            except AdminError as exc:
                last = exc
        raise last or AdminError(f"Not found the consumer group connection: {group}", 206)

    def producer_connection(self, group: str, topic: str) -> list[dict[str, Any]]:
        for _name, addr in self.topic_masters(topic):
            resp = self.call(
                addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": group}, ok=(0, 1)
            )
            if resp.code == ResponseCode.SUCCESS:
                return list(fastjson.loads(resp.body or b"{}").get("connectionSet") or [])
        raise AdminError(f"Not found the producer group connection: {group}", ResponseCode.SYSTEM_ERROR)

    def consume_by_who(self, topic: str) -> list[str]:
        groups: set[str] = set()
        for _name, addr in self.topic_masters(topic):
            groups.update(
                decode_group_list(
                    self.call(addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic}).body or b"{}"
                )
            )
        return sorted(groups)

    def reset_offset(self, topic: str, group: str, timestamp: int, force: bool, cpp: bool) -> dict[MQ, int]:
        ext = {"topic": topic, "group": group, "timestamp": str(timestamp), "isForce": str(force).lower()}
        out: dict[MQ, int] = {}
        for _name, addr in self.topic_masters(topic):
            body = self.call(addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, ext).body or b"{}"
            if cpp or body.lstrip().startswith(b"["):
                for item in json.loads(body):
                    mq = item.get("messageQueue") or item
                    out[(mq["topic"], mq["brokerName"], int(mq["queueId"]))] = int(item["offset"])
            else:
                out.update(decode_offset_table(body))
        return out

    # ---- messages -----------------------------------------------------------------------------
    def view_message(self, offset_msg_id: str) -> MessageExt:
        try:
            (host, port), phy = decode_offset_msg_id(offset_msg_id)
        except (ValueError, BrokerCoreError) as exc:
            raise AdminError(f"bad offset msgId {offset_msg_id}: {exc}") from exc
        body = self.call(f"{host}:{port}", RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(phy)}).body
        msgs = decode_records(body or b"", decompress=True)
        if not msgs:
            raise AdminError(f"message not found: {offset_msg_id}")
        return msgs[0]

    def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 64,
        begin: int = 0,
        end: int = 2**63 - 1,
        *,
        unique: bool = False,
    ) -> list[MessageExt]:
        ext = {
            "topic": topic,
            "key": key,
            "maxNum": str(max_num),
            "beginTimestamp": str(begin),
            "endTimestamp": str(end),
        }
        if unique:
            ext[UNIQUE_MSG_QUERY_FLAG] = "true"
        out: list[MessageExt] = []
        for _name, addr in self.topic_masters(topic):
            resp = self.call(
                addr, RequestCode.QUERY_MESSAGE, ext, ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND)
            )
            if resp.code != ResponseCode.SUCCESS:
                continue
            for m in decode_records(resp.body or b"", decompress=True):
                if m.topic != topic:
                    continue
                if unique:
                    if m.properties.get("UNIQ_KEY") == key:
                        out.append(m)
                elif key in (m.keys or "").split(" "):
                    out.append(m)
        return out

    def pull(
        self, addr: str, topic: str, queue_id: int, offset: int, max_nums: int, group: str = TOOLS_CONSUMER
    ) -> tuple[int, int, list[MessageExt]]:
        """One PULL_MESSAGE (no suspend); returns (response code, next begin offset, messages)."""
        ext = {
            "consumerGroup": group, "topic": topic, "queueId": str(queue_id), "queueOffset": str(offset),
            "maxMsgNums": str(max_nums), "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0",
            "subscription": "*", "subVersion": "0", "expressionType": "TAG",
        }  # fmt: skip
        resp = self.call(addr, RequestCode.PULL_MESSAGE, ext, ok=(0, 19, 20, 21))
        nxt = int((resp.ext_fields or {}).get("nextBeginOffset", offset))
        msgs = decode_records(resp.body or b"", decompress=True) if resp.code == ResponseCode.SUCCESS else []
        return resp.code, nxt, msgs

    def max_offset(self, addr: str, topic: str, queue_id: int) -> int:
        resp = self.call(addr, RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": str(queue_id)})
        return int((resp.ext_fields or {}).get("offset", "0"))

    def min_offset(self, addr: str, topic: str, queue_id: int) -> int:
        resp = self.call(addr, RequestCode.GET_MIN_OFFSET, {"topic": topic, "queueId": str(queue_id)})
        return int((resp.ext_fields or {}).get("offset", "0"))

    def search_offset(self, addr: str, topic: str, queue_id: int, timestamp: int) -> int:
        resp = self.call(
            addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
            {"topic": topic, "queueId": str(queue_id), "timestamp": str(timestamp)},
        )  # fmt: skip
        return int((resp.ext_fields or {}).get("offset", "0"))


def now_ms() -> int:
    return int(time.time() * 1000)
