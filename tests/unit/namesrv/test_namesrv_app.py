"""NamesrvApp embedded in-process: start on a free port, serve the async client, stop cleanly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from broker_core.config.namesrv import NamesrvConfig
from broker_core.namesrv import NamesrvApp
from broker_core.remoting.body import (
    DataVersion,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicRouteData,
)
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand


def _register(topic: str) -> RemotingCommand:
    body = RegisterBrokerBody(
        TopicConfigSerializeWrapper({topic: TopicConfig(topic, 2, 2)}, DataVersion(1, 1))
    )
    ext = {
        "brokerName": "broker-a",
        "brokerAddr": "127.0.0.1:10911",
        "clusterName": "DefaultCluster",
        "brokerId": "0",
        "haServerAddr": "127.0.0.1:10912",
    }
    return RemotingCommand.request(RequestCode.REGISTER_BROKER, ext, body.encode())


def _route(topic: str) -> RemotingCommand:
    return RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})


async def _wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_embedded_app_serves_and_forgets_closed_broker_channels() -> None:
    async def scenario() -> None:
        app = NamesrvApp(NamesrvConfig(port=0))
        port = await app.start()
        addr = f"127.0.0.1:{port}"
        broker, client = RemotingClient(), RemotingClient()
        try:
            assert (await broker.invoke(addr, _register("Embedded"))).code == ResponseCode.SUCCESS
            resp = await client.invoke(addr, _route("Embedded"))
            assert resp.code == ResponseCode.SUCCESS
            assert TopicRouteData.from_json(resp.body or b"").queue_datas[0].read_queue_nums == 2
            await broker.close()
            await _wait_for(lambda: not app.routes.broker_live)
            assert (await client.invoke(addr, _route("Embedded"))).code == ResponseCode.TOPIC_NOT_EXIST
        finally:
            await broker.close()
            await client.close()
            await app.stop()

    asyncio.run(scenario())


def test_expiry_scan_removes_and_disconnects_silent_brokers() -> None:
    async def scenario() -> None:
        config = NamesrvConfig(
            port=0, broker_channel_expired_seconds=0.2, scan_not_active_broker_interval=0.05
        )
        app = NamesrvApp(config)
        port = await app.start()
        addr = f"127.0.0.1:{port}"
        broker = RemotingClient()
        try:
            assert (await broker.invoke(addr, _register("Fading"))).code == ResponseCode.SUCCESS
            channel = await broker.get_channel(addr)
            await _wait_for(lambda: not app.routes.broker_live)
            await asyncio.wait_for(asyncio.shield(channel.closed), 3.0)  # the namesrv hung up
            assert app.scan_not_active_brokers() == 0
        finally:
            await broker.close()
            await app.stop()

    asyncio.run(scenario())


def test_config_is_replaced_by_update_namesrv_config() -> None:
    app = NamesrvApp(NamesrvConfig(port=0))
    app.processor.config = dataclasses.replace(app.config, order_message_enable=True)
    assert app.config.order_message_enable is True
