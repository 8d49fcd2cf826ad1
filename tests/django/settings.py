"""Django settings of the tests under tests/django (a SQLite file DB, the rocketmq app, a test app).

``conftest.py`` points ``DJANGO_SETTINGS_MODULE`` here for tests/django only, so the rest of the
suite runs without Django configured. The ``manage.py`` subprocess tests use the same module;
``ROCKETMQ_TEST_NAMESRV`` lets them aim at the test's broker.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rocketmq_integration.django",
    "rocketmq_integration.django.dashboard",
    "tests.django.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"
ROOT_URLCONF = "tests.django.urls"
# A file (not in-memory) test database, so that relay/producer subprocesses started by a test
# can open the same database: they get its path in ROCKETMQ_TEST_DB.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ROCKETMQ_TEST_DB", str(BASE_DIR / "test-db.sqlite3")),
        "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"rocketmq-django-tests-{os.getpid()}.sqlite3")},
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROCKETMQ = {
    "NAME_SERVER": os.environ.get("ROCKETMQ_TEST_NAMESRV", "127.0.0.1:9876"),
    "PRODUCER": {"GROUP": "tests_django", "SEND_MESSAGE_TIMEOUT": 10.0},
}
# the dashboard's per-request cluster timeout: generous, the test machine may be heavily loaded
ROCKETMQ_DASHBOARD = {"TIMEOUT": 15.0}
