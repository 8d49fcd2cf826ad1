"""The broker's replication role: HA master service, or HA replica + metadata sync on a slave.

* ASYNC_MASTER / SYNC_MASTER: an :class:`~broker_core.ha.master.HAMaster` listens on
  ``haListenPort`` (``listenPort + 1`` unless configured) and becomes the store's replicator, so
  SYNC_MASTER puts wait for a slave's acknowledgement.
* SLAVE: the store refuses puts; an :class:`~broker_core.ha.replica.HAReplica` streams the master's
  commit log in, and a :class:`~broker_core.broker.slave_sync.SlaveSynchronizer` copies its
  metadata. Both learn the master's addresses from the NameServer's answer to registration
  (:meth:`Replication.on_master_info`).
"""

from __future__ import annotations

from broker_core.broker.context import BrokerContext
from broker_core.broker.schedule import ScheduleMessageService
from broker_core.broker.slave_sync import SlaveSynchronizer
from broker_core.config.broker import BrokerConfig, BrokerRole
from broker_core.config.store import StoreConfig
from broker_core.ha.master import HAMaster
from broker_core.ha.replica import HAReplica
from broker_core.logsetup import get_logger
from broker_core.remoting.client import RemotingClient
from broker_core.store.message_store import MessageStore

__all__ = ["Replication"]

log = get_logger(__name__)


class Replication:
    """Starts and stops the replication side of one broker; see module docstring."""

    def __init__(
        self,
        cfg: BrokerConfig,
        store_cfg: StoreConfig,
        store: MessageStore,
        ctx: BrokerContext,
        schedule: ScheduleMessageService,
        client: RemotingClient,
    ) -> None:
        self.cfg = cfg
        self.store_cfg = store_cfg
        self.store = store
        self.master: HAMaster | None = None
        self.replica: HAReplica | None = None
        self.sync: SlaveSynchronizer | None = None
        if cfg.broker_role is BrokerRole.SLAVE:
            store.writable = False
            self.replica = HAReplica(store_cfg, store)
            self.sync = SlaveSynchronizer(ctx, schedule, client)
        else:
            self.master = HAMaster(
                store_cfg, store.commit_log, sync=cfg.broker_role is BrokerRole.SYNC_MASTER
            )

    async def start(self, listen_port: int) -> str:
        """Start; returns the HA address to advertise (``haServerAddr``)."""
        port = self.store_cfg.ha_listen_port or listen_port + 1
        if self.master is not None:
            try:
                port = await self.master.start(self.cfg.broker_ip1, port)
            except OSError as exc:
                if self.store_cfg.ha_listen_port:
                    raise
                # listenPort + 1 is taken: any free port will do, slaves learn it from the NameServer
                log.warning("HA port listenPort+1 unavailable, using a free port", port=port, error=str(exc))
                port = await self.master.start(self.cfg.broker_ip1, 0)
            self.store.replicator = self.master
        if self.replica is not None:
            self.replica.start()
        if self.sync is not None:
            self.sync.start()
        return f"{self.cfg.broker_ip1}:{port}"

    def on_master_info(self, master_addr: str | None, ha_server_addr: str | None) -> None:
        """The NameServer named this slave's master (registration answer)."""
        if self.replica is not None:
            self.replica.update_master_address(ha_server_addr)
        if self.sync is not None:
            self.sync.update_master_address(master_addr)

    async def stop(self) -> None:
        if self.sync is not None:
            await self.sync.stop()
        if self.replica is not None:
            await self.replica.stop()
        if self.master is not None:
            self.store.replicator = None
            await self.master.stop()
