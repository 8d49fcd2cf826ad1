"""Half (prepared) messages: how they are stored, found again and turned into real messages.

Storage spec 6.2/6.3. A half message is stored in ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0 with its
real destination in ``REAL_TOPIC``/``REAL_QID`` and the sysFlag transaction bits reset to NOT, so it
gets an ordinary consume-queue entry there and nobody subscribed to the real topic can see it. On
commit the record is re-read by its commit-log offset and a copy is stored to the real queue with
sysFlag COMMIT; the half record itself is never changed (an op message records the outcome, see
:mod:`.op`). Everything here is pure or talks only to the message store.
"""

from __future__ import annotations

import time

from broker_core.broker.topics import TRANS_HALF_TOPIC
from broker_core.message.codec import decode_record
from broker_core.message.model import BrokerMessage, MessageExt
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.message.sysflag import TransactionType, reset_transaction_value
from broker_core.store.message_store import MessageStore

__all__ = [
    "HALF_QUEUE_ID",
    "TRANS_GROUP",
    "committed_message",
    "copy_message",
    "half_destination",
    "read_half",
]

#: internal consumer group whose offsets track the half and op queues (consumerOffset.json)
TRANS_GROUP = "CID_RMQ_SYS_TRANS"
HALF_QUEUE_ID = 0

_DROPPED_ON_COMMIT = (MessageConst.REAL_TOPIC, MessageConst.REAL_QID, MessageConst.TRAN_MSG)


def _append(props: str, name: str, value: str) -> str:
    if props and not props.endswith("\x02"):
        props += "\x02"
    return f"{props}{name}\x01{value}\x02"


def half_destination(topic: str, queue_id: int, props: str, sys_flag: int) -> tuple[str, int, str, int]:
    """Where a ``TRAN_MSG=true`` send is stored: (half topic, 0, props + REAL_*, sysFlag NOT)."""
    props = _append(props, MessageConst.REAL_TOPIC, topic)
    props = _append(props, MessageConst.REAL_QID, str(queue_id))
    return TRANS_HALF_TOPIC, HALF_QUEUE_ID, props, reset_transaction_value(sys_flag, TransactionType.NOT_TYPE)


def read_half(store: MessageStore, queue_offset: int) -> MessageExt | None:
    """The half message at ``queue_offset`` of the half queue, or None past the end / when removed."""
    result = store.get_message(TRANS_GROUP, TRANS_HALF_TOPIC, HALF_QUEUE_ID, queue_offset, 1)
    if not result.message_buffers:
        return None
    return decode_record(result.message_buffers[0])


def copy_message(
    msg: MessageExt,
    store_host: tuple[str, int],
    *,
    topic: str,
    queue_id: int,
    properties: dict[str, str],
    sys_flag: int,
) -> BrokerMessage:
    """A new record with ``msg``'s body, flag, born time/host and the given destination/properties."""
    return BrokerMessage(
        topic=topic,
        queue_id=queue_id,
        body=msg.body,
        properties_str=encode_properties(properties),
        flag=msg.flag,
        tags_code=tags_hash_code(properties.get(MessageConst.TAGS)),
        sys_flag=sys_flag,
        born_timestamp=msg.born_timestamp,
        born_host=msg.born_host,
        store_host=store_host,
        reconsume_times=msg.reconsume_times,
    )


def committed_message(half: MessageExt, store_host: tuple[str, int]) -> BrokerMessage:
    """The real message a COMMIT stores: real topic/queue, transaction properties removed."""
    props = {k: v for k, v in half.properties.items() if k not in _DROPPED_ON_COMMIT}
    msg = copy_message(
        half,
        store_host,
        topic=half.properties.get(MessageConst.REAL_TOPIC, ""),
        queue_id=int(half.properties.get(MessageConst.REAL_QID, "0") or 0),
        properties=props,
        sys_flag=reset_transaction_value(half.sys_flag, TransactionType.COMMIT),
    )
    msg.prepared_transaction_offset = half.commit_log_offset
    return msg


def now_ms() -> int:
    return int(time.time() * 1000)
