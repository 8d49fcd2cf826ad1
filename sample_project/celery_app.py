"""The Celery app of sample_project: broker ``rocketmq://<namesrv>//`` (the kombu transport)."""

from __future__ import annotations

import os

from celery import Celery

import rocketmq_integration.kombu  # noqa: F401  (registers the rocketmq:// transport alias)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_project.settings")

app = Celery("sample_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
