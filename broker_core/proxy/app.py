"""Proxy composition root: ``python -m broker_core proxy --namesrv HOST:PORT [--port 8081]``.

Builds the remoting :class:`~broker_core.proxy.backend.Backend`, the gRPC server with the
:class:`~broker_core.proxy.service.MessagingService`, and — when a certificate is configured — the
front listener of :mod:`broker_core.proxy.portshare` that serves TLS and plaintext on one port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

from broker_core.errors import BrokerCoreError
from broker_core.logsetup import configure_logging
from broker_core.proxy.auth import Authenticator
from broker_core.proxy.backend import Backend
from broker_core.proxy.portshare import PortShare
from broker_core.proxy.service import MessagingService
from broker_core.proxy.v2 import service_pb2_grpc as rpc

log = structlog.get_logger(__name__)

__all__ = ["ProxyApp", "ProxyConfig", "run_from_args"]

_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Proxy settings.

    Attributes:
        namesrv_addrs: NameServer ``host:port`` list.
        host: address to listen on (and to advertise in routes when the client names none).
        port: gRPC port (Apache's proxy default 8081; 0 = any free port).
        tls_cert / tls_key: PEM files; when both are set the port speaks TLS and plaintext.
        acl_file: ``plain_acl.yml``; when set clients must sign their calls (see ``proxy.auth``).
    """

    namesrv_addrs: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8081
    tls_cert: str | None = None
    tls_key: str | None = None
    acl_file: str | None = None


class ProxyApp:
    """A running proxy. ``await start()`` returns the bound port; ``await stop()`` shuts down."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._share: PortShare | None = None

    async def start(self) -> int:
        cfg = self.config
        client_id = f"proxy@{socket.gethostname()}@{os.getpid()}"
        self.backend = Backend(list(cfg.namesrv_addrs), client_id)
        server = grpc.aio.server(options=_GRPC_OPTIONS)
        tls = cfg.tls_cert is not None and cfg.tls_key is not None
        if tls:
            assert cfg.tls_cert is not None and cfg.tls_key is not None
            creds = grpc.ssl_server_credentials(
                [(Path(cfg.tls_key).read_bytes(), Path(cfg.tls_cert).read_bytes())]
            )
            plain_port = server.add_insecure_port("127.0.0.1:0")
            tls_port = server.add_secure_port("127.0.0.1:0", creds)
            self._share = PortShare(cfg.host, cfg.port, plain_port, tls_port)
            self.port = await self._share.start()
        else:
            self.port = server.add_insecure_port(f"{cfg.host}:{cfg.port}")
            if self.port == 0:
                raise OSError(f"cannot listen on {cfg.host}:{cfg.port}")
        self.service = MessagingService(self.backend, (cfg.host, self.port))
        if cfg.acl_file is not None:
            authenticator = Authenticator(Path(cfg.acl_file))
            self.service.authenticator = authenticator
            self.backend.identity = authenticator.proxy_identity
        rpc.add_MessagingServiceServicer_to_server(self.service, server)  # type: ignore[no-untyped-call]
        await server.start()
        self._server = server
        self.backend.start()
        log.info(
            "proxy started", addr=f"{cfg.host}:{self.port}", tls=tls, namesrv=";".join(cfg.namesrv_addrs)
        )
        return self.port

    async def stop(self) -> None:
        if self._share is not None:
            await self._share.stop()
        if self._server is not None:
            for session_client in list(self.service.sessions._open):
                self.service.sessions.terminate(session_client)
            await self._server.stop(grace=1.0)
            self._server = None
            await self.backend.stop()
        log.info("proxy stopped")


def run_from_args(args: argparse.Namespace) -> int:
    """CLI entry: run a proxy until SIGTERM/SIGINT; exit status 0 on a clean stop."""
    configure_logging(args.log_level)
    if not args.namesrv:
        print("proxy: --namesrv is required", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("proxy: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    config = ProxyConfig(
        namesrv_addrs=tuple(a for a in args.namesrv.split(";") if a),
        host=args.host or "127.0.0.1",
        port=8081 if args.port is None else args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        acl_file=args.acl_file,
    )
    return asyncio.run(_serve(ProxyApp(config)))


async def _serve(app: ProxyApp) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = await app.start()
    except (OSError, RuntimeError, BrokerCoreError) as exc:
        print(f"proxy: cannot start: {exc}", file=sys.stderr)
        return 1
    print(f"proxy listening on {app.config.host}:{port}", flush=True)
    await stop.wait()
    await app.stop()
    return 0
