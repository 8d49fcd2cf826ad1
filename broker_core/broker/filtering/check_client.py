"""CHECK_CLIENT_CONFIG (46): Java push consumers validate a non-tag subscription before starting.

Body ``CheckClientRequestBody`` (JSON): ``{"clientId", "group", "subscriptionData": {...}}``. A TAG
subscription is always fine; SQL92 needs ``enablePropertyFilter`` (else SYSTEM_ERROR, which makes
the Java consumer's ``start()`` fail) and must compile (else SUBSCRIPTION_PARSE_FAILED with the
reason and position). Without this handler a Java SQL92 consumer could not start at all.
"""

from __future__ import annotations

from typing import Any

from broker_core.broker.filtering.sql92 import FilterSyntaxError, compile_selector
from broker_core.config.broker import BrokerConfig
from broker_core.remoting import fastjson
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand

__all__ = ["CheckClientConfigProcessor"]


class CheckClientConfigProcessor:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    def __call__(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            body: Any = fastjson.loads(request.body or b"{}")
            raw = body.get("subscriptionData") if isinstance(body, dict) else None
            sub = SubscriptionData.from_json(raw) if isinstance(raw, dict) else None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"bad CheckClientRequestBody: {exc}")
        if sub is None or sub.expression_type.upper() == "TAG":
            return request.make_response()
        if not self.config.enable_property_filter:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The broker does not support consumer to filter message by {sub.expression_type}",
            )
        try:
            compile_selector(sub.sub_string)
        except FilterSyntaxError as exc:
            return request.make_response(ResponseCode.SUBSCRIPTION_PARSE_FAILED, str(exc))
        return request.make_response()
