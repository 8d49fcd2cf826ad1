"""Producer and consumer tables built from heartbeats.

A consumer group's member list (client ids of live channels) drives client-side rebalance. When it
changes, or a member's subscriptions change, every member gets NOTIFY_CONSUMER_IDS_CHANGED so it
rebalances at once instead of on its 20 s timer. Channels leave the tables when their connection
closes or when no heartbeat arrived for ``channelExpiredTimeout``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from broker_core.logsetup import get_logger
from broker_core.remoting.body.heartbeat import ConsumerData, SubscriptionData
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.errors_util import ignore_closed

log = get_logger(__name__)


@dataclass(slots=True)
class ClientChannelInfo:
    channel: Channel
    client_id: str
    language: int
    version: int
    last_update: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class ConsumerGroupInfo:
    group: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    channels: dict[Channel, ClientChannelInfo] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionData] = field(default_factory=dict)

    def client_ids(self) -> list[str]:
        return sorted({info.client_id for info in self.channels.values()})


class ConsumerManager:
    """Consumer groups -> member channels and subscriptions."""

    def __init__(self, expiry_seconds: float) -> None:
        self.groups: dict[str, ConsumerGroupInfo] = {}
        self.expiry_seconds = expiry_seconds
        #: called with the group name after every heartbeat of a member (``register``)
        self.on_registered: list[Callable[[str], None]] = []

    def register(
        self, data: ConsumerData, channel: Channel, client_id: str, language: int, version: int
    ) -> bool:
        """Add or refresh a member; returns True when ids or subscriptions changed."""
        info = self.groups.get(data.group_name)
        if info is None:
            info = self.groups[data.group_name] = ConsumerGroupInfo(data.group_name)
        info.consume_type = data.consume_type
        info.message_model = data.message_model
        info.consume_from_where = data.consume_from_where
        changed = False
        member = info.channels.get(channel)
        if member is None or member.client_id != client_id:
            info.channels[channel] = ClientChannelInfo(channel, client_id, language, version)
            changed = True
            log.info("consumer joined", group=data.group_name, client_id=client_id, peer=channel.remote_addr)
        else:
            member.last_update = time.monotonic()
        new_subs = {s.topic: s for s in data.subscriptions}
        old = info.subscriptions
        if set(new_subs) != set(old) or any(
            old[t].sub_string != s.sub_string or old[t].expression_type != s.expression_type
            for t, s in new_subs.items()
        ):
            changed = True
        # Keep the newest version of each subscription, as Apache's updateSubscription does.
        for topic, sub in new_subs.items():
            prev = old.get(topic)
            if prev is None or sub.sub_version >= prev.sub_version or prev.sub_string != sub.sub_string:
                old[topic] = sub
        for topic in [t for t in old if t not in new_subs]:
            del old[topic]
        for listener in self.on_registered:
            listener(data.group_name)
        return changed

    def unregister(self, group: str, channel: Channel) -> bool:
        info = self.groups.get(group)
        if info is None or info.channels.pop(channel, None) is None:
            return False
        log.info("consumer left", group=group, peer=channel.remote_addr)
        if not info.channels:
            del self.groups[group]
        return True

    def channel_closed(self, channel: Channel) -> list[str]:
        """Drop ``channel`` from every group; returns the groups that changed."""
        return [g for g in list(self.groups) if self.unregister(g, channel)]

    def scan_expired(self) -> list[str]:
        now = time.monotonic()
        changed: list[str] = []
        for group, info in list(self.groups.items()):
            for ch, member in list(info.channels.items()):
                if now - member.last_update > self.expiry_seconds:
                    log.warning("consumer channel expired", group=group, client_id=member.client_id)
                    self.unregister(group, ch)
                    ch.close()
                    changed.append(group)
        return changed

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        info = self.groups.get(group)
        return None if info is None else info.subscriptions.get(topic)

    def client_ids(self, group: str) -> list[str]:
        info = self.groups.get(group)
        return [] if info is None else info.client_ids()

    def notify_ids_changed(self, group: str) -> None:
        """Tell every member of ``group`` to rebalance now (oneway, JSON)."""
        info = self.groups.get(group)
        if info is None:
            return
        for ch in list(info.channels):
            request = RemotingCommand.request(
                RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": group}, oneway=True
            )
            with ignore_closed():
                ch.invoke_oneway(request)


class ProducerManager:
    """Producer groups -> channels (used for transaction check-back)."""

    def __init__(self, expiry_seconds: float) -> None:
        self.groups: dict[str, dict[Channel, ClientChannelInfo]] = {}
        self.expiry_seconds = expiry_seconds

    def register(self, group: str, channel: Channel, client_id: str, language: int, version: int) -> None:
        members = self.groups.setdefault(group, {})
        member = members.get(channel)
        if member is None:
            members[channel] = ClientChannelInfo(channel, client_id, language, version)
        else:
            member.last_update = time.monotonic()

    def unregister(self, group: str, channel: Channel) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self.groups[group]

    def channel_closed(self, channel: Channel) -> None:
        for group in list(self.groups):
            self.unregister(group, channel)

    def scan_expired(self) -> None:
        now = time.monotonic()
        for group, members in list(self.groups.items()):
            for ch, member in list(members.items()):
                if now - member.last_update > self.expiry_seconds:
                    self.unregister(group, ch)

    def any_channel(self, group: str) -> Channel | None:
        for ch in self.groups.get(group, {}):
            if ch.is_open:
                return ch
        return None
