"""Small helpers for treating a vanished peer as a normal event."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from broker_core.errors import RemotingError


@contextlib.contextmanager
def ignore_closed() -> Iterator[None]:
    """Swallow errors from writing to a connection that closed meanwhile (oneway notifications)."""
    with contextlib.suppress(RemotingError, OSError):
        yield
