"""Operations tooling against the Apache RocketMQ 4.9.8 oracle (skipped without ROCKETMQ_ORACLE_HOME).

1. Apache's own ``mqadmin`` (Java) runs clusterList, topicList, topicRoute, topicStatus,
   consumerProgress, queryMsgByKey and queryMsgById against *our* broker; where both tools print
   the same table, our CLI's output is byte-identical to mqadmin's.
2. Our admin CLI runs against an *Apache* broker.
3. ACL: the same forged requests get the same response code and remark from Apache's broker with
   ``aclEnable=true`` and from ours.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from broker_core.admin.cli import main as admin_main
from broker_core.admin.client import MQAdmin
from broker_core.message.model import Message, MessageExt
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import sign_request
from rocketmq_integration.client import ClientConfig, ConsumeResult
from rocketmq_integration.client.sync import SyncProducer, SyncPushConsumer
from tests.integration.client.helpers import CONSUMER, unique
from tests.integration.test_acl import ADMIN, APP, acl_yml, send_v2, start_acl_cluster
from tests.support.apache_oracle import free_apache_port, oracle_home
from tests.support.cluster import Cluster, ServerGroup
from tests.support.net import wait_for_port
from tests.support.process import die_with_parent

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(600)]

CLIENT = ClientConfig(
    poll_name_server_interval=1.0, heartbeat_broker_interval=2.0, persist_consumer_offset_interval=0.5
)


def mqadmin(home: Path, *argv: str, attempts: int = 3) -> str:
    """Run Apache's mqadmin; the JVM is slow to start on a loaded machine, so a client-side timeout
    is retried (the tool's own request timeout is 3 s)."""
    last = ""
    for _ in range(attempts):
        proc = subprocess.run(
            [str(home / "mqadmin.sh"), *argv], capture_output=True, text=True, timeout=180,
            env={**os.environ, "RMQ_USER_HOME": str(home)},
        )  # fmt: skip
        last = proc.stdout + proc.stderr
        if proc.returncode == 0 and "Exception" not in last:
            return proc.stdout
    raise AssertionError(f"mqadmin {argv} failed:\n{last[-3000:]}")


def ours(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert admin_main(list(argv), out, err) == 0, err.getvalue()
    return out.getvalue()


def _until(fn: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_apache_mqadmin_against_our_broker(cluster: Cluster) -> None:
    home = oracle_home()
    ns = cluster.namesrv_addr
    topic, group = unique("MqaT"), unique("MqaG")
    ours("updateTopic", "-n", ns, "-c", "DefaultCluster", "-t", topic, "-r", "2", "-w", "2")
    _until(lambda: topic in ours("topicList", "-n", ns).split())
    with SyncProducer(unique("MqaP"), namesrv_addr=ns, client_config=CLIENT) as producer:
        for i in range(4):
            msg = Message(topic, f"body-{i}".encode())
            msg.tags, msg.keys = "tagA", f"key{i} shared"
            producer.send(msg)
    got: list[MessageExt] = []

    def listen(msgs: list[MessageExt]) -> ConsumeResult:
        got.extend(msgs)
        return ConsumeResult.SUCCESS

    consumer = SyncPushConsumer(group, namesrv_addr=ns, client_config=CLIENT, config=CONSUMER)
    consumer.subscribe(topic)
    consumer.register_listener(listen)
    consumer.start()
    try:
        _until(lambda: len(got) >= 4)
        with MQAdmin(ns) as adm:
            _until(
                lambda: (
                    adm.consume_stats(group, topic).diff_total == 0
                    if _has_stats(adm, group, topic)
                    else False
                )
            )
    finally:
        consumer.shutdown()

    out = mqadmin(home, "clusterList", "-n", ns)
    assert re.search(
        rf"^DefaultCluster\s+broker-a\s+0\s+{re.escape(cluster.broker_addr)}\s+V4_9_8\s", out, re.M
    ), out
    assert topic in mqadmin(home, "topicList", "-n", ns).split()
    route = mqadmin(home, "topicRoute", "-n", ns, "-t", topic)
    assert '"brokerName":"broker-a"' in route and '"writeQueueNums":2' in route
    status = mqadmin(home, "topicStatus", "-n", ns, "-t", topic)
    assert status == ours("topicStatus", "-n", ns, "-t", topic)
    assert sum(int(line.split()[3]) for line in status.splitlines()[1:]) == 4
    progress = mqadmin(home, "consumerProgress", "-n", ns, "-g", group)
    assert "Diff Total: 0" in progress
    rows = [line for line in progress.splitlines() if line.startswith(topic)]
    assert len(rows) == 2 and rows == [
        line
        for line in ours("consumerProgress", "-n", ns, "-g", group).splitlines()
        if line.startswith(topic)
    ]
    by_key = mqadmin(home, "queryMsgByKey", "-n", ns, "-t", topic, "-k", "shared")
    assert len(by_key.splitlines()) == 5
    assert sorted(by_key.splitlines()[1:]) == sorted(
        ours("queryMsgByKey", "-n", ns, "-t", topic, "-k", "shared").splitlines()[1:]
    )
    with MQAdmin(ns) as adm:
        msg = adm.query_message(topic, "key2")[0]
    by_id = mqadmin(home, "queryMsgById", "-n", ns, "-i", msg.offset_msg_id)
    assert re.search(rf"^OffsetID:\s+{msg.offset_msg_id}$", by_id, re.M) and re.search(
        r"^Keys:\s+\[key2 shared\]$", by_id, re.M
    )
    head = by_id.split("Message Body Path:")[0]
    assert head == ours("queryMsgById", "-n", ns, "-i", msg.offset_msg_id).split("Message Body Path:")[0]


def _has_stats(adm: MQAdmin, group: str, topic: str) -> bool:
    try:
        return bool(adm.consume_stats(group, topic).offset_table)
    except Exception:
        return False


class ApacheCluster:
    """Apache NameServer + broker through the oracle's start.sh / stop.sh."""

    def __init__(self, home: Path, workdir: Path, extra: str = "", java_opts: str = "") -> None:
        self.home, self.workdir = home, workdir
        self.ns_port, self.port = free_apache_port(), free_apache_port()
        env = {**os.environ, "BROKER_EXTRA": extra, "BROKER_JAVA_OPTS": java_opts}
        proc = subprocess.run(
            [str(home / "start.sh"), str(self.ns_port), str(self.port), str(workdir)],
            capture_output=True, text=True, timeout=180, env=env, preexec_fn=die_with_parent,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"Apache cluster did not start: {proc.stdout}{proc.stderr}")
        wait_for_port("127.0.0.1", self.port, 60)

    @property
    def namesrv(self) -> str:
        return f"127.0.0.1:{self.ns_port}"

    @property
    def broker(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([str(self.home / "stop.sh"), str(self.workdir)], capture_output=True, timeout=60)


def test_our_admin_cli_against_apache(tmp_path: Path) -> None:
    home = oracle_home()
    apache = ApacheCluster(home, tmp_path / "apache")
    try:
        ns = apache.namesrv
        _until(lambda: "broker-a" in ours("clusterList", "-n", ns), 60)
        assert re.search(
            r"^DefaultCluster\s+broker-a\s+0\s+127\.0\.0\.1:\d+\s+V4_9_8\s",
            ours("clusterList", "-n", ns),
            re.M,
        )
        out = ours("updateTopic", "-n", ns, "-c", "DefaultCluster", "-t", "OpsOnApache", "-r", "2", "-w", "2")
        assert f"create topic to {apache.broker} success." in out
        _until(lambda: "OpsOnApache" in ours("topicList", "-n", ns).split(), 60)
        sent = ours("sendMessage", "-n", ns, "-t", "OpsOnApache", "-p", "hi-apache", "-k", "AK1")
        assert "SEND_OK" in sent
        assert len(ours("queryMsgByKey", "-n", ns, "-t", "OpsOnApache", "-k", "AK1").splitlines()) == 2
        status = ours("topicStatus", "-n", ns, "-t", "OpsOnApache")
        assert sum(int(line.split()[3]) for line in status.splitlines()[1:]) == 1
        assert status == mqadmin(home, "topicStatus", "-n", ns, "-t", "OpsOnApache")
        runtime = ours("brokerStatus", "-n", ns, "-b", apache.broker)
        assert re.search(r"^putTps\s+: ", runtime, re.M) and re.search(
            r"^brokerVersionDesc\s+: V4_9_8$", runtime, re.M
        )
        assert re.search(
            r"^brokerName\s+=  broker-a$", ours("getBrokerConfig", "-n", ns, "-b", apache.broker), re.M
        )
        assert "BODY: hi-apache" in ours("consumeMessage", "-n", ns, "-t", "OpsOnApache")
        out = ours("updateSubGroup", "-n", ns, "-b", apache.broker, "-g", "OpsGroupOnApache")
        assert "success" in out
        assert "OpsOnApache" in ours("statsAll", "-n", ns, "-t", "OpsOnApache")
    finally:
        apache.stop()


def test_acl_rejections_match_apache(servers: ServerGroup, tmp_path: Path) -> None:
    home = oracle_home()
    acl_file = tmp_path / "apache-acl" / "plain_acl.yml"
    acl_file.parent.mkdir()
    acl_file.write_text(acl_yml())
    # PlainPermissionManager reads <rocketmq.home>/<rocketmq.acl.plain.file>: point it at our file
    rel = "/../../../../../../../.." + str(acl_file)
    apache = ApacheCluster(
        home, tmp_path / "apache", extra="aclEnable=true", java_opts=f"-Drocketmq.acl.plain.file={rel}"
    )
    _ns, our_broker, _ = start_acl_cluster(servers, tmp_path / "ours")
    client = BlockingRemotingClient()
    try:
        cases: list[RemotingCommand] = [
            send_v2("AclT"),
            sign_request(send_v2("AclT"), APP[0], "wrongSecret"),
            sign_request(send_v2("AclT"), "nobodyHere", "whatever1"),
            sign_request(send_v2("Forbidden"), *APP),
            sign_request(send_v2("Unlisted"), *APP),
            sign_request(RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, {"topic": "T", "defaultTopic": "TBW102", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6", "topicFilterType": "SINGLE_TAG"}), *APP),
            sign_request(RemotingCommand.request(RequestCode.PULL_MESSAGE, {"consumerGroup": "g1", "topic": "Unlisted", "queueId": "0", "queueOffset": "0", "maxMsgNums": "1", "sysFlag": "0", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0"}), *APP),
        ]  # fmt: skip
        for request in cases:
            theirs = client.invoke(apache.broker, _copy(request), 10.0)
            mine = client.invoke(our_broker.addr, _copy(request), 10.0)
            assert (mine.code, mine.remark) == (theirs.code, theirs.remark), request.ext_fields
        admin_ok = sign_request(send_v2("AnyTopic"), *ADMIN)
        assert (
            client.invoke(apache.broker, _copy(admin_ok), 10.0).code
            == client.invoke(our_broker.addr, _copy(admin_ok), 10.0).code
        )
    finally:
        client.close()
        apache.stop()


def _copy(cmd: RemotingCommand) -> RemotingCommand:
    return RemotingCommand.request(cmd.code, dict(cmd.ext_fields or {}), cmd.body)
