"""Where the group commit's ``fdatasync`` runs: a helper process, or a worker thread as the fallback.

Both answer requests in the order they were made, each through ``on_done(error)`` on the event loop;
``depth`` says how many may be in flight:

* :class:`ProcessSyncer` hands the segment's fd to :mod:`broker_core.store.sync_helper` and reads the
  answer as a socket event (why a process: that module's docstring). A helper that dies is reported
  as a failed sync and started again at the next request.
* :class:`ThreadSyncer` runs the sync in the loop's default executor: used when no helper process can
  be started (a sandbox without ``fork``, a missing interpreter), at the price of the GIL hand-offs.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Protocol

from broker_core.logsetup import get_logger
from broker_core.store import sync_helper
from broker_core.store.mapped_file import MappedFile

__all__ = ["OnDone", "ProcessSyncer", "Syncer", "ThreadSyncer", "make_syncer"]

log = get_logger(__name__)

#: called on the loop when the request ended (None: the segment is on disk)
OnDone = Callable[[OSError | None], None]
#: how long a closing helper may take to exit before it is killed
_EXIT_TIMEOUT_S = 5.0


class Syncer(Protocol):
    #: how many requests may be in flight; they are served, and answered, in order
    depth: int

    def request(self, mf: MappedFile) -> None:
        """Sync ``mf``; ``on_done`` follows on the loop (raises OSError when it cannot be asked)."""

    async def close(self) -> None:
        """Release the helper; no request may be in flight."""


class ThreadSyncer:
    """``fdatasync`` in the loop's default executor, one at a time (two could finish out of order)."""

    depth = 1

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: OnDone) -> None:
        self._loop = loop
        self._on_done = on_done

    def request(self, mf: MappedFile) -> None:
        self._loop.run_in_executor(None, mf.sync).add_done_callback(self._finished)

    def _finished(self, fut: asyncio.Future[None]) -> None:
        exc = fut.exception()
        if exc is None:
            self._on_done(None)
        elif isinstance(exc, OSError):
            self._on_done(exc)
        else:  # ValueError: the segment was closed meanwhile
            self._on_done(OSError(errno.EBADF, str(exc)))

    async def close(self) -> None:
        return None


class ProcessSyncer:
    """``fdatasync`` in :mod:`broker_core.store.sync_helper`, see the module docstring.

    Requests are not limited: the helper syncs once for all the requests waiting when it is free
    and answers them with one reply (its module docstring), so asking after every loop turn that
    appended costs one ``send`` and never an extra sync.
    """

    depth = 1 << 30

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: OnDone) -> None:
        self._loop = loop
        self._on_done = on_done
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._held: MappedFile | None = None  # the segment whose fd the helper holds
        self._seq = 0
        self._outstanding: collections.deque[int] = collections.deque()  # sequence numbers, in order

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the helper (raises OSError when it cannot be started)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", sync_helper.__file__, str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        self._sock = parent
        self._held = None
        self._loop.add_reader(parent.fileno(), self._readable)
        log.debug("sync helper started", pid=self._proc.pid)

    def request(self, mf: MappedFile) -> None:
        if self._sock is None:
            self.start()
        sock = self._sock
        assert sock is not None
        self._seq += 1
        payload = sync_helper.REQUEST.pack(self._seq)
        if self._held is not mf:
            socket.send_fds(sock, [payload], [mf.fileno()])
            self._held = mf
        else:
            sock.send(payload)
        self._outstanding.append(self._seq)

    def _readable(self) -> None:
        sock = self._sock
        while sock is not None and sock is self._sock:  # every answer waiting (``on_done`` may respawn)
            try:
                data = sock.recv(sync_helper.REPLY.size)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if len(data) != sync_helper.REPLY.size:
                self._lost()
                return
            last, code = sync_helper.REPLY.unpack(data)
            error = None if code == 0 else OSError(code, os.strerror(code))
            outstanding = self._outstanding
            if not outstanding or last < outstanding[0]:
                log.warning("sync helper answered an unknown request", seq=last)
                continue
            while outstanding and outstanding[0] <= last:
                outstanding.popleft()
                self._on_done(error)

    def _lost(self) -> None:
        """The helper closed its end (it died): report the request in flight, start anew next time."""
        proc = self._proc
        self._drop_socket()
        self._proc = None
        code = proc.poll() if proc is not None else None
        log.error("sync helper exited", pid=proc.pid if proc else None, returncode=code)
        if proc is not None and code is None:
            proc.kill()  # half-dead (closed its socket, still running): do not leave it behind
        while self._outstanding:
            self._outstanding.popleft()
            self._on_done(OSError(errno.EPIPE, "sync helper exited"))

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._held = None

    async def close(self) -> None:
        """Close the socket (the helper exits at end of file) and reap the process."""
        proc = self._proc
        self._drop_socket()
        self._proc = None
        if proc is None:
            return
        try:
            await asyncio.to_thread(proc.wait, _EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("sync helper did not exit, killing it", pid=proc.pid)
            proc.kill()
            await asyncio.to_thread(proc.wait)


def make_syncer(loop: asyncio.AbstractEventLoop, on_done: OnDone) -> Syncer:
    """A started :class:`ProcessSyncer`, or a :class:`ThreadSyncer` when the helper cannot be started."""
    syncer = ProcessSyncer(loop, on_done)
    try:
        syncer.start()
        return syncer
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot start the sync helper process; syncing in a thread", error=str(exc))
    return ThreadSyncer(loop, on_done)
