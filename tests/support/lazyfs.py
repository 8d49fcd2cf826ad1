"""A passthrough FUSE filesystem that loses every write not yet made durable: a simulated power cut.

The technique of LazyFS (used by Jepsen's database tests): data written to a file is held in memory,
as a page cache would hold it, until the file is fsynced; a *cut* throws away everything held.
SIGKILL of a process cannot test durability (the kernel's page cache survives it and writes back
later), a cut on this filesystem can.

Semantics, per file (state keyed by the underlying inode, so it follows renames and open handles):

* ``write(2)`` and the dirty pages of a shared ``mmap`` (which the kernel writes back to us) go to
  4 KiB pending pages; reads see them; ``stat`` sees the size they imply.
* ``fsync`` / ``fdatasync`` / ``msync(MS_SYNC)`` of the file (the kernel sends FUSE_FSYNC after
  writing its dirty pages back to us) copy the file's pending pages to the underlying directory:
  from then on they survive a cut.
* Metadata operations (create, mkdir, rename, unlink, truncate, chmod, utimens) reach the underlying
  directory at once, as on a filesystem that journals metadata synchronously. So a file created or
  renamed before a cut exists after it, holding what was fsynced into it (possibly nothing). This is
  kinder than ext4's default and deliberately so: the store's durability contract is about message
  data, and a missing ``fsync`` before a rename still shows up as an empty file.
* ``cut`` (a line on the daemon's stdin): every pending page is dropped; from then on the machine is
  "off": writes are discarded, fsync and metadata operations fail with EIO (nothing can become
  durable, so nothing can be acknowledged as durable). The daemon answers ``cut PAGES FILES``.
  Then the caller kills its processes and unmounts; a new daemon over the same underlying directory
  shows exactly what had been made durable.

Run as ``python -m tests.support.lazyfs UNDERLYING MOUNTPOINT`` (root, ``/dev/fuse``, Debian
``fuse3``, PyPI ``mfusepy``); :class:`LazyFS` does that from a test. Standard input closing (the test
process died) unmounts the filesystem.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PAGE = 4096

__all__ = ["PAGE", "LazyFS", "fuse_unavailable_reason"]


def fuse_unavailable_reason() -> str | None:
    """Why a FUSE filesystem cannot be mounted here, or ``None`` when it can."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (FUSE kernel module not available)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing: install the Debian package fuse3 (tools/system-packages.sh)"
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "no access to /dev/fuse (the power-cut tests run as root)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"PyPI mfusepy (dev dependency) does not load: {exc}"
    return None


class _Pending:
    """Pending (not yet durable) pages of one inode, and the size they imply."""

    __slots__ = ("pages", "size")

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.size: int | None = None  # logical size while it differs from the underlying file


def _make_operations(root: str) -> Any:
    from mfusepy import FuseOSError, Operations

    class LazyOperations(Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self) -> None:
            self.root = root
            self.mutex = threading.Lock()
            self.pending: dict[int, _Pending] = {}
            self.fd_ino: dict[int, int] = {}
            self.dead = False

        # ------------------------------------------------------------------ helpers
        def _path(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def _alive(self) -> None:
            if self.dead:
                raise FuseOSError(errno.EIO)

        def _drop_inode_of(self, full: str) -> None:
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                return
            if st.st_nlink <= 1:
                self.pending.pop(st.st_ino, None)

        def cut(self) -> tuple[int, int]:
            with self.mutex:
                pages = sum(len(p.pages) for p in self.pending.values())
                files = sum(1 for p in self.pending.values() if p.pages or p.size is not None)
                self.pending.clear()
                self.dead = True
                return pages, files

        # ------------------------------------------------------------------ metadata
        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            with self.mutex:
                st = os.lstat(self._path(path))
                attrs = {
                    key: getattr(st, key)
                    for key in (
                        "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns",
                        "st_mtime_ns", "st_ctime_ns", "st_ino", "st_blocks",
                    )
                }  # fmt: skip
                attrs["st_atime"], attrs["st_mtime"], attrs["st_ctime"] = (
                    attrs.pop("st_atime_ns"),
                    attrs.pop("st_mtime_ns"),
                    attrs.pop("st_ctime_ns"),
                )
                pend = self.pending.get(st.st_ino)
                if pend is not None and pend.size is not None:
                    attrs["st_size"] = pend.size
                return attrs

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *os.listdir(self._path(path))]

        def access(self, path: str, amode: int) -> int:
            if not os.access(self._path(path), amode):
                raise FuseOSError(errno.EACCES)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(self._path(path))
            return {
                key: getattr(sv, key)
                for key in (
                    "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
                    "f_flag", "f_frsize", "f_namemax",
                )
            }  # fmt: skip

        def mkdir(self, path: str, mode: int) -> int:
            with self.mutex:
                self._alive()
                os.mkdir(self._path(path), mode)
                return 0

        def rmdir(self, path: str) -> int:
            with self.mutex:
                self._alive()
                os.rmdir(self._path(path))
                return 0

        def unlink(self, path: str) -> int:
            with self.mutex:
                self._alive()
                full = self._path(path)
                self._drop_inode_of(full)
                os.unlink(full)
                return 0

        def rename(self, old: str, new: str) -> int:
            with self.mutex:
                self._alive()
                self._drop_inode_of(self._path(new))
                os.rename(self._path(old), self._path(new))
                return 0

        def chmod(self, path: str, mode: int) -> int:
            with self.mutex:
                self._alive()
                os.chmod(self._path(path), mode)
                return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            with self.mutex:
                self._alive()
                os.chown(self._path(path), uid, gid)
                return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            with self.mutex:
                self._alive()
                os.utime(self._path(path), ns=times) if times else os.utime(self._path(path))
                return 0

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            with self.mutex:
                self._alive()
                full = self._path(path)
                os.truncate(full, length)
                self._truncate_pending(os.lstat(full).st_ino, length)
                return 0

        def _truncate_pending(self, ino: int, length: int) -> None:
            pend = self.pending.get(ino)
            if pend is None:
                return
            pend.size = None  # the underlying file now has the logical size
            last = (length + PAGE - 1) // PAGE
            for index in [i for i in pend.pages if i >= last]:
                del pend.pages[index]
            tail = length % PAGE
            if tail and (length // PAGE) in pend.pages:
                page = pend.pages[length // PAGE]
                page[tail:] = bytes(PAGE - tail)

        # ------------------------------------------------------------------ open files
        def _open(self, full: str, flags: int, mode: int = 0o644) -> int:
            trunc = bool(flags & os.O_TRUNC)
            flags &= ~(os.O_ACCMODE | os.O_APPEND | os.O_TRUNC)
            fd = os.open(full, flags | os.O_RDWR, mode)
            ino = os.fstat(fd).st_ino
            self.fd_ino[fd] = ino
            if trunc:
                os.ftruncate(fd, 0)
                self._truncate_pending(ino, 0)
            return fd

        def open(self, path: str, flags: int) -> int:
            with self.mutex:
                if flags & (os.O_TRUNC | os.O_CREAT):
                    self._alive()
                return self._open(self._path(path), flags)

        def create(self, path: str, mode: int, flags: int = os.O_RDWR) -> int:
            with self.mutex:
                self._alive()
                return self._open(self._path(path), flags | os.O_CREAT, mode)

        def release(self, path: str, fh: int) -> int:
            with self.mutex:
                self.fd_ino.pop(fh, None)
                os.close(fh)
                return 0

        def flush(self, path: str, fh: int) -> int:
            return 0  # close(2) promises nothing about durability

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            with self.mutex:
                pend = self.pending.get(self.fd_ino[fh])
                real = os.fstat(fh).st_size
                logical = pend.size if pend is not None and pend.size is not None else real
                end = min(offset + size, logical)
                if end <= offset:
                    return b""
                buf = bytearray(os.pread(fh, end - offset, offset))
                buf.extend(bytes(end - offset - len(buf)))
                if pend is not None:
                    for index in range(offset // PAGE, (end - 1) // PAGE + 1):
                        page = pend.pages.get(index)
                        if page is None:
                            continue
                        start = index * PAGE
                        lo, hi = max(start, offset), min(start + PAGE, end)
                        buf[lo - offset : hi - offset] = page[lo - start : hi - start]
                return bytes(buf)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            with self.mutex:
                if self.dead:
                    return len(data)  # the machine is off: the write goes nowhere
                ino = self.fd_ino[fh]
                pend = self.pending.get(ino)
                if pend is None:
                    pend = self.pending[ino] = _Pending()
                real = os.fstat(fh).st_size
                view = memoryview(data)
                pos = offset
                while view:
                    index, within = divmod(pos, PAGE)
                    page = pend.pages.get(index)
                    if page is None:
                        page = bytearray(os.pread(fh, PAGE, index * PAGE))
                        page.extend(bytes(PAGE - len(page)))
                        pend.pages[index] = page
                    n = min(PAGE - within, len(view))
                    page[within : within + n] = view[:n]
                    view = view[n:]
                    pos += n
                current = pend.size if pend.size is not None else real
                if offset + len(data) > current:
                    pend.size = offset + len(data)
                return len(data)

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            with self.mutex:
                self._alive()
                pend = self.pending.pop(self.fd_ino[fh], None)
                if pend is None:
                    return 0
                size = pend.size if pend.size is not None else os.fstat(fh).st_size
                for index in sorted(pend.pages):
                    start = index * PAGE
                    if start < size:
                        os.pwrite(fh, pend.pages[index][: size - start], start)
                if pend.size is not None and os.fstat(fh).st_size < pend.size:
                    os.ftruncate(fh, pend.size)
                return 0

        def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
            self._alive()
            return 0

    return LazyOperations()


def _serve(under: str, mount: str) -> None:
    from mfusepy import FUSE

    ops = _make_operations(under)

    def control() -> None:
        for line in sys.stdin:
            if line.strip() == "cut":
                pages, files = ops.cut()
                print(f"cut {pages} {files}", flush=True)
        # stdin closed: the test is gone; do not leave a mount behind
        subprocess.run(["fusermount3", "-u", "-z", mount], check=False)

    threading.Thread(target=control, daemon=True, name="lazyfs-control").start()
    FUSE(ops, mount, foreground=True, nothreads=True, auto_unmount=True, fsname="lazyfs")


class LazyFS:
    """One mount of the lazy filesystem, driven from a test.

    Args:
        under: the underlying directory (what "the disk" holds).
        mount: the empty directory to mount on.
        log: where the daemon's stderr goes.
    """

    def __init__(self, under: Path, mount: Path, log: Path) -> None:
        self.under = under
        self.mount = mount
        self.log = log
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> LazyFS:
        """Mount and wait until the mount point is a mount."""
        self.under.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.lazyfs", str(self.under), str(self.mount)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mount):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"lazyfs did not mount {self.mount}: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        return self

    def cut(self) -> tuple[int, int]:
        """Power cut: drop every pending page; returns (pages dropped, files they belonged to)."""
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("cut\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline().split()
        if len(answer) != 3 or answer[0] != "cut":
            raise RuntimeError(f"lazyfs did not confirm the cut: {answer!r}; {self.log.read_text()[-2000:]}")
        return int(answer[1]), int(answer[2])

    def close(self, timeout: float = 20.0) -> None:
        """Unmount (lazily if busy) and wait for the daemon to exit; idempotent."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if os.path.ismount(self.mount):
            done = subprocess.run(["fusermount3", "-u", str(self.mount)], capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["fusermount3", "-u", "-z", str(self.mount)], capture_output=True, check=False)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", str(self.mount)], capture_output=True, check=False)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LazyFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
