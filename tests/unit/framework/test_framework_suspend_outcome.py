"""Per-call suspend durations without a broker: ``SuspendQueue`` → ``SuspendCurrentQueue`` in the
listener container, the client's ``ListenerAdapter`` passing it through, and value validation."""

from __future__ import annotations

import asyncio

import pytest

from broker_core.message.model import MessageExt
from rocketmq_integration.client import ConsumeResult, ListenerKind, SuspendCurrentQueue
from rocketmq_integration.client.consume_service import ListenerAdapter
from rocketmq_integration.client.results import ListenerResult, as_consume_result
from rocketmq_integration.listeners import (
    ConsumeMode,
    ListenerContainer,
    ReconsumeLater,
    SuspendQueue,
    build_spec,
)


def _handler(payload: str) -> None:
    return None


def _msg() -> MessageExt:
    return MessageExt(
        topic="T", queue_id=0, queue_offset=0, commit_log_offset=0, store_size=0, body_crc=0, flag=0,
        sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1), store_timestamp=0,
        store_host=("127.0.0.1", 2), reconsume_times=0, prepared_transaction_offset=0, body=b"x",
        properties={"UNIQ_KEY": "ID1"},
    )  # fmt: skip


def test_values_are_validated() -> None:
    assert SuspendQueue().duration is None and SuspendQueue(0.25).duration == 0.25
    assert SuspendCurrentQueue(0).duration == 0
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            SuspendQueue(bad)
        with pytest.raises(ValueError):
            SuspendCurrentQueue(bad)


def test_as_consume_result() -> None:
    assert as_consume_result(SuspendCurrentQueue(1)) is ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
    for r in ConsumeResult:
        assert as_consume_result(r) is r


@pytest.mark.parametrize("is_async", [True, False])
def test_listener_adapter_passes_the_duration_through(is_async: bool) -> None:
    def sync_fn(msgs: list[MessageExt]) -> ListenerResult:
        return SuspendCurrentQueue(0.5)

    async def async_fn(msgs: list[MessageExt]) -> ListenerResult:
        return SuspendCurrentQueue(0.5)

    async def go() -> tuple[ListenerResult, ConsumeResult]:
        adapter = ListenerAdapter(async_fn if is_async else sync_fn, 2, ListenerKind.ORDERLY)
        try:
            return await adapter.call_detailed([_msg()]), await adapter.call([_msg()])
        finally:
            adapter.shutdown()

    detailed, plain = asyncio.run(go())
    assert detailed == SuspendCurrentQueue(0.5)
    assert plain is ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT


def test_container_maps_suspend_queue_to_a_per_call_duration() -> None:
    orderly = ListenerContainer(
        build_spec(_handler, topic="T", consumer_group="g", consume_mode=ConsumeMode.ORDERLY,
                   suspend_current_queue_time=5.0)
    )  # fmt: skip
    concurrent = ListenerContainer(build_spec(_handler, topic="T", consumer_group="g2"))

    def settle(container: ListenerContainer, error: BaseException) -> ListenerResult:
        return asyncio.run(container._settle([_msg()], [], error))

    assert settle(orderly, SuspendQueue(0.2)) == SuspendCurrentQueue(0.2)
    # no duration, or any other failure: the listener's suspend_current_queue_time
    assert settle(orderly, SuspendQueue()) is ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
    assert settle(orderly, RuntimeError("x")) is ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
    assert settle(orderly, ReconsumeLater()) is ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
    # concurrent listeners: SuspendQueue is ReconsumeLater() — the client's default send-back
    assert settle(concurrent, SuspendQueue(0.2)) is ConsumeResult.RECONSUME_LATER
