"""Django signals of the RocketMQ app, in the style of Celery's ``task_prerun`` / ``task_postrun``.

=========================  ==================================================  =====================
signal                     sent when                                           keyword arguments
=========================  ==================================================  =====================
``message_sent``           ``send_on_commit`` / the outbox relay sent          ``destination``, ``result``
``message_received``       before a listener handles a message (batch)         ``spec``, ``contexts``
``message_consumed``       the handler returned                                ``spec``, ``contexts``
``message_failed``         the handler raised (retry, DLQ or discard follows)  ``spec``, ``contexts``, ``error``
``listener_started``       ``rocketmq_listeners`` / ``rocketmq_dev`` started   ``specs``
``listener_stopped``       ... and drained                                     ``specs``, ``status``
``transaction_checked``    a broker check-back was answered from the DB        ``message``, ``state``
=========================  ==================================================  =====================

``sender`` is the listener's target for the message signals, the command class for the lifecycle
signals and the transaction listener's class for ``transaction_checked``. Receivers run in the
consumer thread; an exception in one is logged, never turned into a redelivery.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.dispatch import Signal

from rocketmq_integration.listeners.decorators import ListenerSpec, MessageContext
from rocketmq_integration.logging import get_logger

__all__ = [
    "SignalsMiddleware",
    "listener_started",
    "listener_stopped",
    "message_consumed",
    "message_failed",
    "message_received",
    "message_sent",
    "transaction_checked",
]

log = get_logger(__name__)

message_sent = Signal()
message_received = Signal()
message_consumed = Signal()
message_failed = Signal()
listener_started = Signal()
listener_stopped = Signal()
transaction_checked = Signal()


def _send_robust(signal: Signal, sender: object, **kwargs: object) -> None:
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            log.error("signal receiver failed", receiver=repr(receiver), error=repr(result))


class SignalsMiddleware:
    """Listener middleware sending ``message_received`` / ``message_consumed`` / ``message_failed``."""

    def before(self, spec: ListenerSpec, contexts: Sequence[MessageContext]) -> None:
        """Send ``message_received``."""
        if message_received.has_listeners():
            _send_robust(message_received, spec.target, spec=spec, contexts=list(contexts))

    def after(
        self, spec: ListenerSpec, contexts: Sequence[MessageContext], error: BaseException | None
    ) -> None:
        """Send ``message_consumed`` or ``message_failed``."""
        if error is None:
            if message_consumed.has_listeners():
                _send_robust(message_consumed, spec.target, spec=spec, contexts=list(contexts))
        elif message_failed.has_listeners():
            _send_robust(message_failed, spec.target, spec=spec, contexts=list(contexts), error=error)
