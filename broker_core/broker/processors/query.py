"""QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33): look-ups served by the index and the commit log.

QUERY_MESSAGE answers the raw store records whose ``topic#key`` hash is in the index within the time
range, concatenated in the body, plus the index's last update point in the header. With ext field
``_UNIQUE_KEY_QUERY=true`` (a look-up by the client's UNIQ_KEY msgId) ``maxNum`` becomes
``defaultQueryMaxNum``. As with Apache the broker compares only hashes; clients re-filter on the key.

VIEW_MESSAGE_BY_ID answers the one record at a commit-log offset (the low 8 bytes of an offset msgId).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.broker.context import BrokerContext
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import CommandHeader, HeaderError

__all__ = ["QueryMessageRequestHeader", "QueryProcessor", "ViewMessageRequestHeader"]

UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"


@dataclass(slots=True)
class QueryMessageRequestHeader(CommandHeader):
    topic: str
    key: str
    max_num: int
    begin_timestamp: int
    end_timestamp: int


@dataclass(slots=True)
class ViewMessageRequestHeader(CommandHeader):
    offset: int


class QueryProcessor:
    """Handlers for codes 12 and 33."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.QUERY_MESSAGE, self.query_message)
        dispatcher.register(RequestCode.VIEW_MESSAGE_BY_ID, self.view_message_by_id)

    def query_message(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ext = request.ext_fields or {}
        try:
            h = QueryMessageRequestHeader.from_ext_fields(ext)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        store = self.ctx.store
        max_num = h.max_num
        if ext.get(UNIQUE_MSG_QUERY_FLAG, "").lower() == "true":
            max_num = store.config.default_query_max_num
        result = store.query_message(h.topic, h.key, max_num, h.begin_timestamp, h.end_timestamp)
        header = {
            "indexLastUpdateTimestamp": str(result.index_last_update_timestamp),
            "indexLastUpdatePhyoffset": str(result.index_last_update_phy_offset),
        }
        if not result.records:
            resp = request.make_response(
                ResponseCode.QUERY_NOT_FOUND, "can not find message, maybe time range not correct"
            )
            resp.ext_fields = header
            return resp
        resp = request.make_response(ext_fields=header)
        resp.body = b"".join(result.records)
        return resp

    def view_message_by_id(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ViewMessageRequestHeader.from_ext_fields(request.ext_fields or {})
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        raw = self.ctx.store.select_one_message_by_offset(h.offset)
        if raw is None or len(raw) < 91:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {h.offset}"
            )
        resp = request.make_response()
        resp.body = raw
        return resp
