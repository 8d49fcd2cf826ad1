"""``python -m broker_core admin <command> [options]``: mqadmin's commands, names and table output.

Every command accepts ``-n/--namesrvAddr`` (``host:port[;host:port]``; default env ``NAMESRV_ADDR``),
``--namespace NS`` (topic and group options name ``NS%<name>``, as a 4.9 client with that
namespace sees them) and, for brokers with ACL on, ``--access-key/--secret-key`` (default env ``ROCKETMQ_ACCESS_KEY`` /
``ROCKETMQ_SECRET_KEY``), which sign every request. Exit status: 0 on success, 1 when the command
failed (the reason on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from broker_core.admin import cmd_broker, cmd_group, cmd_message, cmd_topic  # noqa: F401  (registration)
from broker_core.admin.client import AdminError, MQAdmin
from broker_core.admin.registry import COMMANDS
from broker_core.errors import BrokerCoreError
from broker_core.message.namespace import wrap as wrap_namespace


def build_parser(prog: str = "python -m broker_core admin") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Admin tool with Apache mqadmin's command names and output (works against our broker "
        "and against Apache RocketMQ).",
    )
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    for name in sorted(COMMANDS, key=str.lower):
        cmd = COMMANDS[name]
        p = sub.add_parser(name, help=cmd.help, description=cmd.help + ".")
        p.add_argument("-n", "--namesrvAddr", dest="namesrv", default=os.environ.get("NAMESRV_ADDR", ""),
                       help="Name server address list, eg: 192.168.0.1:9876;192.168.0.2:9876")  # fmt: skip
        p.add_argument(
            "--access-key",
            dest="auth_access_key",
            default=os.environ.get("ROCKETMQ_ACCESS_KEY"),
            help="ACL access key",
        )
        p.add_argument(
            "--secret-key",
            dest="auth_secret_key",
            default=os.environ.get("ROCKETMQ_SECRET_KEY"),
            help="ACL secret key",
        )
        p.add_argument("--timeout", type=float, default=5.0, help="request timeout in seconds (default 5)")
        p.add_argument(
            "--namespace", default="", help="4.9 client namespace: -t/-g names are taken as NS%%name"
        )
        cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    cmd = COMMANDS[args.admin_command]
    if args.namespace:
        for attr in ("topic", "group"):
            if isinstance(getattr(args, attr, None), str):
                setattr(args, attr, wrap_namespace(args.namespace, getattr(args, attr).strip()))
    admin = MQAdmin(
        args.namesrv, timeout=args.timeout, access_key=args.auth_access_key, secret_key=args.auth_secret_key
    )
    try:
        return cmd.run(args, admin, out)
    except AdminError as exc:
        err.write(f"{cmd.name} command failed: {exc}\n")
        return 1
    except BrokerCoreError as exc:
        err.write(f"{cmd.name} command failed: {exc}\n")
        return 1
    finally:
        admin.close()
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
