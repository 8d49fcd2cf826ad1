"""A Celery result backend whose store always fails, for the kombu-transport tests.

With it an ``acks_late`` task fails *outside* its body: storing its result raises, Celery's tracer
then tries to store the failure, which raises again, and the exception leaves the tracer. On the
threads (and solo) pool nothing reports that back to the request, so Celery never acks, rejects
or requeues the message: the transport's ``lease_max_hold`` is what brings it back. (A result
publish that fails while the broker is down, ``rpc://``, is the same case.)
"""

from __future__ import annotations

from typing import Any

from celery.backends.base import DisabledBackend


class ResultStoreDown(Exception):
    """Raised by every store of :class:`FailingStoreBackend`."""


class FailingStoreBackend(DisabledBackend):  # type: ignore[misc]
    def store_result(self, *args: Any, **kwargs: Any) -> None:
        raise ResultStoreDown("the result store is down")

    def as_uri(self, *args: Any, **kwargs: Any) -> str:
        return "failing-store://"


#: the ``backend=`` string that selects it (Celery resolves ``module:Class``)
FAILING_STORE = f"{__name__}:FailingStoreBackend"
