"""Listeners of the Django tests, discovered by ``AppConfig.ready``.

Topic and group come from ``ROCKETMQ_TEST_TOPIC`` / ``ROCKETMQ_TEST_GROUP`` so a ``manage.py``
subprocess can point them at a fresh topic; each received message is appended (one line of
``payload``) to the file named by ``ROCKETMQ_TEST_RECEIVED`` when set. With
``ROCKETMQ_TEST_SLOW`` (seconds) the handler first appends the payload to
``ROCKETMQ_TEST_STARTED`` and then takes that long, so a test can stop the worker mid-message.
"""

from __future__ import annotations

import os
import threading
import time

from rocketmq_integration.listeners import ConsumeFrom, rocketmq_listener

TOPIC = os.environ.get("ROCKETMQ_TEST_TOPIC", "DjangoTestTopic")
GROUP = os.environ.get("ROCKETMQ_TEST_GROUP", "DjangoTestGroup")
_lock = threading.Lock()


@rocketmq_listener(
    topic=TOPIC, consumer_group=GROUP, name="testapp.record", consume_from=ConsumeFrom.FIRST_OFFSET
)
def record(payload: object) -> None:
    """Append the payload to the ``ROCKETMQ_TEST_RECEIVED`` file."""
    slow = float(os.environ.get("ROCKETMQ_TEST_SLOW", "0"))
    if slow:
        with _lock, open(os.environ["ROCKETMQ_TEST_STARTED"], "a", encoding="utf-8") as f:
            f.write(f"{payload}\n")
        time.sleep(slow)  # a long-running handler, on purpose
    path = os.environ.get("ROCKETMQ_TEST_RECEIVED")
    if path:
        with _lock, open(path, "a", encoding="utf-8") as f:
            f.write(f"{payload}\n")
