"""SEND_MESSAGE / SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE (remoting spec 4.1, storage spec 2.1).

Validation order follows Apache's ``msgCheck``: topic name, send-forbidden system topics, topic
config (auto-created from the ``defaultTopic`` template), queue id, retry-topic redirection to the
DLQ, then the store put. The properties string from the header is stored as received, with only
``CLUSTER`` appended: no per-message decode/encode round trip on the hot path.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable

from broker_core.broker.context import BrokerContext
from broker_core.broker.schedule import delayed_destination, replace_property
from broker_core.broker.timer.service import TimerMessageError, intercept_send
from broker_core.broker.topics import (
    DLQ_GROUP_TOPIC_PREFIX,
    NOT_ALLOWED_SEND_TOPICS,
    RETRY_GROUP_TOPIC_PREFIX,
    TRANS_HALF_TOPIC,
)
from broker_core.broker.transaction.half import half_destination
from broker_core.config.store import parse_delay_levels
from broker_core.logsetup import get_logger
from broker_core.message.codec import decode_batch
from broker_core.message.model import BrokerMessage
from broker_core.message.names import validate_topic
from broker_core.message.properties import MessageConst, tags_hash_code
from broker_core.pending import Pending
from broker_core.remoting.body.topic_config import PERM_WRITE, TopicConfig
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Reply
from broker_core.remoting.frame import encode_response_frame
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.send import SendMessageRequestHeader
from broker_core.store.results import PutResult, PutStatus

log = get_logger(__name__)

_PUT_STATUS_CODES: dict[PutStatus, tuple[int, str | None]] = {
    PutStatus.PUT_OK: (ResponseCode.SUCCESS, None),
    PutStatus.FLUSH_DISK_TIMEOUT: (ResponseCode.FLUSH_DISK_TIMEOUT, None),
    PutStatus.FLUSH_SLAVE_TIMEOUT: (ResponseCode.FLUSH_SLAVE_TIMEOUT, None),
    PutStatus.SLAVE_NOT_AVAILABLE: (ResponseCode.SLAVE_NOT_AVAILABLE, None),
    PutStatus.CREATE_MAPEDFILE_FAILED: (ResponseCode.SYSTEM_ERROR, "create mapped file failed, server is busy or broken."),
    PutStatus.MESSAGE_ILLEGAL: (ResponseCode.MESSAGE_ILLEGAL, "the message is illegal, maybe msg body or properties length not matched."),
    PutStatus.PROPERTIES_SIZE_EXCEEDED: (ResponseCode.MESSAGE_ILLEGAL, "the message is illegal, maybe msg properties length limit 32k."),
    PutStatus.SERVICE_NOT_AVAILABLE: (ResponseCode.SERVICE_NOT_AVAILABLE, "service not available now. It may be caused by one of the following reasons: the broker's disk is full, messages are put to the slave, message store has been shut down, etc."),
    PutStatus.OS_PAGECACHE_BUSY: (ResponseCode.SYSTEM_ERROR, "[PC_SYNCHRONIZED]broker busy, start flow control for a while"),
    PutStatus.UNKNOWN_ERROR: (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"),
}  # fmt: skip


def find_property(props: str, name: str) -> str | None:
    """Value of one property in an encoded properties string, without decoding the rest."""
    key = name + "\x01"
    start = 0 if props.startswith(key) else props.find("\x02" + key)
    if start < 0:
        return None
    if start or not props.startswith(key):
        start += 1
    start += len(key)
    end = props.find("\x02", start)
    return props[start:] if end < 0 else props[start:end]


_BORN_HOST = "send.born_host"
_validate_topic = functools.lru_cache(maxsize=4096)(validate_topic)


def _without_wait(props: str) -> str:
    """``replace_property(props, WAIT, None)``, by cutting the one entry out when the string is regular."""
    if props.startswith("WAIT\x01"):
        start = 0
    else:
        start = props.find("\x02WAIT\x01") + 1
    if (
        start < 0
        or (start == 0 and not props.startswith("WAIT\x01"))
        or props.startswith("\x02")
        or "\x02\x02" in props
        or props.find("\x02WAIT\x01", start) >= 0
    ):
        return replace_property(props, MessageConst.WAIT, None)
    end = props.find("\x02", start)
    out = props[:start] if end < 0 else props[:start] + props[end + 1 :]
    return out if not out or out.endswith("\x02") else out + "\x02"


def _level(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


class SendProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self._cluster_suffix = f"{MessageConst.CLUSTER}\x01{ctx.config.broker_cluster_name}\x02"
        self._resp_extra = {
            "MSG_REGION": ctx.config.region_id,
            "TRACE_ON": "true" if ctx.config.trace_on else "false",
        }
        self._max_delay_level = len(parse_delay_levels(ctx.store.config.message_delay_level))

    def __call__(self, request: RemotingCommand, channel: Channel) -> Reply | Awaitable[Reply]:
        if self.ctx.store.is_os_page_cache_busy():
            return request.make_response(
                ResponseCode.SYSTEM_BUSY, "[REJECTREQUEST]system busy, start flow control for a while"
            )
        try:
            header = SendMessageRequestHeader.from_request(request.code, request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        error = self._check(request, header)
        if isinstance(error, RemotingCommand):
            return error
        tc = error
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(tc.write_queue_nums)
        topic = header.topic
        body = request.body or b""
        props = header.properties or ""
        reconsume = header.reconsume_times or 0
        to_dlq = False
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            redirected = self._retry_redirect(request, header, reconsume)
            if isinstance(redirected, RemotingCommand):
                return redirected
            if redirected is not None:
                topic, queue_id, to_dlq = redirected, 0, True
        born_host = self._born_host(channel)
        if request.code == RequestCode.SEND_BATCH_MESSAGE:
            if _level(find_property(props, MessageConst.DELAY) or "0") > 0:  # CommitLog: no delayed batches
                return request.make_response(*_PUT_STATUS_CODES[PutStatus.MESSAGE_ILLEGAL])
            return self._put_batch(request, header, topic, queue_id, born_host, props)
        props = self._with_cluster(props)
        parked = self._park(request, header, topic, queue_id, props, to_dlq)
        if isinstance(parked, RemotingCommand):
            return parked
        store_topic, store_qid, props, sys_flag = parked
        wait = find_property(props, MessageConst.WAIT) != "false"  # absent = wait (Apache isWaitStoreMsgOK)
        if store_topic == topic and "WAIT\x01" in props:
            # Apache stores a message without its WAIT property (9 bytes less per record); parked ones
            # (delay level, transaction half) are re-encoded there with it, as here.
            props = _without_wait(props)
        if props.endswith("\x02"):  # as messageProperties2String writes it: no trailing separator
            props = props[:-1]
        msg = BrokerMessage(
            topic=store_topic,
            queue_id=store_qid,
            body=body,
            properties_str=props,
            flag=header.flag,
            tags_code=tags_hash_code(find_property(props, MessageConst.TAGS)),
            sys_flag=sys_flag,
            born_timestamp=header.born_timestamp,
            born_host=born_host,
            store_host=self.ctx.store_host,
            reconsume_times=reconsume,
        )
        started = time.monotonic()
        put = self.ctx.store.put_message_now(msg, wait_store_msg_ok=wait)
        # a transaction half message: the answer carries its transactionId (the UNIQ_KEY)
        tid = (find_property(props, MessageConst.UNIQ_KEY) or "") if store_topic == TRANS_HALF_TOPIC else ""
        return self._respond(request, queue_id, put, msg.topic, started, tid)

    def _park(
        self,
        request: RemotingCommand,
        header: SendMessageRequestHeader,
        topic: str,
        queue_id: int,
        props: str,
        to_dlq: bool,
    ) -> tuple[str, int, str, int] | RemotingCommand:
        """Where the message is stored first: its own queue, or a parking topic whose service
        releases it later — delay levels (``schedule.py``), 5.x timers (``timer/``) or the
        transaction half topic (``transaction/``). Returns (topic, queue, properties, sysFlag)."""
        store_topic, store_qid, sys_flag = topic, queue_id, header.sys_flag
        delay = find_property(props, MessageConst.DELAY) if "DELAY\x01" in props else None
        if delay is not None and delay != "0":
            if to_dlq:  # dead letters are stored without delay
                props = replace_property(props, MessageConst.DELAY, None)
            else:
                routed = delayed_destination(
                    topic, queue_id, props, _level(delay), sys_flag, self._max_delay_level
                )
                if routed is not None:
                    store_topic, store_qid, props = routed
        try:
            timer = intercept_send(self.ctx.config, store_topic, store_qid, props)
        except TimerMessageError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, str(exc))
        if timer is not None:
            store_topic, store_qid, props = timer
        if "TRAN_MSG\x01" in props and find_property(props, MessageConst.TRAN_MSG) == "true":
            if self.ctx.config.reject_transaction_message:
                return request.make_response(
                    ResponseCode.NO_PERMISSION,
                    f"the broker[{self.ctx.config.broker_ip1}] sending transaction message is forbidden",
                )
            store_topic, store_qid, props, sys_flag = half_destination(topic, queue_id, props, sys_flag)
        return store_topic, store_qid, props, sys_flag

    @staticmethod
    def _born_host(channel: Channel) -> tuple[str, int]:
        """The peer as (host, port), parsed once per connection."""
        born = channel.attributes.get(_BORN_HOST)
        if born is None:
            host, _, port = channel.remote_addr.rpartition(":")
            born = channel.attributes[_BORN_HOST] = (host, int(port) if port.isdigit() else 0)
        return born

    def _with_cluster(self, props: str) -> str:
        if not props:
            return self._cluster_suffix
        if props.endswith("\x02"):
            return props + self._cluster_suffix
        return props + "\x02" + self._cluster_suffix

    def _check(
        self, request: RemotingCommand, header: SendMessageRequestHeader
    ) -> RemotingCommand | TopicConfig:
        ctx = self.ctx
        topic = header.topic
        problem = _validate_topic(topic)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if topic in NOT_ALLOWED_SEND_TOPICS:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"Sending message to topic[{topic}] is forbidden."
            )
        tc = ctx.topics.get(topic)
        if tc is None:
            tc = ctx.topics.create_in_send(topic, header.default_topic, header.default_topic_queue_nums)
            if tc is None and topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                tc = ctx.topics.create_system_like(topic, 1)
            if tc is None:
                return request.make_response(
                    ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist, apply first please!"
                )
            ctx.on_topics_changed()
        if not tc.perm & PERM_WRITE or not ctx.config.broker_permission & PERM_WRITE:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"the topic[{topic}] sending message is forbidden"
            )
        queue_nums = max(tc.read_queue_nums, tc.write_queue_nums)
        if header.queue_id >= queue_nums:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"request queueId[{header.queue_id}] is illegal, topic {topic} has {queue_nums} queues",
            )
        return tc

    def _retry_redirect(
        self, request: RemotingCommand, header: SendMessageRequestHeader, reconsume: int
    ) -> RemotingCommand | str | None:
        """For ``%RETRY%group`` sends past the retry limit: the DLQ topic to store into instead."""
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        gcfg = self.ctx.groups.find(group)
        if gcfg is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, f"subscription group not exist, {group}"
            )
        max_times = gcfg.retry_max_times
        if request.version >= 121 and header.max_reconsume_times is not None:
            max_times = header.max_reconsume_times
        if reconsume < max_times:
            return None
        dlq = DLQ_GROUP_TOPIC_PREFIX + group
        self.ctx.topics.create_system_like(dlq, 1)
        self.ctx.on_topics_changed()
        return dlq

    def _put_batch(
        self,
        request: RemotingCommand,
        header: SendMessageRequestHeader,
        topic: str,
        queue_id: int,
        born_host: tuple[str, int],
        batch_props: str,
    ) -> Reply | Awaitable[Reply]:
        if len(topic.encode()) > 127:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, "message topic length too long")
        try:
            entries = decode_batch(request.body or b"")
        except ValueError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, f"bad batch body: {exc}")
        if not entries:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, "empty batch")
        suffix = self._with_cluster(batch_props)
        now = int(time.time() * 1000)
        msgs = []
        for flag, body, props in entries:
            if props and not props.endswith("\x02"):
                props += "\x02"
            full = props + suffix
            msgs.append(
                BrokerMessage(
                    topic=topic,
                    queue_id=queue_id,
                    body=body,
                    properties_str=full,
                    flag=flag,
                    tags_code=tags_hash_code(find_property(full, MessageConst.TAGS)),
                    sys_flag=header.sys_flag,
                    born_timestamp=header.born_timestamp or now,
                    born_host=born_host,
                    store_host=self.ctx.store_host,
                )
            )
        wait = find_property(batch_props, MessageConst.WAIT) != "false"
        started = time.monotonic()
        put = self.ctx.store.put_messages_now(msgs, wait_store_msg_ok=wait)
        return self._respond(request, queue_id, put, topic, started)

    def _respond(
        self,
        request: RemotingCommand,
        queue_id: int,
        put: PutResult | Awaitable[PutResult],
        topic: str,
        started: float,
        transaction_id: str = "",
    ) -> Reply | Awaitable[Reply]:
        """The response now when the put is final (no coroutine on the ASYNC_FLUSH hot path)."""
        if isinstance(put, PutResult):
            return self._response(request, queue_id, put, topic, started, transaction_id)
        if isinstance(put, Pending):  # SYNC_FLUSH: the group commit's callback writes it (no loop turn)
            return put.map(lambda r: self._response(request, queue_id, r, topic, started, transaction_id))
        return self._respond_later(request, queue_id, put, topic, started, transaction_id)

    async def _respond_later(
        self,
        request: RemotingCommand,
        queue_id: int,
        pending: Awaitable[PutResult],
        topic: str,
        started: float,
        transaction_id: str,
    ) -> Reply:
        return self._response(request, queue_id, await pending, topic, started, transaction_id)

    def _response(
        self,
        request: RemotingCommand,
        queue_id: int,
        result: PutResult,
        topic: str,
        started: float,
        transaction_id: str,
    ) -> Reply:
        """A failure as a command; a stored message as its encoded frame (no command, no header map)."""
        code, remark = _PUT_STATUS_CODES.get(result.status, (ResponseCode.SYSTEM_ERROR, result.status.name))
        if (
            code
            not in (
                ResponseCode.SUCCESS,
                ResponseCode.FLUSH_DISK_TIMEOUT,
                ResponseCode.FLUSH_SLAVE_TIMEOUT,
                ResponseCode.SLAVE_NOT_AVAILABLE,
            )
            or result.append_result is None
        ):
            self.ctx.stats.on_put_failed()
            return request.make_response(code, remark or result.status.name)
        ar = result.append_result
        self.ctx.stats.on_put(
            topic, queue_id, ar.msg_num, ar.wrote_bytes, (time.monotonic() - started) * 1000.0
        )
        ext = {
            "msgId": ar.msg_id,
            "queueId": str(queue_id),
            "queueOffset": str(ar.logics_offset),
            **self._resp_extra,
        }
        if remark is not None:  # no status with a remark gets here; kept general all the same
            return request.make_response(code, remark, ext)
        if transaction_id and code == ResponseCode.SUCCESS:
            ext["transactionId"] = transaction_id
        return encode_response_frame(request, code, ext)
