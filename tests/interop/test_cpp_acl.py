"""The official C++ client (PyPI rocketmq 0.4.4) with ACL credentials against our broker with
``aclEnable=true``: the allowed account produces and consumes, a wrong secret is refused."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from broker_core.admin.cli import main as admin_main
from broker_core.admin.client import MQAdmin
from tests.integration.test_acl import ADMIN, APP, start_acl_cluster
from tests.support.cluster import ServerGroup
from tests.support.cpp import CppRunner

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


def test_cpp_client_signs_and_is_checked(servers: ServerGroup, tmp_path: Path, cpp: CppRunner) -> None:
    ns_proc, broker, _acl = start_acl_cluster(servers, tmp_path)
    ns = ns_proc.addr
    out, err = io.StringIO(), io.StringIO()
    argv = ["updateTopic", "-n", ns, "--access-key", ADMIN[0], "--secret-key", ADMIN[1], "-b", broker.addr,
            "-t", "AclT", "-r", "2", "-w", "2"]  # fmt: skip
    assert admin_main(argv, out, err) == 0, err.getvalue()
    with MQAdmin(ns) as adm:
        deadline = time.monotonic() + 30
        while "AclT" not in adm.topic_list():
            assert time.monotonic() < deadline
            time.sleep(0.2)

    produced = cpp.run("produce", namesrv=ns, topic="AclT", group="cpp_acl_pg", count=5,
                       access_key=APP[0], secret_key=APP[1], deadline=90)  # fmt: skip
    assert produced.returncode == 0, produced.describe()
    consumed = cpp.run("consume", namesrv=ns, topic="AclT", group="cpp_acl_cg", expect=5, timeout=60,
                       access_key=APP[0], secret_key=APP[1])  # fmt: skip
    assert consumed.returncode == 0, consumed.describe()
    assert len({m["msg_id"] for m in consumed.messages}) == 5

    forged = cpp.run("produce", namesrv=ns, topic="AclT", group="cpp_acl_bad", count=1, first_send_timeout=2,
                     retries=0, access_key=APP[0], secret_key="wrongSecret", deadline=60)  # fmt: skip
    assert forged.returncode == 1 and forged.summary is not None and forged.summary["sent"] == 0, (
        forged.describe()
    )
    with MQAdmin(ns, access_key=ADMIN[0], secret_key=ADMIN[1]) as adm:
        assert sum(o.max_offset for o in adm.topic_stats("AclT").values()) == 5
    log_text = broker.stdout_path.read_text() + broker.stderr_path.read_text()
    assert "Check signature failed for accessKey=appUser" in log_text
