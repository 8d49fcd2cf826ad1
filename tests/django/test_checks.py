"""Each ``rocketmq.*`` system check fires on a bad setting and is silent on a good one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from rocketmq_integration.listeners.registry import default_registry

GOOD: dict[str, Any] = {
    "NAME_SERVER": "10.0.0.1:9876;10.0.0.2:9876",
    "PRODUCER": {"GROUP": "orders", "ACCESS_KEY": "ak", "SECRET_KEY": "sk"},
    "TEMPLATES": {"audit": {"NAME_SERVER": "10.0.0.5:9876", "PRODUCER": {"GROUP": "audit"}}},
    "CONSUMER": {"LISTENERS": {"DjangoTestGroup": {"DjangoTestTopic": True}}},
    "CONVERTER": "rocketmq_integration.converters.JsonConverter",
    "IDEMPOTENCY": {"BACKEND": "db"},
    "OUTBOX": {"BATCH_SIZE": 10, "POLL_INTERVAL": 0.5},
}


def ids(deploy: bool = False) -> list[str]:
    return sorted(m.id or "" for m in run_checks(tags=["rocketmq"], include_deployment_checks=deploy))


def test_good_settings_are_silent() -> None:
    with override_settings(ROCKETMQ=GOOD):
        assert ids() == []


def test_missing_setting_is_silent() -> None:
    with override_settings():
        from django.conf import settings

        del settings.ROCKETMQ
        assert ids() == []


@pytest.mark.parametrize(
    ("rocketmq", "expected"),
    [
        pytest.param("127.0.0.1:9876", "rocketmq.E001", id="not-a-dict"),
        pytest.param({"PRODUCER": "orders"}, "rocketmq.E001", id="section-not-a-dict"),
        pytest.param({"LISTENER_MODULES": "listeners"}, "rocketmq.E001", id="modules-not-a-list"),
        pytest.param({"CONSUMER": {"LISTENERS": {"g": {"t": "off"}}}}, "rocketmq.E001", id="toggle-not-bool"),
        pytest.param({"NAME_SERVER": "localhost"}, "rocketmq.E002", id="no-port"),
        pytest.param({"NAME_SERVER": "h:99999"}, "rocketmq.E002", id="port-range"),
        pytest.param({"NAME_SERVER": ""}, "rocketmq.E002", id="empty"),
        pytest.param({"TEMPLATES": {"x": {"NAME_SERVER": "a:1;b"}}}, "rocketmq.E002", id="template-address"),
        pytest.param({"PRODUCER": {"GROUP": "bad group!"}}, "rocketmq.E003", id="group-chars"),
        pytest.param({"PRODUCER": {"GROUP": "g" * 256}}, "rocketmq.E003", id="group-length"),
        pytest.param({"CONSUMER": {"LISTENERS": {"g": {"bad topic": False}}}}, "rocketmq.E003", id="topic"),
        pytest.param({"CONVERTER": "nope.Missing"}, "rocketmq.E004", id="converter-path"),
        pytest.param({"CONVERTER": "yaml"}, "rocketmq.E004", id="converter-name"),
        pytest.param({"PRODUCER": {"SEND_MESSAGE_TIMEOUT": 0}}, "rocketmq.E007", id="timeout"),
        pytest.param({"OUTBOX": {"BATCH_SIZE": "10"}}, "rocketmq.E007", id="batch-type"),
        pytest.param({"EMBEDDED": {"BROKER_PORT": 70000}}, "rocketmq.E007", id="port"),
        pytest.param({"IDEMPOTENCY": {"BACKEND": "mongo"}}, "rocketmq.E008", id="idempotency-backend"),
        pytest.param({"IDEMPOTENCY": {"BACKEND": "redis"}}, "rocketmq.E008", id="redis-without-url"),
        pytest.param({"OUTBOX": {"DATABASE": "other"}}, "rocketmq.E009", id="database-alias"),
        pytest.param({"NAME_SERVERS": "h:1"}, "rocketmq.W001", id="unknown-top-key"),
        pytest.param({"PRODUCER": {"GRUOP": "g"}}, "rocketmq.W001", id="unknown-producer-key"),
        pytest.param(
            {"CONSUMER": {"LISTENERS": {"NoSuchGroup": {"T": False}}}}, "rocketmq.W002", id="toggle"
        ),
        pytest.param({"PRODUCER": {"ACCESS_KEY": "ak"}}, "rocketmq.W004", id="half-credentials"),
    ],
)
def test_check_fires(rocketmq: Any, expected: str) -> None:
    with override_settings(ROCKETMQ=rocketmq):
        found = ids()
    assert expected in found, found
    assert all(i.startswith("rocketmq.") for i in found)


def test_unknown_key_suggests_the_closest() -> None:
    with override_settings(ROCKETMQ={"PRODUCER": {"GRUOP": "g"}, "NAMESERVER": "h:1"}):
        hints = {m.hint for m in run_checks(tags=["rocketmq"]) if m.id == "rocketmq.W001"}
    assert "Did you mean 'GROUP'?" in hints
    assert "Did you mean 'NAME_SERVER'?" in hints


def test_bad_settings_never_raise_from_get_config() -> None:
    from rocketmq_integration.django import get_config

    with override_settings(ROCKETMQ={"PRODUCER": 5, "TEMPLATES": [], "LISTENER_MODULES": "x"}):
        cfg = get_config()
        assert cfg["PRODUCER"]["GROUP"] == "rocketmq_template"
        assert cfg["TEMPLATES"] == {}
        assert cfg["LISTENER_MODULES"] == ["listeners"]
        assert "rocketmq.E001" in ids()


def test_deploy_checks_embedded_with_debug_off_and_unreachable_name_server() -> None:
    from tests.support.net import free_port

    dead = f"127.0.0.1:{free_port()}"
    with override_settings(DEBUG=False, ROCKETMQ={"NAME_SERVER": dead, "EMBEDDED": {"ENABLED": True}}):
        assert ids(deploy=True) == ["rocketmq.E010", "rocketmq.W003"]
        assert ids(deploy=False) == []


def test_deploy_check_silent_when_name_server_answers(rocketmq_cluster: Any) -> None:
    with override_settings(ROCKETMQ={"NAME_SERVER": rocketmq_cluster.namesrv_addr}):
        assert ids(deploy=True) == []


@pytest.fixture
def bad_app(request: pytest.FixtureRequest, rediscover: None) -> Iterator[str]:
    from django.conf import settings

    app = f"tests.django.badapps.{request.param}"
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, app]):  # ready() rediscovers
        yield app
    for name in ("conflict.a", "conflict.b"):
        default_registry.unregister(name)


@pytest.mark.parametrize(
    ("bad_app", "expected"),
    [("broken", "rocketmq.E005"), ("conflict", "rocketmq.E006")],
    indirect=["bad_app"],
)
def test_listener_declaration_errors_become_check_errors(bad_app: str, expected: str) -> None:
    messages = [m for m in run_checks(tags=["rocketmq"]) if m.id == expected]
    assert len(messages) == 1, messages
    assert messages[0].obj == f"{bad_app}.listeners"


def test_listener_checks_silent_for_the_discovered_test_app() -> None:
    from rocketmq_integration.django.discovery import discovered_modules

    assert "tests.django.testapp.listeners" in discovered_modules()
    assert "testapp.record" in {s.name for s in default_registry.all()}
    assert ids() == []


def test_import_failures_requested_by_settings_are_e011(rediscover: None) -> None:
    from kombu.transport import TRANSPORT_ALIASES

    from rocketmq_integration.django.discovery import setup_integrations

    try:
        with override_settings(
            CELERY_BROKER_URL="rocketmq://127.0.0.1:9876//",
            ROCKETMQ={"WIRE_MODULES": ["tests.django.no_such_module"]},
        ):
            setup_integrations()
            messages = [m for m in run_checks(tags=["rocketmq"]) if m.id == "rocketmq.E011"]
            assert [m.obj for m in messages] == ["tests.django.no_such_module"]
            assert TRANSPORT_ALIASES["rocketmq"] == "rocketmq_integration.kombu.transport:Transport"
    finally:
        setup_integrations()
    assert "rocketmq.E011" not in ids()


def test_wire_modules_inject_the_configured_template(rediscover: None) -> None:
    from rocketmq_integration.django.discovery import setup_integrations
    from tests.django.testapp.wired import current_template

    try:
        with override_settings(
            ROCKETMQ={"NAME_SERVER": "10.9.9.9:9876", "WIRE_MODULES": ["tests.django.testapp.wired"]}
        ):
            setup_integrations()
            assert current_template().namesrv_addr == "10.9.9.9:9876"
    finally:
        from rocketmq_integration.django.conf import configured_container

        configured_container().unwire()
        setup_integrations()


def test_manage_py_check_lists_ids_without_traceback(tmp_path: Any) -> None:
    from tests.django.helpers import ManagePy

    proc = ManagePy(tmp_path, "check", env={"DJANGO_SETTINGS_MODULE": "tests.django.settings_bad"})
    assert proc.wait() == 1
    out = proc.output()
    assert "Traceback" not in out
    for check_id in ("rocketmq.E001", "rocketmq.E002", "rocketmq.E003", "rocketmq.E004", "rocketmq.W001"):
        assert check_id in out, out
