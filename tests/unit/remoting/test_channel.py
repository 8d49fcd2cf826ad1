"""asyncio server/client and blocking client over loopback, with an in-process dispatcher."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable

import pytest

from broker_core.config.remoting import RemotingConfig
from broker_core.errors import RemotingClosedError, RemotingTimeoutError
from broker_core.pending import Pending
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.server import RemotingServer

ECHO, SLOW, BOOM, CALLBACK, NEVER = 1000, 1001, 1002, 1003, 1004


def build_dispatcher(seen: list[RemotingCommand]) -> Dispatcher:
    d = Dispatcher()

    def echo(req: RemotingCommand, ch: Channel) -> RemotingCommand:
        seen.append(req)
        return req.make_response(ext_fields=req.ext_fields, body=req.body)

    async def slow(req: RemotingCommand, ch: Channel) -> RemotingCommand:
        await asyncio.sleep(0.05)
        return req.make_response(remark="slow")

    def boom(req: RemotingCommand, ch: Channel) -> RemotingCommand:
        raise RuntimeError("kaput")

    async def callback(req: RemotingCommand, ch: Channel) -> RemotingCommand:
        answer = await ch.invoke(RemotingCommand.request(ECHO, {"from": "server"}), 2.0)
        return req.make_response(remark=(answer.ext_fields or {}).get("from"))

    def never(req: RemotingCommand, ch: Channel) -> None:
        return None

    d.register(ECHO, echo)
    d.register(SLOW, slow)
    d.register(BOOM, boom)
    d.register(CALLBACK, callback)
    d.register(NEVER, never)
    return d


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


async def _serve() -> tuple[RemotingServer, list[RemotingCommand]]:
    seen: list[RemotingCommand] = []
    srv = RemotingServer(RemotingConfig(port=0), build_dispatcher(seen))
    await srv.start()
    return srv, seen


def test_request_response_and_error_rules() -> None:
    async def main() -> None:
        srv, _ = await _serve()
        addr = f"127.0.0.1:{srv.port}"
        client_dispatcher = build_dispatcher([])
        client = RemotingClient(dispatcher=client_dispatcher)
        try:
            resp = await client.invoke(addr, RemotingCommand.request(ECHO, {"a": "1"}, b"body"))
            assert (
                resp.code == ResponseCode.SUCCESS and resp.body == b"body" and resp.ext_fields == {"a": "1"}
            )
            resp = await client.invoke(addr, RemotingCommand.request(4242))
            assert resp.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            assert resp.remark == " request type 4242 not supported"
            resp = await client.invoke(addr, RemotingCommand.request(BOOM))
            assert resp.code == ResponseCode.SYSTEM_ERROR and "kaput" in (resp.remark or "")
            many = await asyncio.gather(
                *(client.invoke(addr, RemotingCommand.request(SLOW)) for _ in range(50))
            )
            assert all(r.remark == "slow" for r in many)
            resp = await client.invoke(addr, RemotingCommand.request(CALLBACK))
            assert resp.remark == "server"  # the server asked the client something on the same connection
            with pytest.raises(RemotingTimeoutError):
                await client.invoke(addr, RemotingCommand.request(NEVER), timeout=0.1)
            binary = RemotingCommand.request(ECHO, {"k": "v"}, serialize_type=SerializeType.ROCKETMQ)
            resp = await client.invoke(addr, binary)
            assert resp.serialize_type == SerializeType.ROCKETMQ and resp.ext_fields == {"k": "v"}
        finally:
            await client.close()
            await srv.stop()

    run(main())


def test_garbage_closes_only_that_connection() -> None:
    async def main() -> None:
        srv, _ = await _serve()
        addr = f"127.0.0.1:{srv.port}"
        client = RemotingClient()
        try:
            for junk in (
                b"\xff" * 64,
                struct.pack(">ii", 1 << 30, 0),
                struct.pack(">ii", 14, 10) + b"{not json}",
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
                writer.write(junk)
                await writer.drain()
                assert await asyncio.wait_for(reader.read(), 2.0) == b""  # closed by the server
                writer.close()
            resp = await client.invoke(addr, RemotingCommand.request(ECHO))
            assert resp.code == ResponseCode.SUCCESS
        finally:
            await client.close()
            await srv.stop()

    run(main())


def test_pending_requests_fail_when_connection_closes() -> None:
    async def main() -> None:
        srv, _ = await _serve()
        client = RemotingClient()
        try:
            ch = await client.get_channel(f"127.0.0.1:{srv.port}")
            fut = asyncio.ensure_future(ch.invoke(RemotingCommand.request(NEVER), 5.0))
            await asyncio.sleep(0.05)
            await srv.stop()
            with pytest.raises(RemotingClosedError):
                await fut
        finally:
            await client.close()

    run(main())


def test_blocking_client() -> None:
    async def main() -> None:
        srv, seen = await _serve()
        try:

            def blocking() -> None:
                client = BlockingRemotingClient()
                addr = f"127.0.0.1:{srv.port}"
                resp = client.invoke(addr, RemotingCommand.request(ECHO, {"x": "y"}, b"123"))
                assert resp.ext_fields == {"x": "y"} and resp.body == b"123"
                client.invoke_oneway(addr, RemotingCommand.request(ECHO, {"oneway": "1"}))
                with pytest.raises(RemotingTimeoutError):
                    client.invoke(addr, RemotingCommand.request(NEVER), timeout=0.2)
                resp = client.invoke(addr, RemotingCommand.request(ECHO))  # reconnects after the timeout
                assert resp.code == ResponseCode.SUCCESS
                client.close()

            await asyncio.to_thread(blocking)
            assert any((c.ext_fields or {}).get("oneway") == "1" for c in seen)
        finally:
            await srv.stop()

    run(main())


def test_connect_refused_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = BlockingRemotingClient(connect_timeout=0.5)
    with pytest.raises(Exception, match="cannot connect"):
        client.invoke(f"127.0.0.1:{port}", RemotingCommand.request(ECHO))


@pytest.mark.parametrize("kind", ["future", "pending"])
def test_a_later_answer_is_written_by_its_callback_without_a_task(kind: str) -> None:
    """A handler may return a future or a ``Pending`` (the SYNC_FLUSH send path): answered when it
    resolves, errors as SYSTEM_ERROR, and no task is created per request."""
    LATER, LATER_FAILS = 1100, 1101

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[RemotingCommand] | Pending[RemotingCommand]] = []
        d = Dispatcher()

        def make() -> asyncio.Future[RemotingCommand] | Pending[RemotingCommand]:
            return loop.create_future() if kind == "future" else Pending()

        def later(req: RemotingCommand, ch: Channel) -> Awaitable[RemotingCommand]:
            fut = make()
            answer = req.make_response(remark=f"later {req.opaque}")
            loop.call_later(0.01, fut.set_result if isinstance(fut, asyncio.Future) else fut.resolve, answer)
            pending.append(fut)
            return fut

        def later_fails(req: RemotingCommand, ch: Channel) -> Awaitable[RemotingCommand]:
            fut = make()
            loop.call_later(
                0.01, fut.set_exception if isinstance(fut, asyncio.Future) else fut.fail, OSError("disk gone")
            )
            return fut

        d.register(LATER, later)
        d.register(LATER_FAILS, later_fails)
        srv = RemotingServer(RemotingConfig(port=0), d)
        await srv.start()
        client = RemotingClient()
        try:
            addr = f"127.0.0.1:{srv.port}"
            await client.invoke(addr, RemotingCommand.request(LATER))  # connect first
            before = asyncio.all_tasks()
            reqs = [
                asyncio.ensure_future(client.invoke(addr, RemotingCommand.request(LATER))) for _ in range(20)
            ]
            for _ in range(500):  # until the server holds all 20 unanswered futures (bounded)
                if len(pending) == 21:
                    break
                await asyncio.sleep(0.001)
            assert len(pending) == 21 and not any(f.done() for f in pending[1:])
            assert asyncio.all_tasks() - before - set(reqs) == set()  # the server made no task for them
            answers = await asyncio.gather(*reqs)
            assert all((a.remark or "").startswith("later ") for a in answers)
            assert len({a.remark for a in answers}) == 20  # each request got its own answer
            failed = await client.invoke(addr, RemotingCommand.request(LATER_FAILS))
            assert failed.code == ResponseCode.SYSTEM_ERROR and "disk gone" in (failed.remark or "")
        finally:
            await client.close()
            await srv.stop()

    run(main())
