"""Command line: ``python -m broker_core namesrv|broker|cluster|proxy|dump|verify|admin``.

``namesrv`` and ``broker`` run until SIGTERM/SIGINT, then shut down cleanly (flush, persist
metadata, unregister) and exit 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _add_loop_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        help="event loop: uvloop if installed (auto), or force one (default: $ROCKETMQ_EVENT_LOOP, else auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m broker_core",
        description="RocketMQ-compatible NameServer and Broker (Apache RocketMQ 4.9 remoting protocol).",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{namesrv,broker,cluster,proxy,dump,verify,admin}"
    )

    ns = sub.add_parser(
        "namesrv", help="run a NameServer", description="Run a NameServer until SIGTERM/SIGINT."
    )
    ns.add_argument("--host", help="address to listen on (bindAddress; default 127.0.0.1)")
    ns.add_argument("--port", type=int, help="port to listen on (listenPort; default 9876)")
    ns.add_argument("-c", "--config", help="namesrv properties file (key=value, Apache key names)")
    ns.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")
    ns.add_argument("--log-json", action="store_true", help="log JSON lines instead of console text")
    _add_loop_option(ns)

    br = sub.add_parser(
        "broker",
        help="run a Broker",
        description="Run a Broker until SIGTERM/SIGINT. Flags override values read from -c broker.conf.",
    )
    br.add_argument(
        "--namesrv",
        help="NameServer address(es) host:port[;host:port] (namesrvAddr); without it the broker registers nowhere",
    )
    br.add_argument("--host", help="address to listen on and to advertise (brokerIP1; default 127.0.0.1)")
    br.add_argument("--port", type=int, help="port to listen on (listenPort; default 10911)")
    br.add_argument("--store-dir", help="store root directory (storePathRootDir; default ~/store)")
    br.add_argument("--cluster", help="cluster name (brokerClusterName; default DefaultCluster)")
    br.add_argument("--broker-name", help="broker name (brokerName; default broker-a)")
    br.add_argument("--broker-id", type=int, help="broker id, 0 = master (brokerId; default 0)")
    br.add_argument("-c", "--config", help="broker.conf: key=value lines with Apache RocketMQ key names")
    br.add_argument("--acl-file", help="plain_acl.yml to use when aclEnable=true (aclFile)")
    br.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")
    br.add_argument("--log-json", action="store_true", help="log JSON lines instead of console text")
    _add_loop_option(br)

    cl = sub.add_parser(
        "cluster",
        help="run a NameServer and N broker groups (one process each) on this host",
        description="Run a NameServer and --groups broker masters (broker-a, broker-b, ...), each its own "
        "process, store and port, until SIGTERM/SIGINT (docs/operations.md, several broker groups).",
    )
    cl.add_argument("--groups", type=int, default=1, help="broker groups = broker processes (default 1)")
    cl.add_argument("--host", help="address to listen on and to advertise (default 127.0.0.1)")
    cl.add_argument("--namesrv-port", type=int, default=9876, help="NameServer port (default 9876)")
    cl.add_argument(
        "--port", type=int, default=10911, help="port of broker-a; group i gets PORT+10*i (0: free ports)"
    )
    cl.add_argument("--store-dir", help="stores go to STORE_DIR/broker-a, ... (default ~/store)")
    cl.add_argument("--cluster", default="DefaultCluster", help="cluster name (default DefaultCluster)")
    cl.add_argument("-c", "--config", help="broker.conf every group reads (Apache key names)")
    cl.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")

    px = sub.add_parser(
        "proxy",
        help="run a gRPC proxy for RocketMQ 5.x clients",
        description="Serve apache.rocketmq.v2.MessagingService (5.x clients) in front of the cluster.",
    )
    px.add_argument("--namesrv", help="NameServer address(es) host:port[;host:port]")
    px.add_argument("--host", help="address to listen on and to advertise (default 127.0.0.1)")
    px.add_argument("--port", type=int, help="gRPC port (default 8081)")
    px.add_argument("--tls-cert", help="PEM certificate: serve TLS and plaintext on the one port")
    px.add_argument("--tls-key", help="PEM private key of --tls-cert")
    px.add_argument("--acl-file", help="plain_acl.yml: require signed 5.x clients, act as their account")
    px.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")

    for name, text in (
        ("dump", "print commit-log records, consume-queue units and index entries; verify CRCs"),
        ("verify", "check a store offline; exit status 1 on corruption"),
    ):
        tool = sub.add_parser(name, help=text, description=text.capitalize() + ".")
        tool.add_argument("store_dir", metavar="STORE_DIR", help="store root (holds commitlog/)")
        tool.add_argument("--index-slots", type=int, help="maxHashSlotNum of the index files")
        tool.add_argument("--index-entries", type=int, help="maxIndexNum of the index files")
    sub.add_parser(
        "admin",
        help="mqadmin-style admin commands (python -m broker_core admin --help)",
        add_help=False,
    ).add_argument("admin_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["admin"]:  # everything after "admin" belongs to the admin tool's own parser
        from broker_core.admin.cli import main as run_admin

        return run_admin(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "namesrv":
        from broker_core.namesrv.app import run_from_args as run_namesrv

        return run_namesrv(args)
    if args.command == "cluster":
        from broker_core.cluster import run_from_args as run_cluster

        return run_cluster(args)
    if args.command == "proxy":
        from broker_core.proxy.app import run_from_args as run_proxy

        return run_proxy(args)
    if args.command in ("dump", "verify"):
        from pathlib import Path

        from broker_core.store.dump import main as run_dump

        geometry = (args.index_slots, args.index_entries) if args.index_slots and args.index_entries else None
        return run_dump(args.command, Path(args.store_dir), geometry)
    from broker_core.broker.app import run_from_args as run_broker

    return run_broker(args)


if __name__ == "__main__":
    sys.exit(main())
