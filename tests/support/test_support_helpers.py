"""Self-tests of the test helpers, run against a fake server (no broker_core needed)."""

from __future__ import annotations

import json
import signal
import socket
import struct
import threading
from pathlib import Path

import pytest

from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.net import free_port, port_is_open, wait_for_port
from tests.support.payloads import make_message
from tests.support.process import (
    DEFAULT_BROKER_CONF,
    ServerProcess,
    ServerStartError,
    ServerStopTimeout,
    start_broker,
    write_broker_conf,
)

FAKE = "tests.support._fake_server"


def fake(tmp_path: Path, *options: str, name: str = "fake", port: int | None = None) -> ServerProcess:
    return ServerProcess("namesrv", list(options), name=name, log_dir=tmp_path, port=port, module=FAKE)


def test_free_port_and_wait_for_port() -> None:
    port = free_port()
    assert not port_is_open("127.0.0.1", port)
    with pytest.raises(TimeoutError):
        wait_for_port("127.0.0.1", port, timeout=0.2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        wait_for_port("127.0.0.1", port, timeout=2)


def test_start_stop(tmp_path: Path) -> None:
    proc = fake(tmp_path).start()
    try:
        assert proc.running and proc.pid > 0
        assert proc.addr == f"127.0.0.1:{proc.port}"
        assert port_is_open(proc.host, proc.port)
        assert proc.stop() == 0
        assert not proc.running
        assert "SIGTERM received" in proc.stdout_path.read_text()
    finally:
        proc.cleanup()


def test_kill_and_restart_keep_port(tmp_path: Path) -> None:
    proc = fake(tmp_path).start()
    try:
        port, pid = proc.port, proc.pid
        assert proc.kill() == -signal.SIGKILL
        proc.restart()
        assert proc.port == port and proc.pid != pid and proc.start_count == 2
        assert port_is_open(proc.host, port)
    finally:
        proc.cleanup()


def test_death_at_start_reports_log_tail(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError) as info:
        fake(tmp_path, "--exit-at-start", "3").start()
    assert "exited with code 3" in str(info.value)
    assert "told to die at start" in str(info.value)


def test_port_never_opens(tmp_path: Path) -> None:
    proc = ServerProcess(
        "namesrv", ["--start-delay", "30"], name="slow", log_dir=tmp_path, module=FAKE, start_timeout=0.5
    )
    with pytest.raises(ServerStartError, match="did not accept connections"):
        proc.start()
    assert not proc.running


def test_port_race_is_retried_on_a_new_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        proc = fake(tmp_path)
        proc.port = taken  # simulate losing the race between free_port() and bind()
        try:
            proc.start()
            assert proc.port != taken and proc.running
        finally:
            proc.cleanup()


def test_stop_timeout_kills(tmp_path: Path) -> None:
    proc = fake(tmp_path, "--ignore-sigterm").start()
    with pytest.raises(ServerStopTimeout):
        proc.stop(timeout=0.5)
    assert not proc.running
    assert proc.returncode == -signal.SIGKILL


def test_group_cleanup(tmp_path: Path) -> None:
    group = ServerGroup(tmp_path)
    procs = [group.track(fake(tmp_path, name=f"f{i}").start()) for i in range(2)]
    group.close()
    assert all(not p.running for p in procs)


def test_start_broker_argv_and_conf(tmp_path: Path) -> None:
    proc = start_broker(
        tmp_path, "127.0.0.1:9876", conf={"flushDiskType": "SYNC_FLUSH", "x": True}, module=FAKE, broker_id=1
    )
    try:
        argv = proc.argv
        assert argv[argv.index("--namesrv") + 1] == "127.0.0.1:9876"
        assert argv[argv.index("--broker-id") + 1] == "1"
        assert proc.store_dir == tmp_path / "store-broker-a-1"
        assert proc.conf_path is not None
        lines = proc.conf_path.read_text().splitlines()
        assert "flushDiskType=SYNC_FLUSH" in lines and "x=true" in lines
        size = DEFAULT_BROKER_CONF["mappedFileSizeCommitLog"]
        assert f"mappedFileSizeCommitLog={size}" in lines
    finally:
        proc.cleanup()


def test_write_broker_conf(tmp_path: Path) -> None:
    path = write_broker_conf(tmp_path / "b.conf", {"a": 1, "b": False})
    assert path.read_text() == "a=1\nb=false\n"


def test_payloads_are_deterministic() -> None:
    a, b = make_message(19, "run"), make_message(19, "run")
    assert a == b
    assert len(a.body) > 4096  # every 10th body is compressed by the C++ producer
    assert len(make_message(3).body) < 4096
    assert b"\x00" not in a.body
    a.body.decode("utf-8")
    assert make_message(1).tags != make_message(2).tags
    assert "中" in a.properties["utf8"]


def _serve_one_json_reply(sock: socket.socket, route_json: str) -> None:
    conn, _ = sock.accept()
    with conn:
        length = struct.unpack(">i", conn.recv(4))[0]
        data = b""
        while len(data) < length:
            data += conn.recv(length - len(data))
        hlen = struct.unpack(">i", data[:4])[0] & 0xFFFFFF
        request = json.loads(data[4 : 4 + hlen])
        assert request["code"] == admin.GET_ROUTEINFO_BY_TOPIC
        header = json.dumps({"code": 0, "opaque": request["opaque"], "flag": 1, "language": "JAVA"}).encode()
        body = route_json.encode()
        conn.sendall(struct.pack(">ii", 4 + len(header) + len(body), len(header)) + header + body)


def test_admin_route_with_fastjson_int_keys() -> None:
    route = '{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:1"},"brokerName":"b"}],"queueDatas":[{"writeQueueNums":4}]}'
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = threading.Thread(target=_serve_one_json_reply, args=(sock, route))
        server.start()
        got = admin.get_route(f"127.0.0.1:{sock.getsockname()[1]}", "T")
        server.join(5)
    assert got is not None
    assert got["brokerDatas"][0]["brokerAddrs"] == {"0": "127.0.0.1:1"}
