"""``--log-json``: the servers write one JSON object per log line (structlog), stdout stays clean."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.net import free_port


def test_namesrv_logs_json_lines() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker_core", "namesrv", "--port", str(port), "--log-json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    records = [json.loads(x) for x in err.splitlines() if x.strip()]
    assert records and all(isinstance(r, dict) and "event" in r for r in records)
    assert any(r["event"] == "namesrv started" for r in records)
