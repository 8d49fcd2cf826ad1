"""RocketMQ-compatible NameServer and Broker speaking Apache RocketMQ's remoting protocol."""

from __future__ import annotations

from broker_core import _accel

_accel.install()  # compiled hot modules (mypyc) when a current build exists; see broker_core._accel

__version__ = "0.1.0"
__all__ = ["__version__"]
