"""Shared state and helpers of the ``MessagingService`` parts (routes, auth, durations).

:class:`ServiceBase` holds what every RPC group needs — the remoting :class:`Backend`, the
advertised endpoint, the Telemetry sessions, the optional authenticator — and the helpers they
share; :mod:`~broker_core.proxy.service` (routes, sending, Telemetry),
:mod:`~broker_core.proxy.consuming` (POP) and :mod:`~broker_core.proxy.pulling` (offsets, pull)
add the RPCs.
"""

from __future__ import annotations

import itertools
from typing import Any

from broker_core.errors import RemotingError
from broker_core.proxy.auth import CURRENT, Authenticator
from broker_core.proxy.backend import Backend, TopicNotFound
from broker_core.proxy.codes import status
from broker_core.proxy.sessions import Sessions
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.remoting.body.route import TopicRouteData

__all__ = ["ALL_TYPES", "ServiceBase", "client_id", "duration_ms"]

ALL_TYPES = (pb.NORMAL, pb.FIFO, pb.DELAY, pb.TRANSACTION)


def duration_ms(d: Any) -> int:
    return int(d.seconds) * 1000 + int(d.nanos) // 1_000_000


def client_id(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-mq-client-id":
            return str(value)
    return ""


class ServiceBase:
    """See the module docstring; ``endpoint`` is what routes name when the request names none."""

    def __init__(self, backend: Backend, endpoint: tuple[str, int]) -> None:
        self.backend = backend
        self.endpoint = endpoint
        self.sessions = Sessions()
        self._turn = itertools.count()
        #: set when the proxy checks credentials (``--acl-file``)
        self.authenticator: Authenticator | None = None

    def _refused(self, context: Any) -> pb.Status | None:
        """UNAUTHORIZED when credentials are required and wrong; else run the call as the caller."""
        if self.authenticator is None:
            return None
        who = self.authenticator.authenticate(context.invocation_metadata())
        if isinstance(who, str):
            return status(pb.UNAUTHORIZED, who)
        CURRENT.set(who)
        return None

    def _endpoints(self, requested: pb.Endpoints) -> pb.Endpoints:
        if requested.addresses:
            return requested
        out = pb.Endpoints(scheme=pb.IPv4)
        out.addresses.add(host=self.endpoint[0], port=self.endpoint[1])
        return out

    async def _route(self, topic: str) -> TopicRouteData | pb.Status:
        try:
            return await self.backend.route(topic)
        except TopicNotFound:
            return status(pb.TOPIC_NOT_FOUND, f"topic {topic} not found")
        except RemotingError as exc:
            return status(pb.INTERNAL_SERVER_ERROR, f"name server unavailable: {exc}")
