"""Op messages: the durable record that a half message is finished (storage spec 6.3 step 6).

Commit and rollback both append one message to ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` (same queue id as
the half queue, 0) with tag ``d`` and the half message's **queue offset as decimal ASCII** in the
body. The checker reads op messages forward from its own op offset to learn which half offsets are
done (:func:`read_ops`), so nothing ever rewrites the half queue.

Layout of one op message::

    topic   RMQ_SYS_TRANS_OP_HALF_TOPIC     queue 0
    TAGS    "d"                              tagsCode = hash("d")
    body    b"<half queue offset>"           e.g. b"42"
    sysFlag 0, born/store host = broker, fresh UNIQ_KEY, WAIT=false
"""

from __future__ import annotations

from typing import NamedTuple

from broker_core.broker.topics import TRANS_OP_HALF_TOPIC
from broker_core.broker.transaction.half import HALF_QUEUE_ID, TRANS_GROUP, now_ms
from broker_core.message.codec import decode_record
from broker_core.message.model import BrokerMessage
from broker_core.message.msg_id import UniqIdGenerator
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.store.message_store import MessageStore

__all__ = ["REMOVE_TAG", "OpEntry", "op_message", "read_ops"]

REMOVE_TAG = "d"
_IDS = UniqIdGenerator()


class OpEntry(NamedTuple):
    """One op message: its own queue offset, the half offset it finishes, its born time."""

    op_offset: int
    half_offset: int
    born_timestamp: int


def op_message(half_queue_offset: int, store_host: tuple[str, int]) -> BrokerMessage:
    """The op message that marks ``half_queue_offset`` as committed or rolled back."""
    props = {
        MessageConst.TAGS: REMOVE_TAG,
        MessageConst.WAIT: "false",
        MessageConst.UNIQ_KEY: _IDS.create(),
    }
    return BrokerMessage(
        topic=TRANS_OP_HALF_TOPIC,
        queue_id=HALF_QUEUE_ID,
        body=str(half_queue_offset).encode("ascii"),
        properties_str=encode_properties(props),
        tags_code=tags_hash_code(REMOVE_TAG),
        born_timestamp=now_ms(),
        born_host=store_host,
        store_host=store_host,
    )


def read_ops(store: MessageStore, op_offset: int, max_nums: int = 32) -> tuple[list[OpEntry], int]:
    """Op messages from ``op_offset`` (up to ``max_nums``) and the next offset to read."""
    result = store.get_message(TRANS_GROUP, TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID, op_offset, max_nums)
    entries: list[OpEntry] = []
    for raw in result.message_buffers:
        msg = decode_record(raw)
        if msg.properties.get(MessageConst.TAGS) != REMOVE_TAG:
            continue
        try:
            half_offset = int(msg.body.decode("ascii"))
        except ValueError:
            continue
        entries.append(OpEntry(msg.queue_offset, half_offset, msg.born_timestamp))
    next_offset = result.next_begin_offset if result.message_buffers else op_offset
    return entries, next_offset
