"""``RocketMQTemplate``: the one-object send API of the framework layer (rocketmq-spring parity).

Every method takes a ``destination`` written ``topic`` or ``topic:tag`` (split on the first ``:``),
converts the payload with the template's :class:`~rocketmq_integration.converters.MessageConverter`
(``contentType`` user property set), maps ``headers`` to user properties and ``keys`` to the
``KEYS`` property. Blocking methods (``send``, ``send_batch``, ``send_orderly``, ``send_oneway``)
are safe from any thread; ``send_async`` returns a :class:`concurrent.futures.Future` (optionally
calling a :class:`SendCallback`), ``asend`` is awaitable from any event loop.

Layout (one concept per module):

* ``messages`` — destination parsing and payload → Message building;
* ``core`` — configuration, the private loop thread, lazy producer start, fork safety, close;
* ``loop_hop`` — coalesced hops from foreign event loops onto the template's loop (``asend``);
* ``sending`` — sync / future / awaitable / one-way / batch / timer sends;
* ``request_reply`` — ``send_and_receive``;
* ``transactional`` — ``send_in_transaction``;
* ``receive`` — POP-based ``receive`` / ``ack`` / ``change_invisible_duration``;
* ``facade`` — :class:`RocketMQTemplate` itself and its Spring-named aliases.
"""

from __future__ import annotations

from rocketmq_integration.template.facade import RocketMQTemplate
from rocketmq_integration.template.messages import parse_destination
from rocketmq_integration.template.receive import ReceivedMessage
from rocketmq_integration.template.sending import SendCallback

__all__ = ["ReceivedMessage", "RocketMQTemplate", "SendCallback", "parse_destination"]
