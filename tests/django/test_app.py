"""The app: label, lazily read cached settings reset on ``setting_changed``, a side-effect-free
``ready()``, and the template/DI container configured from ``settings.ROCKETMQ``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.test import override_settings

from rocketmq_integration.django import get_config, get_template
from rocketmq_integration.django.conf import configured_container

REPO = Path(__file__).resolve().parents[2]


def test_app_label_and_config_class() -> None:
    config = apps.get_app_config("rocketmq")
    assert config.name == "rocketmq_integration.django"
    assert type(config).__name__ == "RocketMQConfig"


def test_settings_cached_and_reset_on_setting_changed() -> None:
    first = get_config()
    assert get_config() is first  # cached
    with override_settings(ROCKETMQ={"NAME_SERVER": "10.1.1.1:9876", "PRODUCER": {"GROUP": "pg1"}}):
        changed = get_config()
        assert changed["NAME_SERVER"] == "10.1.1.1:9876"
        assert changed["PRODUCER"]["GROUP"] == "pg1"
        assert changed["PRODUCER"]["SEND_MESSAGE_TIMEOUT"] == 3.0  # default filled in
    assert get_config() is not changed
    assert get_config()["NAME_SERVER"] == first["NAME_SERVER"]


def test_template_and_container_follow_the_settings() -> None:
    rocketmq = {
        "NAME_SERVER": "10.2.2.2:9876",
        "PRODUCER": {"GROUP": "pg_default", "SEND_MESSAGE_TIMEOUT": 7.5},
        "TEMPLATES": {"audit": {"NAME_SERVER": "10.3.3.3:9876", "PRODUCER": {"GROUP": "pg_audit"}}},
        "CONVERTER": "json",
        "CONSUMER": {"LISTENERS": {"DjangoTestGroup": {"DjangoTestTopic": False}}},
    }
    with override_settings(ROCKETMQ=rocketmq):
        default = get_template()
        assert (default.namesrv_addr, default.producer_group, default.send_timeout) == (
            "10.2.2.2:9876",
            "pg_default",
            7.5,
        )
        assert type(default.converter).__name__ == "JsonConverter"
        audit = get_template("audit")
        assert (audit.namesrv_addr, audit.producer_group) == ("10.3.3.3:9876", "pg_audit")
        runner = configured_container().listener_runner()
        assert "testapp.record" not in {s.name for s in runner.selected()}
    with override_settings(ROCKETMQ={"NAME_SERVER": "10.4.4.4:9876"}):
        assert get_template().namesrv_addr == "10.4.4.4:9876"
        assert "testapp.record" in {s.name for s in configured_container().listener_runner().selected()}


def test_idempotency_backend_from_settings() -> None:
    from rocketmq_integration.idempotency import InMemoryIdempotencyStore

    with override_settings(ROCKETMQ={"IDEMPOTENCY": {"BACKEND": "memory", "TTL": 5.0}}):
        store = configured_container().idempotency_store()
        assert isinstance(store, InMemoryIdempotencyStore)
        assert store.ttl == 5.0


def test_setup_opens_no_socket_and_starts_no_thread() -> None:
    """``django.setup()`` in a fresh process (with a listeners module discovered) leaves the process
    with its main thread only and no socket file descriptors."""
    code = (
        "import os, threading, django\n"
        "django.setup()\n"
        "from rocketmq_integration.django.discovery import discovered_modules\n"
        "assert 'tests.django.testapp.listeners' in discovered_modules(), discovered_modules()\n"
        "names = os.listdir('/proc/self/fd')\n"
        "socks = []\n"
        "for fd in names:\n"
        "    try:\n"
        "        socks += [fd] if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:') else []\n"
        "    except FileNotFoundError:\n"
        "        pass  # the fd listdir itself used\n"
        "print(threading.active_count(), len(socks))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.django.settings", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0"]


def test_embedded_enabled_makes_its_address_the_default_name_server() -> None:
    embedded = {"ENABLED": True, "HOST": "127.0.0.1", "NAMESRV_PORT": 19876}
    with override_settings(ROCKETMQ={"EMBEDDED": embedded}):
        assert get_config()["NAME_SERVER"] == "127.0.0.1:19876"
    with override_settings(ROCKETMQ={"EMBEDDED": embedded, "NAME_SERVER": "10.0.0.1:9876"}):
        assert get_config()["NAME_SERVER"] == "10.0.0.1:9876"
