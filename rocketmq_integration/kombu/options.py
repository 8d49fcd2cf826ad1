"""Transport options of the ``rocketmq://`` kombu transport, validated at connect.

``Connection(transport_options={...})`` / Celery's ``broker_transport_options`` become one frozen
:class:`TransportOptions`. Unknown keys and values of the wrong type or range raise
:class:`InvalidTransportOption` naming the key, so a typo fails at connect instead of being
silently ignored. Keys kombu itself reads (``polling_interval``, ``max_retries``,
``interval_*``, ``connect_retries_timeout``, ``body_encoding``, ``deadletter_queue``) are
accepted and left to kombu.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_integration.errors import ValidationError

__all__ = ["DEFAULT_LEASE_MAX_HOLD", "KOMBU_KEYS", "InvalidTransportOption", "TransportOptions"]

#: default ``lease_max_hold``: 12 hours, the longest SQS lets a received message stay invisible
DEFAULT_LEASE_MAX_HOLD = 43200.0

#: transport option keys kombu (not this transport) interprets
KOMBU_KEYS = frozenset(
    {
        "polling_interval",
        "max_retries",
        "interval_start",
        "interval_step",
        "interval_max",
        "connect_retries_timeout",
        "body_encoding",
        "deadletter_queue",
    }
)


class InvalidTransportOption(ValidationError):
    """A transport option is unknown or has a bad value; ``option`` names it."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"rocketmq transport option {option!r}: {problem}")
        self.option = option


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """See the transport module docstring (Transport Options) for the meaning of each field."""

    wait_time_seconds: float = 5.0
    visibility_timeout: float = 3600.0
    lease_renewal_interval: float = 0.0
    lease_max_hold: float = DEFAULT_LEASE_MAX_HOLD
    prefetch_limit: int = 64
    producer_group: str = "celery-producer"
    consumer_group_prefix: str = "celery-"
    queue_name_prefix: str = ""
    read_queue_nums: int = 4
    write_queue_nums: int = 4
    native_eta: bool = True
    eta_threshold: float = 1.0
    timer_max_delay: float = 259200.0 - 600.0
    priority_steps: tuple[int, ...] | None = None
    supports_fanout: bool = True
    dead_letter_on_reject: bool = True
    send_timeout: float = 3.0
    retry_times_when_send_failed: int = 2
    bindings_cache_seconds: float = 5.0
    ordered_queues: tuple[str, ...] = ()
    ordering_key_header: str = ""
    auto_delete_timeout: float = 5.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> TransportOptions:
        """Validate ``raw`` (a transport_options dict) and build the options.

        Raises:
            InvalidTransportOption: unknown key, wrong type, or value out of range.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in KOMBU_KEYS:
                continue
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise InvalidTransportOption(key, f"unknown option (known: {known})")
            kwargs[key] = _coerce(key, fields[key].default, value)
        opts = cls(**kwargs)
        opts._check()
        if "lease_max_hold" in kwargs and opts.lease_max_hold < opts.visibility_timeout:
            raise InvalidTransportOption(
                "lease_max_hold", "must be at least the visibility_timeout (the first lease lasts that long)"
            )
        return opts

    def renewal_interval(self) -> float | None:
        """Seconds between renewals of a held lease, None when renewal is off."""
        if self.lease_renewal_interval < 0:
            return None
        return self.lease_renewal_interval or self.visibility_timeout / 3

    def max_hold(self) -> float:
        """Seconds a worker may hold a message by renewing its lease (``lease_max_hold``, but never
        less than one ``visibility_timeout``: the lease of the pop itself lasts that long)."""
        return max(self.lease_max_hold, self.visibility_timeout)

    def _check(self) -> None:
        positive = (
            "visibility_timeout",
            "lease_max_hold",
            "send_timeout",
            "bindings_cache_seconds",
            "timer_max_delay",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise InvalidTransportOption(name, "must be positive")
        if not 0 <= self.wait_time_seconds <= 30:
            raise InvalidTransportOption("wait_time_seconds", "must be between 0 and 30")
        if self.lease_renewal_interval > self.visibility_timeout / 2:
            raise InvalidTransportOption(
                "lease_renewal_interval",
                "must be at most half the visibility_timeout (a lease would expire first)",
            )
        if self.eta_threshold < 0:
            raise InvalidTransportOption("eta_threshold", "must not be negative")
        if self.auto_delete_timeout < 0:
            raise InvalidTransportOption(
                "auto_delete_timeout", "must not be negative (0 keeps auto-delete queues)"
            )
        for name in ("prefetch_limit", "read_queue_nums", "write_queue_nums"):
            if not 1 <= getattr(self, name) <= 1024:
                raise InvalidTransportOption(name, "must be between 1 and 1024")
        if self.retry_times_when_send_failed < 0:
            raise InvalidTransportOption("retry_times_when_send_failed", "must not be negative")
        if self.priority_steps is not None:
            steps = self.priority_steps
            if not steps or list(steps) != sorted(set(steps)) or steps[0] < 0 or steps[-1] > 255:
                raise InvalidTransportOption(
                    "priority_steps", "must be a non-empty increasing list of integers in 0..255"
                )


def _coerce(key: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise InvalidTransportOption(key, f"must be a bool, not {type(value).__name__}")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise InvalidTransportOption(key, f"must be a number, not {type(value).__name__}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidTransportOption(key, f"must be an integer, not {type(value).__name__}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise InvalidTransportOption(key, f"must be a string, not {type(value).__name__}")
    # tuple-valued options (priority_steps may be None)
    if value is None and key == "priority_steps":
        return None
    if isinstance(value, list | tuple) and all(isinstance(v, int | str) for v in value):
        if key == "priority_steps":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise InvalidTransportOption(key, "must contain integers")
        elif not all(isinstance(v, str) for v in value):
            raise InvalidTransportOption(key, "must contain strings")
        return tuple(value)
    raise InvalidTransportOption(key, f"must be a list, not {type(value).__name__}")
