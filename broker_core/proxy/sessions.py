"""5.x client sessions: the Telemetry stream of each client and the settings it is answered with.

A 5.x client opens one bidirectional ``Telemetry`` stream per endpoint and first sends its
``Settings`` (client type, topics it publishes or the group and subscriptions it consumes). The
proxy answers with the effective settings (Apache's defaults: retry policy, request timeout, body
size limit, long-polling time) and keeps the stream so it can push commands to the client later —
here, ``RecoverOrphanedTransactionCommand`` for a broker's transaction check-back.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb

__all__ = ["Session", "Sessions", "answer_settings"]

#: Apache proxy defaults
MAX_BODY_SIZE = 4 * 1024 * 1024
REQUEST_TIMEOUT_S = 3
LONG_POLLING_S = 30
RECEIVE_BATCH = 32
#: 4.x retry delays after each failed attempt (``messageDelayLevel`` 3s .. 2h, from level 3)
_RETRY_DELAYS_S = (10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200)
MAX_ATTEMPTS = 17


@dataclass(eq=False)
class Session:
    """One open Telemetry stream."""

    client_id: str
    settings: pb.Settings | None = None
    outbox: asyncio.Queue[spb.TelemetryCommand | None] = field(default_factory=asyncio.Queue)

    @property
    def publishes(self) -> set[str]:
        if self.settings is None or not self.settings.HasField("publishing"):
            return set()
        return {t.name for t in self.settings.publishing.topics}

    def push(self, command: spb.TelemetryCommand) -> None:
        self.outbox.put_nowait(command)

    def close(self) -> None:
        self.outbox.put_nowait(None)


class Sessions:
    """Open Telemetry streams by client id (a client may hold several, one per endpoint)."""

    def __init__(self) -> None:
        self._open: dict[str, list[Session]] = {}
        self._turn = itertools.count()

    def open(self, client_id: str) -> Session:
        session = Session(client_id)
        self._open.setdefault(client_id, []).append(session)
        return session

    def discard(self, session: Session) -> None:
        sessions = self._open.get(session.client_id)
        if sessions is not None and session in sessions:
            sessions.remove(session)
            if not sessions:
                del self._open[session.client_id]

    def terminate(self, client_id: str) -> None:
        for session in self._open.pop(client_id, []):
            session.close()

    def producer_of(self, topic: str) -> Session | None:
        """A producer session that publishes ``topic`` (round robin across such sessions)."""
        candidates = [s for ss in self._open.values() for s in ss if topic in s.publishes]
        if not candidates:
            candidates = [
                s
                for ss in self._open.values()
                for s in ss
                if s.settings is not None and s.settings.client_type == pb.PRODUCER
            ]
        if not candidates:
            return None
        return candidates[next(self._turn) % len(candidates)]

    def __len__(self) -> int:
        return sum(len(s) for s in self._open.values())


def answer_settings(client: pb.Settings, fifo_groups: frozenset[str] = frozenset()) -> pb.Settings:
    """The settings the proxy answers a client's Settings with."""
    out = pb.Settings()
    out.CopyFrom(client)
    out.request_timeout.seconds = REQUEST_TIMEOUT_S
    out.metric.on = False
    policy = out.backoff_policy
    policy.Clear()
    if client.client_type == pb.PRODUCER or client.HasField("publishing"):
        policy.max_attempts = 3
        policy.exponential_backoff.initial.nanos = 10_000_000
        policy.exponential_backoff.max.seconds = 1
        policy.exponential_backoff.multiplier = 2.0
        out.publishing.max_body_size = MAX_BODY_SIZE
        out.publishing.validate_message_type = False
    elif client.client_type != pb.CLIENT_TYPE_UNSPECIFIED or client.HasField("subscription"):
        policy.max_attempts = MAX_ATTEMPTS
        for delay in _RETRY_DELAYS_S:
            policy.customized_backoff.next.add(seconds=delay)
        sub = out.subscription
        sub.fifo = sub.group.name in fifo_groups
        sub.receive_batch_size = RECEIVE_BATCH
        if not client.subscription.HasField("long_polling_timeout"):
            sub.long_polling_timeout.seconds = LONG_POLLING_S
    return out
