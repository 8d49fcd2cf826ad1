"""ACL 1.0 validator: address patterns, decisions and Apache's rejection remarks, hot reload, fuzz."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from broker_core.broker.acl import (
    AclConfigError,
    AclDenied,
    PlainAccessValidator,
    PlainAclFiles,
    address_matcher,
)
from broker_core.remoting.body.heartbeat import ConsumerData, HeartbeatData, SubscriptionData
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import sign_request

EXC = "org.apache.rocketmq.acl.common.AclException: "
PPM = "org.apache.rocketmq.acl.plain.PlainPermissionManager"

ACL_YML = """\
globalWhiteRemoteAddresses:
  - 10.10.103.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
  - accessKey: rocketmq2
    secretKey: 87654321
    whiteRemoteAddress: 192.168.1.*
    admin: true
"""


@pytest.fixture
def validator(tmp_path: Path) -> PlainAccessValidator:
    path = tmp_path / "conf" / "plain_acl.yml"
    path.parent.mkdir()
    path.write_text(ACL_YML)
    return PlainAccessValidator(PlainAclFiles(path, path.parent / "acl"), watch_interval=0.05)


def send_v2(topic: str, group: str = "pg", body: bytes = b"hello") -> RemotingCommand:
    ext = {"a": group, "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "1", "h": "0", "i": ""}
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body)


def signed(cmd: RemotingCommand, ak: str = "RocketMQ", sk: str = "12345678") -> RemotingCommand:
    return sign_request(cmd, ak, sk)


def denied(v: PlainAccessValidator, cmd: RemotingCommand, addr: str = "127.0.0.1:5555") -> str:
    with pytest.raises(AclDenied) as exc:
        v.validate(cmd, addr)
    return exc.value.remark


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("*", ["1.2.3.4", "::1"], []),
        ("", [], ["1.2.3.4"]),
        ("192.168.1.{1,2,3}", ["192.168.1.2"], ["192.168.1.4", "192.168.2.2"]),
        ("192.168.1.1,192.168.1.9", ["192.168.1.9"], ["192.168.1.2"]),
        ("192.168.*.*", ["192.168.0.1", "192.168.255.3"], ["192.169.0.1"]),
        ("192.168.1.*", ["192.168.1.77"], ["192.168.2.77"]),
        ("192.168.1.1-100", ["192.168.1.1", "192.168.1.100"], ["192.168.1.101", "192.168.1.0"]),
        ("192.168.1-10.*", ["192.168.5.200"], ["192.168.11.1"]),
        ("127.0.0.1", ["127.0.0.1"], ["127.0.0.2"]),
        ("::1", ["0:0:0:0:0:0:0:1"], ["::2"]),
        ("1050:0:0:0:5:600:300c:*", ["1050::5:600:300c:326b"], ["1050::6:600:300c:326b"]),
    ],
)
def test_address_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    match = address_matcher(pattern)
    assert all(match(a) for a in yes)
    assert not any(match(a) for a in no)


@pytest.mark.parametrize(
    "bad", ["192.168.1.-5", "192.168.1.300-400", "10.1.1.1.1", "192.168.{1,2}", "not-an-ip"]
)
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(AclConfigError):
        address_matcher(bad)


def test_allowed_requests(validator: PlainAccessValidator) -> None:
    validator.validate(signed(send_v2("topicB")), "127.0.0.1:1")
    validator.validate(send_v2("anything"), "10.10.103.7:1")  # global white list: no signature needed
    # account white address: rocketmq2 from 192.168.1.x needs no signature
    unsigned = send_v2("topicA")
    unsigned.ext_fields["AccessKey"] = "rocketmq2"  # type: ignore[index]
    validator.validate(unsigned, "192.168.1.20:4000")
    # trace topic PUB is always allowed for a signed account
    validator.validate(signed(send_v2("RMQ_SYS_TRACE_TOPIC")), "127.0.0.1:1")
    # admin account with no resource lists may do anything
    admin_req = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, {"topic": "X"})
    validator.validate(signed(admin_req, "rocketmq2", "87654321"), "127.0.0.1:1")


def test_rejections_carry_apache_remarks(validator: PlainAccessValidator) -> None:
    assert (
        denied(validator, send_v2("topicB"))
        == f"{EXC}No accessKey is configured, {PPM}.validate(PlainPermissionManager.java:664)"
    )
    assert denied(validator, signed(send_v2("topicB"), "Unknown1", "12345678")) == (
        f"{EXC}No acl config for Unknown1, {PPM}.validate(PlainPermissionManager.java:668)"
    )
    assert denied(validator, signed(send_v2("topicB"), sk="wrong-secret")) == (
        f"{EXC}Check signature failed for accessKey=RocketMQ, {PPM}.validate(PlainPermissionManager.java:684)"
    )
    assert denied(validator, signed(send_v2("topicA"))) == (
        f"{EXC}No default permission for topic:topicA, {PPM}.checkPerm(PlainPermissionManager.java:611)"
    )
    assert denied(validator, signed(send_v2("unlisted"))) == (
        f"{EXC}No default permission for topic:unlisted, {PPM}.checkPerm(PlainPermissionManager.java:606)"
    )
    create = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, {"topic": "X"})
    assert denied(validator, signed(create)) == (
        f"{EXC}Need admin permission for request code=17, but accessKey=RocketMQ is not, "
        f"{PPM}.checkPerm(PlainPermissionManager.java:581)"
    )
    pull = RemotingCommand.request(RequestCode.PULL_MESSAGE, {"topic": "topicC", "consumerGroup": "groupA"})
    assert denied(validator, signed(pull)).startswith(f"{EXC}No default permission for group:groupA, ")


def test_heartbeat_resources(validator: PlainAccessValidator) -> None:
    hb = HeartbeatData(
        "cid", consumers=[ConsumerData("groupB", subscriptions=[SubscriptionData.build("topicA", "*", 1)])]
    )
    cmd = RemotingCommand.request(RequestCode.HEART_BEAT, {}, hb.encode())
    assert "No default permission for topic:topicA" in denied(validator, signed(cmd))
    hb.consumers[0].subscriptions = [SubscriptionData.build("topicC", "*", 1)]
    validator.validate(
        signed(RemotingCommand.request(RequestCode.HEART_BEAT, {}, hb.encode())), "127.0.0.1:1"
    )
    bad = RemotingCommand.request(RequestCode.HEART_BEAT, {}, b"{not json")
    assert "PlainAccessValidator.parse(PlainAccessValidator.java:134)" in denied(validator, signed(bad))


def test_guard_answers_system_error(validator: PlainAccessValidator) -> None:
    resp = validator.guard(send_v2("topicB"), "127.0.0.1:1")
    assert resp is not None and resp.code == ResponseCode.SYSTEM_ERROR
    assert resp.remark is not None and resp.remark.endswith("PlainPermissionManager.java:664)")
    assert validator.guard(signed(send_v2("topicB")), "127.0.0.1:1") is None
    assert validator.rejected == 1


def test_hot_reload_and_admin_edits(validator: PlainAccessValidator, tmp_path: Path) -> None:
    path = validator.files.main_file
    assert not validator.reload_if_changed()
    path.write_text(ACL_YML.replace("10.10.103.*", "127.0.0.*"))
    _touch_later(path)
    assert validator.reload_if_changed()
    validator.validate(send_v2("x"), "127.0.0.1:1")  # now globally white-listed
    # a broken file keeps the previous rules
    path.write_text("accounts: [ {accessKey: short, secretKey: x} ]")
    _touch_later(path)
    assert not validator.reload_if_changed()
    validator.validate(send_v2("x"), "127.0.0.1:1")
    path.write_text(ACL_YML)
    _touch_later(path)
    assert validator.reload_if_changed()
    validator.update_account({"accessKey": "newAccount", "secretKey": "newSecret1", "defaultTopicPerm": "PUB",
                              "topicPerms": ["t1=SUB"], "admin": False})  # fmt: skip
    validator.validate(signed(send_v2("other"), "newAccount", "newSecret1"), "127.0.0.1:1")
    assert "topic:t1" in denied(validator, signed(send_v2("t1"), "newAccount", "newSecret1"))
    assert validator.snapshot.versions[str(path)]["counter"] == 1
    with pytest.raises(AclConfigError, match="length should longer than 6"):
        validator.update_account({"accessKey": "short", "secretKey": "x"})
    with pytest.raises(AclConfigError, match="The expected permissions are"):
        validator.update_account(
            {"accessKey": "newAccount", "secretKey": "newSecret1", "topicPerms": ["t=ALL"]}
        )
    assert validator.delete_account("newAccount") and not validator.delete_account("newAccount")
    assert "No acl config for newAccount" in denied(
        validator, signed(send_v2("other"), "newAccount", "newSecret1")
    )
    validator.update_global_white(["127.0.0.1"], None)
    validator.validate(send_v2("x"), "127.0.0.1:9")
    assert json.loads(validator.version_json())["counter"] == 3


def test_acl_folder_is_loaded_first(tmp_path: Path) -> None:
    main = tmp_path / "plain_acl.yml"
    main.write_text(ACL_YML)
    (tmp_path / "acl").mkdir()
    (tmp_path / "acl" / "more.yml").write_text(
        "accounts:\n  - accessKey: RocketMQ\n    secretKey: otherSecret\n  - accessKey: extraUser\n    secretKey: extraSecret\n    defaultTopicPerm: PUB\n"
    )
    v = PlainAccessValidator(PlainAclFiles(main, tmp_path / "acl"))
    # Apache loads conf/acl/ first: its RocketMQ account (other secret, default perms DENY) wins
    assert "Check signature failed" in denied(v, signed(send_v2("topicB")))
    v.validate(signed(send_v2("topicB"), "RocketMQ", "otherSecret"), "10.10.103.1:1")
    v.validate(signed(send_v2("z"), "extraUser", "extraSecret"), "127.0.0.1:1")


def _touch_later(path: Path) -> None:
    """Make sure the mtime differs from the previous write on coarse-timestamp file systems."""
    import os

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 + int(time.time() % 1 * 1e9)))


def test_fuzz_forged_requests_never_pass(validator: PlainAccessValidator) -> None:
    """10,000 forged, unsigned, tampered and replayed-with-another-body requests: none accepted."""
    rng = random.Random(12)
    good = signed(send_v2("topicB", body=b"original"))
    accepted = 0
    for i in range(10_000):
        kind = i % 5
        ext = dict(good.ext_fields or {})
        body: bytes | None = b"original"
        if kind == 0:  # unsigned
            ext.pop("Signature")
            ext.pop("AccessKey")
        elif kind == 1:  # random signature
            ext["Signature"] = "".join(rng.choice("ABCDEFGHabcdefgh0123456789+/") for _ in range(27)) + "="
        elif kind == 2:  # tamper one field
            key = rng.choice([k for k in ext if k not in ("Signature", "AccessKey")])
            ext[key] = ext[key] + rng.choice("xyz1")
        elif kind == 3:  # replay with another body
            body = b"original" + bytes([rng.randrange(256)])
        else:  # signed with a guessed secret or another account's key
            cmd = send_v2(rng.choice(["topicB", "topicA", "x"]), body=b"original")
            sign_request(cmd, rng.choice(["RocketMQ", "rocketmq2"]), f"guess{rng.randrange(10**6)}")
            ext = dict(cmd.ext_fields or {})
        try:
            validator.validate(RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body), "127.0.0.1:1")
            accepted += 1
        except AclDenied:
            pass
    assert accepted == 0
