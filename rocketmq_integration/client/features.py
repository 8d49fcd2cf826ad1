"""Which RocketMQ features a broker has: 5.x timer messages and POP against a 4.x cluster.

Every response carries the server's version ordinal (``MQVersion.Version``: ``V4_9_8`` = 409,
``V5_0_0`` = 413); :class:`~rocketmq_integration.client.api.MQClientAPI` records the last one per
address. A broker that reports 5.0 or later has timer messages and POP. One that reports 4.x may
still have them (ours reports ``V4_9_8`` for wire compatibility with 4.x clients but implements
both), so for those one probe request settles it: a POP request code (``ACK_MESSAGE`` with no
header, which changes nothing) is answered REQUEST_CODE_NOT_SUPPORTED by a real 4.x broker and
with a header error by a broker that has POP — and therefore timers, both came with 5.0.

The point is to fail loudly: a 4.x broker ignores the timer properties and delivers a "delayed"
message at once, silently.
"""

from __future__ import annotations

from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from rocketmq_integration.errors import UnsupportedFeatureError

__all__ = ["V5_0_0", "BrokerFeatures", "version_name"]

V4_9_8 = 409
V5_0_0 = 413
_NAMES = {401: "V4_9_4", 403: "V4_9_5", 405: "V4_9_6", 407: "V4_9_7", V4_9_8: "V4_9_8", V5_0_0: "V5_0_0"}


def version_name(ordinal: int) -> str:
    """``V4_9_8`` for 409; ``version 433`` for one we have no name for."""
    return _NAMES.get(ordinal, f"version {ordinal}")


class BrokerFeatures:
    """Per-client cache of what each broker address supports."""

    def __init__(self, api: object) -> None:
        from rocketmq_integration.client.api import MQClientAPI

        assert isinstance(api, MQClientAPI)
        self._api = api
        self._five: dict[str, bool] = {}

    def version(self, addr: str) -> int | None:
        """The version ordinal ``addr`` reported last (None before any response)."""
        return self._api.versions.get(addr)

    async def has_5x(self, addr: str, timeout: float = 3.0) -> bool:
        """Whether the broker at ``addr`` has the 5.0 features (timer messages, POP)."""
        known = self._five.get(addr)
        if known is not None:
            return known
        version = self.version(addr)
        if version is not None and version >= V5_0_0:
            self._five[addr] = True
            return True
        probe = RemotingCommand.request(RequestCode.ACK_MESSAGE, {}, serialize_type=SerializeType.JSON)
        resp = await self._api.invoke(addr, probe, timeout)
        self._five[addr] = resp.code != ResponseCode.REQUEST_CODE_NOT_SUPPORTED
        return self._five[addr]

    async def require_timer(self, addr: str, broker_name: str, feature: str) -> None:
        """Raise :class:`UnsupportedFeatureError` unless the broker delivers timer messages."""
        if await self.has_5x(addr):
            return
        raise unsupported(feature, broker_name, addr, self.version(addr) or V4_9_8)

    def not_supported_answer(self, code: int, feature: str, broker_name: str, addr: str) -> None:
        """Raise :class:`UnsupportedFeatureError` when a broker answered REQUEST_CODE_NOT_SUPPORTED."""
        if code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED:
            self._five[addr] = False
            raise unsupported(feature, broker_name, addr, self.version(addr) or V4_9_8)


def unsupported(feature: str, broker_name: str, addr: str, version: int) -> UnsupportedFeatureError:
    """The error for ``feature`` on a pre-5.0 broker, with what to use instead."""
    if feature in ("send_delayed", "send_at", "timer message"):
        need, instead = (
            "arbitrary delays (timer messages)",
            "use a fixed delay level instead (send(..., delay_level=N) or Message.delay_time_level), or "
            "pass nearest_delay_level=True to send_delayed/send_at to round up to the nearest level",
        )
    else:
        need, instead = (
            "receive/ack (POP consumption)",
            "use a listener (@rocketmq_listener) or a pull consumer instead",
        )
    return UnsupportedFeatureError(
        f"{feature}: {need} need RocketMQ >= 5.0, but broker {broker_name} at {addr} reports "
        f"{version_name(version)}; {instead}",
        feature,
        version_name(version),
    )
