"""A module wired by ``ROCKETMQ["WIRE_MODULES"]`` (dependency-injector ``Provide`` markers)."""

from __future__ import annotations

from typing import Any

from dependency_injector.wiring import Provide, inject

from rocketmq_integration.containers import RocketMQContainer


@inject
def current_template(template: Any = Provide[RocketMQContainer.template]) -> Any:
    """The container's default template, injected."""
    return template
