"""Ask a name server whether it answers (the deploy check, the health endpoint, the dashboard)."""

from __future__ import annotations

import asyncio
import concurrent.futures

__all__ = ["probe_name_server"]


async def _cluster_info(addr: str, timeout: float) -> None:
    from rocketmq_integration.client import Admin

    async with asyncio.timeout(timeout):
        async with Admin(addr) as admin:
            await admin.cluster_info()


def probe_name_server(addr: str, timeout: float = 2.0) -> str | None:
    """``None`` when ``addr`` answers GET_BROKER_CLUSTER_INFO within ``timeout``, else why not.

    Runs on a private loop in a worker thread, so it is safe to call from sync code that itself
    runs inside an event loop.
    """

    def run() -> str | None:
        try:
            asyncio.run(_cluster_info(addr, timeout))
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rocketmq-probe") as pool:
        return pool.submit(run).result(timeout + 10.0)
