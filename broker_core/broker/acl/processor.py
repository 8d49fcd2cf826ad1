"""ACL admin requests: UPDATE_AND_CREATE_ACL_CONFIG (50), DELETE_ACL_CONFIG (51),
GET_BROKER_CLUSTER_ACL_INFO (52), UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53) — answers and remarks as
Apache's ``AdminBrokerProcessor``. They edit the YAML files; the new rules apply at once."""

from __future__ import annotations

from typing import Any

import structlog
import yaml

from broker_core.broker.acl.addresses import AclConfigError
from broker_core.broker.acl.plain import PlainAccessValidator
from broker_core.broker.context import BrokerContext
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher

log = structlog.get_logger(__name__)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [p.strip() for p in text.split(",") if p.strip()]


class AclAdminProcessor:
    def __init__(self, ctx: BrokerContext, validator: PlainAccessValidator | None) -> None:
        self.ctx = ctx
        self.validator = validator

    def register(self, d: Dispatcher) -> None:
        d.register(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, self.update)
        d.register(RequestCode.DELETE_ACL_CONFIG, self.delete)
        d.register(RequestCode.GET_BROKER_CLUSTER_ACL_INFO, self.info)
        d.register(RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, self.update_white)

    def _disabled(self, request: RemotingCommand) -> RemotingCommand:
        return request.make_response(
            ResponseCode.SYSTEM_ERROR, "ACL is not enabled on this broker (aclEnable=false)"
        )

    def update(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.validator is None:
            return self._disabled(request)
        ext = request.ext_fields or {}
        fields: dict[str, Any] = {
            "accessKey": ext.get("accessKey"),
            "secretKey": ext.get("secretKey"),
            "whiteRemoteAddress": ext.get("whiteRemoteAddress"),
            "defaultTopicPerm": ext.get("defaultTopicPerm"),
            "defaultGroupPerm": ext.get("defaultGroupPerm"),
            "topicPerms": _split(ext.get("topicPerms")),
            "groupPerms": _split(ext.get("groupPerms")),
            "admin": ext.get("admin", "false").lower() == "true",
        }
        try:
            self.validator.update_account(fields)
        except (AclConfigError, OSError, yaml.YAMLError) as exc:
            log.warning("acl account not updated", access_key=fields["accessKey"], reason=str(exc))
            return request.make_response(ResponseCode.UPDATE_AND_CREATE_ACL_CONFIG_FAILED, str(exc))
        log.info("acl account updated", access_key=fields["accessKey"], peer=channel.remote_addr)
        return request.make_response()

    def delete(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.validator is None:
            return self._disabled(request)
        ak = (request.ext_fields or {}).get("accessKey", "")
        try:
            ok = self.validator.delete_account(ak)
        except (OSError, yaml.YAMLError) as exc:
            return request.make_response(ResponseCode.DELETE_ACL_CONFIG_FAILED, str(exc))
        if not ok:
            return request.make_response(
                ResponseCode.DELETE_ACL_CONFIG_FAILED,
                f"The accesskey[{ak}] corresponding to accessConfig has been deleted failed.",
            )
        log.info("acl account deleted", access_key=ak, peer=channel.remote_addr)
        return request.make_response()

    def info(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.validator is None:
            return self._disabled(request)
        cfg = self.ctx.config
        ext = {
            "version": self.validator.version_json(),
            "allAclFileVersion": self.validator.all_versions_json(),
            "brokerAddr": cfg.broker_addr,
            "brokerName": cfg.broker_name,
            "clusterName": cfg.broker_cluster_name,
        }
        return request.make_response(ext_fields=ext)

    def update_white(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.validator is None:
            return self._disabled(request)
        ext = request.ext_fields or {}
        addrs = _split(ext.get("globalWhiteAddrs")) or []
        try:
            self.validator.update_global_white(addrs, ext.get("aclFileFullPath") or None)
        except (AclConfigError, OSError, yaml.YAMLError) as exc:
            return request.make_response(ResponseCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED, str(exc))
        return request.make_response()
