"""Broker composition root: configuration -> store, managers, processors, server, timers.

This is the only place that builds the broker's object graph. ``BrokerApp`` is usable in-process
(tests, the demo) and by the CLI through :func:`run_from_args`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

from broker_core import _accel, eventloop
from broker_core.broker.acl import PlainAccessValidator, PlainAclFiles
from broker_core.broker.acl.processor import AclAdminProcessor
from broker_core.broker.clients import ConsumerManager, ProducerManager
from broker_core.broker.context import BrokerContext
from broker_core.broker.dledger import DLedgerReplication
from broker_core.broker.filtering.check_client import CheckClientConfigProcessor
from broker_core.broker.filtering.consumer_filter import ConsumerFilterManager
from broker_core.broker.groups import SubscriptionGroupManager
from broker_core.broker.locks import RebalanceLockManager
from broker_core.broker.long_polling import PullHoldService
from broker_core.broker.metrics import MetricsServer, broker_registry
from broker_core.broker.offsets import ConsumerOffsetManager
from broker_core.broker.persist import SnapshotFile
from broker_core.broker.pop.service import PopService
from broker_core.broker.processors.admin import AdminProcessor
from broker_core.broker.processors.client import ClientProcessor
from broker_core.broker.processors.consumer_admin import ConsumerAdminProcessor
from broker_core.broker.processors.end_transaction import EndTransactionProcessor
from broker_core.broker.processors.offsets import OffsetProcessor
from broker_core.broker.processors.ops import OpsProcessor
from broker_core.broker.processors.pull import PullProcessor
from broker_core.broker.processors.query import QueryProcessor
from broker_core.broker.processors.reply import ReplyProcessor
from broker_core.broker.processors.send import SendProcessor
from broker_core.broker.processors.send_back import SendBackProcessor
from broker_core.broker.registration import BrokerRegistrar
from broker_core.broker.replication import Replication
from broker_core.broker.schedule import ScheduleMessageService
from broker_core.broker.stats import BrokerStatsManager
from broker_core.broker.timer.service import TimerService
from broker_core.broker.topics import SCHEDULE_TOPIC, TopicConfigManager
from broker_core.broker.transaction.checker import TransactionChecker
from broker_core.config.broker import (
    BrokerConfig,
    BrokerRole,
    broker_config_from_properties,
    broker_config_to_properties,
    load_properties,
)
from broker_core.config.remoting import RemotingConfig
from broker_core.config.store import StoreConfig, parse_delay_levels
from broker_core.config.values import did_you_mean
from broker_core.errors import BrokerCoreError, ConfigError, StoreLockedError
from broker_core.logsetup import configure_logging, get_logger
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.send import SEND_CODES
from broker_core.remoting.server import RemotingServer
from broker_core.store.message_store import MessageStore

log = get_logger(__name__)


class BrokerApp:
    """A running broker. ``await start()`` returns the bound port; ``await stop()`` shuts down cleanly."""

    def __init__(self, config: BrokerConfig, store_config: StoreConfig) -> None:
        self.config = config
        self.store_config = store_config
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._role_lock = asyncio.Lock()
        self._leader_services = False

    def _build(self) -> None:
        cfg = self.config
        config_dir = Path(self.store_config.store_path_root_dir) / "config"
        self.hold = PullHoldService(self._rerun_pull)
        self.store = MessageStore(self.store_config, arrival_listener=self._on_arrival)
        expiry = cfg.channel_expired_timeout_ms / 1000
        self.ctx = BrokerContext(
            config=cfg,
            store=self.store,
            topics=TopicConfigManager(cfg, config_dir),
            groups=SubscriptionGroupManager(config_dir, auto_create=cfg.auto_create_subscription_group),
            offsets=ConsumerOffsetManager(config_dir),
            consumers=ConsumerManager(expiry),
            producers=ProducerManager(expiry),
            locks=RebalanceLockManager(cfg.rebalance_lock_max_live_time_ms / 1000),
            hold=self.hold,
            filters=ConsumerFilterManager(config_dir) if cfg.enable_property_filter else None,
            stats=BrokerStatsManager(cfg.broker_cluster_name),
        )
        self.schedule = ScheduleMessageService(
            self.store, parse_delay_levels(self.store_config.message_delay_level), config_dir
        )
        store_root = Path(self.store_config.store_path_root_dir)
        self.timer = TimerService(cfg, self.store, store_root, lambda: self.ctx.store_host)
        self.pop = PopService(self.ctx, store_root)
        self.ctx.on_topic_deleted.append(self.pop.drop_topic)
        self.dispatcher = Dispatcher()
        self.pull = PullProcessor(self.ctx)
        self.dispatcher.register(SEND_CODES, SendProcessor(self.ctx))
        self.dispatcher.register(RequestCode.PULL_MESSAGE, self.pull)
        ClientProcessor(self.ctx).register(self.dispatcher)
        OffsetProcessor(self.ctx).register(self.dispatcher)
        QueryProcessor(self.ctx).register(self.dispatcher)
        AdminProcessor(self.ctx, self._runtime_extra).register(self.dispatcher)
        OpsProcessor(self.ctx, self._config_updated).register(self.dispatcher)
        self.dispatcher.register(RequestCode.CONSUMER_SEND_MSG_BACK, SendBackProcessor(self.ctx))
        ConsumerAdminProcessor(self.ctx, self.schedule).register(self.dispatcher)
        ReplyProcessor(self.ctx).register(self.dispatcher)
        self.pop.register(self.dispatcher)
        self.dispatcher.register(RequestCode.END_TRANSACTION, EndTransactionProcessor(self.ctx))
        self.dispatcher.register(RequestCode.CHECK_CLIENT_CONFIG, CheckClientConfigProcessor(cfg))
        self.acl = _acl_validator(cfg)
        AclAdminProcessor(self.ctx, self.acl).register(self.dispatcher)
        if self.acl is not None:
            self.dispatcher.set_guard(self.acl.guard)
        self.tx_checker = TransactionChecker(self.ctx, self.store_config.file_reserved_time)
        remoting = RemotingConfig(
            host=cfg.broker_ip1 if cfg.broker_ip1 else "127.0.0.1",
            port=cfg.listen_port,
            max_frame_length=cfg.max_frame_length,
            max_inflight_per_connection=cfg.server_worker_limit,
        )
        self.server = RemotingServer(remoting, self.dispatcher, on_channel_close=self._channel_closed)
        # Apache's "fast"/VIP channel (listenPort - 2 there): Apache slaves sync topics through it
        fast = dataclasses.replace(remoting, port=cfg.fast_listen_port)
        self.fast_server = RemotingServer(fast, self.dispatcher, on_channel_close=self._channel_closed)
        self.client = RemotingClient()
        self.registrar = BrokerRegistrar(cfg, self.ctx.topics, self.client)
        self.ctx.on_topics_changed = self.registrar.register_soon
        self.replication: Replication | DLedgerReplication
        if self.store_config.enable_dleger_commit_log:
            self.replication = DLedgerReplication(
                cfg, self.store_config, self.store, self.ctx, self.schedule, self.client, self._change_role
            )
        else:
            self.replication = Replication(
                cfg, self.store_config, self.store, self.ctx, self.schedule, self.client
            )
        self.registrar.on_master_info = self.replication.on_master_info

    def _change_role(self, role: BrokerRole, broker_id: int) -> None:
        """DLedger leadership changed: register under the new role and id."""
        self.config = dataclasses.replace(self.config, broker_role=role, broker_id=broker_id)
        self.ctx.config = self.config
        self.registrar.cfg = self.config
        if self._started:
            self.registrar.register_soon()
            self._tasks.append(asyncio.get_running_loop().create_task(self._follow_leadership(role)))

    async def _follow_leadership(self, role: BrokerRole) -> None:
        """DLedger: delay-level delivery and transaction check-back run on the leader only."""
        async with self._role_lock:
            leading = role is not BrokerRole.SLAVE
            if leading and not self._leader_services:
                self.schedule.start()
                self.tx_checker.start()
            elif not leading and self._leader_services:
                await self.schedule.stop()
                await self.tx_checker.stop()
            self._leader_services = leading

    def _runtime_extra(self) -> dict[str, str]:
        """``scheduleMessageOffset_<level>`` = "delivered,max" as Apache's runtime info reports it."""
        return {
            f"scheduleMessageOffset_{level}": f"{done},{top}"
            for level, (done, top) in self.schedule.progress().items()
        }

    def _config_updated(self, config: BrokerConfig) -> None:
        self.config = config
        self.registrar.cfg = config

    def _rerun_pull(self, request: Any, channel: Channel) -> Any:
        return self.pull.rerun(request, channel)

    def _on_arrival(
        self, topic: str, queue_id: int, max_offset: int, tags_code: int | None = None, *_: Any
    ) -> None:
        self.hold.notify_arrival(topic, queue_id, max_offset, tags_code)
        if topic == SCHEDULE_TOPIC:
            self.schedule.notify_arrival(queue_id)
        self.timer.notify_arrival(topic)
        self.pop.notify_arrival(topic)

    def _channel_closed(self, channel: Channel) -> None:
        for group in self.ctx.consumers.channel_closed(channel):
            self.ctx.consumers.notify_ids_changed(group)
        self.ctx.producers.channel_closed(channel)

    async def start(self) -> int:
        self._build()
        await self.store.start()
        self.ctx.topics.load()
        self.ctx.groups.load()
        self.ctx.offsets.load()
        if self.ctx.filters is not None:
            self.ctx.filters.load()
        self.ctx.topics.persist()
        if self.config.broker_role is not BrokerRole.SLAVE:
            self.schedule.start()
            self.timer.start()
            self.tx_checker.start()
            self._leader_services = True
        self.pop.start()
        self.ctx.stats.start()
        self.metrics: MetricsServer | None = None
        if self.config.metrics_port >= 0:
            self.metrics = MetricsServer(
                broker_registry(self.ctx), self.config.broker_ip1, self.config.metrics_port
            )
            await self.metrics.start()
        if self.acl is not None:
            self.acl.start()
        port = await self.server.start()
        if self.config.fast_listen_port:
            await self.fast_server.start()
        if port != self.config.listen_port:
            self.config = dataclasses.replace(self.config, listen_port=port)
            self.ctx.config = self.config
            self.registrar.cfg = self.config
        self.registrar.ha_server_addr = await self.replication.start(port)
        await self.registrar.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._persist_offsets()), loop.create_task(self._scan_clients())]
        self._started = True
        log.info(
            "broker started",
            broker_name=self.config.broker_name,
            addr=self.config.broker_addr,
            store=self.store_config.store_path_root_dir,
        )
        return port

    async def _persist_offsets(self) -> None:
        interval = self.config.flush_consumer_offset_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            owners: list[SnapshotFile] = [self.ctx.offsets, self.schedule]
            if self.ctx.filters is not None:
                owners.append(self.ctx.filters)
            for owner in owners:  # taken on the loop, written by a worker thread
                snap = owner.snapshot()
                if snap is None:
                    continue
                try:
                    await asyncio.to_thread(snap.write)
                except OSError:
                    log.exception("persisting broker metadata failed", file=snap.file.path.name)
                    owner.mark_dirty()

    async def _scan_clients(self) -> None:
        while True:
            await asyncio.sleep(10.0)
            for group in set(self.ctx.consumers.scan_expired()):
                self.ctx.consumers.notify_ids_changed(group)
            self.ctx.producers.scan_expired()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.registrar.stop()
        await self.replication.stop()
        self.hold.wake_all()
        await self.server.stop()
        await self.fast_server.stop()
        await self.client.close()
        await self.schedule.stop()
        await self.timer.stop()
        await self.pop.stop()
        await self.tx_checker.stop()
        await self.ctx.stats.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.acl is not None:
            await self.acl.stop()
        if self.ctx.filters is not None:
            self.ctx.filters.persist(force=True)
        self.ctx.offsets.persist(force=True)
        self.ctx.topics.persist()
        self.ctx.groups.persist()
        await self.store.shutdown()
        log.info("broker stopped", broker_name=self.config.broker_name)


def _acl_validator(cfg: BrokerConfig) -> PlainAccessValidator | None:
    """The ACL hook when ``aclEnable``: ``aclFile`` or ``<rocketmqHome>/conf/plain_acl.yml`` plus ``acl/``."""
    if not cfg.acl_enable:
        return None
    if cfg.acl_file:
        main = Path(cfg.acl_file)
    elif cfg.rocketmq_home:
        main = Path(cfg.rocketmq_home) / "conf" / "plain_acl.yml"
    else:
        raise ConfigError("aclEnable=true needs aclFile or rocketmqHome (environment ROCKETMQ_HOME)")
    return PlainAccessValidator(PlainAclFiles(main, main.parent / "acl"), cfg.acl_watch_interval_ms / 1000)


def configs_from_args(args: argparse.Namespace) -> tuple[BrokerConfig, StoreConfig]:
    """Merge ``-c broker.conf`` with command-line flags (flags win)."""
    props: dict[str, str] = load_properties(args.config) if args.config else {}
    flag_keys = {
        "namesrv": "namesrvAddr",
        "host": "brokerIP1",
        "port": "listenPort",
        "store_dir": "storePathRootDir",
        "cluster": "brokerClusterName",
        "broker_name": "brokerName",
        "broker_id": "brokerId",
    }
    for attr, key in flag_keys.items():
        value = getattr(args, attr, None)
        if value is not None:
            props[key] = str(value)
    props.setdefault("storePathRootDir", str(Path.home() / "store"))
    if getattr(args, "acl_file", None):
        props["aclFile"] = args.acl_file
    if os.environ.get("ROCKETMQ_HOME"):
        props.setdefault("rocketmqHome", os.environ["ROCKETMQ_HOME"])
    broker_cfg, rest = broker_config_from_properties(props)
    if "messageDelayLevel" in props:  # read by both: the broker's schedule service and the store
        rest["messageDelayLevel"] = props["messageDelayLevel"]
    store_cfg = StoreConfig.from_properties(rest, Path.cwd())
    known = (
        set(props) - set(rest) | set(StoreConfig.apache_keys()) | set(broker_config_to_properties(broker_cfg))
    )
    for key in sorted(set(rest) - set(StoreConfig.apache_keys())):
        hint = did_you_mean(key, known)
        if hint is not None:
            log.warning("unknown broker.conf key ignored", key=key, did_you_mean=hint)
        else:
            log.warning("unknown broker.conf key ignored", key=key)
    if not broker_cfg.namesrv_addr:
        log.warning(
            "no NameServer address (--namesrv or namesrvAddr in broker.conf): this broker registers "
            "nowhere and clients cannot find it",
            store=str(store_cfg.store_path_root_dir),
        )
    return broker_cfg, store_cfg


def run_from_args(args: argparse.Namespace) -> int:
    """CLI entry: run a broker until SIGTERM/SIGINT; exit status 0 on a clean stop."""
    configure_logging(args.log_level, json=bool(getattr(args, "log_json", False)))
    try:
        broker_cfg, store_cfg = configs_from_args(args)
        loop = eventloop.resolve(getattr(args, "loop", None))
    except ConfigError as exc:
        print(f"broker: configuration error: {exc}", file=sys.stderr)
        return 2
    return eventloop.run(_serve(BrokerApp(broker_cfg, store_cfg)), loop)


async def _serve(app: BrokerApp) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info("event loop", loop=eventloop.loop_name(loop), compiled=_accel.status().reason)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = await app.start()
    except StoreLockedError:
        print(
            f"broker: cannot start: the store {app.store_config.store_path_root_dir} is in use by another "
            "broker (stop it, or give this one its own --store-dir)",
            file=sys.stderr,
        )
        return 1
    except (OSError, BrokerCoreError) as exc:
        print(f"broker: cannot start: {exc}", file=sys.stderr)
        return 1
    print(f"broker {app.config.broker_name} listening on {app.config.broker_ip1}:{port}", flush=True)
    await stop.wait()
    await app.stop()
    return 0
