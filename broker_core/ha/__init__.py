"""Master/slave replication over Apache RocketMQ's HA stream (storage spec §7).

``protocol`` holds the pure byte codecs; ``master`` the master's replication server; ``replica`` the
slave's client.
"""

from __future__ import annotations

from broker_core.ha.master import HAMaster
from broker_core.ha.protocol import (
    ReportDecoder,
    TransferDecoder,
    TransferFrame,
    encode_report,
    encode_transfer,
)
from broker_core.ha.replica import HAReplica

__all__ = [
    "HAMaster",
    "HAReplica",
    "ReportDecoder",
    "TransferDecoder",
    "TransferFrame",
    "encode_report",
    "encode_transfer",
]
