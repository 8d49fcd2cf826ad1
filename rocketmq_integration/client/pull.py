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
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.pull import PullSysFlag
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.results import PullResult, PullStatus
from rocketmq_integration.errors import MQBrokerError, MQClientError

__all__ = ["build_pull_ext_fields", "filter_by_tags", "process_pull_response", "pull_once"]

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
    with_subscription: bool = False,
) -> dict[str, str]:
    """Ext fields of a PullMessageRequestHeader; COMMIT_OFFSET is set when ``commit_offset > 0``.

    ``with_subscription`` sets the SUBSCRIPTION flag: the broker then filters with the expression
    of this request instead of the group's heartbeat subscription (pull consumers).
    """
    sys_flag = PullSysFlag.SUSPEND if suspend else PullSysFlag(0)
    if with_subscription:
        sys_flag |= PullSysFlag.SUBSCRIPTION
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


async def pull_once(
    client: MQClientInstance,
    *,
    group: str,
    mq: MessageQueue,
    sub: SubscriptionData,
    offset: int,
    max_nums: int,
    commit_offset: int = 0,
    suspend_timeout: float = 0.0,
    timeout: float = 10.0,
) -> PullResult:
    """One PULL_MESSAGE carrying its own subscription (pull and lite pull consumers).

    ``suspend_timeout > 0`` asks the broker to hold the request (long polling) for that long;
    ``timeout`` must then exceed it.

    Raises:
        MQClientError: the broker of ``mq`` is unknown even after a route refresh.
        MQBrokerError / RemotingError: as :meth:`MQClientAPI.invoke` and :func:`process_pull_response`.
    """
    addr = client.broker_addr(mq.broker_name)
    if addr is None:
        await client.update_route(mq.topic)
        addr = client.broker_addr(mq.broker_name)
    if addr is None:
        raise MQClientError(f"broker {mq.broker_name} of {mq.topic} not found")
    ext = build_pull_ext_fields(
        group=group, mq=mq, offset=offset, max_nums=max_nums, commit_offset=commit_offset,
        suspend_timeout_ms=int(suspend_timeout * 1000), sub_version=sub.sub_version,
        expression=sub.sub_string, suspend=suspend_timeout > 0, with_subscription=True,
    )  # fmt: skip
    resp = await client.api.invoke(addr, client.api.request(RequestCode.PULL_MESSAGE, ext), timeout)
    return process_pull_response(resp, sub, addr)
