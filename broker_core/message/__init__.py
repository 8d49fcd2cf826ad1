"""Message model and codecs shared by the client, the broker and the store.

Pure functions over bytes: no I/O happens in this package.
"""

from __future__ import annotations

from broker_core.message.codec import (
    BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE,
    PreparedRecord,
    body_crc,
    decode_batch,
    decode_record,
    decode_records,
    encode_batch,
    encode_record,
    encode_record_into,
    prepare_record,
    record_size,
    write_record,
)
from broker_core.message.model import BrokerMessage, Message, MessageExt, MessageQueue
from broker_core.message.msg_id import (
    UniqIdGenerator,
    UniqIdInfo,
    create_offset_msg_id,
    decode_offset_msg_id,
    offset_msg_id_prefix,
    parse_uniq_id,
)
from broker_core.message.names import validate_group, validate_topic
from broker_core.message.properties import (
    MessageConst,
    append_property,
    decode_properties,
    encode_properties,
    java_string_hash,
    tags_hash_code,
)
from broker_core.message.sysflag import CompressionType, MessageSysFlag, TransactionType, transaction_value

__all__ = [
    "BLANK_MAGIC_CODE",
    "MESSAGE_MAGIC_CODE",
    "BrokerMessage",
    "CompressionType",
    "Message",
    "MessageConst",
    "MessageExt",
    "MessageQueue",
    "MessageSysFlag",
    "PreparedRecord",
    "TransactionType",
    "UniqIdGenerator",
    "UniqIdInfo",
    "append_property",
    "body_crc",
    "create_offset_msg_id",
    "decode_batch",
    "decode_offset_msg_id",
    "decode_properties",
    "decode_record",
    "decode_records",
    "encode_batch",
    "encode_properties",
    "encode_record",
    "encode_record_into",
    "java_string_hash",
    "offset_msg_id_prefix",
    "parse_uniq_id",
    "prepare_record",
    "record_size",
    "tags_hash_code",
    "transaction_value",
    "validate_group",
    "validate_topic",
    "write_record",
]
