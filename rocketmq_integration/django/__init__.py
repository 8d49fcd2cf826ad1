"""The Django app (label ``rocketmq``): ``settings.ROCKETMQ``, system checks, commands, DB helpers.

Add ``"rocketmq_integration.django"`` to ``INSTALLED_APPS`` and configure::

    ROCKETMQ = {
        "NAME_SERVER": "127.0.0.1:9876",
        "PRODUCER": {"GROUP": "shop"},
        "CONSUMER": {"LISTENERS": {"billing": {"orders": False}}},   # switch a listener off
    }

What the app does, and when:

* at start-up (``AppConfig.ready``): imports each installed app's ``listeners`` module (so
  ``@rocketmq_listener`` declarations register), feeds the settings into the process-wide DI
  container and registers the system checks. It opens **no** socket and starts **no** thread: that
  runs in every process (``migrate``, ``shell``, each web worker).
* on first use: :func:`get_template` builds the producer; ``manage.py rocketmq_listeners`` starts
  the consumers.
* ``manage.py check``: every ``rocketmq.E0xx`` / ``rocketmq.W0xx`` check (see ``checks``).

Public helpers: :func:`get_config` (the resolved settings), :func:`get_template`,
``send_on_commit`` / ``send_via_outbox`` (``rocketmq_integration.django.db``) and
``DjangoAtomicTransactionListener`` (``rocketmq_integration.django.transactions``), imported from
their modules so that this package stays importable before Django is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["get_config", "get_template"]

if TYPE_CHECKING:
    from rocketmq_integration.django.conf import RocketMQSettings
    from rocketmq_integration.template import RocketMQTemplate


def get_config() -> RocketMQSettings:
    """The resolved ``settings.ROCKETMQ`` (defaults filled in; cached until the setting changes)."""
    from rocketmq_integration.django.conf import get_config as _get

    return _get()


def get_template(name: str = "default") -> RocketMQTemplate:
    """The template ``name`` configured from ``settings.ROCKETMQ`` (its producer starts on first send)."""
    from rocketmq_integration.django.conf import configured_container

    registry: Any = configured_container().templates()
    template: RocketMQTemplate = registry.get(name)
    return template
