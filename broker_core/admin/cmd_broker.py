"""Broker and cluster commands: clusterList, brokerStatus, getBrokerConfig, updateBrokerConfig and the
ACL commands updateAclConfig, deleteAclConfig, clusterAclConfigVersion, updateGlobalWhiteAddr."""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from broker_core.admin.client import AdminError, MQAdmin
from broker_core.admin.registry import command, jfmt, parse_bool, target_addrs, target_options
from broker_core.remoting.codes import RequestCode


def _cluster_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--moreStats", dest="more", action="store_true", help="Print more stats")
    p.add_argument("-i", "--interval", type=int, help="specify intervals numbers, it is in seconds")


def _first_tps(text: str | None) -> float:
    try:
        return float((text or "").split(" ")[0])
    except ValueError:
        return 0.0


@command("clusterList", "List all of clusters", _cluster_opts)
def cluster_list(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    rounds = 0
    while True:
        if rounds:
            time.sleep(args.interval)
        rounds += 1
        _print_cluster(admin, args.more, out)
        if not args.interval:
            return 0


def _print_cluster(admin: MQAdmin, more: bool, out: TextIO) -> None:
    info = admin.cluster_info()
    if more:
        out.write(jfmt("%-16s  %-32s %14s %14s %14s %14s%n", "#Cluster Name", "#Broker Name", "#InTotalYest",
                       "#OutTotalYest", "#InTotalToday", "#OutTotalToday"))  # fmt: skip
    else:
        out.write(jfmt("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s%n", "#Cluster Name", "#Broker Name",
                       "#BID", "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE"))  # fmt: skip
    for cluster, names in info.cluster_addr_table.items():
        for name in sorted(names):
            bd = info.broker_addr_table.get(name)
            if bd is None:
                continue
            for bid, addr in sorted(bd.broker_addrs.items()):
                try:
                    rt = admin.runtime_info(addr)
                except AdminError:
                    rt = {}
                if more:
                    if bid != 0:
                        continue
                    put_yest = int(rt.get("msgPutTotalTodayMorning", 0)) - int(
                        rt.get("msgPutTotalYesterdayMorning", 0)
                    )
                    get_yest = int(rt.get("msgGetTotalTodayMorning", 0)) - int(
                        rt.get("msgGetTotalYesterdayMorning", 0)
                    )
                    put_today = int(rt.get("msgPutTotalTodayNow", 0)) - int(
                        rt.get("msgPutTotalTodayMorning", 0)
                    )
                    get_today = int(rt.get("msgGetTotalTodayNow", 0)) - int(
                        rt.get("msgGetTotalTodayMorning", 0)
                    )
                    out.write(
                        jfmt(
                            "%-16s  %-32s %14d %14d %14d %14d%n",
                            cluster,
                            name,
                            put_yest,
                            get_yest,
                            put_today,
                            get_today,
                        )
                    )
                    continue
                hour = 0.0
                earliest = rt.get("earliestMessageTimeStamp")
                if earliest and int(earliest) > 0:
                    hour = (time.time() * 1000 - int(earliest)) / 1000.0 / 3600.0
                space = float(rt.get("commitLogDiskRatio") or 0.0)
                in_tps = jfmt("%9.2f(%s,%sms)", _first_tps(rt.get("putTps")), rt.get("sendThreadPoolQueueSize"),
                              rt.get("sendThreadPoolQueueHeadWaitTimeMills"))  # fmt: skip
                out_tps = jfmt("%9.2f(%s,%sms)", _first_tps(rt.get("getTransferedTps")), rt.get("pullThreadPoolQueueSize"),
                               rt.get("pullThreadPoolQueueHeadWaitTimeMills"))  # fmt: skip
                out.write(jfmt("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s%n", cluster, name, bid, addr,
                               rt.get("brokerVersionDesc", ""), in_tps, out_tps, rt.get("pageCacheLockTimeMills"),
                               f"{hour:2.2f}", f"{space:.4f}"))  # fmt: skip


def _status_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "Broker address /", required=True)


@command("brokerStatus", "Fetch broker runtime status data", _status_opts)
def broker_status(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    if args.broker_addr:
        for key, value in sorted(admin.runtime_info(args.broker_addr.strip()).items()):
            out.write(jfmt("%-32s: %s%n", key, value))
        return 0
    for _name, _bid, addr in admin.all_addrs(args.cluster.strip()):
        for key, value in sorted(admin.runtime_info(addr).items()):
            out.write(jfmt("%-24s %-32s: %s%n", addr, key, value))
    return 0


def _get_config_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "get", required=True)


@command("getBrokerConfig", "Get broker config by cluster or special broker!", _get_config_opts)
def get_broker_config(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    def dump(prefix: str, addr: str) -> None:
        out.write(prefix)
        props = admin.broker_config(addr)
        if not props:
            out.write(f"Broker[{addr}] has no config property!\n")
            return
        for key, value in props.items():
            out.write(jfmt("%-50s=  %s\n", key, value))
        out.write("\n")

    if args.broker_addr:
        addr = args.broker_addr.strip()
        dump(f"============{addr}============\n", addr)
        return 0
    by_name: dict[str, list[tuple[int, str]]] = {}
    for name, bid, addr in admin.all_addrs(args.cluster.strip()):
        by_name.setdefault(name, []).append((bid, addr))
    for members in by_name.values():
        master = next((a for b, a in members if b == 0), None)
        if master is None:
            continue
        dump(f"============Master: {master}============\n", master)
        for bid, addr in members:
            if bid != 0:
                dump(f"============My Master: {master}=====Slave: {addr}============\n", addr)
    return 0


def _update_config_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "update", required=True)
    p.add_argument("-k", "--key", required=True, help="config key")
    p.add_argument("-v", "--value", required=True, help="config value")


@command("updateBrokerConfig", "Update broker's config", _update_config_opts)
def update_broker_config(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    props = {args.key.strip(): args.value.strip()}
    for addr in target_addrs(args, admin):
        admin.update_broker_config(addr, props)
        out.write(f"update broker config success, {addr}\n")
    return 0


def _acl_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "update acl config to", required=True)
    p.add_argument(
        "-a", "--accessKey", dest="access_key", required=True, help="set accessKey in acl config file"
    )
    p.add_argument(
        "-s", "--secretKey", dest="secret_key", required=True, help="set secretKey in acl config file"
    )
    p.add_argument(
        "-w", "--whiteRemoteAddress", dest="white", help="set white ip Address for account in acl config file"
    )
    p.add_argument(
        "-i", "--defaultTopicPerm", dest="topic_perm", help="set default topicPerm in acl config file"
    )
    p.add_argument(
        "-u", "--defaultGroupPerm", dest="group_perm", help="set default GroupPerm in acl config file"
    )
    p.add_argument(
        "-t", "--topicPerms", dest="topic_perms", help="set topicPerms list,eg: topicA=DENY,topicD=SUB"
    )
    p.add_argument(
        "-g", "--groupPerms", dest="group_perms", help="set groupPerms list,eg: groupD=DENY,groupD=SUB"
    )
    p.add_argument("-m", "--admin", default="false", help="set admin flag in acl config file")


@command("updateAclConfig", "Update acl config yaml file in broker", _acl_opts)
def update_acl_config(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    ext = {"accessKey": args.access_key.strip(), "secretKey": args.secret_key.strip(),
           "admin": str(parse_bool(args.admin)).lower()}  # fmt: skip
    for attr, key in (("white", "whiteRemoteAddress"), ("topic_perm", "defaultTopicPerm"),
                      ("group_perm", "defaultGroupPerm"), ("topic_perms", "topicPerms"), ("group_perms", "groupPerms")):  # fmt: skip
        if getattr(args, attr):
            ext[key] = getattr(args, attr).strip()
    for addr in target_addrs(args, admin):
        admin.call(addr, RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, ext)
        out.write(jfmt("create or update plain access config to %s success.%n", addr))
    topic_perms = [p for p in (ext.get("topicPerms") or "").split(",") if p]
    group_perms = [p for p in (ext.get("groupPerms") or "").split(",") if p]
    out.write(
        f"PlainAccessConfig{{accessKey='{ext['accessKey']}', whiteRemoteAddress='{ext.get('whiteRemoteAddress')}', "
        f"admin={ext['admin']}, defaultTopicPerm='{ext.get('defaultTopicPerm')}', "
        f"defaultGroupPerm='{ext.get('defaultGroupPerm')}', topicPerms={topic_perms}, groupPerms={group_perms}}}"
    )
    return 0


def _delete_acl_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "delete acl config from", required=True)
    p.add_argument(
        "-a", "--accessKey", dest="access_key", required=True, help="set accessKey in acl config file"
    )


@command("deleteAclConfig", "Delete Acl Config Account in broker", _delete_acl_opts)
def delete_acl_config(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    ak = args.access_key.strip()
    for addr in target_addrs(args, admin):
        admin.call(addr, RequestCode.DELETE_ACL_CONFIG, {"accessKey": ak})
        out.write(jfmt("delete plain access config account to %s success.%n", addr))
    out.write(jfmt("account's accessKey is:%s", ak))
    return 0


def _acl_version_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "query acl config version of", required=True)


@command(
    "clusterAclConfigVersion", "List all of acl config version information in cluster", _acl_version_opts
)
def cluster_acl_config_version(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    out.write(jfmt("%-16s  %-22s  %-22s  %-20s  %-22s%n", "#Cluster Name", "#Broker Name", "#Broker Addr",
                   "#AclFilePath", "#AclConfigVersionNum"))  # fmt: skip
    for addr in target_addrs(args, admin):
        ext = admin.call(addr, RequestCode.GET_BROKER_CLUSTER_ACL_INFO).ext_fields or {}
        version = ext.get("version", "")
        out.write(jfmt("%-16s  %-22s  %-22s  %-20s  %-22s%n", ext.get("clusterName"), ext.get("brokerName"),
                       ext.get("brokerAddr"), ext.get("allAclFileVersion", ""), version))  # fmt: skip
    return 0


def _white_opts(p: argparse.ArgumentParser) -> None:
    target_options(p, "update global white address to", required=True)
    p.add_argument(
        "-g",
        "--globalWhiteRemoteAddresses",
        dest="addrs",
        required=True,
        help="set globalWhiteRemoteAddress list,eg: 10.10.103.*,192.168.0.*",
    )
    p.add_argument(
        "-p",
        "--aclFilePath",
        dest="acl_file",
        default="",
        help="set the acl file path (default plain_acl.yml)",
    )


@command("updateGlobalWhiteAddr", "Update global white address for acl Config File in broker", _white_opts)
def update_global_white_addr(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    for addr in target_addrs(args, admin):
        admin.call(addr, RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
                   {"globalWhiteAddrs": args.addrs.strip(), "aclFileFullPath": args.acl_file})  # fmt: skip
        out.write(jfmt("update global white remote addresses to %s success.%n", addr))
    return 0
