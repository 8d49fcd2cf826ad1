"""Every fenced ``python`` block of README.md and docs/*.md runs, against the pytest plugin's
embedded cluster (collected with `sybil`).

Rules for writing docs:

* the blocks of one file run in order, in one namespace (a block may use names an earlier block of
  the same file defined) and as module code: no top-level ``await`` (wrap it in ``asyncio.run``);
* ``127.0.0.1:9876`` in a block is replaced by the embedded cluster's NameServer address;
* a block that must not run gets a visible marker on the line before it, with the reason:
  ``<!-- skip: next "needs a Django project" -->``;
* templates, producers and runners a block leaves in its namespace are closed after the file; the
  listener registries (emptied while the file runs) and the logging configuration are restored.

A file whose blocks fail reports the file, the line of the failing block and its exception.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import SkipTest

import pytest
from sybil import Example, Sybil
from sybil.example import NotEvaluated
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from rocketmq_integration.listeners import default_registry
from rocketmq_integration.transactions import default_transaction_registry

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOC_NAMESRV = "127.0.0.1:9876"


class ClusterEvaluator:
    """Sybil's Python evaluator, with the documented NameServer address replaced."""

    def __init__(self) -> None:
        self.namesrv_addr = DOC_NAMESRV

    def __call__(self, example: Example) -> None:
        source = str(example.parsed).replace(DOC_NAMESRV, self.namesrv_addr)
        padded = "\n" * (example.line + example.parsed.line_offset) + source
        exec(compile(padded, example.path, "exec", dont_inherit=True), example.namespace)
        example.namespace.pop("__builtins__", None)


EVALUATOR = ClusterEvaluator()
SYBIL = Sybil(
    parsers=[CodeBlockParser(language="python", evaluator=EVALUATOR), SkipParser()], patterns=["*.md"]
)


def close_left_overs(namespace: dict[str, Any]) -> None:
    from rocketmq_integration.client import SyncProducer, SyncPushConsumer
    from rocketmq_integration.listeners import ListenerContainer, ListenerRunner
    from rocketmq_integration.template import RocketMQTemplate

    for value in list(namespace.values()):
        if isinstance(value, RocketMQTemplate):
            value.close()
        elif isinstance(value, SyncProducer | SyncPushConsumer):
            value.shutdown()
        elif isinstance(value, ListenerRunner | ListenerContainer):
            value.stop()
        elif type(value).__module__.startswith("celery") and type(value).__name__ == "Celery":
            from rocketmq_integration.kombu.session import shutdown_sessions

            value.close()
            shutdown_sessions()  # the transport's shared clients unregister while the cluster runs


@pytest.fixture
def doc_sandbox(rocketmq_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    EVALUATOR.namesrv_addr = rocketmq_cluster.namesrv_addr
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROCKETMQ_NAMESRV", rocketmq_cluster.namesrv_addr)
    # the docs declare listeners in the process-wide registries: start from empty ones and give
    # other tests of this process theirs back (a Django test app registers at import, once)
    listeners = default_registry.all()
    tx_listeners = default_transaction_registry.all()
    default_registry.clear()
    for tx in tx_listeners:
        default_transaction_registry.unregister(tx.producer_group)
    try:
        yield
    finally:
        default_registry.clear()
        for spec in listeners:
            default_registry.register(spec)
        for tx in default_transaction_registry.all():
            default_transaction_registry.unregister(tx.producer_group)
        for tx in tx_listeners:
            default_transaction_registry.register(tx)
        root.handlers[:] = handlers
        root.setLevel(level)


def run_document(path: Path) -> tuple[int, list[str]]:
    """Run the python blocks of ``path`` in order; returns (blocks run, skip reasons).

    Raises:
        AssertionError: naming the file and line of the first block that failed.
    """
    document = SYBIL.parse(path)
    ran, skipped = 0, []
    try:
        for example in document.examples():
            try:
                example.evaluate()
            except NotEvaluated:
                skipped.append(f"line {example.line}")
                continue
            except SkipTest as exc:
                skipped.append(f"line {example.line}: {exc}")
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{path.name}, python block at line {example.line}: {type(exc).__name__}: {exc}"
                ) from exc
            ran += 1 if example.region.evaluator is EVALUATOR else 0
    finally:
        close_left_overs(document.namespace)
    return ran, skipped


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_python_blocks_run(path: Path, doc_sandbox: None) -> None:
    ran, skipped = run_document(path)
    if os.environ.get("DOC_SNIPPETS_VERBOSE"):
        print(f"{path.name}: {ran} blocks ran; skipped: {skipped}")


def test_a_broken_block_fails_and_a_marked_block_is_skipped(tmp_path: Path, doc_sandbox: None) -> None:
    doc = tmp_path / "example.md"
    doc.write_text(
        "Text.\n\n```python\nx = 1\n```\n\n"
        '<!-- skip: next "needs a Django project" -->\n\n```python\nraise RuntimeError("not run")\n```\n\n'
        "```python\nassert x == 1\nprint(undefined_name)\n```\n"
    )
    with pytest.raises(
        AssertionError, match=r"example.md, python block at line 13: NameError: name 'undefined_name'"
    ):
        run_document(doc)
    doc.write_text(doc.read_text().replace("print(undefined_name)", "y = x + 1"))
    assert run_document(doc) == (2, ["line 9: needs a Django project"])
