"""Settings of sample_project (development only: DEBUG on, SQLite, a fixed demo secret).

``run.py`` passes the cluster and the data directory in the environment:

* ``SAMPLE_NAMESRV``  NameServer address (default ``127.0.0.1:9876``)
* ``SAMPLE_DATA_DIR`` SQLite database and file cache (default ``<repo>/run-data/sample``)
* ``SAMPLE_CELERY``   ``1`` when a Celery worker runs (receipts go through Celery, else inline)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SAMPLE_DATA_DIR") or BASE_DIR.parent / "run-data" / "sample")
NAMESRV = os.environ.get("SAMPLE_NAMESRV", "127.0.0.1:9876")

SECRET_KEY = "sample-project-development-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rocketmq_integration.django",
    "rocketmq_integration.django.dashboard",
    "sample_project.shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "sample_project.urls"
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        # web, listener and Celery processes share the file: WAL + immediate writers + a lock wait
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# one cache for every process, so the broadcast listener's invalidation is seen by the site
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": DATA_DIR / "cache",
    }
}

ROCKETMQ = {
    "NAME_SERVER": NAMESRV,
    "PRODUCER": {"GROUP": "shop_web"},
}

ROCKETMQ_DASHBOARD = {"TIMEOUT": 10.0}

CELERY_BROKER_URL = f"rocketmq://{NAMESRV}//"
CELERY_TASK_DEFAULT_QUEUE = "shop_receipts"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
SAMPLE_CELERY = os.environ.get("SAMPLE_CELERY") == "1"
# A BROADCASTING consumer keeps its offsets on the client (~/.rocketmq_offsets/<ip>@<instance>/), not
# on the broker: an instance name per data directory ties them to this data directory's store, so
# a fresh `make run --data-dir` never resumes from the offsets of another store.
SAMPLE_INSTANCE = "shop-" + hashlib.sha1(str(DATA_DIR.resolve()).encode()).hexdigest()[:10]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"sample_project": {"handlers": ["console"], "level": "INFO"}},
}
