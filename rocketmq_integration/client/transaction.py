"""Transactional producer: half message, local transaction, END_TRANSACTION, check-back answers.

Flow (remoting spec 4.8, storage spec 6)::

    result = await producer.send_message_in_transaction(msg, arg)
      1. send msg with TRAN_MSG=true, PGROUP=<group>, sysFlag PREPARED -> stored as a half message
      2. state = listener.execute_local_transaction(msg, arg)     (exception -> UNKNOW)
      3. END_TRANSACTION one-way: COMMIT (8), ROLLBACK (12) or UNKNOW (0, the broker ignores it)

    later, for a half message still open after transactionTimeOut:
      broker -> CHECK_TRANSACTION_STATE (one-way, on any live connection of the group)
      state = listener.check_local_transaction(msg)   -> END_TRANSACTION with fromTransactionCheck

Listener methods may be plain functions or coroutines. The check is routed by the message's
``PGROUP``, so any restarted instance of the same group can answer for half messages sent by an
earlier one.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from broker_core.message.codec import decode_record
from broker_core.message.model import Message, MessageExt
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.message.properties import MessageConst
from broker_core.message.sysflag import MessageSysFlag, TransactionType
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.transaction import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.producer import Producer, _Prepared
from rocketmq_integration.client.results import SendResult, SendStatus
from rocketmq_integration.errors import MQClientError
from rocketmq_integration.logging import get_logger

__all__ = ["LocalTransactionState", "TransactionListener", "TransactionProducer", "TransactionSendResult"]

log = get_logger(__name__)


class LocalTransactionState(enum.Enum):
    """Outcome of a local transaction (Java ``LocalTransactionState``; ``UNKNOW`` sic)."""

    COMMIT_MESSAGE = "COMMIT_MESSAGE"
    ROLLBACK_MESSAGE = "ROLLBACK_MESSAGE"
    UNKNOW = "UNKNOW"

    @property
    def sys_flag(self) -> int:
        return _STATE_FLAGS[self]


_STATE_FLAGS = {
    LocalTransactionState.COMMIT_MESSAGE: int(TransactionType.COMMIT),
    LocalTransactionState.ROLLBACK_MESSAGE: int(TransactionType.ROLLBACK),
    LocalTransactionState.UNKNOW: int(TransactionType.NOT_TYPE),
}


class TransactionListener(Protocol):
    def execute_local_transaction(
        self, msg: Message, arg: Any
    ) -> LocalTransactionState | Awaitable[LocalTransactionState]: ...

    def check_local_transaction(
        self, msg: MessageExt
    ) -> LocalTransactionState | Awaitable[LocalTransactionState]: ...


@dataclass(frozen=True, slots=True)
class TransactionSendResult:
    """The half message's send result plus what the local transaction decided."""

    send_result: SendResult
    local_state: LocalTransactionState
    transaction_id: str


async def _call(fn: Any, *args: Any) -> LocalTransactionState:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, LocalTransactionState):
        raise MQClientError(f"transaction listener returned {result!r}, not a LocalTransactionState")
    return result


#: client instance -> producer group -> transactional producer (check requests are routed by PGROUP)
_REGISTRY: weakref.WeakKeyDictionary[MQClientInstance, dict[str, TransactionProducer]] = (
    weakref.WeakKeyDictionary()
)


class TransactionProducer(Producer):
    """A :class:`Producer` that can send transactional messages; see the module docstring."""

    def __init__(
        self,
        group: str,
        listener: TransactionListener,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ProducerConfig | None = None,
    ) -> None:
        super().__init__(group, namesrv_addr=namesrv_addr, client_config=client_config, config=config)
        self.listener = listener
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await super().start()
        client = self.client
        _REGISTRY.setdefault(client, {})[self.group] = self
        dispatcher = client.remoting.dispatcher
        if dispatcher is not None:
            dispatcher.register(RequestCode.CHECK_TRANSACTION_STATE, _make_check_handler(client))

    async def shutdown(self) -> None:
        if self._client is not None:
            _REGISTRY.get(self._client, {}).pop(self.group, None)
        for task in list(self._tasks):
            task.cancel()
        await super().shutdown()

    def _prepare(self, msg: Message) -> _Prepared:
        p = super()._prepare(msg)
        if msg.properties.get(MessageConst.TRAN_MSG) == "true":
            p = p._replace(sys_flag=p.sys_flag | MessageSysFlag.TRANSACTION_PREPARED)
        return p

    async def send_message_in_transaction(
        self, msg: Message, arg: Any = None, timeout: float | None = None
    ) -> TransactionSendResult:
        """Send ``msg`` as a half message, run the local transaction, then end the transaction.

        Raises:
            MQBrokerError / RemotingError: the half message could not be sent (nothing to undo).
        """
        msg.properties.pop(MessageConst.DELAY, None)  # delay is not supported for transactions
        msg.properties[MessageConst.TRAN_MSG] = "true"
        msg.properties[MessageConst.PGROUP] = self.group
        result = await self.send(msg, timeout)
        transaction_id = result.transaction_id or result.msg_id
        remark: str | None = None
        if result.status is SendStatus.SEND_OK:
            try:
                state = await _call(self.listener.execute_local_transaction, msg, arg)
            except Exception as exc:  # the outcome is unknown: the broker will ask later
                log.warning("local transaction failed", msg_id=result.msg_id, error=str(exc))
                state, remark = (
                    LocalTransactionState.UNKNOW,
                    f"executeLocalTransactionBranch exception: {exc}",
                )
        else:
            state = LocalTransactionState.ROLLBACK_MESSAGE
        addr = self.client.broker_addr(result.message_queue.broker_name, fallback=False)
        if addr is None:
            raise MQClientError(f"no master address for broker {result.message_queue.broker_name}")
        header = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=decode_offset_msg_id(result.offset_msg_id)[1],
            commit_or_rollback=state.sys_flag,
            msg_id=result.msg_id,
            from_transaction_check=False,
            transaction_id=transaction_id,
        )
        cmd = self.client.api.request(RequestCode.END_TRANSACTION, header.to_ext_fields())
        cmd.flag |= 0x2
        cmd.remark = remark
        await self.client.api.invoke_oneway(addr, cmd)
        if self.tracer is not None:
            self.tracer.on_end_transaction(msg, result.msg_id, addr, transaction_id, state.value, False)
        return TransactionSendResult(result, state, transaction_id)

    async def _answer_check(
        self, header: CheckTransactionStateRequestHeader, msg: MessageExt, channel: Channel
    ) -> None:
        try:
            state = await _call(self.listener.check_local_transaction, msg)
        except Exception as exc:
            log.warning("check_local_transaction failed", msg_id=header.msg_id, error=str(exc))
            state = LocalTransactionState.UNKNOW
        end = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=header.tran_state_table_offset,
            commit_log_offset=header.commit_log_offset,
            commit_or_rollback=state.sys_flag,
            msg_id=msg.properties.get(MessageConst.UNIQ_KEY) or header.msg_id or "",
            from_transaction_check=True,
            transaction_id=header.transaction_id,
        )
        cmd = self.client.api.sign(self.client.api.request(RequestCode.END_TRANSACTION, end.to_ext_fields()))
        cmd.flag |= 0x2
        try:
            channel.invoke_oneway(cmd)
        except Exception as exc:
            log.warning("answering transaction check failed", error=str(exc))
        log.info("transaction check answered", group=self.group, msg_id=end.msg_id, state=state.value)


def _make_check_handler(client: MQClientInstance) -> Any:
    def on_check(cmd: RemotingCommand, channel: Channel) -> None:
        try:
            header = CheckTransactionStateRequestHeader.from_ext_fields(cmd.ext_fields)
            msg = decode_record(cmd.body or b"", decompress=True)
        except Exception as exc:
            log.warning("bad CHECK_TRANSACTION_STATE request", error=str(exc))
            return
        group = msg.properties.get(MessageConst.PGROUP, "")
        producer = _REGISTRY.get(client, {}).get(group)
        if producer is None:
            log.warning("transaction check for a group with no transactional producer", group=group)
            return
        task = asyncio.get_running_loop().create_task(producer._answer_check(header, msg, channel))
        producer._tasks.add(task)
        task.add_done_callback(producer._tasks.discard)

    return on_check
