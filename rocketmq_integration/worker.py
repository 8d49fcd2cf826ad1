"""The listener worker: ``python -m rocketmq_integration worker MODULE [MODULE ...]``.

What ``celery worker -A`` or ``dramatiq`` are for their tasks, this is for ``@rocketmq_listener``
functions and classes: a foreground process that

1. imports the given modules (their decorators fill the listener registry);
2. starts a container for every selected listener (``--group`` / ``--listener`` filter them,
   ``--concurrency`` overrides each listener's thread count);
3. on the first SIGTERM or SIGINT stops pulling and drains: in-flight and already fetched messages
   finish (each container waits up to ``--drain-timeout`` seconds), offsets are committed, the
   clients unregister, and the process exits 0;
4. on a second signal (while starting or draining) it stops at once (exit status 128 + signal number) without
   a traceback; messages that were not acknowledged are not lost, the broker redelivers them to
   the next consumer of the group;
5. with ``--health-port`` serves ``GET /livez`` (200 while the process runs) and ``GET /readyz``
   (200 once every listener runs, 503 while starting or draining) on ``--health-host``; the port is
   closed before the process exits.

:func:`run_worker` is the whole behaviour as a function; the Django ``rocketmq_listeners``
command calls it with the runner built from ``settings.ROCKETMQ``. Exit statuses: 0 after a clean
drain, 1 when a listener could not start or the drain overran, 2 for a usage error (a module that
cannot be imported, no listener selected), 128 + N after a second signal N.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from rocketmq_integration.errors import RocketMQIntegrationError
from rocketmq_integration.listeners.decorators import ListenerSpec
from rocketmq_integration.listeners.registry import ListenerRegistry, default_registry
from rocketmq_integration.listeners.runner import ListenerRunner
from rocketmq_integration.logging import get_logger

__all__ = ["HealthServer", "WorkerOptions", "build_parser", "main", "run_worker"]

log = get_logger(__name__)

#: environment variable read when ``namesrv_addr`` is not given (also the pytest plugin's)
ENV_NAMESRV = "ROCKETMQ_NAMESRV"
DEFAULT_NAMESRV = "127.0.0.1:9876"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What to run and how (the command-line options of ``worker``).

    Attributes:
        modules: modules to import before starting (``myapp.listeners``); their
            ``@rocketmq_listener`` declarations register themselves.
        namesrv_addr: NameServer address(es), ``host:port[;host:port]``. ``None``: the runner's own
            (when one is passed to :func:`run_worker`), else ``$ROCKETMQ_NAMESRV``, else
            ``127.0.0.1:9876``.
        groups: run only listeners of these consumer groups (empty: all).
        listeners: run only listeners with these names (empty: all).
        concurrency: override every selected listener's ``concurrency`` (threads of sync handlers).
        drain_timeout: seconds each listener may take to finish in-flight messages on shutdown.
        health_port: serve ``/livez`` and ``/readyz`` on this port (0 picks a free one; ``None``: off).
        health_host: interface of the health endpoint.
        install_signal_handlers: handle SIGTERM/SIGINT (only possible in the main thread); turn off
            when embedding and call :meth:`Worker.request_stop` instead.
    """

    modules: tuple[str, ...] = ()
    namesrv_addr: str | None = None
    groups: tuple[str, ...] = ()
    listeners: tuple[str, ...] = ()
    concurrency: int | None = None
    drain_timeout: float = 30.0
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    install_signal_handlers: bool = True

    def __post_init__(self) -> None:
        if self.concurrency is not None and not 1 <= self.concurrency <= 1000:
            raise ValueError(f"concurrency must be within 1..1000, got {self.concurrency}")
        if self.drain_timeout <= 0:
            raise ValueError(f"drain_timeout must be a positive number of seconds, got {self.drain_timeout}")
        if self.health_port is not None and not 0 <= self.health_port <= 65535:
            raise ValueError(f"health_port must be within 0..65535, got {self.health_port}")


class HealthServer:
    """``/livez`` and ``/readyz`` over HTTP/1.0 on a daemon thread (stdlib only)."""

    def __init__(self, host: str, port: int, ready: Callable[[], bool]) -> None:
        is_ready = ready

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path in ("/livez", "/health", ""):
                    self._answer(200, b"ok\n")
                elif path == "/readyz":
                    ok = is_ready()
                    self._answer(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._answer(404, b"not found: try /livez or /readyz\n")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # probes must not flood the log
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rocketmq-health", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


class Worker:
    """One run of the worker (see :func:`run_worker`); usable from a non-main thread too."""

    def __init__(
        self,
        options: WorkerOptions,
        *,
        runner: ListenerRunner | None = None,
        registry: ListenerRegistry | None = None,
    ) -> None:
        self.options = options
        if runner is None:
            runner = ListenerRunner(registry or default_registry, namesrv_addr=_namesrv(options))
        elif options.namesrv_addr:
            runner.namesrv_addr = options.namesrv_addr
        self.runner = runner
        self.health: HealthServer | None = None
        self._stop = threading.Event()
        self._signals: list[int] = []
        self._ready = False
        self._draining = False

    # ------------------------------------------------------------------ control

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Ask for a drain (first call) or an immediate exit (second call, once draining)."""
        self._signals.append(signum)
        if len(self._signals) >= 2:
            self._hard_exit(signum)
        self._stop.set()

    def ready(self) -> bool:
        """Every selected listener runs and no drain has begun."""
        return self._ready and not self._draining

    def _hard_exit(self, signum: int) -> None:
        sys.stderr.write(
            f"rocketmq worker: second signal ({_signame(signum)}), stopping now without draining\n"
        )
        sys.stderr.flush()
        if self.health is not None:
            self.health._server.server_close()  # no half-served probes from a dying process
        os._exit(128 + signum)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop(signum)

    # ------------------------------------------------------------------ run

    def specs(self) -> list[ListenerSpec]:
        """The listeners this worker runs, with the options applied."""
        opts = self.options
        chosen = []
        for spec in self.runner.selected(opts.listeners or None):
            if opts.groups and spec.consumer_group not in opts.groups:
                continue
            changes: dict[str, Any] = {"await_termination_when_shutdown": opts.drain_timeout}
            if opts.concurrency is not None:
                changes["concurrency"] = opts.concurrency
            chosen.append(dataclasses.replace(spec, **changes))
        return chosen

    def run(self) -> int:
        """Import, start, wait for a signal, drain; returns the exit status."""
        opts = self.options
        try:
            for module in opts.modules:
                _import(module)
        except _UsageError as exc:
            _say(str(exc))
            return EXIT_USAGE
        specs = self.specs()
        if not specs:
            _say(_nothing_selected(opts, self.runner))
            return EXIT_USAGE
        previous = self._install_signals()
        try:
            if opts.health_port is not None:
                try:
                    self.health = HealthServer(opts.health_host, opts.health_port, self.ready)
                except OSError as exc:
                    _say(f"cannot serve the health endpoint on {opts.health_host}:{opts.health_port}: {exc}")
                    return EXIT_USAGE
                log.info("health endpoint listening", host=self.health.host, port=self.health.port)
            status = self._start(specs)
            if status == EXIT_OK:
                self._stop.wait()
            return self._drain(status)
        finally:
            if self.health is not None:
                self.health.close()
            self._restore_signals(previous)

    def _start(self, specs: list[ListenerSpec]) -> int:
        for spec in specs:
            if self._stop.is_set():
                return EXIT_OK
            try:
                self.runner.run_spec(spec)
            except (RocketMQIntegrationError, OSError, TimeoutError) as exc:
                _say(
                    f"listener {spec.name!r} (group {spec.consumer_group}, topic {spec.topic}) did not start: {exc}"
                )
                return EXIT_FAILED
        self._ready = True
        names = ", ".join(s.name for s in specs)
        _say(
            f"{len(specs)} listener(s) running: {names}; namesrv {self.runner.namesrv_addr}. Ctrl-C to stop."
        )
        return EXIT_OK

    def _drain(self, status: int) -> int:
        self._draining = True
        if self._signals:
            _say(
                f"{_signame(self._signals[0])} received: draining (up to {self.options.drain_timeout:g}s; "
                "send it again to stop at once)"
            )
        done = threading.Event()
        failure: list[BaseException] = []

        def stop() -> None:
            try:
                self.runner.stop(self.options.drain_timeout)
            except BaseException as exc:  # reported below, in the waiting thread
                failure.append(exc)
            finally:
                done.set()

        started = time.monotonic()
        threading.Thread(target=stop, name="rocketmq-worker-drain", daemon=True).start()
        # the consumer's own shutdown adds up to ~30 s for unregistering; beyond that it is stuck
        if not done.wait(self.options.drain_timeout + 40.0):
            _say(f"drain did not finish within {self.options.drain_timeout:g}s; exiting anyway")
            return EXIT_FAILED
        if failure:
            _say(f"drain failed: {failure[0]!r}")
            return EXIT_FAILED
        if status == EXIT_OK:
            _say(f"stopped after draining for {time.monotonic() - started:.1f}s")
        return status

    def _install_signals(self) -> dict[int, Any]:
        if (
            not self.options.install_signal_handlers
            or threading.current_thread() is not threading.main_thread()
        ):
            return {}
        previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(
    options: WorkerOptions,
    *,
    runner: ListenerRunner | None = None,
    registry: ListenerRegistry | None = None,
) -> int:
    """Run listeners until SIGTERM/SIGINT, then drain; returns the process exit status.

    Args:
        options: what to run (see :class:`WorkerOptions`).
        runner: a configured runner (the Django command passes the container's); by default one on
            ``registry`` with ``options.namesrv_addr``.
        registry: the registry to read when no runner is given (default: the decorators' registry).
    """
    return Worker(options, runner=runner, registry=registry).run()


# ---------------------------------------------------------------------- helpers


class _UsageError(Exception):
    pass


def _namesrv(options: WorkerOptions) -> str:
    return options.namesrv_addr or os.environ.get(ENV_NAMESRV) or DEFAULT_NAMESRV


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise _UsageError(
                f"cannot import listener module {module!r}: no module named {exc.name!r} "
                f"(is its directory on sys.path? run from the project root or set PYTHONPATH)"
            ) from exc
        raise


def _nothing_selected(options: WorkerOptions, runner: ListenerRunner) -> str:
    known = runner.registry.all()
    if not known:
        where = ", ".join(options.modules) or "no module given"
        return f"no listener is registered ({where}); decorate functions with @rocketmq_listener"
    filters = []
    if options.groups:
        filters.append(f"--group {' '.join(options.groups)}")
    if options.listeners:
        filters.append(f"--listener {' '.join(options.listeners)}")
    listing = ", ".join(f"{s.name} (group {s.consumer_group})" for s in known)
    return f"no listener matches {' and '.join(filters) or 'the enabled set'}; registered: {listing}"


def _signame(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _say(text: str) -> None:
    """Operator messages of the command: one line on stderr (not the library log)."""
    sys.stderr.write(f"rocketmq worker: {text}\n")
    sys.stderr.flush()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ``worker`` options (added to ``parser`` when given, e.g. a subcommand parser)."""
    p = parser or argparse.ArgumentParser(prog="python -m rocketmq_integration worker")
    p.description = "Run @rocketmq_listener listeners until SIGTERM/SIGINT, then drain and exit."
    p.add_argument(
        "modules", nargs="+", metavar="MODULE", help="modules that declare listeners (myapp.listeners)"
    )
    p.add_argument(
        "--namesrv",
        default=None,
        help=f"NameServer address host:port[;host:port] (default: ${ENV_NAMESRV} or {DEFAULT_NAMESRV})",
    )
    p.add_argument(
        "-g", "--group", action="append", default=[], dest="groups", metavar="GROUP",
        help="run only listeners of this consumer group (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-l", "--listener", action="append", default=[], dest="listeners", metavar="NAME",
        help="run only the listener with this name (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-c", "--concurrency", type=int, default=None, metavar="N",
        help="threads per listener for sync handlers (overrides each listener's concurrency)",
    )  # fmt: skip
    p.add_argument(
        "--drain-timeout", type=float, default=30.0, metavar="SECONDS",
        help="how long in-flight messages may take to finish on shutdown (default 30)",
    )  # fmt: skip
    p.add_argument(
        "--health-port", type=int, default=None, metavar="PORT",
        help="serve GET /livez and /readyz on this port (default: off)",
    )  # fmt: skip
    p.add_argument(
        "--health-host", default="127.0.0.1", help="interface of the health endpoint (default 127.0.0.1)"
    )
    p.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"],
        help="library log level on stderr (default warning)",
    )  # fmt: skip
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    return p


def options_from_args(args: argparse.Namespace) -> WorkerOptions:
    """:class:`WorkerOptions` from parsed :func:`build_parser` arguments."""
    return WorkerOptions(
        modules=tuple(args.modules),
        namesrv_addr=args.namesrv,
        groups=tuple(args.groups),
        listeners=tuple(args.listeners),
        concurrency=args.concurrency,
        drain_timeout=args.drain_timeout,
        health_port=args.health_port,
        health_host=args.health_host,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rocketmq_integration worker``."""
    from rocketmq_integration.logging import configure_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(args.log_level, json=args.log_json)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `python -m` puts the cwd first already; a console script does not
    return run_worker(options)
