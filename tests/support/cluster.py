"""Groups of servers with one teardown: what the ``servers`` / ``cluster`` fixtures return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.process import ConfValue, ServerProcess, start_broker, start_namesrv

__all__ = ["Cluster", "ServerGroup"]


class ServerGroup:
    """Starts servers under one ``tmp_path`` and stops them all (reverse order) on :meth:`close`.

    Each started server gets its own sub-directory unless the caller passes ``tmp_path``, so two
    brokers never share logs or conf files.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[ServerProcess] = []

    def namesrv(self, **kwargs: Any) -> ServerProcess:
        """:func:`~tests.support.process.start_namesrv` with cleanup; kwargs are passed through."""
        n = sum(p.role == "namesrv" for p in self.procs)
        kwargs.setdefault("name", f"namesrv{n}" if n else "namesrv")
        return self.track(start_namesrv(self.tmp_path, **kwargs))

    def broker(
        self,
        namesrv_addr: str | ServerProcess,
        conf: Mapping[str, ConfValue] | None = None,
        **kwargs: Any,
    ) -> ServerProcess:
        """:func:`~tests.support.process.start_broker` with cleanup; kwargs are passed through."""
        return self.track(start_broker(self.tmp_path, namesrv_addr, conf=conf, **kwargs))

    def track(self, proc: ServerProcess) -> ServerProcess:
        """Adopt a server started elsewhere so :meth:`close` stops it."""
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """SIGTERM every server (SIGKILL after 5 s), last started first. Never raises."""
        for proc in reversed(self.procs):
            proc.cleanup()


@dataclass(frozen=True)
class Cluster:
    """One NameServer and one broker registered with it."""

    namesrv: ServerProcess
    broker: ServerProcess

    @property
    def namesrv_addr(self) -> str:
        return self.namesrv.addr

    @property
    def broker_addr(self) -> str:
        return self.broker.addr
