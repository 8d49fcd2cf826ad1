"""v2 ``Status`` helpers and the broker response code -> v2 ``Code`` mapping Apache's proxy uses."""

from __future__ import annotations

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.remoting.codes import ResponseCode

__all__ = ["code_of_response", "status", "summary_status"]

#: 5.x POP response codes (the broker's ``pop.service`` answers with these)
POLLING_FULL = 209
POLLING_TIMEOUT = 210

_MAP: dict[int, int] = {
    ResponseCode.SUCCESS: pb.OK,
    ResponseCode.REQUEST_CODE_NOT_SUPPORTED: pb.UNSUPPORTED,  # e.g. POP on a 4.x broker
    ResponseCode.SYSTEM_BUSY: pb.TOO_MANY_REQUESTS,
    ResponseCode.FLUSH_DISK_TIMEOUT: pb.MASTER_PERSISTENCE_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: pb.SLAVE_PERSISTENCE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: pb.HA_NOT_AVAILABLE,
    ResponseCode.MESSAGE_ILLEGAL: pb.BAD_REQUEST,
    ResponseCode.SERVICE_NOT_AVAILABLE: pb.INTERNAL_SERVER_ERROR,
    ResponseCode.NO_PERMISSION: pb.FORBIDDEN,
    ResponseCode.TOPIC_NOT_EXIST: pb.TOPIC_NOT_FOUND,
    ResponseCode.SUBSCRIPTION_PARSE_FAILED: pb.ILLEGAL_FILTER_EXPRESSION,
    ResponseCode.SUBSCRIPTION_NOT_EXIST: pb.CONSUMER_GROUP_NOT_FOUND,
    ResponseCode.SUBSCRIPTION_NOT_LATEST: pb.ILLEGAL_FILTER_EXPRESSION,
    ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST: pb.CONSUMER_GROUP_NOT_FOUND,
    ResponseCode.NO_MESSAGE: pb.MESSAGE_NOT_FOUND,
    POLLING_TIMEOUT: pb.MESSAGE_NOT_FOUND,
    POLLING_FULL: pb.TOO_MANY_REQUESTS,
}


def code_of_response(code: int) -> int:
    """The v2 code for a broker response code (INTERNAL_SERVER_ERROR when there is no better one)."""
    return _MAP.get(code, pb.INTERNAL_SERVER_ERROR)


def status(code: int = pb.OK, message: str = "OK") -> pb.Status:
    return pb.Status(code=code, message=message)  # type: ignore[arg-type]


def summary_status(entries: list[pb.Status]) -> pb.Status:
    """One status for a batch: the common one, else MULTIPLE_RESULTS (Apache's rule)."""
    if not entries:
        return status()
    first = entries[0]
    if all(e.code == first.code for e in entries):
        return status(first.code, first.message)
    return status(pb.MULTIPLE_RESULTS, "multiple results")
