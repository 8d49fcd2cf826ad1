"""Remoting settings shared by servers and clients."""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.frame import DEFAULT_MAX_FRAME_LENGTH


@dataclass(frozen=True, slots=True)
class RemotingConfig:
    """Listen address and limits.

    Attributes:
        host: address to bind (servers) — always loopback in tests.
        port: port to bind; 0 picks a free one.
        max_frame_length: ``com.rocketmq.remoting.frameMaxLength`` (16 MiB).
        channel_max_idle_seconds: ``serverChannelMaxIdleTimeSeconds`` (120 s); 0 disables.
        connect_timeout: seconds to wait for a TCP connect (client side).
        max_inflight_per_connection: requests of one connection processed at once; above it the
            server stops reading from that connection (TCP back-pressure instead of memory growth).
    """

    host: str = "127.0.0.1"
    port: int = 0
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH
    channel_max_idle_seconds: float = 120.0
    connect_timeout: float = 3.0
    max_inflight_per_connection: int = 4096
