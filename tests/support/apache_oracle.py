"""An Apache RocketMQ 4.9.8 broker (the "oracle", built outside the repo) as a test process.

Tests that need it read ``ROCKETMQ_ORACLE_HOME`` (a folder with ``java.sh``, see
``../shared/oracle/apache-rocketmq.md``) and skip with a reason when it is unset: CI has no Java.
4.9.8 also listens on ``listenPort - 2`` (fast channel) and ``listenPort + 1`` (HA, always), on all
interfaces, so :func:`free_apache_port` finds a port with both neighbours free.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.net import free_apache_port, wait_for_port
from tests.support.process import die_with_parent

__all__ = ["ApacheBroker", "free_apache_port", "oracle_home"]

ORACLE_ENV = "ROCKETMQ_ORACLE_HOME"


def oracle_home() -> Path:
    """The oracle folder, or a pytest skip when ``ROCKETMQ_ORACLE_HOME`` is unset or incomplete."""
    home = os.environ.get(ORACLE_ENV)
    if not home:
        pytest.skip(f"{ORACLE_ENV} not set: no Apache RocketMQ broker to test against (CI has no Java)")
    path = Path(home)
    if not (path / "java.sh").is_file():
        pytest.skip(f"{ORACLE_ENV}={home} has no java.sh")
    return path


class ApacheBroker:
    """``org.apache.rocketmq.broker.BrokerStartup -c broker.conf`` in its own folder."""

    def __init__(self, home: Path, workdir: Path, conf: Mapping[str, str | int]) -> None:
        self.home = home
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = int(conf["listenPort"])
        self.conf_path = workdir / "broker.conf"
        self.conf_path.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        self.log_path = workdir / "broker.out"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ApacheBroker:
        env = dict(os.environ)
        env["RMQ_USER_HOME"] = str(self.workdir)
        env["JAVA_OPTS"] = "-Xms256m -Xmx512m -Xmn128m -XX:MaxDirectMemorySize=512m"
        with self.log_path.open("ab") as out:
            self._popen = subprocess.Popen(
                [
                    str(self.home / "java.sh"),
                    "org.apache.rocketmq.broker.BrokerStartup",
                    "-c",
                    str(self.conf_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                preexec_fn=die_with_parent,
            )
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"Apache broker did not start: {self.log_path.read_text()[-2000:]}") from None
        return self

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop (SIGKILL after ``timeout``); never raises."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.send_signal(sig)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
