"""ACL 1.0 against a real broker with ``aclEnable=true``: our client and the admin CLI sign their
requests; forged and forbidden requests get Apache's answer (SYSTEM_ERROR + remark), store nothing
and are logged; the yml is hot-reloaded; 10,000 forged requests over the wire are all refused."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from broker_core.admin.cli import main as admin_main
from broker_core.admin.client import MQAdmin
from broker_core.message.model import Message, MessageExt
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import sign_request
from rocketmq_integration.client import ClientConfig, ConsumeResult
from rocketmq_integration.client.sync import SyncProducer, SyncPushConsumer
from rocketmq_integration.errors import MQBrokerError
from rocketmq_integration.template import RocketMQTemplate
from tests.integration.client.helpers import CONSUMER, unique
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

EXC = "org.apache.rocketmq.acl.common.AclException: "
PPM = "org.apache.rocketmq.acl.plain.PlainPermissionManager"
ADMIN = ("adminUser", "adminSecret")
APP = ("appUser", "appSecret1")


def acl_yml(white: str = "10.10.10.*") -> str:
    return f"""\
globalWhiteRemoteAddresses:
  - {white}
accounts:
  - accessKey: {ADMIN[0]}
    secretKey: {ADMIN[1]}
    admin: true
  - accessKey: {APP[0]}
    secretKey: {APP[1]}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclT=PUB|SUB
      - Forbidden=SUB
"""


def start_acl_cluster(servers: ServerGroup, tmp_path: Path) -> tuple[ServerProcess, ServerProcess, Path]:
    acl_file = tmp_path / "home" / "conf" / "plain_acl.yml"
    acl_file.parent.mkdir(parents=True)
    acl_file.write_text(acl_yml())
    ns = servers.namesrv()
    broker = servers.broker(
        ns, conf={"aclEnable": "true", "aclFile": str(acl_file), "aclWatchIntervalMs": "200"}
    )
    return ns, broker, acl_file


def send_v2(topic: str, body: bytes = b"x") -> RemotingCommand:
    ext = {"a": "pg", "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0",
           "g": str(int(time.time() * 1000)), "h": "0", "i": ""}  # fmt: skip
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body)


def _until(fn: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def admin(ns: str, *argv: str, creds: tuple[str, str] | None = ADMIN) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = ["--access-key", creds[0], "--secret-key", creds[1]] if creds else []
    code = admin_main([argv[0], "-n", ns, *extra, *argv[1:]], out, err)
    return code, out.getvalue(), err.getvalue()


def max_offsets(ns: str, topic: str) -> int:
    with MQAdmin(ns, access_key=ADMIN[0], secret_key=ADMIN[1]) as adm:
        return sum(o.max_offset for o in adm.topic_stats(topic).values())


def test_acl_on_our_broker(servers: ServerGroup, tmp_path: Path) -> None:
    ns_proc, broker, acl_file = start_acl_cluster(servers, tmp_path)
    ns, addr = ns_proc.addr, broker.addr

    # ---- admin codes need an admin account; the CLI signs with --access-key/--secret-key -------
    code, _out, err = admin(ns, "updateTopic", "-b", addr, "-t", "AclT", "-r", "2", "-w", "2", creds=None)
    assert (
        code == 1
        and f"{EXC}No accessKey is configured, {PPM}.validate(PlainPermissionManager.java:664)" in err
    )
    code, _out, err = admin(ns, "updateTopic", "-b", addr, "-t", "AclT", creds=APP)
    assert code == 1 and "Need admin permission for request code=17, but accessKey=appUser is not" in err
    for topic in ("AclT", "Forbidden"):
        code, out, err = admin(ns, "updateTopic", "-b", addr, "-t", topic, "-r", "2", "-w", "2")
        assert code == 0, err
    with MQAdmin(ns) as plain:
        _until(lambda: {"AclT", "Forbidden"} <= set(plain.topic_list()))

    # ---- our client with credentials sends and consumes ----------------------------------------
    cc = ClientConfig(poll_name_server_interval=1.0, heartbeat_broker_interval=2.0,
                      persist_consumer_offset_interval=0.5, access_key=APP[0], secret_key=APP[1])  # fmt: skip
    group = unique("AclG")
    got: list[MessageExt] = []

    def listen(msgs: list[MessageExt]) -> ConsumeResult:
        got.extend(msgs)
        return ConsumeResult.SUCCESS

    consumer = SyncPushConsumer(group, namesrv_addr=ns, client_config=cc, config=CONSUMER)
    consumer.subscribe("AclT")
    consumer.register_listener(listen)
    with SyncProducer(unique("AclP"), namesrv_addr=ns, client_config=cc) as producer:
        for i in range(5):
            assert producer.send(Message("AclT", f"m{i}".encode())).status.name == "SEND_OK"
    consumer.start()
    try:
        _until(lambda: len(got) >= 5, 60)
    finally:
        consumer.shutdown()
    assert sorted(m.body for m in got) == [f"m{i}".encode() for i in range(5)]
    # the template signs through the same client config; without credentials it is refused
    with RocketMQTemplate(unique("AclTpl"), namesrv_addr=ns, client_config=cc) as template:
        assert template.send("AclT", "from-template").status.name == "SEND_OK"
    anonymous = dataclasses.replace(cc, access_key="", secret_key="")
    with RocketMQTemplate(unique("AclTpl"), namesrv_addr=ns, client_config=anonymous) as template:
        with pytest.raises(MQBrokerError, match="No accessKey is configured"):
            template.send("AclT", "anonymous")

    # ---- rejections: code, remark, nothing stored, a log line ----------------------------------
    raw = BlockingRemotingClient()
    try:
        cases = [
            (sign_request(send_v2("AclT"), APP[0], "wrongSecret"), f"Check signature failed for accessKey={APP[0]}, {PPM}.validate(PlainPermissionManager.java:684)"),
            (sign_request(send_v2("AclT"), "nobodyHere", "whatever1"), f"No acl config for nobodyHere, {PPM}.validate(PlainPermissionManager.java:668)"),
            (sign_request(send_v2("Forbidden"), *APP), f"No default permission for topic:Forbidden, {PPM}.checkPerm(PlainPermissionManager.java:611)"),
            (sign_request(send_v2("Unlisted"), *APP), f"No default permission for topic:Unlisted, {PPM}.checkPerm(PlainPermissionManager.java:606)"),
            (sign_request(RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": "AclT"}), *APP),
             f"Need admin permission for request code=215, but accessKey={APP[0]} is not, {PPM}.checkPerm(PlainPermissionManager.java:581)"),
            (send_v2("AclT"), f"No accessKey is configured, {PPM}.validate(PlainPermissionManager.java:664)"),
        ]  # fmt: skip
        for request, reason in cases:
            resp = raw.invoke(addr, request, 5.0)
            assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, EXC + reason)
        assert max_offsets(ns, "AclT") == 6 and max_offsets(ns, "Forbidden") == 0
        log_text = broker.stdout_path.read_text() + broker.stderr_path.read_text()
        assert (
            "acl rejected request" in log_text and "Check signature failed for accessKey=appUser" in log_text
        )

        # ---- 10,000 forged requests over the wire: none accepted --------------------------------
        assert asyncio.run(_fuzz(addr, 10_000)) == 0
        assert max_offsets(ns, "AclT") == 6

        # ---- hot reload: white-list 127.0.0.1 globally, then unsigned sends pass ------------------
        acl_file.write_text(acl_yml(white="127.0.0.1"))
        _until(lambda: raw.invoke(addr, send_v2("Forbidden"), 5.0).code == ResponseCode.SUCCESS, 15)
        acl_file.write_text(acl_yml())
        _until(lambda: raw.invoke(addr, send_v2("Forbidden"), 5.0).code == ResponseCode.SYSTEM_ERROR, 15)
    finally:
        raw.close()

    # ---- ACL admin commands -------------------------------------------------------------------
    code, out, err = admin(ns, "updateAclConfig", "-b", addr, "-a", "newUser1", "-s", "newSecret1",
                           "-i", "PUB", "-t", "Forbidden=PUB")  # fmt: skip
    assert code == 0 and f"create or update plain access config to {addr} success." in out, err
    c2 = BlockingRemotingClient()
    try:
        assert c2.invoke(addr, sign_request(send_v2("Forbidden"), "newUser1", "newSecret1"), 5.0).code == 0
    finally:
        c2.close()
    code, out, _ = admin(ns, "clusterAclConfigVersion", "-b", addr)
    assert code == 0 and "broker-a" in out and '"counter":1' in out
    code, out, _ = admin(ns, "deleteAclConfig", "-b", addr, "-a", "newUser1")
    assert code == 0 and "account's accessKey is:newUser1" in out
    code, _, err = admin(ns, "updateAclConfig", "-b", addr, "-a", "short", "-s", "x")
    assert code == 1 and "CODE: 209" in err and "length should longer than 6" in err
    code, out, _ = admin(ns, "updateGlobalWhiteAddr", "-b", addr, "-g", "10.10.10.*,127.0.0.2")
    assert code == 0 and "update global white remote addresses" in out
    assert "127.0.0.2" in acl_file.read_text()


async def _fuzz(addr: str, n: int) -> int:
    """Send ``n`` forged variants of a valid signed send, 200 in flight; count the accepted ones."""
    rng = random.Random(7)
    good = sign_request(send_v2("AclT", b"original"), *APP)
    client = RemotingClient()

    def forged(i: int) -> RemotingCommand:
        ext = dict(good.ext_fields or {})
        body = b"original"
        kind = i % 5
        if kind == 0:
            ext.pop("Signature")
            ext.pop("AccessKey")
        elif kind == 1:
            ext["Signature"] = "".join(rng.choice("ABCDEFabcdef0123456789+/") for _ in range(27)) + "="
        elif kind == 2:
            key = rng.choice([k for k in ext if k not in ("Signature", "AccessKey")])
            ext[key] += rng.choice("xyz9")
        elif kind == 3:
            body = b"original" + bytes([rng.randrange(256)])
        else:
            return sign_request(
                send_v2("AclT", body), rng.choice([APP[0], ADMIN[0]]), f"guess{rng.randrange(10**6)}"
            )
        return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body)

    accepted = 0
    sem = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        nonlocal accepted
        async with sem:
            resp = await client.invoke(addr, forged(i), 30.0)
            if resp.code != ResponseCode.SYSTEM_ERROR:
                accepted += 1

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await client.close()
    return accepted
