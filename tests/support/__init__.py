"""Helpers shared by every test that talks to real servers.

* :mod:`tests.support.net`: ``free_port()``, ``wait_for_port()``.
* :mod:`tests.support.process`: ``ServerProcess``, ``start_namesrv()``, ``start_broker()``.
* :mod:`tests.support.cluster`: ``ServerGroup`` (start several, stop all), ``Cluster``.
* :mod:`tests.support.admin`: raw-socket ``ensure_topic()`` / ``wait_for_route()``.
* :mod:`tests.support.payloads`: deterministic test messages.
* :mod:`tests.support.cpp`: run the C++ client scripts in ``tests/interop`` as subprocesses.

The pytest fixtures (``servers``, ``namesrv``, ``broker_conf``, ``broker``, ``cluster``, ``cpp``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

from tests.support.net import free_port, port_is_open, wait_for_port
from tests.support.process import (
    DEFAULT_BROKER_CONF,
    REPO_ROOT,
    ServerProcess,
    ServerStartError,
    ServerStopTimeout,
    kill_all,
    start_broker,
    start_namesrv,
    write_broker_conf,
)

__all__ = [
    "DEFAULT_BROKER_CONF",
    "REPO_ROOT",
    "ServerProcess",
    "ServerStartError",
    "ServerStopTimeout",
    "free_port",
    "kill_all",
    "port_is_open",
    "start_broker",
    "start_namesrv",
    "wait_for_port",
    "write_broker_conf",
]
