"""Management commands through ``call_command`` and as real ``manage.py`` subprocesses."""

from __future__ import annotations

import io
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from rocketmq_integration.django.signals import listener_started, listener_stopped, message_consumed
from tests.django.helpers import ManagePy, http_get, sigterm_self_when
from tests.support.net import free_port, port_is_open


def addr_in(text: str, pattern: str) -> str:
    """The ``host:port`` after ``pattern`` in command output."""
    import re

    match = re.search(re.escape(pattern) + r"\s*(127\.0\.0\.1:\d+)", text)
    assert match, f"{pattern!r} not in:\n{text}"
    return match.group(1)


def port_of(addr: str) -> int:
    return int(addr.rpartition(":")[2])


COMMANDS = ["rocketmq_listeners", "rocketmq_dev", "rocketmq_namesrv", "rocketmq_broker"]


def test_help_of_every_command() -> None:
    from django.core.management import get_commands, load_command_class

    for command in COMMANDS:
        assert get_commands()[command] == "rocketmq_integration.django"
        parser = load_command_class("rocketmq_integration.django", command).create_parser(
            "manage.py", command
        )
        text = parser.format_help()
        assert text.startswith(f"usage: manage.py {command}"), text


def test_listeners_call_command_receives_then_sigterm_drains(
    rocketmq_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DjListen"))
    group = rocketmq_cluster.unique("DjListenGroup")
    got: list[object] = []
    received = threading.Event()

    from rocketmq_integration.listeners import ConsumeFrom, rocketmq_listener
    from rocketmq_integration.listeners.registry import default_registry

    name = f"test.{group}"

    @rocketmq_listener(topic=topic, consumer_group=group, name=name, consume_from=ConsumeFrom.FIRST_OFFSET)
    def handler(payload: dict[str, int]) -> None:
        got.append(payload)
        if len(got) >= 3:
            received.set()

    events: list[str] = []

    def on_started(sender: object, specs: list[Any], **kw: Any) -> None:
        events.append("started:" + ",".join(s.name for s in specs))

    def on_stopped(sender: object, status: int, **kw: Any) -> None:
        events.append(f"stopped:{status}")

    consumed: list[str] = []

    def on_consumed(sender: object, contexts: list[Any], **kw: Any) -> None:
        consumed.extend(c.msg_id for c in contexts)

    listener_started.connect(on_started)
    listener_stopped.connect(on_stopped)
    message_consumed.connect(on_consumed)
    import rocketmq_integration.worker as worker_module

    servers: list[Any] = []

    class RecordingHealthServer(worker_module.HealthServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(worker_module, "HealthServer", RecordingHealthServer)
    ready: list[int] = []

    def sent_and_ready() -> bool:
        if not ready and servers and http_get(servers[0].port, "/readyz")[0] == 200:
            ready.append(200)
            from rocketmq_integration.django import get_template

            for i in range(3):
                get_template().send(topic, {"n": i})
        return received.is_set()

    try:
        with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
            sigterm_self_when(sent_and_ready)
            call_command(
                "rocketmq_listeners", "--listener", name, "--health-port", "0", "--shutdown-timeout", "10"
            )
    finally:
        default_registry.unregister(name)
        listener_started.disconnect(on_started)
        listener_stopped.disconnect(on_stopped)
        message_consumed.disconnect(on_consumed)
    assert sorted(p["n"] for p in got) == [0, 1, 2]  # type: ignore[index]
    assert len(consumed) == 3
    assert events == [f"started:{name}", "stopped:0"]
    assert not port_is_open("127.0.0.1", servers[0].port)  # the health port closes with the worker


def test_listeners_call_command_nothing_selected_exits_2() -> None:
    with pytest.raises(CommandError) as info:
        call_command("rocketmq_listeners", "--listener", "no.such.listener")
    assert info.value.returncode == 2


def test_listeners_call_command_topic_and_exclude_filters() -> None:
    from rocketmq_integration.django.worker import ListenerFilter, build_runner

    runner = build_runner(ListenerFilter(topics=["DjangoTestTopic"]))
    assert [s.name for s in runner.selected()] == ["testapp.record"]
    runner = build_runner(ListenerFilter(exclude=["testapp.record"]))
    assert "testapp.record" not in [s.name for s in runner.selected()]


def test_listeners_manage_py_receives_health_and_sigterm_drains_in_flight(
    rocketmq_cluster: Any, tmp_path: Path
) -> None:
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DjProc"))
    received, started = tmp_path / "received.txt", tmp_path / "started.txt"
    proc = ManagePy(
        tmp_path, "rocketmq_listeners", "--health-port", "0", "--log-level", "info", "--shutdown-timeout", "20",
        env={
            "ROCKETMQ_TEST_NAMESRV": rocketmq_cluster.namesrv_addr, "ROCKETMQ_TEST_TOPIC": topic,
            "ROCKETMQ_TEST_GROUP": rocketmq_cluster.unique("DjProcGroup"), "ROCKETMQ_TEST_RECEIVED": str(received),
            "ROCKETMQ_TEST_STARTED": str(started), "ROCKETMQ_TEST_SLOW": "4",
        },
    )  # fmt: skip
    try:
        proc.wait_for("listener(s) running")
        import re

        match = re.search(r"health endpoint listening.*port=(\d+)", proc.output())
        assert match, proc.output()
        health = int(match.group(1))
        assert http_get(health, "/livez")[0] == 200
        assert http_get(health, "/readyz")[0] == 200
        with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
            from rocketmq_integration.django import get_template

            for i in range(3):
                get_template().send(topic, f"hello-{i}")
        _wait_lines(started, 3, proc)  # every handler is mid-message now
        assert not received.exists() or len(received.read_text().split()) < 3
        assert proc.stop(signal.SIGTERM) == 0, proc.output()
    finally:
        proc.kill()
    # the drain let the in-flight handlers finish before the exit
    assert sorted(received.read_text().split()) == ["hello-0", "hello-1", "hello-2"]
    assert "draining" in proc.output()


def _wait_lines(path: Path, n: int, proc: ManagePy, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().split()) < n:
        assert proc.proc.poll() is None, proc.output()
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.1)  # the subprocess writes a file; no event crosses the process boundary


def test_namesrv_call_command_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    sigterm_self_when(lambda: port_is_open("127.0.0.1", port))
    call_command("rocketmq_namesrv", "--port", str(port), "--log-level", "warning")
    assert not port_is_open("127.0.0.1", port)


def test_namesrv_manage_py(tmp_path: Path) -> None:
    proc = ManagePy(tmp_path, "rocketmq_namesrv", "--port", "0", "--log-level", "warning")
    try:
        proc.wait_for("listening on")
        port = port_of(addr_in(proc.output(), "listening on"))
        assert port_is_open("127.0.0.1", port)
        assert proc.stop() == 0, proc.output()
    finally:
        proc.kill()


def test_broker_with_namesrv_call_command(tmp_path: Path) -> None:
    out = io.StringIO()
    sigterm_self_when(lambda: "Ctrl-C" in out.getvalue())
    call_command(
        "rocketmq_broker", "--with-namesrv", "--namesrv-port", "0", "--port", "0",
        "--store-dir", str(tmp_path / "store"), "--log-level", "warning", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "stopped cleanly" in text
    for addr in (addr_in(text, "broker listening on"), addr_in(text, "NameServer")):
        assert not port_is_open("127.0.0.1", port_of(addr))


def test_broker_manage_py_registers_with_a_namesrv(tmp_path: Path) -> None:
    ns = ManagePy(tmp_path, "rocketmq_namesrv", "--port", "0", "--log-level", "warning")
    broker = None
    try:
        ns.wait_for("listening")
        ns_port = port_of(addr_in(ns.output(), "listening on"))
        broker = ManagePy(
            tmp_path, "rocketmq_broker", "--namesrv", f"127.0.0.1:{ns_port}", "--port", "0",
            "--store-dir", str(tmp_path / "store"), "--log-level", "warning",
        )  # fmt: skip
        broker.wait_for(f"registered with 127.0.0.1:{ns_port}")
        from rocketmq_integration.django.probe import probe_name_server

        assert probe_name_server(f"127.0.0.1:{ns_port}") is None
        assert broker.stop() == 0, broker.output()
        assert ns.stop() == 0, ns.output()
    finally:
        ns.kill()
        if broker is not None:
            broker.kill()


def test_dev_manage_py_runs_servers_and_listeners(tmp_path: Path) -> None:
    received = tmp_path / "received.txt"
    proc = ManagePy(
        tmp_path, "rocketmq_dev", "--namesrv-port", "0", "--port", "0", "--store-dir",
        str(tmp_path / "store"), "--shutdown-timeout", "10", env={"ROCKETMQ_TEST_RECEIVED": str(received)},
    )  # fmt: skip
    try:
        proc.wait_for("listener(s) running", timeout=90)
        namesrv = addr_in(proc.output(), "NameServer")
        assert f"web processes must use '{namesrv}'" in proc.output()
        from rocketmq_integration.template import RocketMQTemplate

        with RocketMQTemplate("dev_test_producer", namesrv_addr=namesrv) as template:
            template.send("DjangoTestTopic", "dev-hello")
        _wait_lines(received, 1, proc)
        assert proc.stop() == 0, proc.output()
    finally:
        proc.kill()
    assert received.read_text().split() == ["dev-hello"]
    assert "embedded servers stopped" in proc.output()


def test_dev_call_command_without_listeners(tmp_path: Path) -> None:
    out = io.StringIO()
    sigterm_self_when(lambda: "serving the broker only" in out.getvalue())
    call_command(
        "rocketmq_dev", "--namesrv-port", "0", "--port", "0", "--store-dir", str(tmp_path / "s"),
        "--exclude", "testapp.record", stdout=out,
    )  # fmt: skip
    assert "embedded servers stopped" in out.getvalue()
    assert not port_is_open("127.0.0.1", port_of(addr_in(out.getvalue(), "broker listening on")))


def test_dev_reload_restarts_on_a_code_change(tmp_path: Path) -> None:
    import os
    import time

    proc = ManagePy(
        tmp_path, "rocketmq_dev", "--reload", "--namesrv-port", "0", "--port", "0", "--store-dir",
        str(tmp_path / "store"),
    )  # fmt: skip
    try:
        proc.wait_for("listener(s) running", timeout=90)
        watched = Path(__file__).resolve().parent / "testapp" / "listeners.py"
        deadline = time.monotonic() + 90
        while proc.output().count("listener(s) running") < 2:  # the reloader polls mtimes every second
            future = time.time() + 5
            os.utime(watched, (future, future))
            assert proc.proc.poll() is None, proc.output()
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.5)
        assert "changed, reloading" in proc.output()
        assert proc.stop(signal.SIGTERM) == 0, proc.output()
    finally:
        proc.kill()
