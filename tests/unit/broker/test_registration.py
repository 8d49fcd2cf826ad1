"""Broker registration: a topic created while a round is in flight is registered right after it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from broker_core.broker.registration import BrokerRegistrar
from broker_core.broker.topics import TopicConfigManager
from broker_core.config.broker import BrokerConfig
from broker_core.config.remoting import RemotingConfig
from broker_core.remoting.body.register import RegisterBrokerBody
from broker_core.remoting.body.topic_config import TopicConfig
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.server import RemotingServer


def test_change_during_a_round_triggers_another_round(tmp_path: Path) -> None:
    async def main() -> None:
        bodies: list[set[str]] = []
        release = asyncio.Event()

        async def register(req: RemotingCommand, ch: Channel) -> RemotingCommand:
            body = RegisterBrokerBody.decode(req.body or b"")
            bodies.append(set(body.topic_config_wrapper.topic_config_table))
            await release.wait()
            return req.make_response()

        dispatcher = Dispatcher()
        dispatcher.register(RequestCode.REGISTER_BROKER, register)
        server = RemotingServer(RemotingConfig(port=0), dispatcher)
        port = await server.start()
        cfg = BrokerConfig(namesrv_addr=f"127.0.0.1:{port}")
        topics = TopicConfigManager(cfg, tmp_path)
        client = RemotingClient()
        registrar = BrokerRegistrar(cfg, topics, client)
        try:
            topics.update(TopicConfig("First", 1, 1))
            registrar.register_soon()
            while not bodies:
                await asyncio.sleep(0.01)
            topics.update(TopicConfig("Second", 1, 1))  # while the first round waits for its answer
            registrar.register_soon()
            release.set()
            async with asyncio.timeout(5):
                while len(bodies) < 2:
                    await asyncio.sleep(0.01)
            assert "First" in bodies[0] and "Second" not in bodies[0]
            assert "Second" in bodies[1]
        finally:
            await client.close()
            await server.stop()

    asyncio.run(main())
