"""Listener autodiscovery: import ``<app>.listeners`` for every installed app, keeping the errors.

Like Celery's ``autodiscover_tasks``, but a broken declaration does not raise out of
``AppConfig.ready()`` (that would be a traceback at import of every management command): the
error is kept here and reported by the system checks as ``rocketmq.E005`` (any listener
declaration error) or ``rocketmq.E006`` (one consumer group, two subscriptions), so
``manage.py check``, ``runserver`` and ``rocketmq_listeners`` stop with the check id.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings

from rocketmq_integration.django.conf import configured_container, get_config

__all__ = [
    "DiscoveryError",
    "autodiscover",
    "discovered_modules",
    "discovery_errors",
    "setup_integrations",
    "startup_errors",
]


@dataclass(frozen=True)
class DiscoveryError:
    """A listener module that failed to import."""

    module: str
    error: BaseException


_lock = threading.Lock()
_errors: list[DiscoveryError] = []
_modules: list[str] = []
_startup: list[DiscoveryError] = []


def _has_module(package: str, module: str) -> bool:
    name = f"{package}.{module}"
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the package itself is not a package
        return False


def autodiscover() -> list[str]:
    """Import the ``LISTENER_MODULES`` of every installed app; returns the modules imported.

    Errors raised while importing one are recorded (see :func:`discovery_errors`), not raised.
    """
    names = get_config()["LISTENER_MODULES"]
    imported: list[str] = []
    errors: list[DiscoveryError] = []
    for app_config in apps.get_app_configs():
        for module in names:
            if not isinstance(module, str) or not _has_module(app_config.name, module):
                continue
            name = f"{app_config.name}.{module}"
            try:
                importlib.import_module(name)
            except Exception as exc:  # reported as rocketmq.E005/E006
                errors.append(DiscoveryError(name, exc))
            else:
                imported.append(name)
    with _lock:
        _errors[:] = errors
        _modules[:] = imported
    return imported


def discovery_errors() -> list[DiscoveryError]:
    """Errors of the last :func:`autodiscover`."""
    with _lock:
        return list(_errors)


def discovered_modules() -> list[str]:
    """Modules imported by the last :func:`autodiscover`."""
    with _lock:
        return list(_modules)


def setup_integrations() -> None:
    """Register the kombu alias when ``CELERY_BROKER_URL`` is ``rocketmq://`` and wire
    ``WIRE_MODULES`` into the DI container; failures become ``rocketmq.E011``."""
    errors: list[DiscoveryError] = []
    url = getattr(settings, "CELERY_BROKER_URL", None)
    if isinstance(url, str) and url.startswith("rocketmq://"):
        try:
            importlib.import_module("rocketmq_integration.kombu")  # registers the alias
        except Exception as exc:
            errors.append(DiscoveryError("rocketmq_integration.kombu", exc))
    wire = get_config()["WIRE_MODULES"]
    for module in wire:
        try:
            configured_container().wire(modules=[importlib.import_module(module)])
        except Exception as exc:
            errors.append(DiscoveryError(str(module), exc))
    with _lock:
        _startup[:] = errors


def startup_errors() -> list[DiscoveryError]:
    """Errors of the last :func:`setup_integrations`."""
    with _lock:
        return list(_startup)
