"""The group commit's sync helper: a tiny process that runs ``fdatasync`` for the broker.

Why a process and not a thread: a Python thread that returns from ``fdatasync`` must take the GIL
back before it can report, and the event-loop thread, busy with the producers, only gives it up at the
switch interval or at its next blocking call. Against the Java benchmark Producer at 64 threads
(SYNC_FLUSH) that wait was 1.3-1.6 ms of each 2.3 ms sync cycle, for a 0.4 ms sync, and every
hand-off cost futex calls on both sides. The helper has a GIL of its own: it syncs as soon as it is
asked and its answer is one more readable socket for the loop's poller.

The helper is where the group commit happens: the broker sends a request after every loop turn
that appended (no need to wait for the previous answer), and the helper, each time it is free,
takes *every* request waiting in its socket and runs one ``fdatasync`` per segment they name. All
of them were sent after their bytes were written, so that one sync covers them all; one reply
answers them all. A producer thus waits for the rest of the sync in progress plus one more, and the
helper syncs back to back while the broker appends (measured here: 0.8-0.9 ms per ``fdatasync``
under the Java benchmark Producer; 0.3-0.4 ms on an idle disk).

It runs as ``python -I -S <this file> <fd>`` (standard library only, nothing of the broker imported)
and talks over the ``AF_UNIX``/``SOCK_SEQPACKET`` socket ``fd`` (one datagram per message):

=========  =========================================================  ==========================
direction  payload                                                    ancillary data
=========  =========================================================  ==========================
request    ``<Q`` sequence number (1, 2, 3, ...)                      ``SCM_RIGHTS``: the
                                                                      segment's fd, when it
                                                                      changes
reply      ``<Qi`` the highest sequence number it covers (every       —
           lower one is covered too), ``errno`` (0 ok)
=========  =========================================================  ==========================

The helper keeps the last fd it received and closes older ones once synced. It exits when the
socket reaches end of file (the broker closed it, or died), ignores SIGINT (a terminal's Ctrl-C
reaches the whole process group; the broker decides when to stop) and answers EBADF to a request
before any fd.
"""

from __future__ import annotations

import array
import errno
import os
import signal
import socket
import struct
import sys

REQUEST = struct.Struct("<Q")
REPLY = struct.Struct("<Qi")
_FD_SPACE = socket.CMSG_SPACE(array.array("i").itemsize)


def _receive(sock: socket.socket, flags: int) -> tuple[bytes, list[int]]:
    """One request and the fds passed with it (``socket.recv_fds`` ignores ``flags`` before 3.12)."""
    data, ancillary, _flags, _addr = sock.recvmsg(REQUEST.size, _FD_SPACE, flags)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def serve(sock: socket.socket) -> None:
    """Answer sync requests on ``sock`` until end of file."""
    held = -1  # the newest segment's fd
    try:
        while True:
            last = -1
            touched: list[int] = []  # the fds this group names, oldest segment first
            flags = 0  # block for the first request, then take whatever else is waiting
            while True:
                try:
                    data, fds = _receive(sock, flags)
                except BlockingIOError:
                    break
                except OSError:
                    return
                if not data:
                    if last < 0:
                        return
                    break  # answer the group; the next receive sees the end of file again
                if fds:
                    held = fds[0]
                    for extra in fds[1:]:  # not sent by the broker; do not leak them
                        os.close(extra)
                if not touched or touched[-1] != held:
                    touched.append(held)
                (last,) = REQUEST.unpack(data)
                flags = socket.MSG_DONTWAIT
            code = 0
            for fd in touched:
                try:
                    if fd < 0:
                        raise OSError(errno.EBADF, "no segment received yet")
                    os.fdatasync(fd)
                except OSError as exc:
                    code = code or exc.errno or errno.EIO
            for fd in touched:
                if fd != held and fd >= 0:
                    os.close(fd)  # an older segment, synced for the last time
            try:
                sock.send(REPLY.pack(last, code))
            except OSError:
                return
    finally:
        if held >= 0:
            os.close(held)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=int(argv[1])) as sock:
        serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
