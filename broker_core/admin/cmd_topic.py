"""Topic commands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus, updateTopicPerm."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from broker_core.admin.client import DLQ_PREFIX, RETRY_PREFIX, AdminError, MQAdmin
from broker_core.admin.registry import (
    command,
    front,
    human_time2,
    jfmt,
    parse_bool,
    perm_string,
    target_addrs,
    target_options,
)
from broker_core.remoting.codes import RequestCode


def _update_topic_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "create topic to")
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-r", "--readQueueNums", dest="read", type=int, default=8, help="set read queue nums")
    p.add_argument("-w", "--writeQueueNums", dest="write", type=int, default=8, help="set write queue nums")
    p.add_argument(
        "-p", "--perm", type=int, default=6, help="set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]"
    )
    p.add_argument("-o", "--order", default="false", help="set topic's order(true|false)")
    p.add_argument("-u", "--unit", default="false", help="is unit topic (true|false)")
    p.add_argument(
        "-s", "--hasUnitSub", dest="has_unit_sub", default="false", help="has unit sub (true|false)"
    )


@command("updateTopic", "Update or create topic", _update_topic_opts)
def update_topic(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    topic = args.topic.strip()
    order = parse_bool(args.order)
    sys_flag = (1 if parse_bool(args.unit) else 0) | (2 if parse_bool(args.has_unit_sub) else 0)
    ext = {
        "topic": topic, "defaultTopic": "TBW102", "readQueueNums": str(args.read),
        "writeQueueNums": str(args.write), "perm": str(args.perm), "topicFilterType": "SINGLE_TAG",
        "topicSysFlag": str(sys_flag), "order": str(order).lower(),
    }  # fmt: skip
    for addr in target_addrs(args, admin):
        admin.call(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
        out.write(jfmt("create topic to %s success.%n", addr))
    out.write(
        f"TopicConfig [topicName={topic}, readQueueNums={args.read}, writeQueueNums={args.write}, "
        f"perm={perm_string(args.perm)}, topicFilterType=SINGLE_TAG, topicSysFlag={sys_flag}, "
        f"order={str(order).lower()}]"
    )
    return 0


def _delete_topic_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument(
        "-c", "--clusterName", dest="cluster", required=True, help="delete topic from which cluster"
    )


def delete_topic_everywhere(admin: MQAdmin, cluster: str, topic: str, out: TextIO) -> None:
    for addr in admin.master_addrs(cluster):
        admin.call(addr, RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": topic})
    out.write(jfmt("delete topic [%s] from cluster [%s] success.%n", topic, cluster))
    for ns in admin.namesrv_addrs:
        admin.call(ns, RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": topic})
    out.write(jfmt("delete topic [%s] from NameServer success.%n", topic))


@command("deleteTopic", "Delete topic from broker and NameServer.", _delete_topic_opts)
def delete_topic(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    delete_topic_everywhere(admin, args.cluster.strip(), args.topic.strip(), out)
    return 0


def _topic_list_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--clusterModel", dest="cluster_model", action="store_true", help="clusterModel")


@command("topicList", "Fetch all topic list from name server", _topic_list_opts)
def topic_list(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    topics = admin.topic_list()
    if not args.cluster_model:
        for topic in topics:
            out.write(jfmt("%s%n", topic))
        return 0
    info = admin.cluster_info()
    out.write(jfmt("%-20s  %-48s  %-48s%n", "#Cluster Name", "#Topic", "#Consumer Group"))
    for topic in topics:
        if topic.startswith((RETRY_PREFIX, DLQ_PREFIX)):
            continue
        cluster = ""
        groups: list[str] = []
        try:
            route = admin.route(topic)
            name = route.broker_datas[0].broker_name if route.broker_datas else ""
            cluster = next((c for c, ns in info.cluster_addr_table.items() if name in ns), "")
            groups = admin.consume_by_who(topic)
        except AdminError:
            pass
        for group in groups or [""]:
            out.write(jfmt("%-20s  %-64s  %-64s%n", front(cluster, 20), front(topic, 64), front(group, 64)))
    return 0


def _topic_route_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument(
        "-l", "--list", dest="list_format", action="store_true", help="Use list format to print data"
    )


_ROUTE_FMT = "%-45s %-32s %-50s %-10s %-11s %-5s%n"


@command("topicRoute", "Examine topic route info", _topic_route_opts)
def topic_route(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    route = admin.route(args.topic.strip())
    if not args.list_format:
        out.write(json.dumps(route.to_json_dict(), indent="\t", separators=(",", ":")) + "\n")
        return 0
    queues = {q.broker_name: q for q in route.queue_datas}
    out.write(
        jfmt(_ROUTE_FMT, "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm")
    )
    total_r = total_w = 0
    for bd in sorted(route.broker_datas, key=lambda b: b.broker_name):
        q = queues[bd.broker_name]
        total_r += q.read_queue_nums
        total_w += q.write_queue_nums
        addrs = "{" + ", ".join(f"{k}={v}" for k, v in sorted(bd.broker_addrs.items())) + "}"
        out.write(
            jfmt(_ROUTE_FMT, bd.cluster, bd.broker_name, addrs, q.read_queue_nums, q.write_queue_nums, q.perm)
        )
    out.write("-" * 158 + "\n")
    out.write(jfmt(_ROUTE_FMT, "Total:", len(queues), "", total_r, total_w, ""))
    return 0


def _topic_status_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic name")


@command("topicStatus", "Examine topic Status info", _topic_status_opts)
def topic_status(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    table = admin.topic_stats(args.topic.strip())
    out.write(
        jfmt(
            "%-32s  %-4s  %-20s  %-20s    %s%n",
            "#Broker Name",
            "#QID",
            "#Min Offset",
            "#Max Offset",
            "#Last Updated",
        )
    )
    for mq in sorted(table, key=lambda m: (m[0], m[1], m[2])):
        off = table[mq]
        when = human_time2(off.last_update_timestamp) if off.last_update_timestamp > 0 else ""
        out.write(
            jfmt(
                "%-32s  %-4d  %-20d  %-20d    %s%n",
                front(mq[1], 32),
                mq[2],
                off.min_offset,
                off.max_offset,
                when,
            )
        )
    return 0


def _perm_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "update topic perm on")
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument(
        "-p", "--perm", type=int, required=True, help="set topic's permission(2|4|6), intro[2:W; 4:R; 6:RW]"
    )


@command("updateTopicPerm", "Update topic perm", _perm_opts)
def update_topic_perm(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    topic = args.topic.strip()
    route = admin.route(topic)
    queues = {q.broker_name: q for q in route.queue_datas}
    for addr in target_addrs(args, admin):
        name = admin.broker_name_of(addr)
        q = queues.get(name)
        if q is None:
            raise AdminError(f"topic {topic} is not on broker {addr}")
        ext = {
            "topic": topic, "defaultTopic": "TBW102", "readQueueNums": str(q.read_queue_nums),
            "writeQueueNums": str(q.write_queue_nums), "perm": str(args.perm), "topicFilterType": "SINGLE_TAG",
            "topicSysFlag": str(q.topic_sys_flag), "order": "false",
        }  # fmt: skip
        admin.call(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
        out.write(jfmt("update topic perm from %s to %s in %s success.%n", q.perm, args.perm, addr))
    return 0
