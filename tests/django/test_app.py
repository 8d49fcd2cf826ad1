"""The app: label, lazily read cached settings reset on ``setting_changed``, a side-effect-free
``ready()``, and the template/DI container configured from ``settings.ROCKETMQ``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_health_view_answers_200_when_the_name_server_answers_else_503(rocketmq_cluster: object) -> None:
    from django.test import Client

    from tests.support.net import free_port

    client = Client()
    with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):  # type: ignore[attr-defined]
        resp = client.get("/rocketmq/health/")
        assert resp.status_code == 200 and resp.json()["status"] == "ok"
    with override_settings(ROCKETMQ={"NAME_SERVER": f"127.0.0.1:{free_port()}"}):
        resp = client.get("/rocketmq/health/")
        assert resp.status_code == 503
        assert resp.json()["status"] == "unavailable" and resp.json()["error"]
    assert client.post("/rocketmq/health/").status_code == 405


def test_listener_runner_has_db_hygiene_and_signal_middleware() -> None:
    from rocketmq_integration.django.signals import SignalsMiddleware
    from rocketmq_integration.django.worker import build_runner
    from rocketmq_integration.listeners import DjangoDBCleanupMiddleware

    kinds = {type(m) for m in build_runner().middlewares}
    assert {DjangoDBCleanupMiddleware, SignalsMiddleware} <= kinds


def test_signals_middleware_sends_and_isolates_receiver_errors() -> None:
    from rocketmq_integration.django.signals import (
        SignalsMiddleware,
        message_consumed,
        message_failed,
        message_received,
    )
    from rocketmq_integration.listeners import build_spec

    spec = build_spec(lambda p: None, topic="T", consumer_group="G", name="sig.test")
    seen: list[str] = []

    def ok(sender: object, **kw: object) -> None:
        seen.append(f"{kw['spec'].name}:{len(kw['contexts'])}:{type(kw.get('error')).__name__}")  # type: ignore[attr-defined,arg-type]

    def broken(sender: object, **kw: object) -> None:
        raise RuntimeError("receiver bug")

    for sig in (message_received, message_consumed, message_failed):
        sig.connect(ok, dispatch_uid="t-ok")
        sig.connect(broken, dispatch_uid="t-broken")
    try:
        m = SignalsMiddleware()
        m.before(spec, [])
        m.after(spec, [], None)
        m.after(spec, [], ValueError("handler failed"))
    finally:
        for sig in (message_received, message_consumed, message_failed):
            sig.disconnect(dispatch_uid="t-ok")
            sig.disconnect(dispatch_uid="t-broken")
    assert seen == ["sig.test:0:NoneType", "sig.test:0:NoneType", "sig.test:0:ValueError"]


def test_namespace_credentials_and_trace_settings_reach_template_and_runner() -> None:
    rocketmq = {
        "NAMESPACE": "shop",
        "PRODUCER": {
            "GROUP": "pg",
            "ACCESS_KEY": "ak",
            "SECRET_KEY": "sk",
            "INSTANCE_NAME": "web-1",
            "ENABLE_MSG_TRACE": True,
        },
    }
    with override_settings(ROCKETMQ=rocketmq):
        template = get_template()
        cc = template.client_config
        assert cc is not None
        assert (cc.namespace, cc.access_key, cc.secret_key, cc.instance_name) == ("shop", "ak", "sk", "web-1")
        assert template.producer_config is not None and template.producer_config.enable_msg_trace
        runner_cc = configured_container().listener_runner().client_config
        assert runner_cc is not None and (runner_cc.namespace, runner_cc.access_key) == ("shop", "ak")


def test_namespace_round_trip_through_template_and_runner(rocketmq_cluster: object) -> None:
    from rocketmq_integration.django.worker import build_runner
    from rocketmq_integration.listeners import ConsumeFrom, build_spec
    from rocketmq_integration.pytest_plugin import MessageCollector

    cluster: Any = rocketmq_cluster
    topic, group = cluster.unique("DjNs"), cluster.unique("DjNsG")
    cluster.create_topic(f"tenant1%{topic}")  # what the namespaced clients use on the wire
    got = MessageCollector()
    with override_settings(ROCKETMQ={"NAME_SERVER": cluster.namesrv_addr, "NAMESPACE": "tenant1"}):
        runner = build_runner()
        runner.run_spec(
            build_spec(got, topic=topic, consumer_group=group, consume_from=ConsumeFrom.FIRST_OFFSET)
        )
        try:
            get_template().send(topic, "in-namespace")
            assert got.wait_for(1, timeout=60) == ["in-namespace"]
        finally:
            runner.stop(10)
