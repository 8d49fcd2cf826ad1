"""Alias registration, URL parsing and transport-option validation (no broker needed)."""

from __future__ import annotations

import pytest
from kombu import Connection
from kombu.transport import TRANSPORT_ALIASES, resolve_transport

import rocketmq_integration.kombu as rk
from rocketmq_integration.errors import ValidationError
from rocketmq_integration.kombu.options import (
    DEFAULT_LEASE_MAX_HOLD,
    InvalidTransportOption,
    TransportOptions,
)
from rocketmq_integration.kombu.transport import parse_hosts


def test_import_registers_the_rocketmq_alias() -> None:
    assert TRANSPORT_ALIASES["rocketmq"] == rk.TRANSPORT_PATH
    assert resolve_transport("rocketmq") is rk.Transport
    rk.register()  # idempotent
    assert TRANSPORT_ALIASES["rocketmq"] == rk.TRANSPORT_PATH


def test_dotted_path_works_without_the_alias() -> None:
    assert resolve_transport(rk.TRANSPORT_PATH) is rk.Transport


def test_url_hosts_become_a_namesrv_list() -> None:
    assert parse_hosts("h1", None) == "h1:9876"
    assert parse_hosts("h1:1,h2", 9000) == "h1:1;h2:9000"
    for bad in ("", "h1:x", "h 1", "h1:70000"):
        with pytest.raises(ValidationError):
            parse_hosts(bad, None)


def test_unknown_option_names_the_option() -> None:
    with pytest.raises(InvalidTransportOption, match="visibilty_timeout"):
        TransportOptions.from_mapping({"visibilty_timeout": 10})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("visibility_timeout", "long"),
        ("visibility_timeout", 0),
        ("wait_time_seconds", 99),
        ("native_eta", 1),
        ("priority_steps", [3, 1]),
        ("prefetch_limit", 0),
        ("ordered_queues", [1]),
    ],
)
def test_bad_values_name_the_option(key: str, value: object) -> None:
    with pytest.raises(InvalidTransportOption, match=key):
        TransportOptions.from_mapping({key: value})


def test_kombu_keys_and_good_values_are_accepted() -> None:
    opts = TransportOptions.from_mapping(
        {"polling_interval": 1, "max_retries": 3, "visibility_timeout": 30, "priority_steps": [0, 5, 9]}
    )
    assert opts.visibility_timeout == 30.0 and opts.priority_steps == (0, 5, 9)


def test_connect_with_a_bad_option_fails_with_its_name() -> None:
    conn = Connection("rocketmq://127.0.0.1:1//", transport_options={"nope": 1})
    with pytest.raises(InvalidTransportOption, match="nope"):
        conn.transport  # noqa: B018  (the transport is built, and options checked, on first use)


def test_url_credentials_become_acl_keys_and_a_bad_namespace_is_refused() -> None:
    transport = Connection("rocketmq://AK1:SK1@127.0.0.1:1//").transport
    assert (transport.session.client_config.access_key, transport.session.client_config.secret_key) == (
        "AK1",
        "SK1",
    )
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Connection("rocketmq://AK1@127.0.0.1:1//").transport  # noqa: B018
    with pytest.raises(ValidationError, match="namespace"):
        Connection("rocketmq://127.0.0.1:1/a.b").transport  # noqa: B018


def test_lease_renewal_interval_defaults_to_a_third_of_the_visibility_timeout() -> None:
    assert TransportOptions.from_mapping({"visibility_timeout": 30}).renewal_interval() == 10.0
    assert TransportOptions.from_mapping({"lease_renewal_interval": 2}).renewal_interval() == 2.0
    assert TransportOptions.from_mapping({"lease_renewal_interval": -1}).renewal_interval() is None
    with pytest.raises(InvalidTransportOption, match="lease_renewal_interval"):
        TransportOptions.from_mapping({"visibility_timeout": 3, "lease_renewal_interval": 2})


def test_lease_max_hold_defaults_to_twelve_hours_and_is_never_below_the_visibility_timeout() -> None:
    assert TransportOptions.from_mapping({}).max_hold() == DEFAULT_LEASE_MAX_HOLD == 43200.0
    # a visibility timeout above the default cap raises the cap (the pop's own lease lasts that long)
    assert TransportOptions.from_mapping({"visibility_timeout": 86400}).max_hold() == 86400.0
    assert TransportOptions.from_mapping({"visibility_timeout": 3, "lease_max_hold": 7}).max_hold() == 7.0
    with pytest.raises(
        InvalidTransportOption, match="'lease_max_hold': must be at least the visibility_timeout"
    ):
        TransportOptions.from_mapping({"visibility_timeout": 30, "lease_max_hold": 10})
    with pytest.raises(InvalidTransportOption, match="'lease_max_hold': must be positive"):
        TransportOptions.from_mapping({"lease_max_hold": 0})
    with pytest.raises(InvalidTransportOption, match="'lease_max_hold': must be a number"):
        TransportOptions.from_mapping({"lease_max_hold": "1h"})


def test_a_connection_outliving_shutdown_sessions_gets_a_fresh_session() -> None:
    """kombu keeps connections in its global pools (Celery's producer pool is keyed by URL):
    one whose session was closed must not fail with "Event loop is closed"."""
    from rocketmq_integration.kombu.session import shutdown_sessions

    transport = Connection("rocketmq://127.0.0.1:2//").transport
    first = transport.session
    shutdown_sessions("127.0.0.1:2")
    assert not first.thread.alive
    fresh = transport.session
    assert fresh is not first and fresh.thread.alive
    shutdown_sessions("127.0.0.1:2")


@pytest.mark.parametrize(
    ("url", "namesrv"),
    [
        ("rocketmq://h1:9876,h2:9877//", "h1:9876;h2:9877"),
        ("rocketmq://h1,h2:9877/", "h1:9876;h2:9877"),
        ("rocketmq://h1", "h1:9876"),
    ],
)
def test_each_host_of_the_url_keeps_its_own_port(url: str, namesrv: str) -> None:
    assert Connection(url).transport.namesrv_addr == namesrv


def test_url_secret_key_is_percent_decoded_and_masked_in_logs() -> None:
    conn = Connection("rocketmq://AK:S%40K@127.0.0.1:3/prod")
    assert conn.transport.session.client_config.secret_key == "S@K"
    assert conn.transport.namespace_prefix == "prod%"
    assert conn.as_uri() == "rocketmq://AK:**@127.0.0.1:3/prod"
    assert "S%40K" in conn.as_uri(include_password=True)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("rocketmq://127.0.0.1:notaport//", "bad port"),
        ("rocketmq://h1:9876,h 2//", "bad name server host"),
        ("rocketmq:///", "no name server host"),
    ],
)
def test_a_malformed_url_fails_at_connect_saying_what_is_wrong(url: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Connection(url).connect()
