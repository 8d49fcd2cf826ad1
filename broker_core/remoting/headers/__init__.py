"""Custom headers (``extFields``) of requests and responses, one dataclass per header."""

from broker_core.remoting.headers.base import CommandHeader, wire_name

__all__ = ["CommandHeader", "wire_name"]
