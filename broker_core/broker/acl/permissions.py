"""ACL permissions and the resources each request demands (``Permission``, ``PlainAccessValidator.parse``).

Permission bits: DENY 1, ANY 2 (internal: PUB or SUB), PUB 4, SUB 8. Groups are resources named
``%RETRY%<group>``. See storage spec 10.3 / 10.4.
"""

from __future__ import annotations

from broker_core.remoting.body.heartbeat import HeartbeatData
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand

DENY = 1
ANY = 2
PUB = 4
SUB = 8

RETRY_PREFIX = "%RETRY%"
TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"

#: request codes only ``admin: true`` accounts may send (``Permission.ADMIN_CODE``)
ADMIN_CODES = frozenset(
    {
        RequestCode.UPDATE_AND_CREATE_TOPIC,
        RequestCode.UPDATE_BROKER_CONFIG,
        RequestCode.DELETE_TOPIC_IN_BROKER,
        RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        RequestCode.DELETE_SUBSCRIPTIONGROUP,
    }
)

_PERMS = {"PUB": PUB, "SUB": SUB, "PUB|SUB": PUB | SUB, "SUB|PUB": PUB | SUB, "DENY": DENY}


def parse_perm(text: str | None) -> int:
    """``Permission.parsePermFromString``: unknown or missing -> DENY."""
    if text is None:
        return DENY
    return _PERMS.get(text.strip(), DENY)


def is_valid_perm(text: str) -> bool:
    return text.strip() in _PERMS


def check_permission(needed: int, owned: int) -> bool:
    if owned & DENY:
        return False
    if needed & ANY:
        return bool(owned & (PUB | SUB))
    return bool(needed & owned)


def retry_topic(group: str) -> str:
    return RETRY_PREFIX + group


def resource_label(resource: str) -> str:
    """``PlainAccessResource.printStr``: ``group:<g>`` for retry topics, ``topic:<t>`` otherwise."""
    if resource.startswith(RETRY_PREFIX):
        return "group:" + resource[len(RETRY_PREFIX) :]
    return "topic:" + resource


def demanded_resources(request: RemotingCommand) -> dict[str, int]:
    """Resource -> needed permission of one request (storage spec 10.4); ``{}`` for other codes.

    Raises:
        ValueError, KeyError: a body or header the resources must be read from is malformed.
    """
    ext = request.ext_fields or {}
    code = request.code
    out: dict[str, int] = {}

    def add(resource: str | None, perm: int) -> None:
        if resource is not None:
            out[resource] = perm

    if code == RequestCode.SEND_MESSAGE or code == RequestCode.SEND_MESSAGE_V2:
        topic_key, group_key = ("topic", "group") if code == RequestCode.SEND_MESSAGE else ("b", "a")
        topic = ext.get(topic_key)
        if topic is not None and topic.startswith(RETRY_PREFIX):
            group = ext.get(group_key)
            add(retry_topic(group) if group is not None else None, SUB)
        else:
            add(topic, PUB)
    elif code == RequestCode.CONSUMER_SEND_MSG_BACK:
        group = ext.get("group")
        add(retry_topic(group) if group is not None else None, SUB)
    elif code == RequestCode.PULL_MESSAGE:
        add(ext.get("topic"), SUB)
        group = ext.get("consumerGroup")
        add(retry_topic(group) if group is not None else None, SUB)
    elif code == RequestCode.QUERY_MESSAGE:
        add(ext.get("topic"), SUB)
    elif code == RequestCode.HEART_BEAT:
        hb = HeartbeatData.decode(request.body or b"{}")
        for cd in hb.consumers:
            add(retry_topic(cd.group_name), SUB)
            for sd in cd.subscriptions:
                add(sd.topic, SUB)
    elif code in (RequestCode.UNREGISTER_CLIENT, RequestCode.GET_CONSUMER_LIST_BY_GROUP):
        group = ext.get("consumerGroup")
        if code == RequestCode.GET_CONSUMER_LIST_BY_GROUP and group is None:
            raise KeyError("the custom field <consumerGroup> is null")
        add(retry_topic(group) if group is not None else None, SUB)
    elif code == RequestCode.UPDATE_CONSUMER_OFFSET:
        group, topic = ext.get("consumerGroup"), ext.get("topic")
        if group is None or topic is None:
            raise KeyError("the custom field <consumerGroup/topic> is null")
        add(retry_topic(group), SUB)
        add(topic, SUB)
    return out
