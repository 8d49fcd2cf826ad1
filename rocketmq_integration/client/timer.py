"""Timer-message helpers (5.x semantics): ask the broker to deliver a message at a given time.

The broker parks such a message in its timer wheel and delivers it to the real topic at the time
with 1 s precision (``timerPrecisionMs``); delays beyond ``timerMaxDelaySec`` (3 days by default)
are refused with MESSAGE_ILLEGAL. These helpers only set properties, so any producer send works::

    await producer.send(deliver_at(Message("T", b"x"), time.time() + 10))
"""

from __future__ import annotations

from broker_core.message.model import Message
from broker_core.message.properties import MessageConst

__all__ = ["deliver_after", "deliver_at"]


def deliver_at(msg: Message, epoch_seconds: float) -> Message:
    """Deliver ``msg`` at an absolute time (``TIMER_DELIVER_MS``); returns the same message."""
    msg.properties[MessageConst.TIMER_DELIVER_MS] = str(int(epoch_seconds * 1000))
    return msg


def deliver_after(msg: Message, seconds: float) -> Message:
    """Deliver ``msg`` ``seconds`` from when the broker receives it (``TIMER_DELAY_MS``)."""
    if seconds < 0:
        raise ValueError("delay must not be negative")
    msg.properties[MessageConst.TIMER_DELAY_MS] = str(int(seconds * 1000))
    return msg
