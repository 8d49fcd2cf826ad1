"""Long polling of PULL_MESSAGE (``PullRequestHoldService``).

A pull that finds nothing and carries FLAG_SUSPEND is parked here instead of answered. It is
re-executed (without permission to park again) when the dispatcher reports a new message for its
queue whose tags match, or when its suspend time runs out; whatever that second execution returns
is the response. No polling loop: arrivals and per-request timers drive everything.

An arrival does not re-execute the pull on the spot: the woken requests run in one callback after
the dispatcher's current batch (``call_soon``), so a pull woken by the first record of a batch
returns the whole batch rather than that one record (one response per batch, not per message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from broker_core.remoting.channel import Channel
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.errors_util import ignore_closed

Executor = Callable[[RemotingCommand, Channel], RemotingCommand | None]


@dataclass(slots=True, eq=False)
class HeldPull:
    request: RemotingCommand
    channel: Channel
    offset: int
    matches: Callable[[int], bool]
    timer: asyncio.TimerHandle | None = field(default=None)


class PullHoldService:
    """Parked pull requests keyed by (topic, queue id)."""

    def __init__(self, execute: Executor) -> None:
        self._execute = execute
        self._held: dict[tuple[str, int], list[HeldPull]] = {}
        self._woken: list[HeldPull] = []  # taken off _held, to run in the pending _run_woken

    def suspend(
        self,
        topic: str,
        queue_id: int,
        request: RemotingCommand,
        channel: Channel,
        offset: int,
        timeout_s: float,
        matches: Callable[[int], bool],
    ) -> None:
        key = (topic, queue_id)
        held = HeldPull(request, channel, offset, matches)
        self._held.setdefault(key, []).append(held)
        held.timer = asyncio.get_running_loop().call_later(timeout_s, self._expire, key, held)

    def _expire(self, key: tuple[str, int], held: HeldPull) -> None:
        waiters = self._held.get(key)
        if waiters is None or held not in waiters:
            return
        waiters.remove(held)
        if not waiters:
            del self._held[key]
        self._wake(held)

    def _wake(self, held: HeldPull) -> None:
        if held.timer is not None:
            held.timer.cancel()
        if not held.channel.is_open:
            return
        response = self._execute(held.request, held.channel)
        if response is not None:
            with ignore_closed():
                held.channel.send_response(response)

    def notify_arrival(self, topic: str, queue_id: int, max_offset: int, tags_code: int | None) -> None:
        """A message was dispatched; wake the requests of that queue that it satisfies."""
        waiters = self._held.get((topic, queue_id))
        if not waiters:
            return
        keep: list[HeldPull] = []
        wake: list[HeldPull] = []
        for held in waiters:
            if max_offset > held.offset and (tags_code is None or held.matches(tags_code)):
                wake.append(held)
            else:
                keep.append(held)
        if not wake:
            return
        if keep:
            self._held[(topic, queue_id)] = keep
        else:
            del self._held[(topic, queue_id)]
        if not self._woken:
            asyncio.get_running_loop().call_soon(self._run_woken)
        self._woken += wake

    def _run_woken(self) -> None:
        woken, self._woken = self._woken, []
        for held in woken:
            self._wake(held)

    def wake_all(self) -> None:
        """Answer every parked request now (shutdown)."""
        held_all = [*self._woken, *(h for waiters in self._held.values() for h in waiters)]
        self._held.clear()
        self._woken = []
        for held in held_all:
            self._wake(held)

    @property
    def held_count(self) -> int:
        return sum(len(w) for w in self._held.values()) + len(self._woken)
