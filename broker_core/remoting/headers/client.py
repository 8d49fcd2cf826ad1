"""Client-management headers: UNREGISTER_CLIENT, consumer lists, notify, send-back, topic admin."""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.base import CommandHeader, wire_name


@dataclass(slots=True)
class UnregisterClientRequestHeader(CommandHeader):
    client_id: str = wire_name("clientID")
    producer_group: str | None = None
    consumer_group: str | None = None


@dataclass(slots=True)
class ConsumerGroupRequestHeader(CommandHeader):
    """GET_CONSUMER_LIST_BY_GROUP (38) and NOTIFY_CONSUMER_IDS_CHANGED (40)."""

    consumer_group: str
    bname: str | None = None


@dataclass(slots=True)
class ConsumerSendMsgBackRequestHeader(CommandHeader):
    offset: int
    group: str
    delay_level: int
    origin_msg_id: str | None = None
    origin_topic: str | None = None
    unit_mode: bool = False
    max_reconsume_times: int | None = None
    bname: str | None = None


@dataclass(slots=True)
class CreateTopicRequestHeader(CommandHeader):
    """UPDATE_AND_CREATE_TOPIC (17)."""

    topic: str
    default_topic: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int | None = None
    order: bool = False


@dataclass(slots=True)
class TopicRequestHeader(CommandHeader):
    """Requests that name only a topic (DELETE_TOPIC_IN_BROKER, GET_TOPIC_STATS_INFO, …)."""

    topic: str
