"""PullHoldService: a parked pull is re-run once after the dispatcher's batch, not per arriving message."""

from __future__ import annotations

import asyncio
from typing import Any

from broker_core.broker.long_polling import PullHoldService
from broker_core.remoting.command import RemotingCommand


class StubChannel:
    """Just what the hold service touches: ``is_open`` and ``send_response``."""

    is_open = True

    def __init__(self) -> None:
        self.sent: list[RemotingCommand] = []

    def send_response(self, response: RemotingCommand) -> None:
        self.sent.append(response)


def test_a_batch_of_arrivals_wakes_a_parked_pull_once_after_the_batch() -> None:
    async def main() -> None:
        queue_max = [0]
        runs: list[int] = []

        def execute(request: RemotingCommand, channel: Any) -> RemotingCommand:
            runs.append(queue_max[0])  # what the re-run pull would find in the consume queue
            return request.make_response(remark=str(queue_max[0]))

        hold = PullHoldService(execute)
        ch = StubChannel()
        other = StubChannel()
        hold.suspend("T", 0, RemotingCommand.request(11), ch, 0, 30.0, lambda code: True)  # type: ignore[arg-type]
        hold.suspend("T", 1, RemotingCommand.request(11), other, 0, 30.0, lambda code: True)  # type: ignore[arg-type]
        for n in range(1, 6):  # the dispatcher's batch: five records of queue 0, one loop turn
            queue_max[0] = n
            hold.notify_arrival("T", 0, n, None)
        assert runs == [] and hold.held_count == 2
        await asyncio.sleep(0)
        assert runs == [5]  # one re-run, after the whole batch: it returns all five records
        assert [r.remark for r in ch.sent] == ["5"] and other.sent == []
        assert hold.held_count == 1
        hold.notify_arrival("T", 1, 1, 123)
        hold.wake_all()  # shutdown answers a request whose wake-up is still pending too
        assert len(other.sent) == 1 and hold.held_count == 0
        await asyncio.sleep(0)
        assert len(other.sent) == 1

    asyncio.run(main())


def test_a_tag_mismatch_keeps_the_pull_parked() -> None:
    async def main() -> None:
        runs: list[int] = []
        hold = PullHoldService(lambda req, ch: runs.append(1) or None)  # type: ignore[func-returns-value]
        hold.suspend("T", 0, RemotingCommand.request(11), StubChannel(), 0, 30.0, lambda code: code == 7)  # type: ignore[arg-type]
        hold.notify_arrival("T", 0, 1, 8)
        await asyncio.sleep(0)
        assert runs == [] and hold.held_count == 1
        hold.notify_arrival("T", 0, 2, 7)
        await asyncio.sleep(0)
        assert runs == [1] and hold.held_count == 0

    asyncio.run(main())
