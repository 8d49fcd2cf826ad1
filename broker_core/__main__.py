"""Command line: ``python -m broker_core namesrv|broker|dump``.

``namesrv`` and ``broker`` run until SIGTERM/SIGINT, then shut down cleanly (flush, persist
metadata, unregister) and exit 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m broker_core",
        description="RocketMQ-compatible NameServer and Broker (Apache RocketMQ 4.9 remoting protocol).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{namesrv,broker}")

    ns = sub.add_parser(
        "namesrv", help="run a NameServer", description="Run a NameServer until SIGTERM/SIGINT."
    )
    ns.add_argument("--host", help="address to listen on (bindAddress; default 127.0.0.1)")
    ns.add_argument("--port", type=int, help="port to listen on (listenPort; default 9876)")
    ns.add_argument("-c", "--config", help="namesrv properties file (key=value, Apache key names)")
    ns.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")

    br = sub.add_parser(
        "broker",
        help="run a Broker",
        description="Run a Broker until SIGTERM/SIGINT. Flags override values read from -c broker.conf.",
    )
    br.add_argument("--namesrv", help="NameServer address(es) host:port[;host:port] (namesrvAddr)")
    br.add_argument("--host", help="address to listen on and to advertise (brokerIP1; default 127.0.0.1)")
    br.add_argument("--port", type=int, help="port to listen on (listenPort; default 10911)")
    br.add_argument("--store-dir", help="store root directory (storePathRootDir)")
    br.add_argument("--cluster", help="cluster name (brokerClusterName; default DefaultCluster)")
    br.add_argument("--broker-name", help="broker name (brokerName; default broker-a)")
    br.add_argument("--broker-id", type=int, help="broker id, 0 = master (brokerId; default 0)")
    br.add_argument("-c", "--config", help="broker.conf: key=value lines with Apache RocketMQ key names")
    br.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "namesrv":
        from broker_core.namesrv.app import run_from_args as run_namesrv

        return run_namesrv(args)
    from broker_core.broker.app import run_from_args as run_broker

    return run_broker(args)


if __name__ == "__main__":
    sys.exit(main())
