"""The ``AppConfig`` of the RocketMQ Django app (label ``rocketmq``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["RocketMQConfig"]


class RocketMQConfig(AppConfig):
    """Registers checks and signals and discovers listeners; never opens sockets or threads.

    ``ready()`` runs in every process (``migrate``, ``shell``, each web worker, both ``runserver``
    processes), so all it does is import: consumers start only in ``manage.py rocketmq_listeners``
    and producers on the first send.
    """

    name = "rocketmq_integration.django"
    label = "rocketmq"
    verbose_name = "RocketMQ"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rocketmq_integration.django import checks, conf, discovery

        del checks, conf  # imported for their registrations (checks; the setting_changed receiver)
        discovery.autodiscover()
        discovery.setup_integrations()
