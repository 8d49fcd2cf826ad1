"""SYNC_MASTER + SYNC_FLUSH under continuous load: SIGKILL the master, ten rounds (issue 11, #1).

Every message answered SEND_OK must be readable from the slave right after the kill; the restarted
master recovers, the slave reconnects and resumes from its own end, and at the end the two commit
logs are byte-identical up to the slave's max offset with every message stored exactly once.
"""

from __future__ import annotations

import threading
import time

import pytest

from broker_core.errors import BrokerCoreError
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import ResponseCode
from tests.integration.ha.helpers import (
    commit_log_bytes,
    read_queue,
    runtime_max_offset,
    send,
    start_master,
    start_slave,
    wait_for,
)
from tests.support import admin
from tests.support.cluster import ServerGroup

ROUNDS = 10
TOPIC = "HaKill"


class LoadProducer(threading.Thread):
    """Sends unique bodies to the master without pause; keeps the ones answered SEND_OK."""

    def __init__(self, addr: str, topic: str = TOPIC, prefix: str = "k") -> None:
        super().__init__(daemon=True)
        self.addr = addr
        self.topic = topic
        self.prefix = prefix
        self.acked: list[bytes] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        client = BlockingRemotingClient()
        i = 0
        while not self.stopping.is_set():
            body = f"{self.prefix}-{i}".encode()
            i += 1
            try:
                resp = send(client, self.addr, self.topic, body)
            except (BrokerCoreError, OSError):
                client.close()
                client = BlockingRemotingClient()
                time.sleep(0.05)
                continue
            if resp.code == ResponseCode.SUCCESS:
                self.acked.append(body)
            elif resp.code in (ResponseCode.SLAVE_NOT_AVAILABLE, ResponseCode.FLUSH_SLAVE_TIMEOUT):
                time.sleep(0.02)
        client.close()


@pytest.mark.slow
def test_sigkill_sync_master_ten_rounds_loses_no_acknowledged_message(servers: ServerGroup) -> None:
    namesrv = servers.namesrv()
    conf = {"flushDiskType": "SYNC_FLUSH"}
    master = start_master(servers, namesrv, "SYNC_MASTER", conf)
    admin.create_topic(master.addr, TOPIC, queues=1)
    slave = start_slave(servers, namesrv, conf)
    reader = BlockingRemotingClient()
    producer = LoadProducer(master.addr)
    producer.start()
    try:
        for round_no in range(ROUNDS):
            before = len(producer.acked)
            wait_for(lambda b=before: len(producer.acked) >= b + 20, 60, f"acks in round {round_no}")  # type: ignore[misc]
            master.kill()
            acked = set(producer.acked)
            on_slave = wait_for(
                lambda a=acked: (
                    (q := read_queue(reader, slave.addr, TOPIC, 0)) is not None  # type: ignore[misc]
                    and a <= set(q)
                    and q
                ),
                30,
                f"acknowledged messages on the slave after kill {round_no}",
            )
            assert len(on_slave) == len(set(on_slave))
            master.restart()
        producer.stopping.set()
        producer.join(30)
        end = wait_for(
            lambda: (m := runtime_max_offset(master.addr)) == runtime_max_offset(slave.addr) and m,
            30,
            "slave caught up with the restarted master",
        )
        bodies = wait_for(
            lambda: (
                (q := read_queue(reader, slave.addr, TOPIC, 0)) is not None
                and set(producer.acked) <= set(q)
                and q
            ),
            30,
            "every acknowledged message on the slave",
        )
        assert len(bodies) == len(set(bodies)), "a message is stored twice"
        assert len(producer.acked) >= ROUNDS * 20
    finally:
        producer.stopping.set()
        reader.close()
    slave.stop()
    master.stop()
    assert master.store_dir is not None and slave.store_dir is not None
    assert commit_log_bytes(slave.store_dir, end) == commit_log_bytes(master.store_dir, end)
