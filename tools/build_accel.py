"""Compile the hot modules (tools/accel_modules.txt) with mypyc into build/accel/<key>/, cached.

usage: python tools/build_accel.py [--require] [--force] [--status]

The key is a SHA-256 over the interpreter, the mypy version, this script, the module list and every
source the compiled modules depend on (themselves and the project modules they import,
transitively). A build for the current key is reused at once (only ``build/accel/current.json`` is
rewritten), so re-runs and branch switches back and forth do not recompile. The compiled modules
are picked up by ``broker_core._accel`` at import time; the ``.py`` files are never touched.

Without ``--require`` a build that cannot happen here (no mypy/mypyc, no C compiler, no Python
headers, a mypyc or compiler error) prints why and exits 0: everything then runs as pure Python.
With ``--require`` (``make accel-check``) it exits 1 instead. ``--status`` prints whether the
current sources have a build and exits 0 when they do.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "tools" / "accel_modules.txt"
PACKAGES = ("broker_core", "rocketmq_integration")
KEEP_BUILDS = 4


def accel_dir() -> Path:
    env = os.environ.get("ROCKETMQ_ACCEL_DIR")
    return Path(env) if env else ROOT / "build" / "accel"


def listed_modules() -> list[str]:
    """Source paths (relative to the checkout) from tools/accel_modules.txt."""
    out = []
    for line in LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            if not (ROOT / line).is_file():
                raise SystemExit(f"build_accel: {LIST.name} lists {line}, which does not exist")
            out.append(line)
    return out


def module_name(rel: str) -> str:
    parts = list(Path(rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_of(name: str) -> str | None:
    base = ROOT.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand.relative_to(ROOT).as_posix()
    return None


def _imports(rel: str) -> set[str]:
    """Project modules imported by one source file (absolute imports; ``from pkg import mod`` too)."""
    tree = ast.parse((ROOT / rel).read_text(), rel)
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            src = _source_of(name) if name.split(".")[0] in PACKAGES else None
            if src is not None:
                found.add(src)
    return found


def dependencies(modules: list[str]) -> list[str]:
    """The compiled sources plus every project source they import, transitively (sorted)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        todo.extend(_imports(rel) - seen)
    return sorted(seen)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_key(modules: list[str], files: dict[str, str]) -> str:
    try:
        from mypy.version import __version__ as mypy_version
    except ImportError:
        mypy_version = "absent"
    h = hashlib.sha256()
    for part in (
        sys.version,
        sys.implementation.cache_tag,
        str(sys.hexversion),
        mypy_version,
        digest(Path(__file__)),
        "\n".join(modules),
        *(f"{rel}={d}" for rel, d in sorted(files.items())),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def write_manifest(root: Path, built: dict[str, object]) -> None:
    tmp = root / f".{os.getpid()}.{MANIFEST}"
    tmp.write_text(json.dumps(built, indent=1, sort_keys=True))
    tmp.replace(root / MANIFEST)


MANIFEST = "current.json"


def missing_toolchain() -> str | None:
    """Why a build cannot happen here, or None."""
    try:
        import mypyc.build  # noqa: F401
        import setuptools  # noqa: F401
    except ImportError as exc:
        return f"mypyc/setuptools not importable ({exc}); install the dev or accel extra"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc}); tools/system-packages.sh installs gcc"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.is_file():
        return f"no Python headers ({include}); tools/system-packages.sh installs python3-dev"
    return None


_SETUP = """
import os
import sys
from setuptools import setup
from mypyc.build import mypycify

paths, target, build_lib, build_temp = sys.argv[1].split("\\n"), sys.argv[2], sys.argv[3], sys.argv[4]
extensions = mypycify(paths, opt_level="2", debug_level="0", target_dir=target, multi_file=True)
os.chdir(target)  # away from the checkout: setuptools must not read the project's pyproject.toml
setup(
    name="rocketmq-python-accel",
    ext_modules=extensions,
    script_args=["build_ext", "--build-lib", build_lib, "--build-temp", build_temp, "-j", "2"],
)
"""


def compile_modules(modules: list[str], dest: Path, work: Path) -> None:
    """mypyc + the C compiler, in a child process (cwd = the checkout, for mypy's config)."""
    out = work / "lib"
    env = {**os.environ, "ROCKETMQ_PURE_PYTHON": "1", "MYPY_FORCE_COLOR": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _SETUP, "\n".join(modules), str(work / "c"), str(out), str(work / "o")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-30:]
        raise RuntimeError("mypyc build failed:\n" + "\n".join(tail))
    out.rename(dest)


def extensions(build: Path, modules: list[str]) -> dict[str, str]:
    """Module name -> extension path (relative to the build) for each compiled module and the
    mypyc shared library (a top-level ``*__mypyc`` module)."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    found: dict[str, str] = {}
    for so in build.rglob("*"):
        if not so.is_file():
            continue
        suffix = next((s for s in suffixes if so.name.endswith(s)), None)
        if suffix is None:
            continue
        rel = so.relative_to(build)
        name = ".".join([*rel.parent.parts, so.name[: -len(suffix)]])
        found[name] = rel.as_posix()
    wanted = {module_name(m) for m in modules}
    if not wanted <= set(found):
        raise RuntimeError(f"build lacks {sorted(wanted - set(found))}")
    return found


def prune(root: Path, keep: str) -> None:
    builds = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[KEEP_BUILDS:]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--require", action="store_true", help="exit 1 when the build is impossible")
    parser.add_argument("--force", action="store_true", help="rebuild even when a build is cached")
    parser.add_argument("--status", action="store_true", help="only tell whether a current build exists")
    args = parser.parse_args(argv)
    modules = listed_modules()
    files = {rel: digest(ROOT / rel) for rel in dependencies(modules)}
    key = build_key(modules, files)
    root = accel_dir()
    build = root / key
    manifest: dict[str, object] = {
        "key": key,
        "modules": sorted(module_name(m) for m in modules),
        "files": files,
        "cache_tag": sys.implementation.cache_tag,
        "hexversion": sys.hexversion,
    }
    if args.status:
        ok = (build / "built.json").is_file()
        print(f"accel: {'built' if ok else 'not built'} for the current sources ({key})")
        return 0 if ok else 1
    with locked(root):
        if args.force and build.exists():
            shutil.rmtree(build)
        if not (build / "built.json").is_file():
            why = missing_toolchain()
            if why is not None:
                print(f"accel: not compiling ({why}); the pure-Python modules are used", file=sys.stderr)
                (root / MANIFEST).unlink(missing_ok=True)
                return 1 if args.require else 0
            print(f"accel: compiling {len(modules)} modules with mypyc ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            with tempfile.TemporaryDirectory(prefix=".tmp-", dir=root) as work:
                try:
                    shutil.rmtree(build, ignore_errors=True)
                    compile_modules(modules, build, Path(work))
                    exts = extensions(build, modules)
                except (RuntimeError, OSError) as exc:
                    shutil.rmtree(build, ignore_errors=True)
                    (root / MANIFEST).unlink(missing_ok=True)
                    print(f"accel: {exc}\naccel: the pure-Python modules are used", file=sys.stderr)
                    return 1 if args.require else 0
            (build / "built.json").write_text(json.dumps({**manifest, "extensions": exts}, indent=1))
            print(f"accel: compiled in {time.monotonic() - t0:.0f} s ({key})", file=sys.stderr)
        built = json.loads((build / "built.json").read_text())
        os.utime(build)
        write_manifest(root, built)
        prune(root, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
