"""The command registry of ``python -m broker_core admin`` and the output helpers shared by commands.

A command is a function ``run(args, admin, out) -> int`` registered with :func:`command`, which also
takes the function that adds the command's options to its argparse sub-parser. Output follows
mqadmin's ``printf`` formats; :func:`jfmt` converts Java's ``%-20s``/``%d``/``%n`` to Python.
"""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from broker_core.admin.client import MQAdmin
from broker_core.message.properties import java_string_hash

Run = Callable[[argparse.Namespace, MQAdmin, TextIO], int]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    configure: Configure
    run: Run


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Configure) -> Callable[[Run], Run]:
    """Register ``run`` as the admin command ``name`` (mqadmin's name)."""

    def deco(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return deco


_JAVA_SPEC = re.compile(r"%([-0-9.]*)([sdfn%])")


def jfmt(fmt: str, *values: Any) -> str:
    """Java ``String.format`` for the subset mqadmin uses (``%-20s``, ``%4d``, ``%.2f``, ``%n``)."""
    it = iter(values)

    def repl(m: re.Match[str]) -> str:
        flags, conv = m.group(1), m.group(2)
        if conv == "n":
            return "\n"
        if conv == "%":
            return "%"
        v = next(it)
        if conv == "s":
            return ("%" + flags + "s") % java_str(v)
        if conv == "d":
            return ("%" + flags + "d") % int(v)
        return ("%" + flags + "f") % float(v)

    return _JAVA_SPEC.sub(repl, fmt)


def java_str(v: Any) -> str:
    """``String.valueOf``: ``null`` for None, ``true``/``false`` for booleans."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(x)}" for k, x in v.items()) + "}"
    return str(v)


def java_hash_order(keys: list[str]) -> list[str]:
    """Iteration order of a ``java.util.HashMap`` filled with ``keys`` in this order.

    Buckets are ``(h ^ (h >>> 16)) & (capacity - 1)`` with the capacity doubling from 16 whenever
    the size passes 3/4 of it; a resize keeps the insertion order inside each bucket, so the final
    order is (bucket in the final table, insertion order).
    """
    cap = 16
    while len(keys) > cap * 3 // 4:
        cap *= 2
    order = []
    for i, k in enumerate(keys):
        h = java_string_hash(k) & 0xFFFFFFFF
        order.append((((h ^ (h >> 16)) & (cap - 1)), i, k))
    return [k for _b, _i, k in sorted(order)]


def java_map_str(d: dict[str, str]) -> str:
    """``HashMap.toString()`` of ``d`` (keys inserted in ``d``'s order)."""
    return "{" + ", ".join(f"{k}={d[k]}" for k in java_hash_order(list(d))) + "}"


def front(text: str | None, size: int) -> str | None:
    """``UtilAll.frontStringAtLeast``: at most ``size`` characters."""
    return text[:size] if text is not None and len(text) > size else text


def human_time2(ms: int) -> str:
    """``UtilAll.timeMillisToHumanString2``: ``yyyy-MM-dd HH:mm:ss,SSS`` in local time."""
    dt = datetime.datetime.fromtimestamp(ms / 1000)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + f",{ms % 1000:03d}"


def human_time(ms: int) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in local time."""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def parse_bool(text: str) -> bool:
    """``Boolean.parseBoolean``: only ``true`` (any case) is true."""
    return text.strip().lower() == "true"


def perm_string(perm: int) -> str:
    """``PermName.perm2String``: ``RW-`` …"""
    return ("R" if perm & 4 else "-") + ("W" if perm & 2 else "-") + ("X" if perm & 1 else "-")


def target_options(parser: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    """``-b brokerAddr`` / ``-c clusterName`` (one of them)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("-b", "--brokerAddr", dest="broker_addr", help=f"{what} which broker")
    group.add_argument("-c", "--clusterName", dest="cluster", help=f"{what} which cluster")


def target_addrs(args: argparse.Namespace, admin: MQAdmin) -> list[str]:
    if args.broker_addr:
        return [args.broker_addr.strip()]
    return admin.master_addrs(args.cluster.strip())
