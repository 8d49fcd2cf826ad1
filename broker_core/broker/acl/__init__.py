"""ACL 1.0 (``aclEnable``, ``plain_acl.yml``): signed requests, per-account permissions, hot reload."""

from __future__ import annotations

from broker_core.broker.acl.addresses import AclConfigError, address_matcher
from broker_core.broker.acl.plain import AclDenied, PlainAccessValidator, PlainAclFiles

__all__ = ["AclConfigError", "AclDenied", "PlainAccessValidator", "PlainAclFiles", "address_matcher"]
