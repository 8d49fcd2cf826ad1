"""``Pending``: mapped values reach the one listener synchronously, failures pass through."""

from __future__ import annotations

import asyncio

import pytest

from broker_core.pending import Pending


def test_map_then_resolve_delivers_the_mapped_value_at_once() -> None:
    got: list[tuple[object, BaseException | None]] = []
    p: Pending[int] = Pending()
    p.map(lambda v: v * 2).map(lambda v: f"<{v}>").listen(lambda v, e: got.append((v, e)))
    assert got == []
    p.resolve(21)
    assert got == [("<42>", None)]  # in resolve itself: no loop turn, no loop at all
    p.resolve(99)  # a second resolution is ignored
    assert got == [("<42>", None)] and str(p.result()) == "<42>"  # p was mapped in place


def test_listen_and_map_after_resolution() -> None:
    got: list[object] = []
    p: Pending[int] = Pending()
    p.resolve(5)
    q = p.map(lambda v: v + 1)
    q.listen(lambda v, e: got.append(v))
    assert got == [6]
    with pytest.raises(RuntimeError, match="one listener"):
        q.listen(lambda v, e: None)


def test_a_raising_map_or_a_failure_reaches_the_listener_as_the_exception() -> None:
    got: list[tuple[object, BaseException | None]] = []
    p: Pending[int] = Pending()
    p.map(lambda v: 1 // v).listen(lambda v, e: got.append((v, e)))
    p.resolve(0)
    assert got[0][0] is None and isinstance(got[0][1], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        p.result()

    failed: Pending[int] = Pending()
    calls: list[int] = []

    def record(v: int) -> int:
        calls.append(v)
        return v

    failed.map(record).listen(lambda v, e: got.append((v, e)))
    failed.fail(OSError("no disk"))
    assert calls == [] and isinstance(got[1][1], OSError)


def test_a_raising_listener_does_not_break_the_resolver() -> None:
    p: Pending[int] = Pending()

    def boom(value: object, exc: BaseException | None) -> None:
        raise ValueError("listener bug")

    p.listen(boom)
    p.resolve(1)  # logged, not raised into the resolver
    assert p.done() and p.result() == 1


def test_await_before_and_after_resolution() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p: Pending[int] = Pending()
        loop.call_soon(p.resolve, 7)
        assert await p.map(lambda v: v * 6) == 42
        done: Pending[int] = Pending()
        done.resolve(3)
        assert await done == 3
        bad: Pending[int] = Pending()
        loop.call_soon(bad.fail, OSError("late"))
        with pytest.raises(OSError, match="late"):
            await bad
        with pytest.raises(asyncio.InvalidStateError):
            Pending().result()

    asyncio.run(main())
