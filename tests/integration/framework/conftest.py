"""Framework-layer end-to-end tests use the ``rocketmq`` pytest plugin's session cluster.

Every delay level is 1 s so retry, ``ReconsumeLater`` and DLQ paths finish within seconds; SQL92
filtering is on; half messages are checked back after 1 s.
"""

from __future__ import annotations

from typing import Any

import pytest

FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture(scope="session")
def rocketmq_broker_conf() -> dict[str, Any]:
    return {
        "messageDelayLevel": FAST_LEVELS,
        "mapedFileSizeCommitLog": 8 * 1024 * 1024,
        "enablePropertyFilter": "true",
        "transactionTimeOut": 1000,
        "transactionCheckInterval": 1000,
    }
