"""Dashboard pages through the Django test client, against the plugin's real NameServer + broker."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.django.dashboard_support import (
    DeadLetteringGroup,
    commit_offsets,
    send,
    wait_dead_letter,
    wait_indexed,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.django_db]


@pytest.fixture
def namesrv(rocketmq_cluster: Any, settings: Any) -> str:
    settings.ROCKETMQ = {**settings.ROCKETMQ, "NAME_SERVER": rocketmq_cluster.namesrv_addr}
    return str(rocketmq_cluster.namesrv_addr)


@pytest.fixture
def staff(client: Client) -> Client:
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def dead_unreachable(settings: Any) -> Iterator[None]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        settings.ROCKETMQ = {**settings.ROCKETMQ, "NAME_SERVER": f"127.0.0.1:{s.getsockname()[1]}"}
        settings.ROCKETMQ_DASHBOARD = {"TIMEOUT": 2.0}
        yield


PAGES = [
    ("overview", []),
    ("topics", []),
    ("topic", ["SomeTopic"]),
    ("groups", []),
    ("group", ["some_group"]),
    ("dlq", ["some_group"]),
    ("messages", []),
    ("message", ["SomeTopic", "0A0B0C0D00002A9F0000000000000001"]),
    ("trace", ["0A0B0C0D00002A9F0000000000000001"]),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(
    client: Client, name: str, args: list[str]
) -> None:
    url = reverse(f"rocketmq_dashboard:{name}", args=args)
    resp = client.get(url)
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("admin:login"))
    client.force_login(User.objects.create_user("shopper", password="pw", is_staff=False))
    resp = client.get(url)
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("admin:login"))


def test_resend_needs_post_and_staff(client: Client) -> None:
    url = reverse("rocketmq_dashboard:dlq_resend", args=["g"])
    assert client.post(url, {"offset_msg_id": "x"}).status_code == 302  # to the login page
    client.force_login(User.objects.create_user("ops2", password="pw", is_staff=True))
    assert client.get(url).status_code == 405


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_unreachable_name_server_gives_a_message_not_a_500(
    staff: Client, dead_unreachable: None, name: str, args: list[str]
) -> None:
    resp = staff.get(reverse(f"rocketmq_dashboard:{name}", args=args), {"msg_id": "AB" * 16})
    assert resp.status_code == 503
    assert b"cannot read from the cluster" in resp.content


def test_staff_sees_brokers_topics_groups_lag_and_finds_messages(
    staff: Client, namesrv: str, rocketmq_cluster: Any, settings: Any
) -> None:
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DashView"), queues=2)
    group = rocketmq_cluster.unique("dash_view_g")
    ids = [send(namesrv, topic, f"order {i}".encode(), f"key-{i}") for i in range(4)]
    send(namesrv, topic, b"<script>document.title='pwned'</script>", "xss-key")
    send(namesrv, topic, bytes(range(0, 256, 7)), "bin-key")
    # the group exists once a member heartbeats; then it commits offset 1 per queue: lag = 6 - 2
    DeadLetteringGroup(namesrv, topic, group, set()).shutdown()
    commit_offsets(namesrv, topic, group, 1)

    page = staff.get(reverse("rocketmq_dashboard:overview")).content.decode()
    assert rocketmq_cluster.broker_addr in page and "V4_9_8" in page
    # a comma-separated list with a dead first NameServer: the live one answers
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        settings.ROCKETMQ = {
            **settings.ROCKETMQ,
            "NAME_SERVER": f"127.0.0.1:{dead.getsockname()[1]},{namesrv}",
        }
        assert (
            rocketmq_cluster.broker_addr in staff.get(reverse("rocketmq_dashboard:overview")).content.decode()
        )
    settings.ROCKETMQ = {**settings.ROCKETMQ, "NAME_SERVER": namesrv}

    page = staff.get(reverse("rocketmq_dashboard:topics")).content.decode()
    assert topic in page and "TBW102" not in page
    assert "TBW102" in staff.get(reverse("rocketmq_dashboard:topics"), {"system": "1"}).content.decode()

    page = staff.get(reverse("rocketmq_dashboard:topic", args=[topic])).content.decode()
    assert "6 stored messages" in page
    assert re.search(rf">{group}</a></td>\s*<td class=\"num\">\d+</td><td class=\"num rmq-lag\">4<", page)

    page = staff.get(reverse("rocketmq_dashboard:groups")).content.decode()
    assert re.search(rf'data-group="{group}">4<', page)
    page = staff.get(reverse("rocketmq_dashboard:group", args=[group])).content.decode()
    assert 'id="rmq-total-lag">4<' in page

    wait_indexed(namesrv, topic, "key-2")
    page = staff.get(
        reverse("rocketmq_dashboard:messages"), {"topic": topic, "key": "key-2"}
    ).content.decode()
    assert ids[2] in page and ids[1] not in page
    page = staff.get(reverse("rocketmq_dashboard:messages"), {"msg_id": ids[3]}).content.decode()
    assert reverse("rocketmq_dashboard:message", args=[topic, ids[3]]) in page
    page = staff.get(reverse("rocketmq_dashboard:messages"), {"key": "key-2"}).content.decode()
    assert "needs the topic" in page

    wait_indexed(namesrv, topic, "xss-key")
    found = staff.get(
        reverse("rocketmq_dashboard:messages"), {"topic": topic, "key": "xss-key"}
    ).content.decode()
    xss_id = re.search(r"/messages/[^/]+/([0-9A-F]{32})/", found)
    assert xss_id is not None
    page = staff.get(reverse("rocketmq_dashboard:message", args=[topic, xss_id.group(1)])).content.decode()
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<script>document.title" not in page

    wait_indexed(namesrv, topic, "bin-key")
    found = staff.get(
        reverse("rocketmq_dashboard:messages"), {"topic": topic, "key": "bin-key"}
    ).content.decode()
    bin_id = re.search(r"/messages/[^/]+/([0-9A-F]{32})/", found)
    assert bin_id is not None
    page = staff.get(reverse("rocketmq_dashboard:message", args=[topic, bin_id.group(1)])).content.decode()
    assert "shown as hex" in page and "00000000  00 07 0e 15" in page

    missing = staff.get(reverse("rocketmq_dashboard:message", args=[topic, "0" * 32]))
    assert missing.status_code == 404
    assert staff.get(reverse("rocketmq_dashboard:topic", args=["bad topic!"])).status_code == 400


def test_dlq_page_lists_the_dead_letter_and_resend_redelivers_it(
    staff: Client, namesrv: str, rocketmq_cluster: Any
) -> None:
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DashDlq"), queues=2)
    group = rocketmq_cluster.unique("dash_dlq_g")
    members = DeadLetteringGroup(namesrv, topic, group, {"poison"})
    try:
        msg_id = send(namesrv, topic, b"bad order", "poison", order="9")
        dead = wait_dead_letter(namesrv, group, msg_id)
        page = staff.get(reverse("rocketmq_dashboard:dlq", args=[group])).content.decode()
        assert msg_id in page and dead.offset_msg_id in page and topic in page
        assert (
            "dead-letter queue (1)"
            in staff.get(reverse("rocketmq_dashboard:group", args=[group])).content.decode()
        )

        members.failing.clear()
        resp = staff.post(
            reverse("rocketmq_dashboard:dlq_resend", args=[group]),
            {"offset_msg_id": dead.offset_msg_id},
            follow=True,
        )
        assert resp.status_code == 200
        assert f"Message {msg_id} was re-sent to {group}" in resp.content.decode()
        again = members.wait_delivery("poison", count=2)[-1]
        assert again.topic == topic and again.body == b"bad order" and again.properties["order"] == "9"

        resp = staff.post(
            reverse("rocketmq_dashboard:dlq_resend", args=[group]), {"offset_msg_id": "nothex"}, follow=True
        )
        assert "is not a broker message id" in resp.content.decode()
    finally:
        members.shutdown()


def test_trace_page_says_when_tracing_is_off(staff: Client, namesrv: str, settings: Any) -> None:
    settings.ROCKETMQ_DASHBOARD = {**settings.ROCKETMQ_DASHBOARD, "TRACE_TOPIC": "NoTraceTopicHere"}
    page = staff.get(reverse("rocketmq_dashboard:trace", args=["AB" * 16])).content.decode()
    assert "message trace is off" in page
