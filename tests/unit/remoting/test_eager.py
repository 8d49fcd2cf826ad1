"""Eager coroutine stepping used by the channel's dispatch."""

from __future__ import annotations

import asyncio

import pytest

from broker_core.remoting import eager


async def immediate() -> int:
    return 42


async def waits_for(fut: asyncio.Future[int]) -> int:
    value = await fut
    await asyncio.sleep(0)
    return value + 1


async def fails_later(fut: asyncio.Future[int]) -> int:
    await fut
    raise ValueError("late failure")


def test_immediate_coroutine_finishes_without_a_task() -> None:
    value, yielded = eager.step(immediate())
    assert eager.is_done(value) and value == 42 and yielded is None


def test_suspended_coroutine_is_finished_by_a_task() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        coro = waits_for(fut)
        value, yielded = eager.step(coro)
        assert not eager.is_done(value) and yielded is fut
        task = asyncio.ensure_future(eager.finish(coro, yielded))
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 1)
        assert await task == 2

    asyncio.run(main())


def test_failure_after_suspension_propagates() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        coro = fails_later(fut)
        _, yielded = eager.step(coro)
        task = asyncio.ensure_future(eager.finish(coro, yielded))
        fut.set_result(0)
        with pytest.raises(ValueError, match="late failure"):
            await task

    asyncio.run(main())


def test_cancellation_reaches_the_coroutine() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        coro = waits_for(fut)
        _, yielded = eager.step(coro)
        task = asyncio.ensure_future(eager.finish(coro, yielded))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fut.cancelled()

    asyncio.run(main())
