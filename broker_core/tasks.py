"""asyncio task helpers shared by the broker's background services.

Every service that owns a background task stops it the same way: cancel, then wait for the
cancellation to finish so nothing of it runs after ``stop()`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended; its CancelledError is swallowed."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
