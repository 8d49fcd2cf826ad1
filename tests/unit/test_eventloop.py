"""broker_core.eventloop: which loop ``auto``/``uvloop``/``asyncio``, the flag and the environment choose."""

from __future__ import annotations

import asyncio

import pytest

from broker_core import eventloop
from broker_core.errors import ConfigError

HAVE_UVLOOP = eventloop.uvloop_module() is not None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.LOOP_ENV, raising=False)
    monkeypatch.delenv(eventloop.PURE_ENV, raising=False)


async def _which() -> str:
    await asyncio.sleep(0)
    return eventloop.loop_name()


def test_auto_is_uvloop_when_it_imports_else_asyncio() -> None:
    expected = "uvloop" if HAVE_UVLOOP else "asyncio"
    assert eventloop.resolve() == expected == eventloop.resolve("auto")
    assert eventloop.run(_which()) == expected


def test_asyncio_choice_runs_the_stdlib_loop() -> None:
    assert eventloop.resolve("asyncio") == "asyncio"
    assert eventloop.run(_which(), "asyncio") == "asyncio"
    loop = eventloop.new_event_loop("asyncio")
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()


def test_environment_chooses_when_no_flag_is_given_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.LOOP_ENV, "asyncio")
    assert eventloop.resolve() == "asyncio"
    assert eventloop.run(_which()) == "asyncio"
    if HAVE_UVLOOP:
        assert eventloop.resolve("uvloop") == "uvloop"


def test_pure_python_makes_auto_mean_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.PURE_ENV, "1")
    assert eventloop.pure_python()
    assert eventloop.resolve() == "asyncio"
    monkeypatch.setenv(eventloop.PURE_ENV, "0")
    assert not eventloop.pure_python()


def test_bad_value_is_a_config_error_naming_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--loop='tokio'"):
        eventloop.resolve("tokio")
    monkeypatch.setenv(eventloop.LOOP_ENV, "tokio")
    with pytest.raises(ConfigError, match="ROCKETMQ_EVENT_LOOP='tokio'"):
        eventloop.resolve()
    coro = _which()
    with pytest.raises(ConfigError):
        eventloop.run(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


def test_explicit_uvloop_without_uvloop_is_an_error_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eventloop, "uvloop_module", lambda: None)
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        eventloop.resolve("uvloop")
    assert eventloop.resolve("auto") == "asyncio"
    assert eventloop.run(_which()) == "asyncio"
