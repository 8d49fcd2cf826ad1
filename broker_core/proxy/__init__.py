"""gRPC proxy for RocketMQ 5.x clients (``apache.rocketmq.v2.MessagingService``).

Run beside the NameServer and brokers: ``python -m broker_core proxy --namesrv HOST:PORT``
(default port 8081, as Apache's proxy). It translates each v2 RPC into the remoting requests a
4.x client would make, so messages flow between 5.x and 4.x clients through one store. Needs
the ``proxy`` extra (grpcio, protobuf).
"""

from __future__ import annotations

from broker_core.proxy.app import ProxyApp, ProxyConfig

__all__ = ["ProxyApp", "ProxyConfig"]
