"""Administration tools: :class:`MQAdmin` (blocking admin requests) and the mqadmin-style CLI."""

from __future__ import annotations

from broker_core.admin.client import AdminError, MQAdmin

__all__ = ["AdminError", "MQAdmin"]
