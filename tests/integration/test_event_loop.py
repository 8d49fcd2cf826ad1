"""The servers on uvloop (the default where it is installed) and on the stdlib loop.

Each server logs the loop it runs on (``event loop loop=...``). Under uvloop the things the servers
rely on are exercised here: SIGTERM handling (exit 0), re-binding the same port right after a stop
(SO_REUSEADDR), peer/sock names of transports (broker registration, client ids), and a produce and
pull round trip through our own client, whose loop thread (EventLoopThread) follows the same choice.
The whole suite runs with the default (auto); ``make test`` also runs the protocol/store/wire tests
with ROCKETMQ_PURE_PYTHON=1, i.e. on asyncio.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from broker_core import eventloop
from broker_core.message.model import Message
from rocketmq_integration.client import EventLoopThread, Producer, PullConsumer, PullStatus
from tests.integration.client.helpers import CLIENT, create_topic, unique
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess, server_env

pytestmark = pytest.mark.timeout(120)

DEFAULT = "uvloop" if eventloop.uvloop_module() is not None else "asyncio"
#: this test process's own choice (asyncio in the ROCKETMQ_PURE_PYTHON=1 pass of make test)
CLIENT_LOOP = eventloop.resolve()
#: the environment of a server that must pick the loop itself (auto)
AUTO_ENV = {eventloop.LOOP_ENV: "", eventloop.PURE_ENV: ""}


def loops_logged(proc: ServerProcess) -> list[str]:
    lines = proc.stderr_path.read_text(errors="replace").splitlines()
    return [
        line.rsplit("loop=", 1)[1].split()[0] for line in lines if "event loop" in line and "loop=" in line
    ]


def test_servers_default_to_uvloop_when_installed_and_serve_a_round_trip(servers: ServerGroup) -> None:
    namesrv = servers.namesrv(env=AUTO_ENV)
    broker = servers.broker(namesrv, env=AUTO_ENV)
    assert loops_logged(namesrv) == [DEFAULT]
    assert loops_logged(broker) == [DEFAULT]
    topic, payload = unique("LoopT"), b"over " + DEFAULT.encode()

    async def scenario() -> None:
        assert eventloop.loop_name() == CLIENT_LOOP
        await create_topic(namesrv.addr, broker.addr, topic, 1)
        async with Producer(unique("loop_p"), namesrv_addr=namesrv.addr, client_config=CLIENT) as p:
            sent = await p.send(Message(topic, payload))
        async with PullConsumer(unique("loop_c"), namesrv_addr=namesrv.addr, client_config=CLIENT) as c:
            (mq,) = await c.fetch_subscribe_message_queues(topic)
            result = await c.pull(mq, "*", 0, 8)
        assert result.status is PullStatus.FOUND
        assert [(m.msg_id, m.body) for m in result.messages] == [(sent.msg_id, payload)]

    thread = EventLoopThread("loop-test")  # the client's own loop follows the same choice
    try:
        assert eventloop.loop_name(thread.loop) == CLIENT_LOOP
        thread.run(scenario(), timeout=90)
    finally:
        thread.stop()
    # SIGTERM -> clean stop (exit 0), then the same port binds again at once
    assert broker.stop() == 0
    assert namesrv.restart() is namesrv and loops_logged(namesrv) == [DEFAULT, DEFAULT]
    assert namesrv.stop() == 0


def test_loop_flag_and_environment_select_the_stdlib_loop(servers: ServerGroup) -> None:
    by_flag = servers.namesrv(extra_args=["--loop", "asyncio"], env=AUTO_ENV)
    by_env = servers.namesrv(env={**AUTO_ENV, eventloop.LOOP_ENV: "asyncio"})
    pure = servers.namesrv(env={**AUTO_ENV, eventloop.PURE_ENV: "1"})
    assert [loops_logged(p) for p in (by_flag, by_env, pure)] == [["asyncio"]] * 3
    assert by_flag.stop() == 0 and by_env.stop() == 0 and pure.stop() == 0


def test_bad_loop_value_stops_the_server_with_a_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "broker_core", "namesrv", "--port", "1"],
        env=server_env({eventloop.LOOP_ENV: "tokio"}), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ROCKETMQ_EVENT_LOOP='tokio'" in done.stderr
