"""Exit 0 when this interpreter has everything ``make run`` needs, else 1 (and say what is missing).

Reads pyproject.toml itself (not the installed metadata, which is stale after a pull that added a
dependency): the project must be installed, and every base dependency and every dependency of the
``run`` extra must be present. Versions are left to pip; this only avoids re-running pip (which
rewrites the editable install) when nothing is missing.

``--accel`` checks the optional ``accel`` extra instead (uvloop; requirements whose environment
marker does not hold here are not wanted): exit 1 when one is missing.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _marker_holds(marker: str) -> bool:
    """Evaluate a PEP 508 marker with ``packaging`` (pip's copy if need be); unknown = holds."""
    try:
        from packaging.markers import Marker
    except ImportError:
        try:
            from pip._vendor.packaging.markers import Marker
        except ImportError:
            return True
    return bool(Marker(marker).evaluate())


def missing(pyproject: Path, extra: str = "run") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"][extra]
    wanted = extras if extra == "accel" else [project["name"], *project.get("dependencies", []), *extras]
    out = []
    for req in wanted:
        spec, _, marker = req.partition(";")
        if marker.strip() and not _marker_holds(marker.strip()):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
        if match is None:
            continue
        try:
            version(match.group(0))
        except PackageNotFoundError:
            out.append(match.group(0))
    return out


if __name__ == "__main__":
    accel = "--accel" in sys.argv[1:]
    gone = missing(Path(__file__).resolve().parent.parent / "pyproject.toml", "accel" if accel else "run")
    if gone:
        what = "the accel extra (optional)" if accel else "the run extra"
        print(f"installing {what} (missing: {', '.join(gone)})", file=sys.stderr)
    sys.exit(1 if gone else 0)
