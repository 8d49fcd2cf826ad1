"""Exit 0 when this interpreter has everything ``make run`` needs, else 1 (and say what is missing).

Reads pyproject.toml itself (not the installed metadata, which is stale after a pull that added a
dependency): the project must be installed, and every base dependency and every dependency of the
``run`` extra must be present. Versions are left to pip; this only avoids re-running pip (which
rewrites the editable install) when nothing is missing.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def missing(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = [project["name"], *project.get("dependencies", []), *project["optional-dependencies"]["run"]]
    out = []
    for req in wanted:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if match is None:
            continue
        try:
            version(match.group(0))
        except PackageNotFoundError:
            out.append(match.group(0))
    return out


if __name__ == "__main__":
    gone = missing(Path(__file__).resolve().parent.parent / "pyproject.toml")
    if gone:
        print(f"installing the run extra (missing: {', '.join(gone)})", file=sys.stderr)
    sys.exit(1 if gone else 0)
