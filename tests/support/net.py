"""Loopback port helpers for tests that start real servers."""

from __future__ import annotations

import os
import socket
import time

__all__ = ["free_apache_port", "free_port", "listening_pid_owns_port", "port_is_open", "wait_for_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago.

    The kernel picks the port (bind to port 0), so concurrent xdist workers rarely collide; a
    server that still loses the race fails with EADDRINUSE, which
    :class:`tests.support.process.ServerProcess` detects and retries on a new port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True if a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 15.0, interval: float = 0.05) -> None:
    """Block until ``host:port`` accepts a TCP connection.

    Args:
        host: address to connect to.
        port: TCP port.
        timeout: seconds before giving up.
        interval: seconds between attempts.

    Raises:
        TimeoutError: the port did not accept a connection within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_is_open(host, port):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.1f}s")
        time.sleep(interval)


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` (Linux ``/proc/net/tcp*``), ``None`` if unsupported."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                next(fh)
                found_table = True
                for line in fh:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            continue
    return inodes if found_table else None


def listening_pid_owns_port(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on ``port``.

    Distinguishes "our server is up" from "some other process owns the port". Returns ``None``
    where ``/proc`` is unavailable (the caller then trusts the port check alone).
    """
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False


def free_apache_port() -> int:
    """A port P with P-2 (fast/VIP channel) and P+1 (HA) free too: Apache RocketMQ 4.9.8 binds all three."""
    for _ in range(50):
        port = free_port()
        if port > 1026 and not any(port_is_open("127.0.0.1", p) for p in (port - 2, port + 1)):
            return port
    raise RuntimeError("no free port with free neighbours")
