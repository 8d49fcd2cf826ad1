"""Python client and framework integrations (template, listeners, Django, Celery) for RocketMQ."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
