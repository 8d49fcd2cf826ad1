"""Client-side message trace (storage spec 9.3): Pub / SubBefore / SubAfter / EndTransaction records in
Apache's encoding, batched and sent asynchronously to the trace topic.

:class:`TraceDispatcher` is ``AsyncTraceDispatcher``: contexts are offered without blocking into a
queue of 1024 (full -> dropped and counted in ``discarded``); one task drains the queue every
100 ms and sends a trace message once its text reaches 118,000 characters or its first context is
500 ms old. The
dispatcher owns an inner producer (group ``_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>``)
that is never traced itself. Trace messages carry as KEYS every traced msgId and message key, so
the trace topic's index finds them by msgId (:func:`query_trace`).

Hooks: :meth:`TraceDispatcher.on_send` after each send attempt that got an answer (skipped when
the broker sent no ``MSG_REGION`` or ``TRACE_ON=false``, as the Java hook does),
:meth:`TraceDispatcher.before_consume` / :meth:`TraceDispatcher.after_consume` around each
listener call (one SubBefore and one SubAfter record per message), and
:meth:`TraceDispatcher.on_end_transaction` after END_TRANSACTION.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

from broker_core.message.model import Message, MessageExt
from broker_core.message.properties import MessageConst
from broker_core.message.trace import (
    MAX_TRACE_MESSAGE_TEXT,
    TRACE_PRODUCER_GROUP_PREFIX,
    TRACE_TOPIC,
    ConsumeReturnType,
    MessageType,
    TraceBean,
    TraceContext,
    TraceType,
    TraceView,
    encode_context,
    trace_keys,
    views_for,
)
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.sending import new_uniq_id, now_ms
from rocketmq_integration.errors import MQClientError, RemotingError
from rocketmq_integration.logging import get_logger

if TYPE_CHECKING:
    from rocketmq_integration.client.admin import Admin
    from rocketmq_integration.client.producer import Producer

__all__ = ["TraceDispatcher", "message_type_of", "query_trace"]

log = get_logger(__name__)

QUEUE_SIZE = 1024
MAX_DELAY = 0.5
POLL_INTERVAL = 0.1


def message_type_of(properties: dict[str, str]) -> MessageType:
    if properties.get(MessageConst.TRAN_MSG) == "true":
        return MessageType.Trans_Msg_Half
    if properties.get(MessageConst.DELAY) not in (None, "", "0"):
        return MessageType.Delay_Msg
    return MessageType.Normal_Msg


class TraceDispatcher:
    """One per traced producer or consumer; see the module docstring."""

    def __init__(
        self,
        client_config: ClientConfig,
        group: str,
        kind: str,
        trace_topic: str = "",
        *,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self.client_config = client_config
        self.group = group
        self.trace_topic = trace_topic or TRACE_TOPIC
        self.max_delay = max_delay
        self.producer_group = f"{TRACE_PRODUCER_GROUP_PREFIX}-{group}-{kind}"
        self.discarded = 0
        self.sent_messages = 0
        self._queue: asyncio.Queue[TraceContext] = asyncio.Queue(QUEUE_SIZE)
        self._producer: Producer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._pending = False

    async def start(self) -> None:
        from rocketmq_integration.client.producer import Producer

        if self._task is not None:
            return
        cc = dataclasses.replace(
            self.client_config, instance_name=f"PID_CLIENT_INNER_TRACE_PRODUCER_{self.group}"
        )
        self._producer = Producer(
            self.producer_group,
            client_config=cc,
            config=ProducerConfig(send_msg_timeout=5.0, max_message_size=128_000),
        )
        await self._producer.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Send what is queued (bounded by ``timeout``), then stop the inner producer."""
        if self._task is None:
            return
        await self.flush(timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._sends:
            await asyncio.wait(self._sends, timeout=timeout)
        if self._producer is not None:
            await self._producer.shutdown()
            self._producer = None

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every offered context was sent (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while (not self._queue.empty() or self._sends or self._pending) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    # ---- offering -----------------------------------------------------------------------------
    def offer(self, ctx: TraceContext) -> None:
        try:
            self._queue.put_nowait(ctx)
        except asyncio.QueueFull:
            self.discarded += 1

    def on_send(
        self, msg: Message, msg_id: str, offset_msg_id: str, store_addr: str, started_ms: int, success: bool,
        response_ext: dict[str, str] | None,
    ) -> None:  # fmt: skip
        """The Pub record of one answered send (not for the trace topic itself)."""
        ext = response_ext or {}
        region = ext.get(MessageConst.MSG_REGION)
        if msg.topic == self.trace_topic or region is None or ext.get(MessageConst.TRACE_ON) == "false":
            return
        bean = TraceBean(
            msg_id=msg_id, topic=msg.topic, tags=msg.tags or "", keys=msg.keys or "", store_host=store_addr,
            body_length=len(msg.body), msg_type=message_type_of(msg.properties), offset_msg_id=offset_msg_id,
        )  # fmt: skip
        cost = now_ms() - started_ms
        self.offer(TraceContext(TraceType.Pub, started_ms, region, self.group, cost, success, beans=[bean]))

    def before_consume(self, msgs: list[MessageExt]) -> TraceContext | None:
        beans = [
            TraceBean(
                msg_id=m.msg_id,
                topic=m.topic,
                tags=m.tags or "",
                keys=m.keys or "",
                store_host=f"{m.store_host[0]}:{m.store_host[1]}",
                body_length=len(m.body),
                retry_times=m.reconsume_times,
            )  # fmt: skip
            for m in msgs
            if m.topic != self.trace_topic
        ]
        if not beans:
            return None
        region = msgs[0].properties.get(MessageConst.MSG_REGION) or "DefaultRegion"
        ctx = TraceContext(
            TraceType.SubBefore, now_ms(), region, self.group, request_id=new_uniq_id(), beans=beans
        )
        self.offer(ctx)
        return ctx

    def after_consume(self, before: TraceContext | None, success: bool, code: ConsumeReturnType) -> None:
        if before is None:
            return
        cost = (now_ms() - before.time_stamp) // max(len(before.beans), 1)
        self.offer(
            TraceContext(
                TraceType.SubAfter,
                now_ms(),
                before.region_id,
                self.group,
                int(cost),
                success,
                before.request_id,
                int(code),
                beans=before.beans,
            )  # fmt: skip
        )

    def on_end_transaction(
        self,
        msg: Message,
        msg_id: str,
        store_addr: str,
        transaction_id: str | None,
        state: str,
        from_check: bool,
    ) -> None:
        bean = TraceBean(
            msg_id=msg_id, topic=msg.topic, tags=msg.tags or "", keys=msg.keys or "", store_host=store_addr,
            msg_type=MessageType.Trans_Msg_Half, transaction_id=transaction_id, transaction_state=state,
            from_transaction_check=from_check,
        )  # fmt: skip
        self.offer(
            TraceContext(TraceType.EndTransaction, now_ms(), "DefaultRegion", self.group, beans=[bean])
        )

    # ---- sending ------------------------------------------------------------------------------
    async def _run(self) -> None:
        """Collect contexts in 100 ms polling windows (one timer per window, not per context) into
        a segment; send it when its text reaches the size limit or its first context is
        ``max_delay`` old."""
        batch: list[TraceContext] = []
        texts: list[str] = []
        size = 0
        first_at = 0.0
        while True:
            if not batch:
                self._pending = False
                ctx = await self._queue.get()
                self._pending = True
                batch, texts, first_at = [ctx], [encode_context(ctx)], time.monotonic()
                size = len(texts[0])
            await asyncio.sleep(min(POLL_INTERVAL, max(0.0, first_at + self.max_delay - time.monotonic())))
            while not self._queue.empty():
                ctx = self._queue.get_nowait()
                batch.append(ctx)
                texts.append(encode_context(ctx))
                size += len(texts[-1])
                if size >= MAX_TRACE_MESSAGE_TEXT:
                    self._dispatch(batch, texts)
                    batch, texts, size, first_at = [], [], 0, time.monotonic()
            if batch and time.monotonic() - first_at >= self.max_delay:
                self._dispatch(batch, texts)
                batch, texts, size = [], [], 0

    def _dispatch(self, batch: list[TraceContext], texts: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(batch, "".join(texts)))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, batch: list[TraceContext], text: str) -> None:
        keys: list[str] = []
        for c in batch:
            keys.extend(trace_keys(c))
        msg = Message(self.trace_topic, text.encode("utf-8"))
        msg.keys = " ".join(dict.fromkeys(k for k in keys if k))
        assert self._producer is not None
        try:
            await self._producer.send(msg)
            self.sent_messages += 1
        except (MQClientError, RemotingError) as exc:
            log.warning("trace data not sent", topic=self.trace_topic, contexts=len(batch), error=str(exc))


async def query_trace(admin: Admin, msg_id: str, trace_topic: str = TRACE_TOPIC) -> list[TraceView]:
    """The path of one message: its trace views (Pub, SubBefore/SubAfter per group …) in time order.

    Args:
        admin: a started :class:`~rocketmq_integration.client.admin.Admin`.
        msg_id: the message's client id (``UNIQ_KEY``, ``SendResult.msg_id``).
        trace_topic: where the traces were written.
    """
    views: list[TraceView] = []
    for m in await admin.query_message(trace_topic, msg_id, 64):
        views.extend(views_for(msg_id, m.body, f"{m.born_host[0]}:{m.born_host[1]}"))
    order = {"Pub": 0, "EndTransaction": 1, "SubBefore": 2, "SubAfter": 3}
    views.sort(key=lambda v: (v.time_stamp, order.get(v.msg_type, 9)))
    return views
