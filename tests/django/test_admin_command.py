"""``manage.py rocketmq_admin``: every operation through ``call_command`` against the real broker,
and the subprocess exit statuses."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.django.helpers import ManagePy
from tests.support.net import free_port


def admin(cluster: Any, *args: str) -> Any:
    out = io.StringIO()
    call_command("rocketmq_admin", "--namesrv", cluster.namesrv_addr, "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_every_operation(rocketmq_cluster: Any, rocketmq_listeners: Any) -> None:
    c = rocketmq_cluster
    topic = c.unique("DjAdmin")
    master = c.broker_addr or admin(c, "cluster_list")[0]["addr"]  # (an external cluster: ask it)
    assert admin(c, "update_topic", topic, "--read-queues", "2", "--write-queues", "2") == [
        {"topic": topic, "updated": master}
    ]
    from rocketmq_integration.pytest_plugin import _run

    async def wait_route() -> None:
        from rocketmq_integration.client import Admin

        async with Admin(c.namesrv_addr) as a:
            await a.wait_for_route(topic, timeout=20)

    _run(wait_route())
    assert {"topic": topic} in admin(c, "topic_list")
    route = admin(c, "topic_route", topic)
    assert route[0]["read_queues"] == 2 and master in route[0]["addrs"]
    assert admin(c, "cluster_list")[0]["addr"] == master
    assert any(r["key"] == "msgPutTotalTodayNow" for r in admin(c, "broker_status"))

    sent = admin(c, "send_message", topic, "<b>hello</b>", "--tags", "TagA", "--keys", "admin-key")
    assert sent[0]["status"] == "SEND_OK"
    status = admin(c, "topic_status", topic)
    assert sum(r["max_offset"] for r in status) == 1
    by_key = admin(c, "query_msg_by_key", topic, "admin-key")
    assert [(m["body"], m["tags"], m["msg_id"]) for m in by_key] == [
        ("<b>hello</b>", "TagA", sent[0]["msg_id"])
    ]
    by_uniq = admin(c, "query_msg_by_id", sent[0]["msg_id"], "--topic", topic)
    assert by_uniq[0]["keys"] == "admin-key"
    by_offset_id = admin(c, "query_msg_by_id", by_key[0]["offset_msg_id"])
    assert by_offset_id[0]["msg_id"] == sent[0]["msg_id"]

    group = c.unique("DjAdminG")
    from rocketmq_integration.pytest_plugin import MessageCollector

    got = MessageCollector()
    rocketmq_listeners.run(got, topic=topic, consumer_group=group)
    got.wait_for(1)
    assert {"group": group, "consume_enable": True} in admin(c, "group_list")
    conn = admin(c, "consumer_connection", group)
    assert conn and conn[0]["model"] == "CLUSTERING" and topic in conn[0]["subscriptions"]
    progress = admin(c, "consumer_progress", group, "--topic", topic)
    assert sum(r["broker_offset"] for r in progress) == 1
    assert admin(c, "check") == [{"namesrv": c.namesrv_addr, "status": "ok"}]
    names = {r["name"]: r for r in admin(c, "list_listeners")}
    assert names["testapp.record"]["runs"] is True


def test_table_output_and_unreachable_namesrv() -> None:
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(CommandError) as info:
        call_command("rocketmq_admin", "--namesrv", dead, "--timeout", "1", "topic_list")
    assert info.value.returncode == 1
    out = io.StringIO()
    call_command("rocketmq_admin", "list_listeners", stdout=out)
    assert out.getvalue().splitlines()[0].split()[:3] == ["NAME", "TOPIC", "GROUP"]


def test_manage_py_exit_statuses(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    proc = ManagePy(tmp_path, "rocketmq_admin", "--namesrv", dead, "--timeout", "1", "check")
    assert proc.wait() == 1, proc.output()
    assert "does not answer" in proc.output()
    proc = ManagePy(tmp_path, "rocketmq_admin", "no_such_operation")
    assert proc.wait() != 0
    assert "invalid choice" in proc.output()
