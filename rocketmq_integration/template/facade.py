"""``RocketMQTemplate``: the send flavours composed into one object, plus Spring-named aliases.

Every behaviour lives in a sibling module (``core``, ``sending``, ``request_reply``,
``transactional``, ``receive``); this class only combines them and adds rocketmq-spring's method
names so code ported from Spring reads the same.
"""

from __future__ import annotations

from typing import Any

from rocketmq_integration.client.results import SendResult
from rocketmq_integration.client.transaction import TransactionSendResult
from rocketmq_integration.template.receive import ReceiveOps
from rocketmq_integration.template.request_reply import RequestReplyOps
from rocketmq_integration.template.sending import SendCallback, SendingOps
from rocketmq_integration.template.transactional import TransactionOps

__all__ = ["RocketMQTemplate"]


class RocketMQTemplate(SendingOps, RequestReplyOps, TransactionOps, ReceiveOps):
    """Sends converted payloads; see the package docstring of ``rocketmq_integration.template``.

    Args:
        producer_group: group of the template's producer.
        namesrv_addr: NameServer list (``;``-separated); overrides ``client_config``.
        client_config: connection settings.
        producer_config: producer settings (retries, compression, max size).
        converter: converter instance or name (``default``, ``json``, ``str``, ``bytes``).
        send_timeout: default timeout of every send, in seconds.
        name: the template's name in a multi-cluster setup (see ``containers.get_template``).
    """

    # ------------------------------------------------------------------ Spring-parity aliases

    def sync_send(self, destination: str, payload: Any, timeout: float | None = None) -> SendResult:
        """Alias of :meth:`send` (Spring ``syncSend``)."""
        return self.send(destination, payload, timeout=timeout)

    def sync_send_orderly(
        self, destination: str, payload: Any, hash_key: str, timeout: float | None = None
    ) -> SendResult:
        """Alias of :meth:`send_orderly` (Spring ``syncSendOrderly``)."""
        return self.send_orderly(destination, payload, hash_key, timeout=timeout)

    def async_send(
        self, destination: str, payload: Any, callback: SendCallback, timeout: float | None = None
    ) -> None:
        """Spring ``asyncSend``: result delivered to ``callback`` only."""
        self.send_async(destination, payload, callback=callback, timeout=timeout)

    def async_send_orderly(
        self,
        destination: str,
        payload: Any,
        hash_key: str,
        callback: SendCallback,
        timeout: float | None = None,
    ) -> None:
        """Spring ``asyncSendOrderly``."""
        self.send_async(destination, payload, callback=callback, timeout=timeout, hash_key=hash_key)

    def sync_send_delay_time_seconds(self, destination: str, payload: Any, delay: float) -> SendResult:
        """Spring ``syncSendDelayTimeSeconds``."""
        return self.send_delayed(destination, payload, delay)

    def sync_send_delay_time_mills(self, destination: str, payload: Any, delay_ms: int) -> SendResult:
        """Spring ``syncSendDelayTimeMills``."""
        return self.send_delayed(destination, payload, delay_ms / 1000.0)

    def sync_send_deliver_time_mills(self, destination: str, payload: Any, deliver_ms: int) -> SendResult:
        """Spring ``syncSendDeliverTimeMills``."""
        return self.send_at(destination, payload, deliver_ms / 1000.0)

    def send_message_in_transaction(
        self, destination: str, payload: Any, arg: Any = None
    ) -> TransactionSendResult:
        """Spring ``sendMessageInTransaction``."""
        return self.send_in_transaction(destination, payload, arg)

    def send_one_way(self, destination: str, payload: Any) -> None:
        """Alias of :meth:`send_oneway` (Spring ``sendOneWay``)."""
        self.send_oneway(destination, payload)

    def send_one_way_orderly(self, destination: str, payload: Any, hash_key: str) -> None:
        """Spring ``sendOneWayOrderly``."""
        self.send_oneway(destination, payload, hash_key=hash_key)
