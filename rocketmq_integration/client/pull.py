"""PULL_MESSAGE request building and response processing (remoting spec §4.2, §5.5; storage §5.1).

:func:`process_pull_response` is pure: it maps the response code to a :class:`PullStatus`, decodes
the record body (decompressing zlib bodies), drops messages whose ``TAGS`` string is not in the
subscription's tag set (the broker only compared hash codes), and adds the ``MIN_OFFSET`` /
``MAX_OFFSET`` properties from the response header.
"""

from __future__ import annotations

from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt, MessageQueue
from broker_core.message.properties import MessageConst
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.pull import PullSysFlag
from rocketmq_integration.client.results import PullResult, PullStatus
from rocketmq_integration.errors import MQBrokerError

__all__ = ["build_pull_ext_fields", "filter_by_tags", "process_pull_response"]

_STATUS_BY_CODE: dict[int, PullStatus] = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


def build_pull_ext_fields(
    *,
    group: str,
    mq: MessageQueue,
    offset: int,
    max_nums: int,
    commit_offset: int,
    suspend_timeout_ms: int,
    sub_version: int,
    expression: str | None,
    suspend: bool = True,
) -> dict[str, str]:
    """Ext fields of a PullMessageRequestHeader; COMMIT_OFFSET is set when ``commit_offset > 0``."""
    sys_flag = PullSysFlag.SUSPEND if suspend else 0
    if commit_offset > 0:
        sys_flag |= PullSysFlag.COMMIT_OFFSET
    ext = {
        "consumerGroup": group,
        "topic": mq.topic,
        "queueId": str(mq.queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": str(max_nums),
        "sysFlag": str(int(sys_flag)),
        "commitOffset": str(max(commit_offset, 0)),
        "suspendTimeoutMillis": str(suspend_timeout_ms),
        "subVersion": str(sub_version),
        "expressionType": "TAG",
        "bname": mq.broker_name,
    }
    if expression is not None:
        ext["subscription"] = expression
    return ext


def filter_by_tags(msgs: list[MessageExt], tags: set[str] | frozenset[str]) -> list[MessageExt]:
    """Keep messages whose ``TAGS`` is exactly one of ``tags``; an empty set keeps everything."""
    if not tags:
        return msgs
    return [m for m in msgs if m.properties.get(MessageConst.TAGS) in tags]


def process_pull_response(resp: RemotingCommand, sub: SubscriptionData | None, addr: str = "") -> PullResult:
    """Turn a PULL_MESSAGE response into a PullResult.

    Raises:
        MQBrokerError: the code is not one of the four pull outcomes.
        MessageDecodeError: the body does not decode.
    """
    status = _STATUS_BY_CODE.get(resp.code)
    if status is None:
        raise MQBrokerError(resp.code, resp.remark, addr)
    ext = resp.ext_fields or {}
    next_begin = int(ext.get("nextBeginOffset", "0"))
    min_off = ext.get("minOffset", "0")
    max_off = ext.get("maxOffset", "0")
    suggest = int(ext.get("suggestWhichBrokerId", "0"))
    msgs: list[MessageExt] = []
    if status is PullStatus.FOUND and resp.body:
        msgs = decode_records(resp.body, decompress=True)
        if sub is not None and sub.tags_set:
            msgs = filter_by_tags(msgs, frozenset(sub.tags_set))
        for m in msgs:
            m.properties[MessageConst.MIN_OFFSET] = min_off
            m.properties[MessageConst.MAX_OFFSET] = max_off
    return PullResult(status, next_begin, int(min_off), int(max_off), msgs, suggest)
