"""Explicit consume outcomes: raise (or return) one of these instead of relying on "throw = retry".

rocketmq-spring's void ``onMessage`` makes every exception a retry and gives no way to pick the
delay, drop a poison message or dead-letter it at once (apache/rocketmq-spring#92, #235, #570).

* :class:`ReconsumeLater` — deliver again later; ``delay_level`` (or ``delay`` seconds, mapped to
  the smallest default level that is at least that long) is sent with CONSUMER_SEND_MSG_BACK,
  ``None`` lets the broker back off (level ``3 + reconsumeTimes``). Counts towards
  ``max_reconsume_times``; past it the broker moves the message to ``%DLQ%<group>``.
* :class:`SuspendQueue` — orderly listeners: pause the queue for ``duration`` seconds (default:
  the listener's ``suspend_current_queue_time``, which any other failure of an orderly listener
  uses) and retry the same message; in concurrent mode it behaves like ``ReconsumeLater()``.
* :class:`DiscardMessage` — acknowledge without processing (logged at warning).
* :class:`SendToDeadLetter` — skip the remaining retries: straight to ``%DLQ%<group>``.

Any other exception is ``ReconsumeLater()``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DELAY_LEVELS",
    "ConsumeOutcome",
    "DiscardMessage",
    "ReconsumeLater",
    "SendToDeadLetter",
    "SuspendQueue",
    "delay_to_level",
]

#: Apache's default ``messageDelayLevel`` in seconds (level n = index n-1)
DEFAULT_DELAY_LEVELS: tuple[float, ...] = (
    1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
)  # fmt: skip


def delay_to_level(delay: float, levels: tuple[float, ...] = DEFAULT_DELAY_LEVELS) -> int:
    """The smallest level whose delay is >= ``delay`` seconds (the last level if none is)."""
    for i, seconds in enumerate(levels, start=1):
        if seconds >= delay:
            return i
    return len(levels)


class ConsumeOutcome(Exception):
    """Base of the explicit outcomes."""


class ReconsumeLater(ConsumeOutcome):
    """Deliver the message again later (see the module docstring).

    Args:
        delay: seconds; mapped to a delay level with :func:`delay_to_level`.
        delay_level: an explicit broker delay level (wins over ``delay``).
    """

    def __init__(self, delay: float | None = None, delay_level: int | None = None) -> None:
        if delay_level is None and delay is not None:
            delay_level = delay_to_level(delay)
        if delay_level is not None and delay_level < 0:
            raise ValueError("delay_level must be >= 0; use SendToDeadLetter for the DLQ")
        super().__init__(f"reconsume later (delay_level={delay_level})")
        self.delay_level = delay_level


class SuspendQueue(ConsumeOutcome):
    """Orderly listeners: suspend the queue and retry the message.

    Args:
        duration: the pause in seconds for this failure; ``None`` uses the listener's
            ``suspend_current_queue_time``. Concurrent listeners ignore it (``ReconsumeLater()``).
    """

    def __init__(self, duration: float | None = None) -> None:
        if duration is not None and not 0 <= duration < float("inf"):
            raise ValueError(f"duration must be a finite number of seconds >= 0, got {duration!r}")
        super().__init__("suspend queue" if duration is None else f"suspend queue for {duration}s")
        self.duration = duration


class DiscardMessage(ConsumeOutcome):
    """Acknowledge the message without processing it."""


class SendToDeadLetter(ConsumeOutcome):
    """Move the message to ``%DLQ%<group>`` at once."""
