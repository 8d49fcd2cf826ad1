"""Message commands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
sendMessage, consumeMessage, queryMsgTraceById."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from broker_core.admin.client import RETRY_PREFIX, AdminError, MQAdmin
from broker_core.admin.cmd_group import parse_timestamp
from broker_core.admin.registry import (
    command,
    human_time,
    human_time2,
    java_map_str,
    java_str,
    jfmt,
    parse_bool,
)
from broker_core.message.model import MessageExt
from broker_core.message.msg_id import UniqIdGenerator
from broker_core.message.properties import MessageConst, encode_properties
from broker_core.message.trace import (
    TRACE_TOPIC,
    MessageType,
    TraceBean,
    TraceContext,
    TraceType,
    TraceView,
    encode_context,
    trace_keys,
    views_for,
)
from broker_core.remoting.body.route import MASTER_ID
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.headers.send import SendMessageRequestHeader

_UNIQ = UniqIdGenerator()


def _host(addr: tuple[str, int]) -> str:
    return f"{addr[0]}:{addr[1]}"


def body_file(msg: MessageExt) -> str:
    """Write the body where mqadmin does (``<tmp>/rocketmq/msgbodys/<msgId>``); returns the path."""
    folder = Path(tempfile.gettempdir()) / "rocketmq" / "msgbodys"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / msg.msg_id
    path.write_bytes(msg.body)
    return str(path)


def message_tracks(admin: MQAdmin, msg: MessageExt) -> list[str]:
    """``MessageTrack`` lines: for each group consuming the topic, whether it consumed ``msg``."""
    out: list[str] = []
    try:
        groups = admin.consume_by_who(msg.topic)
    except AdminError:
        return out
    for group in groups:
        track, desc = "UNKNOWN", None
        try:
            admin.consumer_connection(group)
        except AdminError as exc:
            track, desc = "NOT_ONLINE", f"CODE:{exc.code} DESC:the consumer group[{group}] not online"
        if track != "NOT_ONLINE":
            try:
                cs = admin.consume_stats(group, msg.topic)
                broker = next((mq[1] for mq in cs.offset_table), "")
                w = cs.offset_table.get((msg.topic, broker, msg.queue_id))
                if w is not None:
                    track = "CONSUMED" if w.consumer_offset > msg.queue_offset else "NOT_CONSUME_YET"
            except AdminError as exc:
                desc = str(exc)
        out.append(f"MessageTrack [consumerGroup={group}, trackType={track}, exceptionDesc={desc}]")
    return out


def print_message(admin: MQAdmin, msg: MessageExt, out: TextIO, offset_id: bool = True) -> None:
    """``QueryMsgByIdSubCommand.printMsg``."""
    fmt_s, fmt_d = "%-20s %s%n", "%-20s %d%n"
    if offset_id:
        out.write(jfmt(fmt_s, "OffsetID:", msg.offset_msg_id))
    out.write(jfmt(fmt_s, "Topic:", msg.topic))
    out.write(jfmt(fmt_s, "Tags:", f"[{java_str(msg.tags)}]"))
    out.write(jfmt(fmt_s, "Keys:", f"[{java_str(msg.keys)}]"))
    out.write(jfmt(fmt_d, "Queue ID:", msg.queue_id))
    out.write(jfmt(fmt_d, "Queue Offset:", msg.queue_offset))
    out.write(jfmt(fmt_d, "CommitLog Offset:", msg.commit_log_offset))
    out.write(jfmt(fmt_d, "Reconsume Times:", msg.reconsume_times))
    out.write(jfmt(fmt_s, "Born Timestamp:", human_time2(msg.born_timestamp)))
    out.write(jfmt(fmt_s, "Store Timestamp:", human_time2(msg.store_timestamp)))
    out.write(jfmt(fmt_s, "Born Host:", _host(msg.born_host)))
    out.write(jfmt(fmt_s, "Store Host:", _host(msg.store_host)))
    out.write(jfmt(fmt_d, "System Flag:", msg.sys_flag))
    out.write(jfmt(fmt_s, "Properties:", java_map_str(msg.properties)))
    out.write(jfmt(fmt_s, "Message Body Path:", body_file(msg)))
    tracks = message_tracks(admin, msg)
    if not tracks:
        out.write("\n\nWARN: No Consumer")
    else:
        out.write("\n\n" + "".join(tracks))
    out.write("\n")


def _by_id_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i", "--msgId", dest="msg_id", required=True, help="Message Id (offset msgId; comma separated)"
    )
    p.add_argument("-g", "--consumerGroup", dest="group", help="consumer group name")
    p.add_argument("-d", "--clientId", dest="client_id", help="The consumer's client id")
    p.add_argument("-s", "--sendMessage", dest="resend", help="resend message")
    p.add_argument("-u", "--unitName", dest="unit", help="unit name")


@command("queryMsgById", "Query Message by Id", _by_id_opts)
def query_msg_by_id(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    for msg_id in (m.strip() for m in args.msg_id.split(",")):
        if not msg_id:
            continue
        msg = admin.view_message(msg_id)
        if args.group and args.client_id:
            _consume_directly(admin, msg, args.group.strip(), args.client_id.strip(), out)
        elif args.resend and parse_bool(args.resend):
            out.write(f"prepare resend msg. originalMsgId={msg_id}")
            result = send_one(admin, msg.topic, msg.body, msg.tags, msg.keys)
            out.write(str(result))
        else:
            print_message(admin, msg, out)
    return 0


def _consume_directly(admin: MQAdmin, msg: MessageExt, group: str, client_id: str, out: TextIO) -> None:
    masters = admin.topic_masters(RETRY_PREFIX + group)
    if not masters:
        raise AdminError(f"no broker serves group {group}")
    resp = admin.call(
        masters[0][1], RequestCode.CONSUME_MESSAGE_DIRECTLY,
        {"consumerGroup": group, "clientId": client_id, "msgId": msg.offset_msg_id},
    )  # fmt: skip
    out.write((resp.body or b"").decode("utf-8", "replace") + "\n")


def _by_key_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-k", "--msgKey", dest="key", required=True, help="Message Key")


@command("queryMsgByKey", "Query Message by Key", _by_key_opts)
def query_msg_by_key(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    msgs = admin.query_message(args.topic.strip(), args.key.strip(), 64, 0, 2**63 - 1)
    out.write(jfmt("%-50s %4s %40s%n", "#Message ID", "#QID", "#Offset"))
    for m in msgs:
        out.write(jfmt("%-50s %4d %40d%n", m.msg_id, m.queue_id, m.queue_offset))
    return 0


def _by_uniq_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", dest="msg_id", required=True, help="Message Id")
    p.add_argument("-t", "--topic", required=True, help="The topic of msg")
    p.add_argument("-g", "--consumerGroup", dest="group", help="consumer group name")
    p.add_argument("-d", "--clientId", dest="client_id", help="The consumer's client id")
    p.add_argument(
        "-a", "--showAll", dest="show_all", action="store_true", help="Print all message, the limit is 32"
    )


@command("queryMsgByUniqueKey", "Query Message by Unique key", _by_uniq_opts)
def query_msg_by_unique_key(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    msgs = admin.query_message(args.topic.strip(), args.msg_id.strip(), 32, 0, 2**63 - 1, unique=True)
    if not msgs:
        raise AdminError(
            f"Query message by unique key failed, no message: {args.msg_id.strip()}",
            ResponseCode.QUERY_NOT_FOUND,
        )
    msgs.sort(key=lambda m: m.store_timestamp)
    if args.group and args.client_id:
        _consume_directly(admin, msgs[0], args.group.strip(), args.client_id.strip(), out)
        return 0
    for msg in msgs if args.show_all else msgs[:1]:
        print_message(admin, msg, out, offset_id=False)
    return 0


def _by_offset_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic name")
    p.add_argument("-b", "--brokerName", dest="broker", required=True, help="Broker Name")
    p.add_argument("-i", "--queueId", dest="queue_id", type=int, required=True, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, required=True, help="Queue Offset")


def _broker_addr(admin: MQAdmin, topic: str, broker: str) -> str:
    for name, addr in admin.topic_masters(topic):
        if name == broker:
            return addr
    raise AdminError(f"The broker[{broker}] not exist")


@command("queryMsgByOffset", "Query Message by offset", _by_offset_opts)
def query_msg_by_offset(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    topic = args.topic.strip()
    addr = _broker_addr(admin, topic, args.broker.strip())
    code, _nxt, msgs = admin.pull(addr, topic, args.queue_id, args.offset, 1)
    if code == ResponseCode.SUCCESS and msgs:
        print_message(admin, msgs[0], out)
    return 0


def _send_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-p", "--body", required=True, help="UTF-8 string format of the message body")
    p.add_argument("-k", "--key", help="Message keys")
    p.add_argument("-c", "--tags", help="Message tags")
    p.add_argument("-b", "--broker", help="Send message to target broker")
    p.add_argument("-i", "--qid", type=int, help="Send message to target queue")
    p.add_argument(
        "-m", "--msgTraceEnable", dest="trace", default="false", help="Message Trace Enable, Default: false"
    )


def send_one(
    admin: MQAdmin, topic: str, body: bytes, tags: str | None, keys: str | None,
    broker: str | None = None, queue_id: int | None = None, group: str | None = None,
) -> tuple[str, int, str, str, str, str]:  # fmt: skip
    """Send one message (SEND_MESSAGE); returns (brokerName, qid, status, msgId, offsetMsgId, storeAddr)."""
    cap = 1 << 16
    try:
        route = admin.route(topic)
    except AdminError as exc:  # unknown topic: let the broker auto-create it from TBW102, as clients do
        if exc.code != ResponseCode.TOPIC_NOT_EXIST:
            raise
        route, cap = admin.route("TBW102"), 4  # the topic gets defaultTopicQueueNums (4) queues
    writable = {q.broker_name: min(q.write_queue_nums, cap) for q in route.queue_datas if q.perm & 2}
    targets = [
        (bd.broker_name, bd.broker_addrs[MASTER_ID])
        for bd in route.broker_datas
        if MASTER_ID in bd.broker_addrs
        and bd.broker_name in writable
        and (broker is None or bd.broker_name == broker)
    ]
    if not targets:
        raise AdminError(f"No route info of this topic: {topic}")
    name, addr = random.choice(targets)
    qid = queue_id if queue_id is not None else random.randrange(max(writable[name], 1))
    uniq = _UNIQ.create()
    props: dict[str, str | None] = {MessageConst.UNIQ_KEY: uniq, MessageConst.WAIT: "true"}
    if tags:
        props[MessageConst.TAGS] = tags
    if keys:
        props[MessageConst.KEYS] = keys
    header = SendMessageRequestHeader(
        producer_group=group or str(int(time.time() * 1000)), topic=topic, default_topic="TBW102",
        default_topic_queue_nums=4, queue_id=qid, sys_flag=0, born_timestamp=int(time.time() * 1000),
        flag=0, properties=encode_properties(props), reconsume_times=0,
    )  # fmt: skip
    resp = admin.call(addr, RequestCode.SEND_MESSAGE, header.to_ext_fields(), body, ok=(0, 10, 11, 12))
    status = {0: "SEND_OK", 10: "FLUSH_DISK_TIMEOUT", 11: "SLAVE_NOT_AVAILABLE", 12: "FLUSH_SLAVE_TIMEOUT"}[
        resp.code
    ]
    offset_id = (resp.ext_fields or {}).get("msgId", "")
    return name, qid, status, uniq, offset_id, addr


def send_pub_trace(
    admin: MQAdmin, group: str, topic: str, tags: str | None, keys: str | None, result: tuple[str, int, str, str, str, str],
    body_len: int, started_ms: int, cost_ms: int, trace_topic: str = TRACE_TOPIC,
) -> None:  # fmt: skip
    """Write the Pub trace record of one send to the trace topic (what the Java client's hook does)."""
    _name, _qid, status, uniq, offset_id, addr = result
    bean = TraceBean(msg_id=uniq, topic=topic, tags=tags or "", keys=keys or "", store_host=addr,
                     body_length=body_len, msg_type=MessageType.Normal_Msg, offset_msg_id=offset_id)  # fmt: skip
    ctx = TraceContext(
        TraceType.Pub, started_ms, "DefaultRegion", group, cost_ms, status == "SEND_OK", beans=[bean]
    )
    send_one(admin, trace_topic, encode_context(ctx).encode(), None, " ".join(trace_keys(ctx)))


@command("sendMessage", "Send a message", _send_opts)
def send_message(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    if args.qid is not None and not args.broker:
        out.write("Broker name must be set if the queue is chosen!")
        return 1
    topic, body = args.topic.strip(), args.body.encode("utf-8")
    tags = args.tags.strip() if args.tags else None
    keys = args.key.strip() if args.key else None
    group = str(int(time.time() * 1000))
    started = int(time.time() * 1000)
    result = send_one(
        admin, topic, body, tags, keys, args.broker.strip() if args.broker else None, args.qid, group
    )
    if parse_bool(args.trace):
        cost = int(time.time() * 1000) - started
        try:
            send_pub_trace(admin, group, topic, tags, keys, result, len(body), started, cost)
        except AdminError as exc:
            sys.stderr.write(f"WARN: trace not written: {exc}\n")
    out.write(jfmt("%-32s  %-4s  %-20s    %s%n", "#Broker Name", "#QID", "#Send Result", "#MsgId"))
    out.write(jfmt("%-32s  %-4s  %-20s    %s%n", result[0], result[1], result[2], result[3]))
    return 0


def _consume_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="Topic name")
    p.add_argument("-b", "--brokerName", dest="broker", help="Broker name")
    p.add_argument("-i", "--queueId", dest="queue_id", type=int, help="Queue Id")
    p.add_argument("-o", "--offset", type=int, help="Queue offset")
    p.add_argument(
        "-g", "--consumerGroup", dest="group", default="TOOLS_CONSUMER", help="Consumer group name"
    )
    p.add_argument(
        "-s", "--beginTimestamp", dest="begin", help="Begin timestamp(ms or yyyy-MM-dd#HH:mm:ss:SSS)"
    )
    p.add_argument("-e", "--endTimestamp", dest="end", help="End timestamp(ms or yyyy-MM-dd#HH:mm:ss:SSS)")
    p.add_argument(
        "-c", "--MessageNumber", dest="count", type=int, default=128, help="Number of message to be consumed"
    )


def _print_pulled(msgs: list[MessageExt], out: TextIO, broker: str | None = None) -> None:
    for m in msgs:
        desc = (f"MessageExt [brokerName={java_str(broker)}, queueId={m.queue_id}, storeSize={m.store_size}, "
                f"queueOffset={m.queue_offset}, sysFlag={m.sys_flag}, bornTimestamp={m.born_timestamp}, "
                f"bornHost=/{_host(m.born_host)}, storeTimestamp={m.store_timestamp}, storeHost=/{_host(m.store_host)}, "
                f"msgId={m.msg_id}, commitLogOffset={m.commit_log_offset}, bodyCRC={m.body_crc}, "
                f"reconsumeTimes={m.reconsume_times}, preparedTransactionOffset={m.prepared_transaction_offset}, "
                f"toString()=Message{{topic='{m.topic}', flag={m.flag}, properties={{"
                + java_map_str(m.properties)[1:-1] + f"}}, body=[{len(m.body)} bytes], transactionId='null'}}]")  # fmt: skip
        out.write(f"MSGID: {m.msg_id} {desc} BODY: {m.body.decode('utf-8', 'replace')}\n")


def _pull_range(
    admin: MQAdmin, addr: str, topic: str, broker: str, qid: int, lo: int, hi: int, group: str, out: TextIO
) -> None:
    mq = f"MessageQueue [topic={topic}, brokerName={broker}, queueId={qid}]"
    offset = lo
    while offset <= hi:
        code, nxt, msgs = admin.pull(addr, topic, qid, offset, min(hi - offset + 1, 32), group)
        if code == ResponseCode.SUCCESS and msgs:
            out.write("Consume ok\n")
            _print_pulled(msgs, out, broker)
        elif code == ResponseCode.PULL_RETRY_IMMEDIATELY:
            out.write(f"{mq} no matched msg. status=NO_MATCHED_MSG, offset={nxt}\n")
        else:
            out.write(
                f"{mq} print msg finished. status={'NO_NEW_MSG' if code == 19 else 'OFFSET_ILLEGAL'}, offset={nxt}\n"
            )
            return
        if nxt <= offset:
            return
        offset = nxt


@command("consumeMessage", "Consume message", _consume_opts)
def consume_message(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    if args.count <= 0:
        out.write("Please input a positive messageNumber!")
        return 1
    if args.queue_id is not None and not args.broker:
        out.write("Please set the brokerName before queueId!")
        return 1
    if args.offset is not None and args.queue_id is None:
        out.write("Please set queueId before offset!")
        return 1
    topic = args.topic.strip()
    begin = parse_timestamp(args.begin) if args.begin else 0
    end = parse_timestamp(args.end) if args.end else 0
    masters = dict(admin.topic_masters(topic))
    route = admin.route(topic)
    queues = [(q.broker_name, qid) for q in sorted(route.queue_datas, key=lambda q: q.broker_name)
              for qid in range(q.read_queue_nums) if q.broker_name in masters]  # fmt: skip
    if args.broker:
        queues = [
            (b, q) for b, q in queues if b == args.broker and (args.queue_id is None or q == args.queue_id)
        ]
    left = args.count
    for broker, qid in queues:
        if left <= 0:
            break
        addr = masters[broker]
        lo = admin.min_offset(addr, topic, qid) if args.offset is None else args.offset
        hi = admin.max_offset(addr, topic, qid)
        if begin > 0:
            lo = admin.search_offset(addr, topic, qid, begin)
        if end > 0:
            hi = admin.search_offset(addr, topic, qid, end)
        if hi - lo > left:
            out.write(f"The older {left} message of the {qid} queue will be provided\n")
            hi = lo + left - 1
            left = 0
        else:
            left -= hi - lo + 1
        _pull_range(admin, addr, topic, broker, qid, lo, hi, args.group, out)
    return 0


def _trace_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", dest="msg_id", required=True, help="Message Id")
    p.add_argument(
        "-t",
        "--traceTopic",
        dest="trace_topic",
        default=TRACE_TOPIC,
        help="The name value of message trace topic",
    )


def query_trace(admin: MQAdmin, msg_id: str, trace_topic: str = TRACE_TOPIC) -> list[TraceView]:
    """Every trace view of ``msg_id`` (client UNIQ id) in the trace topic, in time order."""
    views: list[TraceView] = []
    for m in admin.query_message(trace_topic, msg_id, 64, 0, int(time.time() * 1000)):
        views.extend(views_for(msg_id, m.body, _host(m.born_host)))
    views.sort(key=lambda v: (v.time_stamp, v.msg_type))
    return views


@command("queryMsgTraceById", "query a message trace", _trace_opts)
def query_msg_trace_by_id(args: argparse.Namespace, admin: MQAdmin, out: TextIO) -> int:
    views = query_trace(admin, args.msg_id.strip(), args.trace_topic.strip())
    fmt = "%-10s %-20s %-20s %-20s %-10s %-10s%n"
    consumers: dict[str | None, list[TraceView]] = {}
    for v in views:
        if v.msg_type == TraceType.Pub.value:
            out.write(
                jfmt(fmt, "#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status")
            )
            out.write(
                jfmt(
                    fmt,
                    "Pub",
                    v.group_name,
                    v.client_host,
                    human_time(v.time_stamp),
                    f"{v.cost_time}ms",
                    v.status,
                )
            )
            out.write("\n")
        elif v.msg_type == TraceType.SubAfter.value:
            consumers.setdefault(v.group_name, []).append(v)
    for group_views in consumers.values():
        out.write(
            jfmt(fmt, "#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime", "#CostTimes", "#Status")
        )
        for v in group_views:
            out.write(
                jfmt(
                    fmt,
                    "Sub",
                    v.group_name,
                    v.client_host,
                    human_time(v.time_stamp),
                    f"{v.cost_time}ms",
                    v.status,
                )
            )
        out.write("\n")
    return 0
