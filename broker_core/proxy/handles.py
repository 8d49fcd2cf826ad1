"""The opaque strings the proxy hands to 5.x clients: receipt handles and transaction ids.

Both are self-contained (no proxy-side table), so they stay valid across a proxy restart and
across several proxies in front of one cluster.

* Receipt handle: the broker's POP receipt handle (8 space-separated fields, see
  :mod:`broker_core.remoting.headers.pop`) plus a 9th field, the message's commit-log offset,
  which ForwardMessageToDeadLetterQueue needs for CONSUMER_SEND_MSG_BACK.
* Transaction id: ``commitLogOffset.tranStateTableOffset.offsetMsgId.brokerName`` — what
  END_TRANSACTION needs to find the half message.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.pop import ReceiptHandle, ReceiptHandleError

__all__ = ["ProxyHandle", "TransactionId", "make_handle", "parse_handle"]


@dataclass(frozen=True, slots=True)
class ProxyHandle:
    broker: ReceiptHandle
    broker_text: str
    commit_log_offset: int


def make_handle(broker_handle: str, commit_log_offset: int) -> str:
    return f"{broker_handle} {commit_log_offset}"


def parse_handle(text: str) -> ProxyHandle:
    """Raises ReceiptHandleError for anything that is not a handle this proxy made."""
    broker_text, sep, offset = text.rpartition(" ")
    if not sep or not offset.isdigit():
        raise ReceiptHandleError(f"invalid receipt handle {text!r}")
    return ProxyHandle(ReceiptHandle.parse(broker_text), broker_text, int(offset))


@dataclass(frozen=True, slots=True)
class TransactionId:
    commit_log_offset: int
    tran_state_table_offset: int
    offset_msg_id: str
    broker_name: str

    def encode(self) -> str:
        return (
            f"{self.commit_log_offset}.{self.tran_state_table_offset}.{self.offset_msg_id}.{self.broker_name}"
        )

    @classmethod
    def parse(cls, text: str) -> TransactionId:
        """Raises ValueError for a string this proxy did not make."""
        parts = text.split(".", 3)
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[3]:
            raise ValueError(f"invalid transaction id {text!r}")
        return cls(int(parts[0]), int(parts[1]), parts[2], parts[3])
