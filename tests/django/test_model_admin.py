"""The app's ``django.contrib.admin`` pages: outbox list and detail (escaped/hex bodies) and the
"send again" / "send now" actions; read-only transaction records and idempotency keys."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from rocketmq_integration.django.db import send_via_outbox
from rocketmq_integration.django.models import IdempotencyKey, OutboxMessage, TransactionRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client: Client) -> Client:
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_outbox_pages_escape_text_and_show_binary_as_hex(staff: Client) -> None:
    text = send_via_outbox("T1", "<script>alert(1)</script>")
    binary = send_via_outbox("T1", b"\xff\x00\xfe")
    listing = staff.get("/admin/rocketmq/outboxmessage/?state=pending")
    assert listing.status_code == 200
    assert f"/admin/rocketmq/outboxmessage/{text.pk}/change/" in listing.content.decode()
    page = staff.get(f"/admin/rocketmq/outboxmessage/{text.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    page = staff.get(f"/admin/rocketmq/outboxmessage/{binary.pk}/change/").content.decode()
    assert "hex:ff00fe" in page


def test_send_again_and_send_now_actions(staff: Client, rocketmq_cluster: Any) -> None:
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("DjAdminOutbox"))
    with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
        rows = [send_via_outbox(topic, {"n": i}, hash_key="k") for i in range(3)]
        url = "/admin/rocketmq/outboxmessage/"
        resp = staff.post(url, {"action": "send_now", "_selected_action": [rows[1].pk]}, follow=True)
        assert "2 message(s) sent." in resp.content.decode()  # row 0 goes first, keeping the key's order
        assert list(OutboxMessage.objects.filter(sent_at__isnull=True).values_list("pk", flat=True)) == [
            rows[2].pk
        ]
        resp = staff.post(url, {"action": "send_again", "_selected_action": [rows[0].pk]}, follow=True)
        assert "1 message(s) marked pending." in resp.content.decode()
        assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 2


def test_records_and_keys_are_read_only(staff: Client) -> None:
    record = TransactionRecord.objects.create(transaction_id="tx-1", producer_group="g", topic="t")
    key = IdempotencyKey.objects.create(group="g", key="k", done=True, expires_at=1e12)
    assert staff.get("/admin/rocketmq/transactionrecord/").status_code == 200
    assert staff.get("/admin/rocketmq/transactionrecord/add/").status_code == 403
    assert staff.get("/admin/rocketmq/idempotencykey/add/").status_code == 403
    page = staff.get(f"/admin/rocketmq/transactionrecord/{record.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert staff.get(f"/admin/rocketmq/idempotencykey/{key.pk}/change/").status_code == 200


def test_non_staff_is_sent_to_the_login_page(client: Client) -> None:
    User.objects.create_user("joe", password="pw")
    client.login(username="joe", password="pw")
    resp = client.get("/admin/rocketmq/outboxmessage/")
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
