"""The ``AppConfig`` of the staff dashboard (label ``rocketmq_dashboard``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DashboardConfig"]


class DashboardConfig(AppConfig):
    """No models and nothing at start-up: the pages read the cluster when a staff user opens them."""

    name = "rocketmq_integration.django.dashboard"
    label = "rocketmq_dashboard"
    verbose_name = "RocketMQ dashboard"
