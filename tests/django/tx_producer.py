"""Sends one transactional message whose local transaction kills this process (see testapp.tx).

Usage: ``python tx_producer.py PRODUCER_GROUP TOPIC ORDER MODE`` with ``DJANGO_SETTINGS_MODULE``,
``ROCKETMQ_TEST_NAMESRV`` and ``ROCKETMQ_TEST_DB`` set.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django

django.setup()

from rocketmq_integration.django import get_template  # noqa: E402
from tests.django.testapp.tx import register  # noqa: E402

group, topic, order, mode = sys.argv[1:5]
register(group, topic)
print("sending", flush=True)
get_template().send_in_transaction(topic, {"order": order, "mode": mode}, producer_group=group)
print("unexpected: still alive", flush=True)
sys.exit(3)
