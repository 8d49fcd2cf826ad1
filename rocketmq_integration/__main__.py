"""``python -m rocketmq_integration COMMAND``: the framework layer's commands.

* ``worker MODULE [MODULE ...]`` — run the ``@rocketmq_listener`` listeners those modules declare
  (see :mod:`rocketmq_integration.worker`, ``--help`` for the options).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command named by the first argument."""
    parser = argparse.ArgumentParser(prog="python -m rocketmq_integration")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("worker", help="run listeners until SIGTERM/SIGINT, then drain", add_help=False)
    args, rest = parser.parse_known_args(argv)
    from rocketmq_integration.worker import main as worker_main  # the only command (argparse checked)

    return worker_main(rest)


if __name__ == "__main__":
    sys.exit(main())
