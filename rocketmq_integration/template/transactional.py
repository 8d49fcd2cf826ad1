"""Transactional sends through the template: half message + the routed local-transaction listener.

Each transaction producer group gets its own :class:`TransactionProducer` (started on first use on
the template's loop, shut down by ``close``); which listener runs is decided by the
:class:`~rocketmq_integration.transactions.TransactionListenerRegistry`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.transaction import TransactionProducer, TransactionSendResult
from rocketmq_integration.template.core import TemplateCore
from rocketmq_integration.transactions import TransactionListenerRegistry, default_transaction_registry

__all__ = ["TransactionOps"]


class TransactionOps(TemplateCore):
    """The transactional send of :class:`~rocketmq_integration.template.RocketMQTemplate`."""

    def send_in_transaction(
        self,
        destination: str,
        payload: Any,
        arg: Any = None,
        *,
        producer_group: str | None = None,
        keys: str | Sequence[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        registry: TransactionListenerRegistry | None = None,
    ) -> TransactionSendResult:
        """Send a half message and run the routed transaction listener (see ``transactions``).

        The listener is chosen by ``producer_group``, else by the destination topic, else the
        template's only listener; ``arg`` is passed to ``execute_local_transaction``.

        Raises:
            MQClientError: no (or an ambiguous) transaction listener for this send.
        """
        reg = registry if registry is not None else default_transaction_registry
        msg = self.build_message(destination, payload, keys=keys, headers=headers)
        spec = reg.route(self.name, msg.topic, producer_group)

        async def go(_p: Producer) -> TransactionSendResult:
            tx = self._tx_producers.get(spec.producer_group)
            if tx is None:
                tx = TransactionProducer(
                    spec.producer_group,
                    reg.adapter(spec, self.converter),
                    namesrv_addr=self.namesrv_addr,
                    client_config=self.client_config,
                    config=self.producer_config,
                )
                await tx.start()
                self._tx_producers[spec.producer_group] = tx
            return await tx.send_message_in_transaction(msg, arg, timeout or self.send_timeout)

        return self._wait(go, timeout)
