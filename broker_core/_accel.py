"""Optional mypyc-compiled copies of the hot modules, used only when built for exactly these sources.

``tools/build_accel.py`` (run by ``make test``, ``make run``, ``make accel``) compiles the modules listed in ``tools/accel_modules.txt`` into
``build/accel/<key>/`` and writes ``build/accel/current.json``: the key, the compiled module names
with their extension files, and the SHA-256 of every source the build depended on (the compiled
modules and the project modules they import, transitively). :func:`install`, called when
``broker_core`` is imported, reads that manifest, re-hashes those sources and, only when every one
matches, puts a finder first on :data:`sys.meta_path` that loads the compiled extension for those
module names. A missing or stale build (a source edited since), another interpreter,
``ROCKETMQ_PURE_PYTHON=1`` or ``ROCKETMQ_COMPILED=0`` leave the import system alone: the ``.py``
modules load, as they do in an installed wheel (which ships no build). ``ROCKETMQ_ACCEL_DIR``
points at another build root.

This module imports only the standard library: it runs before any other ``broker_core`` module.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = [
    "ACCEL_DIR_ENV",
    "COMPILED_ENV",
    "MANIFEST",
    "PROJECT_ROOT",
    "PURE_ENV",
    "AccelStatus",
    "accel_dir",
    "file_digest",
    "install",
    "pure_python",
    "status",
]

PURE_ENV = "ROCKETMQ_PURE_PYTHON"
#: ``ROCKETMQ_COMPILED=0``: no compiled modules, the event loop choice unaffected (for measuring)
COMPILED_ENV = "ROCKETMQ_COMPILED"
ACCEL_DIR_ENV = "ROCKETMQ_ACCEL_DIR"
MANIFEST = "current.json"
#: the directory holding ``broker_core/`` (the checkout in an editable install)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AccelStatus:
    """Whether compiled modules are in use; ``reason`` says why not (or which build is)."""

    active: bool
    reason: str
    modules: tuple[str, ...] = ()
    build_dir: Path | None = None
    files: dict[str, str] = field(default_factory=dict)


_status = AccelStatus(False, "not installed yet")


def pure_python() -> bool:
    """True when ``ROCKETMQ_PURE_PYTHON`` asks for no accelerations (set and not ``0``)."""
    return os.environ.get(PURE_ENV, "").strip() not in ("", "0")


def accel_dir() -> Path:
    """Root of the compiled builds: ``$ROCKETMQ_ACCEL_DIR`` or ``build/accel`` of the checkout."""
    env = os.environ.get(ACCEL_DIR_ENV)
    return Path(env) if env else PROJECT_ROOT / "build" / "accel"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled extension of each listed module name (and mypyc's shared library)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        so = self.paths.get(fullname)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(so))
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


def _load() -> AccelStatus:
    if pure_python():
        return AccelStatus(False, f"{PURE_ENV}=1")
    if os.environ.get(COMPILED_ENV, "").strip() == "0":
        return AccelStatus(False, f"{COMPILED_ENV}=0")
    root = accel_dir()
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return AccelStatus(False, f"not built ({root / MANIFEST} missing; make accel)")
    except (OSError, ValueError) as exc:
        return AccelStatus(False, f"unreadable manifest {root / MANIFEST}: {exc}")
    try:
        if manifest["cache_tag"] != sys.implementation.cache_tag or manifest["hexversion"] != sys.hexversion:
            return AccelStatus(False, f"built for another interpreter ({manifest['cache_tag']})")
        files: dict[str, str] = manifest["files"]
        for rel, digest in files.items():
            try:
                if file_digest(PROJECT_ROOT / rel) != digest:
                    return AccelStatus(False, f"stale: {rel} changed since the build (make accel)")
            except OSError:
                return AccelStatus(False, f"stale: {rel} is gone")
        build = root / str(manifest["key"])
        paths = {str(name): build / str(rel) for name, rel in manifest["extensions"].items()}
        compiled = tuple(str(name) for name in manifest["modules"])
    except (KeyError, TypeError, AttributeError) as exc:
        return AccelStatus(False, f"malformed manifest {root / MANIFEST}: {exc!r}")
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return AccelStatus(False, f"incomplete build: {missing[0]} missing")
    if any(name in sys.modules for name in compiled):
        return AccelStatus(False, "a listed module was imported before the finder was installed")
    sys.meta_path.insert(0, _CompiledFinder(paths))
    return AccelStatus(True, f"compiled build {build.name}", compiled, build, files)


def install() -> AccelStatus:
    """Put the compiled modules in place when a current build exists (once per process)."""
    global _status
    if not any(isinstance(f, _CompiledFinder) for f in sys.meta_path):
        _status = _load()
    return _status


def status() -> AccelStatus:
    """The outcome of :func:`install` in this process."""
    return _status
