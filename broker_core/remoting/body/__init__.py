"""Request and response bodies (fastjson JSON, plus the compressed REGISTER_BROKER form)."""

from broker_core.remoting.body.cluster import ClusterInfo
from broker_core.remoting.body.kv import KVTable, TopicList
from broker_core.remoting.body.register import RegisterBrokerBody, body_crc32
from broker_core.remoting.body.route import MASTER_ID, BrokerData, QueueData, TopicRouteData
from broker_core.remoting.body.topic_config import (
    PERM_INHERIT,
    PERM_PRIORITY,
    PERM_READ,
    PERM_WRITE,
    DataVersion,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicFilterType,
)

__all__ = [
    "MASTER_ID",
    "PERM_INHERIT",
    "PERM_PRIORITY",
    "PERM_READ",
    "PERM_WRITE",
    "BrokerData",
    "ClusterInfo",
    "DataVersion",
    "KVTable",
    "QueueData",
    "RegisterBrokerBody",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicFilterType",
    "TopicList",
    "TopicRouteData",
    "body_crc32",
]
