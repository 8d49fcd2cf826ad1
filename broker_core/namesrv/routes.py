"""RouteInfoManager: the NameServer's tables of clusters, broker groups, topics and live brokers.

Tables (all confined to the event loop, so plain dicts)::

    topic_queue   topic -> brokerName -> QueueData        (what GET_ROUTEINFO_BY_TOPIC returns)
    broker_addr   brokerName -> _BrokerGroup(cluster, {brokerId: "ip:port"})
    cluster_addr  clusterName -> {brokerName}
    broker_live   "ip:port" -> BrokerLiveInfo(last_update, data_version, channel, ha_server_addr)
    filter_server "ip:port" -> [filter server addresses]

Invariants: every brokerName in ``cluster_addr`` and ``topic_queue`` has an entry in
``broker_addr`` with at least one address, except topics whose queue data came from a master that
has since gone while slaves remain (Apache keeps those too). Removing the last address of a
brokerName removes the name everywhere, and topics left without queue data disappear.

Pure logic, no I/O: time comes in as ``now`` (monotonic seconds) and a channel is an opaque object
compared by identity; the caller closes channels of expired brokers.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from broker_core.logsetup import get_logger
from broker_core.remoting.body import (
    MASTER_ID,
    PERM_READ,
    PERM_WRITE,
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
)

__all__ = ["BrokerLiveInfo", "RegisterResult", "RouteInfoManager"]

log = get_logger(__name__)

#: TopicSysFlag bits (remoting spec 6.5).
FLAG_UNIT = 0x1
FLAG_UNIT_SUB = 0x2


@dataclass(slots=True)
class BrokerLiveInfo:
    """Liveness of one broker address."""

    last_update: float
    data_version: DataVersion
    channel: object | None
    ha_server_addr: str | None


@dataclass(slots=True)
class _BrokerGroup:
    cluster: str
    broker_name: str
    addrs: dict[int, str] = field(default_factory=dict)

    def snapshot(self) -> BrokerData:
        return BrokerData(self.cluster, self.broker_name, dict(self.addrs))


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """For a slave: where its master is (both ``None`` for a master or an orphan slave)."""

    ha_server_addr: str | None = None
    master_addr: str | None = None


class RouteInfoManager:
    """See the module docstring."""

    def __init__(self) -> None:
        self.topic_queue: dict[str, dict[str, QueueData]] = {}
        self.broker_addr: dict[str, _BrokerGroup] = {}
        self.cluster_addr: dict[str, set[str]] = {}
        self.broker_live: dict[str, BrokerLiveInfo] = {}
        self.filter_server: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ registration
    def register_broker(
        self,
        cluster: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str | None,
        topic_config_wrapper: TopicConfigSerializeWrapper | None,
        filter_server_list: list[str] | tuple[str, ...] = (),
        channel: object | None = None,
        now: float | None = None,
    ) -> RegisterResult:
        """Record a broker's registration (also its periodic keep-alive)."""
        now = time.monotonic() if now is None else now
        bound = log.bind(broker_name=broker_name, broker_addr=broker_addr, broker_id=broker_id)
        self.cluster_addr.setdefault(cluster, set()).add(broker_name)

        group = self.broker_addr.get(broker_name)
        first = group is None
        if group is None:
            group = self.broker_addr[broker_name] = _BrokerGroup(cluster, broker_name)
        # One ip:port has one id: a slave promoted to master re-registers under id 0.
        for bid in [bid for bid, addr in group.addrs.items() if addr == broker_addr and bid != broker_id]:
            del group.addrs[bid]
        old = group.addrs.get(broker_id)
        group.addrs[broker_id] = broker_addr
        first = first or old is None

        version = topic_config_wrapper.data_version if topic_config_wrapper else DataVersion()
        if topic_config_wrapper is not None and broker_id == MASTER_ID:
            if first or self.is_topic_config_changed(broker_addr, version):
                for tc in topic_config_wrapper.topic_config_table.values():
                    self._update_queue_data(broker_name, tc)
                bound.debug("topic table applied", topics=len(topic_config_wrapper.topic_config_table))

        previous = self.broker_live.get(broker_addr)
        self.broker_live[broker_addr] = BrokerLiveInfo(now, version, channel, ha_server_addr)
        if previous is None:
            bound.info("new broker registered", cluster=cluster, ha_server_addr=ha_server_addr)

        if filter_server_list:
            self.filter_server[broker_addr] = list(filter_server_list)
        else:
            self.filter_server.pop(broker_addr, None)

        if broker_id != MASTER_ID:
            master = group.addrs.get(MASTER_ID)
            if master is not None:
                info = self.broker_live.get(master)
                if info is not None:
                    return RegisterResult(ha_server_addr=info.ha_server_addr, master_addr=master)
        return RegisterResult()

    def _update_queue_data(self, broker_name: str, tc: TopicConfig) -> None:
        qd = QueueData(broker_name, tc.read_queue_nums, tc.write_queue_nums, tc.perm, tc.topic_sys_flag)
        per_broker = self.topic_queue.setdefault(tc.topic_name, {})
        if per_broker.get(broker_name) != qd:
            if broker_name in per_broker:
                log.info("topic queue data changed", topic=tc.topic_name, broker_name=broker_name)
            per_broker[broker_name] = qd

    def is_topic_config_changed(self, broker_addr: str, version: DataVersion) -> bool:
        info = self.broker_live.get(broker_addr)
        return info is None or info.data_version != version

    def data_version_of(self, broker_addr: str) -> DataVersion | None:
        info = self.broker_live.get(broker_addr)
        return None if info is None else info.data_version

    def touch(self, broker_addr: str, now: float | None = None) -> None:
        """Refresh a broker's last-update time (QUERY_DATA_VERSION acts as a keep-alive)."""
        info = self.broker_live.get(broker_addr)
        if info is not None:
            info.last_update = time.monotonic() if now is None else now

    # ------------------------------------------------------------------ removal
    def unregister_broker(self, cluster: str, broker_addr: str, broker_name: str, broker_id: int) -> None:
        self.broker_live.pop(broker_addr, None)
        self.filter_server.pop(broker_addr, None)
        group = self.broker_addr.get(broker_name)
        if group is not None:
            group.addrs.pop(broker_id, None)
        log.info("broker unregistered", broker_name=broker_name, broker_addr=broker_addr)
        if group is not None and not group.addrs:
            self._remove_broker_name(broker_name, cluster)

    def _remove_broker_name(self, broker_name: str, cluster: str | None = None) -> None:
        self.broker_addr.pop(broker_name, None)
        for name in [cluster] if cluster is not None else list(self.cluster_addr):
            names = self.cluster_addr.get(name)
            if names is not None:
                names.discard(broker_name)
                if not names:
                    del self.cluster_addr[name]
        for topic in list(self.topic_queue):
            per_broker = self.topic_queue[topic]
            if per_broker.pop(broker_name, None) is not None and not per_broker:
                del self.topic_queue[topic]
        log.info("broker name removed", broker_name=broker_name)

    def on_channel_destroy(self, channel: object) -> list[str]:
        """Forget every broker address registered over ``channel``; returns those addresses."""
        addrs = [addr for addr, info in self.broker_live.items() if info.channel is channel]
        for addr in addrs:
            self._remove_addr(addr)
        return addrs

    def _remove_addr(self, broker_addr: str) -> None:
        self.broker_live.pop(broker_addr, None)
        self.filter_server.pop(broker_addr, None)
        for name, group in list(self.broker_addr.items()):
            for bid in [bid for bid, addr in group.addrs.items() if addr == broker_addr]:
                del group.addrs[bid]
                log.info("broker removed", broker_name=name, broker_addr=broker_addr, broker_id=bid)
            if not group.addrs:
                self._remove_broker_name(name)

    def scan_not_active(self, expiry_seconds: float, now: float | None = None) -> list[BrokerLiveInfo]:
        """Remove brokers silent for more than ``expiry_seconds``; returns their live infos.

        The caller should close the returned channels (Apache does).
        """
        now = time.monotonic() if now is None else now
        expired = [(a, i) for a, i in self.broker_live.items() if i.last_update + expiry_seconds < now]
        for addr, info in expired:
            log.warning("broker expired", broker_addr=addr, silent_seconds=round(now - info.last_update, 1))
            self._remove_addr(addr)
        return [info for _, info in expired]

    def delete_topic(self, topic: str, cluster: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV; with ``cluster`` only that cluster's queue data goes."""
        if cluster is None:
            self.topic_queue.pop(topic, None)
            return
        per_broker = self.topic_queue.get(topic)
        if per_broker is None:
            return
        for name in self.cluster_addr.get(cluster, ()):
            per_broker.pop(name, None)
        if not per_broker:
            del self.topic_queue[topic]

    def change_write_perm(self, broker_name: str, wipe: bool) -> int:
        """WIPE/ADD_WRITE_PERM_OF_BROKER: returns how many topics' queue data changed."""
        count = 0
        for per_broker in self.topic_queue.values():
            qd = per_broker.get(broker_name)
            if qd is None:
                continue
            perm = qd.perm & ~PERM_WRITE if wipe else PERM_READ | PERM_WRITE
            per_broker[broker_name] = dataclasses.replace(qd, perm=perm)
            count += 1
        return count

    # ------------------------------------------------------------------ queries
    def pickup_topic_route_data(self, topic: str) -> TopicRouteData | None:
        """The route of ``topic``, or ``None`` (TOPIC_NOT_EXIST) when no group serves it."""
        per_broker = self.topic_queue.get(topic)
        if not per_broker:
            return None
        broker_datas: list[BrokerData] = []
        filters: dict[str, list[str]] = {}
        for name in per_broker:
            group = self.broker_addr.get(name)
            if group is None:
                continue
            broker_datas.append(group.snapshot())
            for addr in group.addrs.values():
                if addr in self.filter_server:
                    filters[addr] = list(self.filter_server[addr])
        if not broker_datas:
            return None
        return TopicRouteData(tuple(per_broker.values()), tuple(broker_datas), filters)

    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(
            {name: group.snapshot() for name, group in self.broker_addr.items()},
            {cluster: sorted(names) for cluster, names in self.cluster_addr.items()},
        )

    def all_topics(self) -> TopicList:
        return TopicList(tuple(self.topic_queue))

    def topics_by_cluster(self, cluster: str) -> TopicList:
        names = self.cluster_addr.get(cluster, set())
        return TopicList(tuple(t for t, per_broker in self.topic_queue.items() if names & per_broker.keys()))

    def system_topics(self) -> TopicList:
        """Cluster names and broker names (each is a topic), plus one broker address."""
        topics: list[str] = []
        for cluster, names in self.cluster_addr.items():
            topics.append(cluster)
            topics.extend(sorted(names))
        addr = next((g.addrs[min(g.addrs)] for g in self.broker_addr.values() if g.addrs), None)
        return TopicList(tuple(dict.fromkeys(topics)), addr)

    def unit_topics(self, *, unit: bool | None, unit_sub: bool | None) -> TopicList:
        """Topics whose first queue data matches the TopicSysFlag unit bits (``None`` = any)."""
        out = []
        for topic, per_broker in self.topic_queue.items():
            if not per_broker:
                continue
            flag = next(iter(per_broker.values())).topic_sys_flag
            if unit is not None and bool(flag & FLAG_UNIT) != unit:
                continue
            if unit_sub is not None and bool(flag & FLAG_UNIT_SUB) != unit_sub:
                continue
            out.append(topic)
        return TopicList(tuple(out))
