"""The NameServer: broker registration, topic routes, cluster info and KV config."""

from broker_core.namesrv.app import NamesrvApp, run_from_args
from broker_core.namesrv.kv_config import KVConfigManager
from broker_core.namesrv.processor import NamesrvProcessor
from broker_core.namesrv.routes import RouteInfoManager

__all__ = ["KVConfigManager", "NamesrvApp", "NamesrvProcessor", "RouteInfoManager", "run_from_args"]
