"""Consumer/producer group commands: updateSubGroup, deleteSubGroup, consumerProgress,
consumerConnection, producerConnection, resetOffsetByTime, statsAll."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any, TextIO

from broker_core.admin.client import DLQ_PREFIX, RETRY_PREFIX, AdminError, MQAdmin
from broker_core.admin.cmd_topic import delete_topic_everywhere
from broker_core.admin.registry import (
    command,
    front,
    human_time,
    jfmt,
    parse_bool,
    target_addrs,
    target_options,
)
from broker_core.remoting.body.client_info import ConsumerRunningInfo
from broker_core.remoting.body.route import MASTER_ID
from broker_core.remoting.codes import RequestCode, ResponseCode


def version_desc(ordinal: int) -> str:
    """``MQVersion.getVersionDesc``: 409 -> ``V4_9_8`` (4.x and 5.x ordinals are regular)."""
    if 212 <= ordinal < 612:
        n, snapshot = divmod(ordinal - 212, 2)
        major, rest = divmod(n, 100)
        minor, patch = divmod(rest, 10)
        return f"V{major + 4}_{minor}_{patch}" + ("" if snapshot else "_SNAPSHOT")
    return "HIGHER_VERSION" if ordinal >= 612 else str(ordinal)


def _update_group_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "create subscription group to")
    p.add_argument("-g", "--groupName", dest="group", required=True, help="consumer group name")
    p.add_argument("-s", "--consumeEnable", dest="consume_enable", help="consume enable")
    p.add_argument("-m", "--consumeFromMinEnable", dest="from_min", help="from min offset")
    p.add_argument("-d", "--consumeBroadcastEnable", dest="broadcast", help="broadcast")
    p.add_argument("-q", "--retryQueueNums", dest="retry_queues", type=int, help="retry queue nums")
    p.add_argument("-r", "--retryMaxTimes", dest="retry_max", type=int, help="retry max times")
    p.add_argument("-i", "--brokerId", dest="broker_id", type=int, help="consumer from which broker id")
    p.add_argument(
        "-w",
        "--whichBrokerWhenConsumeSlowly",
        dest="slow_id",
        type=int,
        help="which broker id when consume slowly",
    )
    p.add_argument("-a", "--notifyConsumerIdsChanged", dest="notify", help="notify consumerId changed")


@command("updateSubGroup", "Update or create subscription group", _update_group_opts)
def update_sub_group(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    cfg: dict[str, Any] = {
        "groupName": args.group.strip(), "consumeEnable": True, "consumeFromMinEnable": False,
        "consumeBroadcastEnable": False, "retryQueueNums": 1, "retryMaxTimes": 16, "brokerId": 0,
        "whichBrokerWhenConsumeSlowly": 1, "notifyConsumerIdsChangedEnable": True,
    }  # fmt: skip
    for attr, key in (("consume_enable", "consumeEnable"), ("from_min", "consumeFromMinEnable"),
                      ("broadcast", "consumeBroadcastEnable"), ("notify", "notifyConsumerIdsChangedEnable")):  # fmt: skip
        if getattr(args, attr) is not None:
            cfg[key] = parse_bool(getattr(args, attr))
    for attr, key in (("retry_queues", "retryQueueNums"), ("retry_max", "retryMaxTimes"),
                      ("broker_id", "brokerId"), ("slow_id", "whichBrokerWhenConsumeSlowly")):  # fmt: skip
        if getattr(args, attr) is not None:
            cfg[key] = getattr(args, attr)
    body = json.dumps(cfg, separators=(",", ":")).encode()
    for addr in target_addrs(args, admin):
        admin.call(addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
        out.write(jfmt("create subscription group to %s success.%n", addr))
    b = {k: str(v).lower() if isinstance(v, bool) else v for k, v in cfg.items()}
    out.write(
        f"SubscriptionGroupConfig [groupName={b['groupName']}, consumeEnable={b['consumeEnable']}, "
        f"consumeFromMinEnable={b['consumeFromMinEnable']}, consumeBroadcastEnable={b['consumeBroadcastEnable']}, "
        f"retryQueueNums={b['retryQueueNums']}, retryMaxTimes={b['retryMaxTimes']}, brokerId={b['brokerId']}, "
        f"whichBrokerWhenConsumeSlowly={b['whichBrokerWhenConsumeSlowly']}, "
        f"notifyConsumerIdsChangedEnable={b['notifyConsumerIdsChangedEnable']}]"
    )
    return 0


def _delete_group_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "delete subscription group from")
    p.add_argument("-g", "--groupName", dest="group", required=True, help="subscription group name")
    p.add_argument("-r", "--removeOffset", dest="remove_offset", default="false", help="remove offset")


@command("deleteSubGroup", "Delete subscription group from broker.", _delete_group_opts)
def delete_sub_group(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    group = args.group.strip()
    ext = {"groupName": group, "removeOffset": str(parse_bool(args.remove_offset)).lower()}
    if args.broker_addr:
        admin.call(args.broker_addr.strip(), RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)
        out.write(
            jfmt(
                "delete subscription group [%s] from broker [%s] success.%n", group, args.broker_addr.strip()
            )
        )
        return 0
    cluster = args.cluster.strip()
    for addr in admin.master_addrs(cluster):
        admin.call(addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)
        out.write(
            jfmt(
                "delete subscription group [%s] from broker [%s] in cluster [%s] success.%n",
                group,
                addr,
                cluster,
            )
        )
    for topic in (RETRY_PREFIX + group, DLQ_PREFIX + group):
        try:
            delete_topic_everywhere(admin, cluster, topic, out)
        except AdminError:
            pass
    return 0


def _progress_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--groupName", dest="group", help="consumer group name")
    p.add_argument("-s", "--showClientIP", dest="show_ip", default="false", help="Show Client IP per Queue")


@command("consumerProgress", "Query consumers's progress, speed", _progress_opts)
def consumer_progress(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    if args.group:
        return _group_progress(args.group.strip(), parse_bool(args.show_ip), admin, out)
    out.write(
        jfmt(
            "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s%n",
            "#Group",
            "#Count",
            "#Version",
            "#Type",
            "#Model",
            "#TPS",
            "#Diff Total",
        )
    )
    for topic in admin.topic_list():
        if not topic.startswith(RETRY_PREFIX):
            continue
        group = topic[len(RETRY_PREFIX) :]
        tps, diff = 0, 0
        try:
            cs = admin.consume_stats(group)
            tps, diff = int(cs.consume_tps), cs.diff_total
        except AdminError:
            pass
        count, version, ctype, model = 0, "OFFLINE", "", ""
        try:
            cc = admin.consumer_connection(group)
            count = len(cc.connections)
            if count:
                version = version_desc(min(c.version for c in cc.connections))
            ctype = {"CONSUME_ACTIVELY": "PULL", "CONSUME_PASSIVELY": "PUSH"}.get(
                cc.consume_type, cc.consume_type
            )
            model = cc.message_model
        except AdminError:
            pass
        out.write(
            jfmt(
                "%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %d%n",
                front(group, 64),
                count,
                version,
                ctype,
                model,
                tps,
                diff,
            )
        )
    return 0


def _group_progress(group: str, show_ip: bool, admin: MQAdmin, out: TextIO) -> int:
    cs = admin.consume_stats(group)
    owners: dict[tuple[str, str, int], str] = {}
    if show_ip:
        owners = _queue_owners(admin, group)
    if show_ip:
        out.write(jfmt("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s%n", "#Topic", "#Broker Name", "#QID",
                       "#Broker Offset", "#Consumer Offset", "#Client IP", "#Diff", "#LastTime"))  # fmt: skip
    else:
        out.write(jfmt("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s%n", "#Topic", "#Broker Name", "#QID",
                       "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"))  # fmt: skip
    total = 0
    for mq in sorted(cs.offset_table):
        w = cs.offset_table[mq]
        diff = w.broker_offset - w.consumer_offset
        total += diff
        last = "N/A" if w.last_timestamp == 0 else human_time(w.last_timestamp)
        topic, broker, qid = front(mq[0], 64), front(mq[1], 32), mq[2]
        if show_ip:
            out.write(jfmt("%-64s  %-32s  %-4d  %-20d  %-20d  %-20s %-20d  %s%n", topic, broker, qid,
                           w.broker_offset, w.consumer_offset, owners.get(mq, "N/A"), diff, last))  # fmt: skip
        else:
            out.write(jfmt("%-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s%n", topic, broker, qid,
                           w.broker_offset, w.consumer_offset, diff, last))  # fmt: skip
    out.write("\n")
    out.write(jfmt("Consume TPS: %.2f%n", cs.consume_tps))
    out.write(jfmt("Diff Total: %d%n", total))
    return 0


def _queue_owners(admin: MQAdmin, group: str) -> dict[tuple[str, str, int], str]:
    """Queue -> client IP from each member's GET_CONSUMER_RUNNING_INFO (relayed by a broker)."""
    owners: dict[tuple[str, str, int], str] = {}
    try:
        cc = admin.consumer_connection(group)
        masters = admin.topic_masters(RETRY_PREFIX + group)
    except AdminError:
        return owners
    for c in cc.connections:
        for _name, addr in masters[:1]:
            try:
                resp = admin.call(addr, RequestCode.GET_CONSUMER_RUNNING_INFO,
                                  {"consumerGroup": group, "clientId": c.client_id, "jstackEnable": "false"})  # fmt: skip
            except AdminError:
                continue
            for mq in ConsumerRunningInfo.decode(resp.body or b"{}").mq_table:
                owners[mq] = c.client_addr.rsplit(":", 1)[0]
    return owners


def _cc_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--consumerGroup", dest="group", required=True, help="consumer group name")
    p.add_argument("-b", "--brokerAddr", dest="broker_addr", help="broker address")


@command(
    "consumerConnection", "Query consumer's socket connection, client version and subscription", _cc_opts
)
def consumer_connection(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    cc = admin.consumer_connection(args.group.strip(), args.broker_addr.strip() if args.broker_addr else None)
    out.write(jfmt("%-36s %-22s %-10s %s%n", "#ClientId", "#ClientAddr", "#Language", "#Version"))
    for c in cc.connections:
        out.write(
            jfmt("%-36s %-22s %-10s %s%n", c.client_id, c.client_addr, c.language, version_desc(c.version))
        )
    out.write("\nBelow is subscription:\n")
    out.write(jfmt("%-20s %s%n", "#Topic", "#SubExpression"))
    for topic, sub in cc.subscriptions.items():
        out.write(jfmt("%-20s %s%n", sub.get("topic", topic), sub.get("subString")))
    out.write("\n")
    out.write(jfmt("ConsumeType: %s%n", cc.consume_type))
    out.write(jfmt("MessageModel: %s%n", cc.message_model))
    out.write(jfmt("ConsumeFromWhere: %s%n", cc.consume_from_where))
    return 0


def _pc_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--producerGroup", dest="group", required=True, help="producer group name")
    p.add_argument("-t", "--topic", required=True, help="topic name")


@command("producerConnection", "Query producer's socket connection and client version", _pc_opts)
def producer_connection(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    conns = admin.producer_connection(args.group.strip(), args.topic.strip())
    for i, c in enumerate(conns, 1):
        out.write(jfmt("%04d  %-32s %-22s %-8s %s%n", i, c.get("clientId"), c.get("clientAddr"),
                       c.get("language"), version_desc(int(c.get("version", 0)))))  # fmt: skip
    return 0


def _reset_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--group", required=True, help="set the consumer group")
    p.add_argument("-t", "--topic", required=True, help="set the topic")
    p.add_argument(
        "-s",
        "--timestamp",
        required=True,
        help="set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]",
    )
    p.add_argument(
        "-f", "--force", default="true", help="set the force rollback by timestamp switch[true|false]"
    )
    p.add_argument("-c", "--cplus", action="store_true", help="reset c++ client offset")


def parse_timestamp(text: str) -> int:
    """``now`` -> -1, epoch ms, or ``yyyy-MM-dd#HH:mm:ss:SSS`` (local time)."""
    if text == "now":
        return -1
    try:
        return int(text)
    except ValueError:
        pass
    try:
        dt = datetime.datetime.strptime(text, "%Y-%m-%d#%H:%M:%S:%f")
    except ValueError as exc:
        raise AdminError(
            f"bad timestamp {text!r}: expected now, epoch ms or yyyy-MM-dd#HH:mm:ss:SSS"
        ) from exc
    return int(dt.timestamp() * 1000)


@command("resetOffsetByTime", "Reset consumer offset by timestamp(without client restart).", _reset_opts)
def reset_offset_by_time(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    group, topic, text = args.group.strip(), args.topic.strip(), args.timestamp.strip()
    ts = parse_timestamp(text)
    force = parse_bool(args.force)
    table = admin.reset_offset(topic, group, ts, force, args.cplus)
    out.write(jfmt("rollback consumer offset by specified group[%s], topic[%s], force[%s], timestamp(string)[%s], "
                   "timestamp(long)[%s]%n", group, topic, force, text, ts))  # fmt: skip
    out.write(jfmt("%-40s  %-40s  %-40s%n", "#brokerName", "#queueId", "#offset"))
    for mq in sorted(table):
        out.write(jfmt("%-40s  %-40d  %-40d%n", front(mq[1], 32), mq[2], table[mq]))
    return 0


def _stats_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--activeTopic", dest="active", action="store_true", help="print active topic only")
    p.add_argument("-t", "--topic", help="print select topic only")


def _day_sum(stats: dict[str, dict[str, float]]) -> int:
    for window in ("statsDay", "statsHour", "statsMinute"):
        s = int(stats.get(window, {}).get("sum", 0))
        if s:
            return s
    return 0


@command("statsAll", "Topic and Consumer tps stats", _stats_opts)
def stats_all(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    out.write(jfmt("%-64s  %-64s %12s %11s %11s %14s %14s%n", "#Topic", "#Consumer Group", "#Accumulation",
                   "#InTPS", "#OutTPS", "#InMsg24Hour", "#OutMsg24Hour"))  # fmt: skip
    topics = [args.topic.strip()] if args.topic else admin.topic_list()
    for topic in topics:
        if topic.startswith(RETRY_PREFIX) or (args.topic is None and topic.startswith(DLQ_PREFIX)):
            continue
        try:
            route = admin.route(topic)
        except AdminError:
            continue
        masters = [bd.broker_addrs[MASTER_ID] for bd in route.broker_datas if MASTER_ID in bd.broker_addrs]
        in_tps, in_day = 0.0, 0
        for addr in masters:
            try:
                st = admin.view_stats(addr, "TOPIC_PUT_NUMS", topic)
            except AdminError:
                continue
            in_tps += float(st.get("statsMinute", {}).get("tps", 0.0))
            in_day += _day_sum(st)
        try:
            groups = admin.consume_by_who(topic)
        except AdminError:
            groups = []
        if not groups:
            if not args.active or in_day > 0:
                out.write(
                    jfmt(
                        "%-64s  %-64s %12d %11.2f %11s %14d %14s%n",
                        front(topic, 64),
                        "",
                        0,
                        in_tps,
                        "",
                        in_day,
                        "NO_CONSUMER",
                    )
                )
            continue
        for group in groups:
            out_tps, out_day = 0.0, 0
            for addr in masters:
                try:
                    st = admin.view_stats(addr, "GROUP_GET_NUMS", f"{topic}@{group}")
                except AdminError:
                    continue
                out_tps += float(st.get("statsMinute", {}).get("tps", 0.0))
                out_day += _day_sum(st)
            accumulate = 0
            try:
                accumulate = max(admin.consume_stats(group, topic).diff_total, 0)
            except AdminError as exc:
                if exc.code not in (None, ResponseCode.SYSTEM_ERROR, ResponseCode.TOPIC_NOT_EXIST):
                    raise
            if not args.active or in_day > 0 or out_day > 0:
                out.write(jfmt("%-64s  %-64s %12d %11.2f %11.2f %14d %14d%n", front(topic, 64), front(group, 64),
                               accumulate, in_tps, out_tps, in_day, out_day))  # fmt: skip
    return 0
