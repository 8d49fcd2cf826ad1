"""Message store: commit log, consume queues, dispatch, flush and recovery (storage spec §1-§2)."""

from __future__ import annotations

from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.dispatch import ArrivalListener, Dispatcher, DispatchRequest
from broker_core.store.message_store import MessageStore
from broker_core.store.results import (
    AppendResult,
    GetMessageStatus,
    GetResult,
    PutResult,
    PutStatus,
)

__all__ = [
    "AppendResult",
    "ArrivalListener",
    "DispatchRequest",
    "Dispatcher",
    "GetMessageStatus",
    "GetResult",
    "MessageStore",
    "PutResult",
    "PutStatus",
    "StoreCheckpoint",
]
