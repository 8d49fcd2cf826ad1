"""Exception hierarchy of ``broker_core``.

Expected outcomes (a pull that found nothing, a send refused for permission) are enums and result
dataclasses, not exceptions. Exceptions are for protocol violations, corrupt files and I/O failure.
"""

from __future__ import annotations


class BrokerCoreError(Exception):
    """Base of every exception raised by ``broker_core``."""


class ProtocolError(BrokerCoreError):
    """The remoting protocol was violated."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something that the protocol cannot carry."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that do not form a valid frame; the connection must be closed."""


class FrameTooLargeError(RemoteProtocolError):
    """A frame announced a length above the configured maximum."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame length {length} exceeds the maximum {limit}")
        self.length = length
        self.limit = limit


class NotRocketMQPeerError(FrameTooLargeError):
    """The peer sent text where a frame length belongs: it is not a RocketMQ server or client."""

    def __init__(self, length: int, limit: int, prefix: bytes) -> None:
        super().__init__(length, limit)
        kind = "an HTTP server" if prefix.startswith(b"HTTP/") else "a text protocol"
        self.args = (
            f"the peer does not speak the RocketMQ remoting protocol: it sent {prefix!r} where a frame "
            f"starts ({kind}?); check the address and port",
        )
        self.prefix = prefix


class RemotingError(BrokerCoreError):
    """A request could not be completed over the network."""


class RemotingConnectError(RemotingError):
    """Could not connect to the peer."""


class RemotingTimeoutError(RemotingError):
    """No response arrived within the timeout."""


class RemotingClosedError(RemotingError):
    """The connection closed before the response arrived."""


class StoreError(BrokerCoreError):
    """The message store failed."""


class CorruptedLogError(StoreError):
    """A store file holds bytes that do not decode as the format says."""


class ConfigError(BrokerCoreError):
    """A configuration value is invalid."""


class MessageDecodeError(CorruptedLogError, ValueError):
    """A commit-log record, batch entry or message id does not decode.

    Also a ``ValueError``, so protocol-level callers (a SEND_BATCH body, a pull body) that treat
    malformed input as a value error catch it without knowing the store hierarchy.

    Attributes:
        position: byte position of the offending record within the decoded buffer (-1 if unknown).
    """

    def __init__(self, message: str, position: int = -1) -> None:
        super().__init__(message if position < 0 else f"{message} (at position {position})")
        self.position = position


class StoreLockedError(StoreError):
    """Another process holds the store's ``lock`` file ("Lock failed, MQ already started")."""


class StoreNotRunningError(StoreError):
    """The store was used before ``start()`` or after ``shutdown()``."""
