"""``python -m broker_core admin``: every mqadmin command against a real NameServer + broker.

One scenario walks the life of a topic (create, route, send, query, consume, progress, reset,
stats, delete) so that each command sees real state; each step asserts the command's mqadmin-style
output. Commands run in-process through :func:`broker_core.admin.cli.main` (the same code the
``python -m`` entry runs; one subprocess run checks that entry too).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from broker_core.admin.cli import main
from broker_core.admin.client import MQAdmin
from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import ClientConfig, ConsumeResult
from rocketmq_integration.client.sync import SyncProducer, SyncPushConsumer
from tests.integration.client.helpers import CONSUMER, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CLIENT = ClientConfig(
    poll_name_server_interval=1.0, heartbeat_broker_interval=2.0, persist_consumer_offset_interval=0.5
)


class Admin:
    def __init__(self, namesrv: str) -> None:
        self.namesrv = namesrv

    def __call__(self, *argv: str, rc: int = 0) -> str:
        out, err = io.StringIO(), io.StringIO()
        code = main([argv[0], "-n", self.namesrv, *argv[1:]], out, err)
        assert code == rc, f"{argv}: rc={code} stderr={err.getvalue()} stdout={out.getvalue()}"
        return out.getvalue() if rc == 0 else err.getvalue()


def _until(fn: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def _rows(text: str, first: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.split()[:1] == [first]]


def test_admin_commands_against_our_broker(cluster: Cluster) -> None:
    adm = Admin(cluster.namesrv_addr)
    addr = cluster.broker_addr
    topic, group, pgroup = unique("AdmT"), unique("AdmG"), unique("AdmP")

    # ---- topics -------------------------------------------------------------------------------
    out = adm("updateTopic", "-c", "DefaultCluster", "-t", topic, "-r", "2", "-w", "2")
    assert f"create topic to {addr} success." in out
    assert f"TopicConfig [topicName={topic}, readQueueNums=2, writeQueueNums=2, perm=RW-" in out
    _until(lambda: topic in adm("topicList").split())
    assert any(r[:2] == ["DefaultCluster", topic] for r in _rows(adm("topicList", "-c"), "DefaultCluster"))
    assert '"brokerName":"broker-a"' in adm("topicRoute", "-t", topic)
    route_rows = _rows(adm("topicRoute", "-t", topic, "-l"), "DefaultCluster")
    assert route_rows == [["DefaultCluster", "broker-a", "{0=" + addr + "}", "2", "2", "6"]]

    # ---- send (the CLI, with a trace) and a running producer ------------------------------------
    sent = _rows(
        adm("sendMessage", "-t", topic, "-p", "hello-cli", "-k", "KCLI", "-c", "tagA", "-m", "true"),
        "broker-a",
    )
    assert len(sent) == 1 and sent[0][2] == "SEND_OK"
    cli_uniq = sent[0][3]
    producer = SyncProducer(pgroup, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
    consumer = SyncPushConsumer(
        group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
    )
    got: list[MessageExt] = []

    def listen(msgs: list[MessageExt]) -> ConsumeResult:
        got.extend(msgs)
        return ConsumeResult.SUCCESS

    try:
        for i in range(5):
            msg = Message(topic, f"body-{i}".encode())
            msg.tags, msg.keys = "tagB", f"K{i}"
            producer.send(msg)
        stats = adm("topicStatus", "-t", topic)
        assert sum(int(r[3]) for r in _rows(stats, "broker-a")) == 6
        assert "#Broker Name" in stats and "#Last Updated" in stats

        # ---- queries ------------------------------------------------------------------------------
        rows = _rows(adm("queryMsgByKey", "-t", topic, "-k", "KCLI"), cli_uniq)
        assert len(rows) == 1
        qid, qoff = int(rows[0][1]), int(rows[0][2])
        out = adm("queryMsgByUniqueKey", "-t", topic, "-i", cli_uniq)
        assert re.search(rf"^Topic:\s+{topic}$", out, re.M) and re.search(r"^Keys:\s+\[KCLI\]$", out, re.M)
        with MQAdmin(cluster.namesrv_addr) as raw:
            offset_id = raw.query_message(topic, "KCLI")[0].offset_msg_id
        out = adm("queryMsgById", "-i", offset_id)
        assert re.search(rf"^OffsetID:\s+{offset_id}$", out, re.M) and re.search(
            r"^Tags:\s+\[tagA\]$", out, re.M
        )
        body_path = re.search(r"^Message Body Path:\s+(\S+)$", out, re.M)
        assert body_path is not None and open(body_path.group(1), "rb").read() == b"hello-cli"
        out = adm("queryMsgByOffset", "-t", topic, "-b", "broker-a", "-i", str(qid), "-o", str(qoff))
        assert re.search(r"^Keys:\s+\[KCLI\]$", out, re.M)
        out = adm("consumeMessage", "-t", topic, "-c", "10")
        assert out.count("MSGID: ") == 6 and "BODY: hello-cli" in out and "BODY: body-4" in out
        trace = adm("queryMsgTraceById", "-i", cli_uniq)
        pub = _rows(trace, "Pub")
        assert len(pub) == 1 and pub[0][-1] == "success" and pub[0][-2].endswith("ms")

        # ---- groups -------------------------------------------------------------------------------
        out = adm("updateSubGroup", "-b", addr, "-g", group, "-r", "3")
        assert f"create subscription group to {addr} success." in out and "retryMaxTimes=3" in out
        consumer.subscribe(topic)
        consumer.register_listener(listen)
        consumer.start()
        _until(lambda: len(got) >= 6, 60)
        out = adm("consumerConnection", "-g", group)
        assert consumer.consumer.client_id in out and "ConsumeType: CONSUME_PASSIVELY" in out
        assert re.search(rf"^{re.escape(topic)}\s+\*$", out, re.M)

        def caught_up() -> bool:
            out, err = io.StringIO(), io.StringIO()
            if main(["consumerProgress", "-n", cluster.namesrv_addr, "-g", group], out, err) != 0:
                assert "offset table is empty" in err.getvalue()  # nothing committed yet
                return False
            text = out.getvalue()
            return "Diff Total: 0" in text and sum(int(r[3]) for r in _rows(text, topic)) == 6

        _until(caught_up, 30)
        summary = adm("consumerProgress")
        assert any(r[0] == group and r[1] == "1" and r[2] == "V4_9_8" for r in _rows(summary, group))

        def producer_seen() -> bool:  # the producer registers with its next heartbeat
            buf = io.StringIO()
            return (
                main(
                    ["producerConnection", "-n", cluster.namesrv_addr, "-g", pgroup, "-t", topic],
                    buf,
                    io.StringIO(),
                )
                == 0
            )

        _until(producer_seen, 30)
        out = adm("producerConnection", "-g", pgroup, "-t", topic)
        assert re.search(r"^0001\s+\S+\s+127\.0\.0\.1:\d+\s+PYTHON\s+V4_9_8$", out, re.M)
        out = adm("statsAll", "-t", topic)
        row = _rows(out, topic)
        assert row and row[0][1] == group and int(row[0][5]) == 6 and int(row[0][6]) >= 6

        # ---- reset offsets: the group consumes everything again ----------------------------------
        before = len(got)
        out = adm("resetOffsetByTime", "-g", group, "-t", topic, "-s", "0")
        assert f"rollback consumer offset by specified group[{group}], topic[{topic}]" in out
        assert [r[1:] for r in _rows(out, "broker-a")] == [["0", "0"], ["1", "0"]]
        _until(lambda: len(got) >= before + 6, 60)
    finally:
        consumer.shutdown()
        producer.shutdown()

    # ---- broker ---------------------------------------------------------------------------------
    out = adm("clusterList")
    assert re.search(rf"^DefaultCluster\s+broker-a\s+0\s+{re.escape(addr)}\s+V4_9_8\s", out, re.M)
    assert re.search(r"^DefaultCluster\s+broker-a\s+\d+\s+\d+\s+\d+\s+\d+$", adm("clusterList", "-m"), re.M)
    status = dict(
        (k.strip(), v.strip())
        for k, v in (line.split(":", 1) for line in adm("brokerStatus", "-b", addr).splitlines())
    )
    assert int(status["putMessageTimesTotal"]) >= 7 and status["brokerVersionDesc"] == "V4_9_8"
    assert len(status["putTps"].split(" ")) == 3
    assert re.search(r"^brokerName\s+=  broker-a$", adm("getBrokerConfig", "-b", addr), re.M)
    assert f"update broker config success, {addr}" in adm(
        "updateBrokerConfig", "-b", addr, "-k", "traceOn", "-v", "false"
    )
    assert re.search(r"^traceOn\s+=  false$", adm("getBrokerConfig", "-c", "DefaultCluster"), re.M)
    err = adm("updateBrokerConfig", "-b", addr, "-k", "brokerConfigPath", "-v", "/x", rc=1)
    assert "CODE: 16" in err and "Can not update config in black list." in err

    out = adm("updateTopicPerm", "-b", addr, "-t", topic, "-p", "4")
    assert f"update topic perm from 6 to 4 in {addr} success." in out
    _until(lambda: _rows(adm("topicRoute", "-t", topic, "-l"), "DefaultCluster")[0][-1] == "4")

    # ---- delete ---------------------------------------------------------------------------------
    out = adm("deleteSubGroup", "-c", "DefaultCluster", "-g", group)
    assert (
        f"delete subscription group [{group}] from broker [{addr}] in cluster [DefaultCluster] success."
        in out
    )
    out = adm("deleteTopic", "-c", "DefaultCluster", "-t", topic)
    assert f"delete topic [{topic}] from NameServer success." in out
    assert topic not in adm("topicList").split()
    err = adm("topicRoute", "-t", topic, rc=1)
    assert err.startswith("topicRoute command failed:") and "CODE: 17" in err


def test_admin_entry_point_and_usage_errors(cluster: Cluster) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "broker_core", "admin", "clusterList", "-n", cluster.namesrv_addr],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert cluster.broker_addr in proc.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "broker_core", "admin", "topicStatus", "-n", cluster.namesrv_addr],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert usage.returncode == 2 and "the following arguments are required: -t/--topic" in usage.stderr
    down = subprocess.run(
        [sys.executable, "-m", "broker_core", "admin", "topicList", "-n", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (
        down.returncode == 1 and "topicList command failed" in down.stderr and "cannot connect" in down.stderr
    )
