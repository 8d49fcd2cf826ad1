"""Broker queue locks of an orderly clustering consumer (remoting spec §4.6, storage spec §3.8).

The broker grants a queue to one client id of a group for 60 s per LOCK_BATCH_MQ; the consumer
renews every queue it owns every ``lock_renew_interval`` (20 s), one request per broker, and marks
each ProcessQueue locked or not from the answer. A queue is locked before it is added by the
rebalancer and unlocked (UNLOCK_BATCH_MQ) only after its last listener call was settled and its
offset persisted, and at shutdown.
"""

from __future__ import annotations

import time
from collections import defaultdict

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.errors import ClientError
from rocketmq_integration.logging import get_logger

__all__ = ["QueueLocker"]

log = get_logger(__name__)


class QueueLocker:
    """LOCK/UNLOCK_BATCH_MQ for one group; see the module docstring."""

    def __init__(self, client: MQClientInstance, group: str) -> None:
        self.client = client
        self.group = group
        self._log = log.bind(group=group)

    async def lock(self, mq: MessageQueue) -> bool:
        """Lock (or renew) one queue; ``False`` if another client holds it or the broker is unreachable."""
        addr = self.client.broker_addr(mq.broker_name)
        if addr is None:
            return False
        try:
            granted = await self.client.api.lock_batch_mq(addr, self.group, self.client.client_id, [mq])
        except ClientError as exc:
            self._log.warning("lock request failed", mq=str(mq), error=str(exc))
            return False
        return mq in granted

    async def lock_all(self, table: dict[MessageQueue, ProcessQueue]) -> None:
        """Renew every owned queue, one request per broker, and record the outcome on each queue."""
        by_broker: dict[str, list[MessageQueue]] = defaultdict(list)
        for mq, pq in table.items():
            if not pq.dropped:
                by_broker[mq.broker_name].append(mq)
        for broker_name, mqs in by_broker.items():
            addr = self.client.broker_addr(broker_name)
            if addr is None:
                continue
            try:
                granted = await self.client.api.lock_batch_mq(addr, self.group, self.client.client_id, mqs)
            except ClientError as exc:
                self._log.warning("lock renewal failed", broker=broker_name, error=str(exc))
                continue
            now = time.monotonic()
            for mq in mqs:
                queue = table.get(mq)
                if queue is None or queue.dropped:
                    continue
                if mq in granted:
                    queue.locked, queue.last_lock_timestamp = True, now
                elif queue.locked:
                    self._log.warning("queue lock lost", mq=str(mq))
                    queue.locked = False

    async def unlock(self, mqs: list[MessageQueue]) -> None:
        by_broker: dict[str, list[MessageQueue]] = defaultdict(list)
        for mq in mqs:
            by_broker[mq.broker_name].append(mq)
        for broker_name, group_mqs in by_broker.items():
            addr = self.client.broker_addr(broker_name)
            if addr is None:
                continue
            try:
                await self.client.api.unlock_batch_mq(addr, self.group, self.client.client_id, group_mqs)
            except ClientError as exc:
                self._log.warning(
                    "unlock failed; the broker lease will expire", broker=broker_name, error=str(exc)
                )
