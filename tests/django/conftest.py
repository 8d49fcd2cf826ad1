"""Django for tests/django only: settings module, app registry, and helpers.

``DJANGO_SETTINGS_MODULE`` is set here (not in the pytest ini) so the rest of the suite runs
without Django; pytest-django's fixtures (``settings``, ``db``, ``django_capture_on_commit_callbacks``)
work for these tests because the settings are configured before any test runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.settings")
django.setup()


@pytest.fixture
def rediscover() -> Iterator[None]:
    """Re-run listener discovery after a test that changed INSTALLED_APPS."""
    from rocketmq_integration.django.discovery import autodiscover

    yield
    autodiscover()
