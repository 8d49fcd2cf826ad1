"""Authentication of 5.x clients (ACL 1.0 accounts) and the identity the proxy acts under.

A 5.x client with credentials sends, on every call, the metadata

    authorization: MQv2-HMAC-SHA1 Credential=<accessKey>, SignedHeaders=x-mq-date-time, Signature=<hex>
    x-mq-date-time: 20261203T081500Z

where ``Signature`` = hex(HmacSHA1(secretKey, x-mq-date-time)). With ``--acl-file`` (the brokers'
``plain_acl.yml``) the proxy checks it against the file's accounts — a missing or wrong signature is
answered UNAUTHORIZED — and then signs the remoting requests it makes for that call with the same
account (:data:`CURRENT`, read by :class:`~broker_core.proxy.backend.Backend`), so the brokers'
ACL decides topic and group permissions (a refusal becomes FORBIDDEN). The proxy's own requests
(heartbeats, reading subscription groups) use the file's first admin account.
"""

from __future__ import annotations

import contextvars
import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_core.broker.acl.plain import PlainAclFiles

__all__ = ["CURRENT", "Authenticator", "Credentials"]

_SCHEME = "MQv2-HMAC-SHA1"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str


#: the account the current RPC runs as (None: no ACL, or the proxy itself)
CURRENT: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar(
    "proxy_credentials", default=None
)


def expected_signature(secret_key: str, date_time: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), date_time.encode("utf-8"), "sha1").hexdigest()


def parse_authorization(value: str) -> dict[str, str] | None:
    """``{"Credential": ak, "SignedHeaders": ..., "Signature": hex}``, or None when malformed."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != _SCHEME:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name] = val
    return fields if {"Credential", "Signature"} <= fields.keys() else None


class Authenticator:
    """Checks call metadata against ``plain_acl.yml`` (re-read when the file changes)."""

    def __init__(self, acl_file: Path) -> None:
        self.files = PlainAclFiles(acl_file)
        self._mtimes: dict[str, int] = {}
        self._secrets: dict[str, str] = {}
        self.proxy_identity: Credentials | None = None
        self._checked = 0.0
        self._reload()

    def _reload(self) -> None:
        mtimes = self.files.mtimes()
        if mtimes == self._mtimes and self._secrets:
            return
        snapshot = self.files.load()
        self._secrets = {ak: acc.secret_key for ak, acc in snapshot.accounts.items()}
        admins = [acc for acc in snapshot.accounts.values() if acc.admin]
        self.proxy_identity = Credentials(admins[0].access_key, admins[0].secret_key) if admins else None
        self._mtimes = mtimes

    def authenticate(self, metadata: Any) -> Credentials | str:
        """The caller's account, or the reason it is refused."""
        now = time.monotonic()
        if now - self._checked > 5.0:
            self._checked = now
            self._reload()
        headers = {str(k): str(v) for k, v in metadata or ()}
        auth = headers.get("authorization")
        if not auth:
            return "no authorization metadata: the proxy requires credentials"
        fields = parse_authorization(auth)
        if fields is None:
            return "malformed authorization metadata"
        secret = self._secrets.get(fields["Credential"])
        if secret is None:
            return f"unknown access key {fields['Credential']!r}"
        date_time = headers.get("x-mq-date-time", "")
        if not hmac.compare_digest(expected_signature(secret, date_time), fields["Signature"].lower()):
            return "signature mismatch"
        return Credentials(fields["Credential"], secret)
