"""``manage.py rocketmq_admin <operation>``: the ``mqadmin`` operations a Django user needs.

Operations (snake_case ``mqadmin`` names)::

    cluster_list                       brokers per cluster with their addresses
    broker_status [--broker ADDR]      runtime figures of one broker (default: every master)
    topic_list                         topics known to the NameServer
    topic_route TOPIC                  queues and brokers of a topic
    topic_status TOPIC                 min/max offset and last store time per queue
    update_topic TOPIC [--read-queues N] [--write-queues N] [--order] [--cluster C | --broker ADDR]
    group_list                         subscription groups of every master
    consumer_progress GROUP [--topic T]   broker and consumer offset and lag per queue
    consumer_connection GROUP          online members of a group and their subscriptions
    query_msg_by_id MSG_ID [--topic T] a message by its offset msgId (or client msgId with --topic)
    query_msg_by_key TOPIC KEY         messages whose KEYS contain KEY
    send_message TOPIC BODY [--tags T] [--keys K]   send a test message with the settings' template
    list_listeners                     the project's listeners and whether settings switch them off
    check                              does the NameServer answer?

``--namesrv`` overrides ``ROCKETMQ['NAME_SERVER']``; ``--json`` prints JSON. Exit status 1 when
the cluster cannot be reached or answers an error, 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from broker_core.message.model import MessageExt
from rocketmq_integration.django.conf import get_config

OPERATIONS = (
    "cluster_list", "broker_status", "topic_list", "topic_route", "topic_status", "update_topic", "group_list",
    "consumer_progress", "consumer_connection", "query_msg_by_id", "query_msg_by_key", "send_message",
    "list_listeners", "check",
)  # fmt: skip

Rows = list[dict[str, Any]]


def _ts(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds") if ms else ""


def _message_row(m: MessageExt) -> dict[str, Any]:
    body: str
    try:
        body = m.body.decode("utf-8")
    except UnicodeDecodeError:
        body = "hex:" + m.body.hex()
    return {
        "msg_id": m.msg_id, "offset_msg_id": m.offset_msg_id, "topic": m.topic, "tags": m.tags or "",
        "keys": m.keys or "", "queue_id": m.queue_id, "queue_offset": m.queue_offset,
        "store_time": _ts(m.store_timestamp), "reconsume_times": m.reconsume_times, "body": body,
        "properties": dict(m.properties),
    }  # fmt: skip


async def _cluster_list(admin: Any, o: dict[str, Any]) -> Rows:
    info = await admin.cluster_info()
    rows = []
    for cluster, names in sorted(info.cluster_addr_table.items()):
        for name in sorted(names):
            bd = info.broker_addr_table.get(name)
            for bid, addr in sorted((bd.broker_addrs if bd else {}).items()):
                rows.append({"cluster": cluster, "broker": name, "id": bid, "addr": addr})
    return rows


async def _broker_status(admin: Any, o: dict[str, Any]) -> Rows:
    addrs = [o["broker"]] if o.get("broker") else list((await admin.master_addrs()).values())
    rows = []
    for addr in addrs:
        info = await admin.broker_runtime_info(addr)
        rows += [{"broker": addr, "key": k, "value": v} for k, v in sorted(info.items())]
    return rows


async def _topic_list(admin: Any, o: dict[str, Any]) -> Rows:
    return [{"topic": t} for t in sorted(await admin.topic_list())]


async def _topic_route(admin: Any, o: dict[str, Any]) -> Rows:
    route = await admin.examine_route(o["topic"])
    addrs = {bd.broker_name: dict(bd.broker_addrs) for bd in route.broker_datas}
    return [
        {"broker": q.broker_name, "read_queues": q.read_queue_nums, "write_queues": q.write_queue_nums,
         "perm": q.perm, "addrs": ",".join(f"{i}={a}" for i, a in sorted(addrs.get(q.broker_name, {}).items()))}
        for q in route.queue_datas
    ]  # fmt: skip


async def _topic_status(admin: Any, o: dict[str, Any]) -> Rows:
    stats = await admin.topic_stats(o["topic"])
    return [
        {"broker": mq[1], "queue": mq[2], "min_offset": s.min_offset, "max_offset": s.max_offset,
         "last_update": _ts(s.last_update_timestamp)}
        for mq, s in stats.items()
    ]  # fmt: skip


async def _update_topic(admin: Any, o: dict[str, Any]) -> Rows:
    addrs = await admin.create_topic(
        o["topic"], cluster=o.get("cluster"), broker_addr=o.get("broker"), read_queue_nums=o["read_queues"],
        write_queue_nums=o["write_queues"], order=o["order"],
    )  # fmt: skip
    return [{"topic": o["topic"], "updated": addr} for addr in addrs]


async def _group_list(admin: Any, o: dict[str, Any]) -> Rows:
    groups = await admin.subscription_groups()
    return [
        {"group": g, "consume_enable": cfg.get("consumeEnable", True)} for g, cfg in sorted(groups.items())
    ]


async def _consumer_progress(admin: Any, o: dict[str, Any]) -> Rows:
    stats = await admin.consume_stats(o["group"], o.get("topic"))
    return [
        {"topic": mq[0], "broker": mq[1], "queue": mq[2], "broker_offset": w.broker_offset,
         "consumer_offset": w.consumer_offset, "lag": max(0, w.broker_offset - w.consumer_offset),
         "last_time": _ts(w.last_timestamp)}
        for mq, w in stats.offset_table.items()
    ]  # fmt: skip


async def _consumer_connection(admin: Any, o: dict[str, Any]) -> Rows:
    conn = await admin.consumer_connection(o["group"])
    if conn is None:
        return []
    subs = ";".join(f"{t}:{s.get('subString', '*')}" for t, s in sorted(conn.subscriptions.items()))
    return [
        {"client_id": c.client_id, "addr": c.client_addr, "language": c.language, "version": c.version,
         "model": conn.message_model, "subscriptions": subs}
        for c in conn.connections
    ]  # fmt: skip


async def _query_msg_by_id(admin: Any, o: dict[str, Any]) -> Rows:
    if o.get("topic"):
        msg = await admin.query_by_uniq_key(o["topic"], o["msg_id"])
        return [_message_row(msg)] if msg is not None else []
    return [_message_row(await admin.view_message(o["msg_id"]))]


async def _query_msg_by_key(admin: Any, o: dict[str, Any]) -> Rows:
    return [_message_row(m) for m in await admin.query_message(o["topic"], o["key"])]


ADMIN_OPS: dict[str, Callable[[Any, dict[str, Any]], Awaitable[Rows]]] = {
    "cluster_list": _cluster_list, "broker_status": _broker_status, "topic_list": _topic_list,
    "topic_route": _topic_route, "topic_status": _topic_status, "update_topic": _update_topic,
    "group_list": _group_list, "consumer_progress": _consumer_progress,
    "consumer_connection": _consumer_connection, "query_msg_by_id": _query_msg_by_id,
    "query_msg_by_key": _query_msg_by_key,
}  # fmt: skip


def _run_admin(namesrv: str, op: str, options: dict[str, Any], timeout: float) -> Rows:
    from rocketmq_integration.client import Admin, ClientConfig

    async def go() -> Rows:
        config = ClientConfig(namesrv_addr=namesrv, mq_client_api_timeout=timeout, connect_timeout=timeout)
        async with asyncio.timeout(timeout * 4), Admin(client_config=config) as admin:
            return await ADMIN_OPS[op](admin, options)

    return asyncio.run(go())


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as aligned columns (the keys of the first row are the header)."""
    if not rows:
        return "(none)"
    cols = list(rows[0])
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "RocketMQ admin operations (mqadmin parity): topics, groups, lag, messages, brokers."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--namesrv", default=None, help="NameServer address (default ROCKETMQ['NAME_SERVER'])"
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
        sub = parser.add_subparsers(dest="operation", required=True, metavar="OPERATION")
        sub.add_parser("cluster_list", help="brokers per cluster")
        p = sub.add_parser("broker_status", help="runtime figures of a broker")
        p.add_argument("--broker", default=None, help="broker address (default: every master)")
        sub.add_parser("topic_list", help="topics known to the NameServer")
        for name, text in (
            ("topic_route", "queues and brokers of a topic"),
            ("topic_status", "offsets per queue"),
        ):
            sub.add_parser(name, help=text).add_argument("topic")
        p = sub.add_parser("update_topic", help="create or update a topic")
        p.add_argument("topic")
        p.add_argument("--read-queues", type=int, default=4)
        p.add_argument("--write-queues", type=int, default=4)
        p.add_argument("--order", action="store_true", help="an ordered topic")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--cluster", default=None, help="every master of this cluster")
        where.add_argument("--broker", default=None, help="this broker address only")
        sub.add_parser("group_list", help="subscription groups")
        p = sub.add_parser("consumer_progress", help="offsets and lag of a consumer group")
        p.add_argument("group")
        p.add_argument("--topic", default=None)
        sub.add_parser("consumer_connection", help="online members of a group").add_argument("group")
        p = sub.add_parser("query_msg_by_id", help="a message by msgId")
        p.add_argument("msg_id")
        p.add_argument("--topic", default=None, help="with a topic, MSG_ID is the client (UNIQ_KEY) msgId")
        p = sub.add_parser("query_msg_by_key", help="messages by key")
        p.add_argument("topic")
        p.add_argument("key")
        p = sub.add_parser("send_message", help="send a test message")
        p.add_argument("topic")
        p.add_argument("body")
        p.add_argument("--tags", default=None)
        p.add_argument("--keys", default=None)
        p.add_argument("--template", default="default", help="ROCKETMQ template name (default 'default')")
        sub.add_parser("list_listeners", help="the project's listeners")
        sub.add_parser("check", help="does the NameServer answer?")

    def handle(self, *args: Any, **options: Any) -> None:
        op = options["operation"]
        namesrv = options["namesrv"] or get_config()["NAME_SERVER"]
        if op in ADMIN_OPS:
            try:
                rows = _run_admin(namesrv, op, options, options["timeout"])
            except (Exception, TimeoutError) as exc:
                raise CommandError(
                    f"{op} failed against {namesrv}: {type(exc).__name__}: {exc}", returncode=1
                ) from exc
        elif op == "send_message":
            rows = self._send(options)
        elif op == "list_listeners":
            rows = self._listeners()
        else:
            rows = self._check(namesrv, options["timeout"])
        self.stdout.write(
            json.dumps(rows, indent=2, sort_keys=True) if options["json"] else format_table(rows)
        )

    def _send(self, options: dict[str, Any]) -> Rows:
        from rocketmq_integration.django import get_template
        from rocketmq_integration.template import RocketMQTemplate

        destination = options["topic"] + (f":{options['tags']}" if options["tags"] else "")
        try:
            template = get_template(options["template"])
        except KeyError as exc:
            raise CommandError(
                f"no template {options['template']!r} in ROCKETMQ['TEMPLATES']", returncode=2
            ) from exc
        one_off = None
        if options["namesrv"]:  # the configured template, aimed elsewhere
            template = one_off = RocketMQTemplate(
                template.producer_group, namesrv_addr=options["namesrv"], producer_config=template.producer_config,
                converter=template.converter, send_timeout=template.send_timeout,
            )  # fmt: skip
        try:
            result = template.send(destination, options["body"], keys=options["keys"])
        except Exception as exc:
            raise CommandError(f"send_message failed: {type(exc).__name__}: {exc}", returncode=1) from exc
        finally:
            if one_off is not None:
                one_off.close()
        return [{"status": result.status.name, "msg_id": result.msg_id, "queue": result.message_queue.queue_id,
                 "queue_offset": result.queue_offset}]  # fmt: skip

    def _listeners(self) -> Rows:
        from rocketmq_integration.django.conf import configured_container
        from rocketmq_integration.listeners.registry import default_registry

        selected = {s.name for s in configured_container().listener_runner().selected()}
        return [
            {"name": s.name, "topic": s.topic, "group": s.consumer_group, "selector": s.selector_expression,
             "mode": s.consume_mode.name, "model": s.message_model.name, "runs": s.name in selected}
            for s in default_registry.all()
        ]  # fmt: skip

    def _check(self, namesrv: str, timeout: float) -> Rows:
        from rocketmq_integration.django.probe import probe_name_server

        why = probe_name_server(namesrv, timeout=timeout)
        if why is not None:
            raise CommandError(f"NameServer {namesrv} does not answer: {why}", returncode=1)
        return [{"namesrv": namesrv, "status": "ok"}]
