"""Packaging: an SPDX license string (no setuptools deprecation block on install) and a `run`
extra so that `make run` / `make demo` install the package without the dev tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    requires = " ".join(meta["build-system"]["requires"])
    floor = re.search(r"setuptools>=(\d+)", requires)
    assert floor is not None and int(floor.group(1)) >= 77  # PEP 639 license strings


def test_make_run_installs_the_run_extra_not_the_dev_tools() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}

    run, dev = names(extras["run"]), names(extras["dev"])
    assert run == {"django", "celery", "kombu"}  # sample_project's site, listener and Celery workers
    assert run < dev and not {"pytest", "ruff", "mypy", "selenium"} & run
    makefile = (REPO / "Makefile").read_text()
    for target in ("run", "demo"):
        rule = re.search(rf"^{target}: (.*)$", makefile, re.MULTILINE)
        assert rule is not None and "venv" not in rule.group(1).split()
    assert "pip install --quiet -e '.[run]'" in makefile
