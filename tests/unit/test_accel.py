"""The mypyc accelerations: compiled modules load only from a current build, pure mode is pure.

``tools/build_accel.py`` compiles the modules of ``tools/accel_modules.txt`` into ``build/accel``
(cached by source hash); ``broker_core._accel`` loads them at import time when the build matches
the sources. ``make test`` runs the whole suite in the default mode (compiled where it builds, on
uvloop) and the protocol/store/wire tests again with ``ROCKETMQ_PURE_PYTHON=1``;
:func:`test_this_process_runs_in_the_mode_it_should` checks, in each run, that the modules in use
are the ones that mode promises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from broker_core import _accel

REPO = Path(__file__).resolve().parents[2]
BUILD = [sys.executable, str(REPO / "tools" / "build_accel.py")]
LISTED = [
    line.split("#", 1)[0].strip()
    for line in (REPO / "tools" / "accel_modules.txt").read_text().splitlines()
    if line.split("#", 1)[0].strip()
]
MODULES = [".".join(Path(p).with_suffix("").parts) for p in LISTED]

pytestmark = pytest.mark.timeout(600)  # a cold build compiles (about 2 min on a busy 2-core box)

#: imports every listed module and prints {module: __file__, "_status": ...}; also runs the codecs
PROBE = f"""
import importlib, json, sys
from broker_core import _accel
files = {{m: importlib.import_module(m).__file__ for m in {MODULES!r}}}
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder, encode_frame
from broker_core.remoting.codes import SerializeType
for st in (SerializeType.JSON, SerializeType.ROCKETMQ):
    cmd = RemotingCommand(code=10, opaque=7, ext_fields={{"topic": "T"}}, body=b"x", serialize_type=st)
    (back,) = FrameDecoder().feed(encode_frame(cmd))
    assert (back.code, back.opaque, back.ext_fields, back.body) == (10, 7, {{"topic": "T"}}, b"x"), back
status = _accel.status()
files["_status"] = [status.active, status.reason]
print(json.dumps(files))
"""


def probe(env: dict[str, str]) -> dict[str, object]:
    full = {k: v for k, v in os.environ.items() if k not in (_accel.PURE_ENV, _accel.ACCEL_DIR_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def ensure_build() -> None:
    """Compile (or reuse the cached build); the toolchain is part of the documented setup."""
    done = subprocess.run([*BUILD, "--require"], cwd=REPO, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, f"the mypyc build failed here:\n{done.stderr[-3000:]}"


def test_compiled_modules_are_used_when_a_current_build_exists() -> None:
    ensure_build()
    files = probe({})
    assert files.pop("_status") == [True, files and _accel_reason(files)]
    assert all(str(f).endswith(".so") for f in files.values()), files
    assert set(files) == set(MODULES)


def _accel_reason(files: dict[str, object]) -> str:
    manifest = json.loads((_accel.accel_dir() / _accel.MANIFEST).read_text())
    return f"compiled build {manifest['key']}"


def test_pure_mode_imports_only_the_python_sources() -> None:
    ensure_build()  # a build is present, and still not used
    files = probe({_accel.PURE_ENV: "1"})
    assert files.pop("_status") == [False, "ROCKETMQ_PURE_PYTHON=1"]
    assert files == {m: str(REPO / p) for m, p in zip(MODULES, LISTED, strict=True)}


def test_a_stale_or_missing_build_falls_back_to_the_sources(tmp_path: Path) -> None:
    ensure_build()
    copy = tmp_path / "accel"
    shutil.copytree(_accel.accel_dir(), copy, ignore=shutil.ignore_patterns(".lock", ".tmp-*"))
    manifest = json.loads((copy / _accel.MANIFEST).read_text())
    manifest["files"][LISTED[0]] = "0" * 64  # as if the source was edited after the build
    (copy / _accel.MANIFEST).write_text(json.dumps(manifest))
    files = probe({_accel.ACCEL_DIR_ENV: str(copy)})
    assert files.pop("_status") == [False, f"stale: {LISTED[0]} changed since the build (make accel)"]
    assert all(str(f).endswith(".py") for f in files.values()), files
    empty = tmp_path / "none"
    files = probe({_accel.ACCEL_DIR_ENV: str(empty)})
    assert files.pop("_status") == [False, f"not built ({empty / _accel.MANIFEST} missing; make accel)"]
    assert all(str(f).endswith(".py") for f in files.values()), files


def test_this_process_runs_in_the_mode_it_should() -> None:
    """Each listed module in this test process is compiled exactly when the accelerations are on.

    ``make pytest`` sets ``ROCKETMQ_ACCEL_EXPECTED`` to ``compiled`` when a current build existed
    before the run (else ``pure``), so the default pass proves that the suite ran on the compiled
    modules and the ``ROCKETMQ_PURE_PYTHON=1`` pass that it ran on the sources.
    """
    import importlib

    files = {m: str(importlib.import_module(m).__file__) for m in MODULES}
    compiled = [m for m, f in files.items() if f.endswith(".so")]
    assert compiled in ([], MODULES), files  # all or nothing
    expected = os.environ.get("ROCKETMQ_ACCEL_EXPECTED")
    if _accel.pure_python():
        expected = "pure"
    if expected is not None:
        assert expected in ("pure", "compiled")
        assert (expected == "compiled") == bool(compiled) == _accel.status().active, (
            expected,
            _accel.status().reason,
        )
    else:
        assert bool(compiled) == _accel.status().active
