"""TLS and plaintext gRPC on one port, as Apache's proxy does in its permissive TLS mode.

The front listener reads the first byte of each connection: ``0x16`` (a TLS handshake record)
goes to the gRPC server's TLS port, anything else (an HTTP/2 preface starts with ``P``) to its
plaintext port. Both internal ports listen on 127.0.0.1 only; bytes are then pumped both ways.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

log = structlog.get_logger(__name__)

__all__ = ["PortShare"]

TLS_HANDSHAKE = 0x16
_CHUNK = 256 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class PortShare:
    def __init__(self, host: str, port: int, plain_port: int, tls_port: int) -> None:
        self.host, self.port = host, port
        self.plain_port, self.tls_port = plain_port, tls_port
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._conns):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            first = await asyncio.wait_for(reader.read(1), 30.0)
            if not first:
                return
            port = self.tls_port if first[0] == TLS_HANDSHAKE else self.plain_port
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", port)
            upstream.write(first)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.debug("port share connection ended", error=str(exc))
        finally:
            self._conns.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    w.close()
