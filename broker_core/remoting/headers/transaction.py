"""Transaction headers: END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39), remoting spec 4.8.

``commitOrRollback`` carries the ``MessageSysFlag`` transaction value: 0 = not/unknown (ignored),
8 = commit, 12 = rollback. ``tranStateTableOffset`` is the half message's queue offset and
``commitLogOffset`` its physical offset — the broker re-reads the half message by the latter and
checks it against the former and the producer group.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.base import CommandHeader

__all__ = ["CheckTransactionStateRequestHeader", "EndTransactionRequestHeader"]


@dataclass(slots=True)
class EndTransactionRequestHeader(CommandHeader):
    producer_group: str
    tran_state_table_offset: int
    commit_log_offset: int
    commit_or_rollback: int
    msg_id: str
    from_transaction_check: bool = False
    transaction_id: str | None = None
    bname: str | None = None


@dataclass(slots=True)
class CheckTransactionStateRequestHeader(CommandHeader):
    tran_state_table_offset: int
    commit_log_offset: int
    msg_id: str | None = None
    transaction_id: str | None = None
    offset_msg_id: str | None = None
    bname: str | None = None
