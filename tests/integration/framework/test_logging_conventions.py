"""Library logging conventions, end to end: a program that uses the client and the framework
without configuring logging writes nothing but its own output on stdout and nothing on stderr;
the servers' log lines carry ISO 8601 UTC timestamps."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import server_env

from .helpers import new_topic

PROGRAM = """
import sys
import threading

from rocketmq_integration import ListenerContainer, RocketMQTemplate
from rocketmq_integration.listeners import ConsumeFrom, build_spec

namesrv, topic, group = sys.argv[1:4]
seen, done = [], threading.Event()


def handle(payload: str) -> None:
    seen.append(payload)
    if len(seen) == 3:
        done.set()


container = ListenerContainer(
    build_spec(handle, topic=topic, consumer_group=group, consume_from=ConsumeFrom.FIRST_OFFSET,
               await_termination_when_shutdown=5.0),
    namesrv_addr=namesrv,
)
container.start()
template = RocketMQTemplate(group + "_p", namesrv_addr=namesrv)
for i in range(3):
    template.send(topic, f"m{i}")
assert done.wait(60), seen
template.close()
container.stop()
print("received", len(seen))
"""

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(debug|info|warning|error)")


def test_unconfigured_program_prints_nothing_but_its_own_output(
    rocketmq_cluster: Any, tmp_path: Path
) -> None:
    topic = new_topic(rocketmq_cluster, "quiet", queues=2)
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    proc = subprocess.run(
        [sys.executable, str(script), rocketmq_cluster.namesrv_addr, topic, rocketmq_cluster.unique("quiet_g")],
        capture_output=True, text=True, env=server_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "received 3\n"
    assert proc.stderr == ""


def test_server_log_lines_have_iso8601_utc_timestamps(rocketmq_cluster: Any) -> None:
    if rocketmq_cluster.external:
        pytest.skip("external-cluster mode: its servers and their logs are not ours")
    root = rocketmq_cluster.root
    for name in ("namesrv.log", "broker.log"):
        first = (Path(root) / name).read_text().splitlines()[0]
        assert ISO_UTC.match(first), first
