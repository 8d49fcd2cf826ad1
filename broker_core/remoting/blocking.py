"""Blocking remoting client on plain sockets, driving the same sans-I/O connection.

For synchronous callers (kombu channels, Django views, admin tools) that have no event loop.
Requests from the peer that arrive while waiting (e.g. NOTIFY_CONSUMER_IDS_CHANGED) are passed to
``on_request`` or dropped. It is fork-safe: a child process reconnects instead of sharing the
parent's socket.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

from broker_core.errors import (
    RemoteProtocolError,
    RemotingClosedError,
    RemotingConnectError,
    RemotingTimeoutError,
)
from broker_core.remoting.client import split_addr
from broker_core.remoting.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand
from broker_core.remoting.connection import RemotingConnection
from broker_core.remoting.frame import DEFAULT_MAX_FRAME_LENGTH


class BlockingConnection:
    """One blocking socket to one address; thread-safe (one request at a time)."""

    def __init__(
        self,
        addr: str,
        *,
        connect_timeout: float = 3.0,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        on_request: Callable[[RemotingCommand], RemotingCommand | None] | None = None,
    ) -> None:
        self.addr = addr
        self._connect_timeout = connect_timeout
        self._max = max_frame_length
        self._on_request = on_request
        self._sock: socket.socket | None = None
        self._conn = RemotingConnection(max_frame_length)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._backlog: dict[int, RemotingCommand] = {}

    def _socket(self) -> socket.socket:
        if self._sock is not None and self._pid != os.getpid():
            self._sock = None  # inherited across fork: never share it with the parent
        if self._sock is None:
            host, port = split_addr(self.addr)
            try:
                sock = socket.create_connection((host, port), timeout=self._connect_timeout)
            except OSError as exc:
                raise RemotingConnectError(f"cannot connect to {self.addr}: {exc}") from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._conn = RemotingConnection(self._max)
            self._pid = os.getpid()
            self._backlog.clear()
        return self._sock

    def invoke(self, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        """Send and wait for the response with the request's opaque."""
        with self._lock:
            sock = self._socket()
            data = self._conn.send_request(request)
            try:
                sock.settimeout(timeout)
                sock.sendall(data)
                return self._read_response(sock, request.opaque, time.monotonic() + timeout)
            except TimeoutError as exc:
                self._drop()
                raise RemotingTimeoutError(f"no response from {self.addr} within {timeout}s") from exc
            except OSError as exc:
                self._drop()
                raise RemotingClosedError(f"connection to {self.addr} failed: {exc}") from exc

    def invoke_oneway(self, request: RemotingCommand) -> None:
        with self._lock:
            sock = self._socket()
            request.flag |= FLAG_ONEWAY
            try:
                sock.sendall(self._conn.send_request(request))
            except OSError as exc:
                self._drop()
                raise RemotingClosedError(f"connection to {self.addr} failed: {exc}") from exc

    def _read_response(self, sock: socket.socket, opaque: int, deadline: float) -> RemotingCommand:
        if opaque in self._backlog:
            return self._backlog.pop(opaque)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(262144)
            if not chunk:
                self._drop()
                raise RemotingClosedError(f"connection to {self.addr} closed by peer")
            try:
                commands = self._conn.receive_data(chunk)
            except RemoteProtocolError:
                self._drop()
                raise
            found: RemotingCommand | None = None
            for cmd in commands:
                if cmd.flag & FLAG_RESPONSE:
                    if cmd.opaque == opaque:
                        found = cmd
                    else:
                        self._backlog[cmd.opaque] = cmd
                else:
                    self._handle_request(sock, cmd)
            if found is not None:
                return found

    def _handle_request(self, sock: socket.socket, cmd: RemotingCommand) -> None:
        if self._on_request is None:
            return
        response = self._on_request(cmd)
        if response is not None and not cmd.is_oneway:
            response.flag |= FLAG_RESPONSE
            sock.sendall(RemotingConnection.send(response))

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class BlockingRemotingClient:
    """Blocking connections keyed by address."""

    def __init__(
        self, *, connect_timeout: float = 3.0, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH
    ) -> None:
        self._connect_timeout = connect_timeout
        self._max = max_frame_length
        self._conns: dict[str, BlockingConnection] = {}
        self._lock = threading.Lock()

    def connection(self, addr: str) -> BlockingConnection:
        with self._lock:
            conn = self._conns.get(addr)
            if conn is None:
                conn = BlockingConnection(
                    addr, connect_timeout=self._connect_timeout, max_frame_length=self._max
                )
                self._conns[addr] = conn
            return conn

    def invoke(self, addr: str, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        return self.connection(addr).invoke(request, timeout)

    def invoke_oneway(self, addr: str, request: RemotingCommand) -> None:
        self.connection(addr).invoke_oneway(request)

    def close(self) -> None:
        with self._lock:
            for conn in self._conns.values():
                conn.close()
            self._conns.clear()
