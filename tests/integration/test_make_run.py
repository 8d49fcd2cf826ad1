"""``make run`` (sample_project: site, listeners, Celery over rocketmq://) and ``make demo``, end to end.

Both are started through ``make`` as a user would, on free ports with their data under ``tmp_path``,
and stopped with Ctrl-C (SIGINT to the supervising Python process), which must exit 0.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


def python_pid(root: int, module: bytes) -> int:
    """PID of the ``python -m <module>`` process under ``root`` (make, maybe via a shell)."""
    todo = [root]
    while todo:
        pid = todo.pop()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if module in cmdline and b"make" not in cmdline[0]:
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        todo += [int(c) for c in children]
    raise AssertionError(f"{module!r} process not found")


class MakeTarget:
    """``make -s <target>`` in the repo with the test's venv, output in ``log``."""

    def __init__(self, target: str, args_var: str, args: str, log: Path) -> None:
        assert shutil.which("make"), "make is part of the documented setup (tools/system-packages.sh)"
        venv = Path(sys.executable).parent.parent
        self.log = log
        self._out = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            ["make", "-s", target, f"{args_var}={args}", f"VENV={venv}"], cwd=REPO, stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, line: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while line not in (text := self.text()):
            assert self.proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        return text

    def ctrl_c(self, module: bytes, timeout: float = 90) -> int:
        # Ctrl-C: the Python process itself gets SIGINT. (make re-raises a SIGINT it receives itself,
        # so the make process is not signalled here; its exit status is the program's.)
        os.kill(python_pid(self.proc.pid, module), signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._out.close()


def test_make_demo_then_ctrl_c(tmp_path: Path) -> None:
    args = f"--namesrv-port {free_port()} --broker-port {free_port()} --store-dir {tmp_path / 'store'}"
    demo = MakeTarget("demo", "DEMO_ARGS", args, tmp_path / "demo.log")
    try:
        demo.wait_for("serving until Ctrl-C", 90)
        assert demo.ctrl_c(b"rocketmq_integration.demo", 30) == 0, demo.text()
    finally:
        demo.stop()
    text = demo.text()
    assert "demo complete: 5/5 messages sent and consumed" in text
    assert text.count("received msgId=") == 5
    assert "stopped cleanly" in text


class Browser:
    """A cookie-keeping HTTP client that sends Django's CSRF token back."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path, timeout=30) as resp:
            return resp.geturl(), resp.read().decode()

    def post(self, path: str, data: dict[str, str], accept: str = "text/html") -> tuple[int, str]:
        req = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(data).encode(),
            headers={"X-CSRFToken": self.csrf(), "Accept": accept, "Referer": self.base + path},
        )  # fmt: skip
        with self.opener.open(req, timeout=30) as resp:
            return resp.status, resp.read().decode()

    def order(self, amount: str) -> int:
        self.get("/")
        status, body = self.post(
            "/", {"customer": "Ada", "item": "Rocket", "amount": amount}, "application/json"
        )
        assert status == 201, body
        return int(json.loads(body)["id"])

    def wait_steps(self, order_id: int, steps: set[str], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order: dict[str, Any] = json.loads(self.get(f"/orders/{order_id}.json")[1])
            if steps <= {e["step"] for e in order["events"]}:
                return order
            assert time.monotonic() < deadline, f"steps {steps} not all seen: {order}"
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_make_run_serves_the_shop_every_listener_and_celery_fire_then_ctrl_c(tmp_path: Path) -> None:
    web = free_port()
    args = f"--port {web} --namesrv-port {free_port()} --broker-port {free_port()} --data-dir {tmp_path / 'data'}"
    run = MakeTarget("run", "RUN_ARGS", args, tmp_path / "run.log")
    try:
        text = run.wait_for("serving until Ctrl-C", 240)
        site = re.search(r"shop +(http://127\.0\.0\.1:\d+)/", text)
        assert site is not None, text
        assert "Celery      worker on" in text, "the kombu transport is installed: a Celery worker must run"
        shop = Browser(site.group(1))

        big = shop.order("150.00")
        flow = {"placed", "payment", "big-order-review", "cache-invalidated", "notification", "receipt"}
        order = shop.wait_steps(big, flow)
        assert order["status"] == "notified" and order["flagged"] and order["receipt_sent"]
        details = {e["step"]: e["detail"] for e in order["events"]}
        assert details["receipt"] == "receipt sent by the Celery worker"
        assert "queued on Celery" in details["notification"]

        small = shop.order("20.00")
        order = shop.wait_steps(small, flow - {"big-order-review"})
        assert not order["flagged"] and "big-order-review" not in {e["step"] for e in order["events"]}

        # the dashboard: staff only, the printed credentials log in, the shop's groups are listed
        url, page = shop.get("/admin/rocketmq/groups/")
        assert "/admin/login/" in url
        status, page = shop.post(
            "/admin/login/?next=/admin/rocketmq/groups/",
            {"username": "admin", "password": "admin", "next": "/admin/rocketmq/groups/"},
        )
        assert status == 200 and 'data-group="shop_payments"' in page, page

        assert run.ctrl_c(b"sample_project") == 0, run.text()
    except AssertionError as exc:
        logs = tmp_path / "data" / "logs"
        tails = "".join(
            f"\n--- {name}.log (tail) ---\n{(logs / f'{name}.log').read_text(errors='replace')[-5000:]}"
            for name in ("listeners", "celery", "setup")
            if (logs / f"{name}.log").exists()
        )
        raise AssertionError(f"{exc}\n--- make run output (tail) ---\n{run.text()[-3000:]}{tails}") from None
    finally:
        run.stop()
        # the broadcast listener's client-side offsets (instance name per data dir, see settings)
        instance = "shop-" + hashlib.sha1(str((tmp_path / "data").resolve()).encode()).hexdigest()[:10]
        for leftover in (Path.home() / ".rocketmq_offsets").glob(f"*@{instance}"):
            shutil.rmtree(leftover, ignore_errors=True)
    text = run.text()
    assert "stopped cleanly" in text
    assert "[listeners] rocketmq worker: stopped after draining" in text
    assert "Traceback" not in text, text
