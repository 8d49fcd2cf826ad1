"""END_TRANSACTION (remoting spec 4.8, storage spec 6.3): commit or roll back a half message.

The half message is re-read by the header's ``commitLogOffset`` and must be a half-topic record of
the same producer group with the same queue offset — so a stale or made-up offset is answered with
SYSTEM_ERROR and nothing is stored. Commit stores the real message (then the op message);
rollback stores only the op message. Unknown (0) and other values are ignored without a response,
as Apache does; the Java client sends this request one-way and never reads the answer, but our
answer is still useful to tools and tests.
"""

from __future__ import annotations

from broker_core.broker.context import BrokerContext
from broker_core.broker.topics import TRANS_HALF_TOPIC
from broker_core.broker.transaction.half import committed_message
from broker_core.broker.transaction.op import op_message
from broker_core.config.broker import BrokerRole
from broker_core.logsetup import get_logger
from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from broker_core.message.sysflag import TransactionType
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.transaction import EndTransactionRequestHeader
from broker_core.store.results import PutStatus

__all__ = ["EndTransactionProcessor"]

log = get_logger(__name__)

_STORED = (
    PutStatus.PUT_OK,
    PutStatus.FLUSH_DISK_TIMEOUT,
    PutStatus.FLUSH_SLAVE_TIMEOUT,
    PutStatus.SLAVE_NOT_AVAILABLE,
)


class EndTransactionProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    async def __call__(self, request: RemotingCommand, channel: Channel) -> RemotingCommand | None:
        try:
            h = EndTransactionRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        bound = log.bind(
            group=h.producer_group,
            msg_id=h.msg_id,
            offset=h.tran_state_table_offset,
            peer=channel.remote_addr,
        )
        if self.ctx.config.broker_role is BrokerRole.SLAVE:
            return request.make_response(
                ResponseCode.SLAVE_NOT_AVAILABLE, "Can't process transaction message on a slave broker"
            )
        if h.commit_or_rollback not in (TransactionType.COMMIT, TransactionType.ROLLBACK):
            bound.info("transaction state not final, nothing to do", state=h.commit_or_rollback)
            return None
        half = self.ctx.store.look_message_by_offset(h.commit_log_offset)
        problem = self._validate(h, half)
        if problem is not None or half is None:
            bound.warning("end transaction rejected", reason=problem)
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if h.commit_or_rollback == TransactionType.COMMIT:
            result = await self.ctx.store.put_message(committed_message(half, self.ctx.store_host))
            if result.status not in _STORED or result.append_result is None:
                bound.warning("storing the committed message failed", status=result.status.name)
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR, f"commit failed: {result.status.name}"
                )
        await self.ctx.store.put_message(
            op_message(half.queue_offset, self.ctx.store_host), wait_store_msg_ok=False
        )
        bound.info(
            "transaction ended",
            commit=h.commit_or_rollback == TransactionType.COMMIT,
            from_check=h.from_transaction_check,
        )
        return request.make_response()

    @staticmethod
    def _validate(h: EndTransactionRequestHeader, half: MessageExt | None) -> str | None:
        if half is None or half.topic != TRANS_HALF_TOPIC:
            return f"Find prepared transaction message failed: no half message at commitLogOffset {h.commit_log_offset}"
        if half.properties.get(MessageConst.PGROUP) != h.producer_group:
            return "The producer group wrong"
        if half.queue_offset != h.tran_state_table_offset:
            return "The transaction state table offset wrong"
        if half.commit_log_offset != h.commit_log_offset:
            return "The commit log offset wrong"
        return None
