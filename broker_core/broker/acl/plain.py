"""``plain_acl.yml`` (ACL 1.0): the files, the parsed accounts and the request validator.

Files (storage spec 10.1): every ``*.yml`` / ``*.yaml`` under ``conf/acl/``, then the main file
(``$ROCKETMQ_HOME/conf/plain_acl.yml`` unless configured); when an accessKey appears twice the first
file loaded wins (Apache's order: the folder first). The files are parsed once into an :class:`AclSnapshot` (accounts with their secret-key
bytes, compiled address matchers and permission maps), so a request costs one dict lookup, one
HMAC and a few dict reads — nothing is re-read per request. A watcher task compares the files'
modification times every ``watch_interval`` seconds (Apache: 5 s) and swaps in a new snapshot;
a file that fails to parse keeps the previous snapshot (logged).

Validation order and rejection texts follow ``PlainPermissionManager.validate`` (storage spec 10.5);
a rejection is answered SYSTEM_ERROR with Apache's remark ``<exception>: <text>, <frame>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac as hmac_module
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import yaml

from broker_core.broker.acl.addresses import AclConfigError, Matcher, address_matcher
from broker_core.broker.acl.permissions import (
    ADMIN_CODES,
    PUB,
    TRACE_TOPIC,
    check_permission,
    demanded_resources,
    is_valid_perm,
    parse_perm,
    resource_label,
    retry_topic,
)
from broker_core.errors import BrokerCoreError
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.signing import ACCESS_KEY, SIGNATURE, hmac_template, signature_with
from broker_core.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

_EXC = "org.apache.rocketmq.acl.common.AclException"
_PPM = "org.apache.rocketmq.acl.plain.PlainPermissionManager"
_PAV = "org.apache.rocketmq.acl.plain.PlainAccessValidator"


class AclDenied(BrokerCoreError):
    """A request failed ACL validation; ``remark`` is what Apache 4.9.8 answers."""

    def __init__(self, reason: str, frame: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remark = f"{_EXC}: {reason}, {frame}"


@dataclass(frozen=True, slots=True)
class Account:
    access_key: str
    secret_key: str
    white: Matcher
    admin: bool
    default_topic_perm: int
    default_group_perm: int
    #: resource -> perm; None when the account lists no topicPerms/groupPerms at all
    perms: dict[str, int] | None
    source: str
    #: HmacSHA1 keyed with the secret key, copied per request
    hmac: hmac_module.HMAC


@dataclass(slots=True)
class AclSnapshot:
    accounts: dict[str, Account] = field(default_factory=dict)
    global_white: list[Matcher] = field(default_factory=list)
    #: file -> {"counter": n, "timestamp": ms}
    versions: dict[str, dict[str, int]] = field(default_factory=dict)


def _perm_map(entries: Any, topic: bool, where: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in entries or []:
        items = [p for p in str(entry).split("=") if p != ""]
        if len(items) != 2:
            raise AclConfigError(
                f"Parse resource permission failed for {'topic' if topic else 'group'}:{entry} ({where})"
            )
        name = items[0].strip()
        out[name if topic else retry_topic(name)] = parse_perm(items[1])
    return out


def build_account(raw: dict[str, Any], source: str) -> Account:
    """One ``accounts`` entry -> Account (``buildPlainAccessResource``)."""
    ak, sk = raw.get("accessKey"), raw.get("secretKey")
    if ak is None or sk is None or len(str(ak)) <= 6 or len(str(sk)) <= 6:
        raise AclConfigError(
            f"The accessKey={ak} and secretKey={sk} cannot be null and length should longer than 6"
        )
    white = raw.get("whiteRemoteAddress")
    topic_perms, group_perms = raw.get("topicPerms"), raw.get("groupPerms")
    perms: dict[str, int] | None = None
    if topic_perms or group_perms:
        perms = {**_perm_map(group_perms, False, source), **_perm_map(topic_perms, True, source)}
    admin = raw.get("admin", False)
    return Account(
        access_key=str(ak),
        secret_key=str(sk),
        white=address_matcher(None if white is None else str(white)),
        admin=admin is True or str(admin).lower() == "true",
        default_topic_perm=parse_perm(
            None if raw.get("defaultTopicPerm") is None else str(raw["defaultTopicPerm"])
        ),
        default_group_perm=parse_perm(
            None if raw.get("defaultGroupPerm") is None else str(raw["defaultGroupPerm"])
        ),
        perms=perms,
        source=source,
        hmac=hmac_template(str(sk)),
    )


class PlainAclFiles:
    """Reads and writes the ACL files; :meth:`load` builds a snapshot of all of them."""

    def __init__(self, main_file: Path, extra_dir: Path | None = None) -> None:
        self.main_file = main_file
        self.extra_dir = extra_dir

    def files(self) -> list[Path]:
        """The ``acl/`` folder's files (sorted), then the main file — Apache's load order."""
        out: list[Path] = []
        if self.extra_dir is not None and self.extra_dir.is_dir():
            extra = [p for p in self.extra_dir.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()]
            out += sorted(p for p in extra if p.resolve() != self.main_file.resolve())
        if self.main_file.is_file():
            out.append(self.main_file)
        return out

    def mtimes(self) -> dict[str, int]:
        out = {}
        for p in self.files():
            with contextlib.suppress(OSError):
                out[str(p)] = p.stat().st_mtime_ns
        return out

    @staticmethod
    def read(path: Path) -> dict[str, Any]:
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise AclConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise AclConfigError(f"{path}: top level must be a mapping")
        return data

    def load(self) -> AclSnapshot:
        snap = AclSnapshot()
        for path in self.files():
            data = self.read(path)
            for pattern in data.get("globalWhiteRemoteAddresses") or []:
                snap.global_white.append(address_matcher(str(pattern)))
            for raw in data.get("accounts") or []:
                if not isinstance(raw, dict):
                    raise AclConfigError(f"{path}: an account must be a mapping")
                acc = build_account(raw, str(path))
                snap.accounts.setdefault(acc.access_key, acc)
            versions = data.get("dataVersion") or []
            if versions and isinstance(versions[0], dict):
                v = versions[0]
                snap.versions[str(path)] = {
                    "counter": int(v.get("counter", 0)),
                    "timestamp": int(v.get("timestamp", 0)),
                }
            else:
                snap.versions[str(path)] = {"counter": 0, "timestamp": 0}
        return snap

    def write(self, path: Path, data: dict[str, Any]) -> None:
        """Write ``data`` with its ``dataVersion`` advanced (tmp + rename)."""
        old = (data.get("dataVersion") or [{}])[0] or {}
        data["dataVersion"] = [
            {"counter": int(old.get("counter", 0)) + 1, "timestamp": int(time.time() * 1000)}
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        os.replace(tmp, path)


class PlainAccessValidator:
    """The ``aclEnable`` request hook plus the ACL admin operations."""

    def __init__(self, files: PlainAclFiles, watch_interval: float = 5.0) -> None:
        self.files = files
        self.watch_interval = watch_interval
        self.snapshot = files.load()
        self._mtimes = files.mtimes()
        self._task: asyncio.Task[None] | None = None
        self.rejected = 0

    # ---- validation (hot path) ----------------------------------------------------------------
    def validate(self, request: RemotingCommand, remote_addr: str) -> None:
        """Raise :class:`AclDenied` unless ``request`` from ``remote_addr`` (``ip:port``) is allowed."""
        ip = remote_addr.rsplit(":", 1)[0] if ":" in remote_addr else remote_addr
        snap = self.snapshot
        ext = request.ext_fields
        try:
            needed = demanded_resources(request) if ext is not None else {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AclDenied(str(exc), f"{_PAV}.parse(PlainAccessValidator.java:134)") from exc
        for white in snap.global_white:
            if white(ip):
                return
        ak = ext.get(ACCESS_KEY) if ext is not None else None
        if ak is None:
            raise AclDenied("No accessKey is configured", f"{_PPM}.validate(PlainPermissionManager.java:664)")
        account = snap.accounts.get(ak)
        if account is None:
            raise AclDenied(f"No acl config for {ak}", f"{_PPM}.validate(PlainPermissionManager.java:668)")
        if account.white(ip):
            return
        assert ext is not None
        if signature_with(account.hmac, ext, request.body) != ext.get(SIGNATURE):
            raise AclDenied(
                f"Check signature failed for accessKey={ak}",
                f"{_PPM}.validate(PlainPermissionManager.java:684)",
            )
        if needed.get(TRACE_TOPIC) == PUB:
            return
        if request.code in ADMIN_CODES and not account.admin:
            raise AclDenied(
                f"Need admin permission for request code={request.code}, but accessKey={ak} is not",
                f"{_PPM}.checkPerm(PlainPermissionManager.java:581)",
            )
        if not needed or (account.perms is None and account.admin):
            return
        owned = account.perms or {}
        for resource, perm in needed.items():
            have = owned.get(resource)
            line = 611
            if have is None:
                is_group = resource.startswith("%RETRY%")
                have = account.default_group_perm if is_group else account.default_topic_perm
                line = 606
            if not check_permission(perm, have):
                raise AclDenied(
                    f"No default permission for {resource_label(resource)}",
                    f"{_PPM}.checkPerm(PlainPermissionManager.java:{line})",
                )

    def guard(self, request: RemotingCommand, remote_addr: str) -> RemotingCommand | None:
        """Dispatcher hook: None to proceed, else the SYSTEM_ERROR answer (None for oneway too)."""
        try:
            self.validate(request, remote_addr)
        except AclDenied as exc:
            self.rejected += 1
            log.warning("acl rejected request", code=request.code, peer=remote_addr, reason=exc.reason)
            return request.make_response(ResponseCode.SYSTEM_ERROR, exc.remark)
        return None

    # ---- hot reload ---------------------------------------------------------------------------
    def reload_if_changed(self) -> bool:
        mtimes = self.files.mtimes()
        if mtimes == self._mtimes:
            return False
        try:
            snap = self.files.load()
        except (AclConfigError, yaml.YAMLError, OSError, ValueError) as exc:
            log.error("acl files not reloaded: keeping the previous configuration", reason=str(exc))
            self._mtimes = mtimes
            return False
        self.snapshot, self._mtimes = snap, mtimes
        log.info("acl configuration reloaded", files=len(mtimes), accounts=len(snap.accounts))
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            self.reload_if_changed()

    # ---- admin operations (UPDATE_AND_CREATE_ACL_CONFIG …) ---------------------------------------
    def update_account(self, fields: dict[str, Any]) -> None:
        """Create or update one account; raises AclConfigError with Apache's message on bad input."""
        ak, sk = fields.get("accessKey"), fields.get("secretKey")
        if ak is None or sk is None or len(ak) <= 6 or len(sk) <= 6:
            raise AclConfigError(
                f"The accessKey={ak} and secretKey={sk} cannot be null and length should longer than 6"
            )
        for key in ("topicPerms", "groupPerms"):
            for item in fields.get(key) or []:
                parts = [p for p in item.split("=") if p != ""]
                if len(parts) != 2:
                    raise AclConfigError(
                        f"Parse Resource format error for {item}.\n"
                        "The expected resource format is 'Res=Perm'. For example: topicA=SUB"
                    )
                if not is_valid_perm(parts[1]):
                    raise AclConfigError(
                        f"Parse resource permission error for {item}.\n"
                        "The expected permissions are 'SUB' or 'PUB' or 'SUB|PUB' or 'PUB|SUB'."
                    )
        existing = self.snapshot.accounts.get(ak)
        path = Path(existing.source) if existing is not None else self.files.main_file
        data = self.files.read(path)
        accounts: list[dict[str, Any]] = list(data.get("accounts") or [])
        entry = next((a for a in accounts if a.get("accessKey") == ak), None)
        if entry is None:
            entry = {"accessKey": ak}
            accounts.append(entry)
        entry["secretKey"] = sk
        for key in ("whiteRemoteAddress", "defaultTopicPerm", "defaultGroupPerm", "topicPerms", "groupPerms"):
            if fields.get(key) is not None:
                entry[key] = fields[key]
        entry["admin"] = bool(fields.get("admin", False))
        build_account(entry, str(path))  # refuse what would not load
        data["accounts"] = accounts
        self.files.write(path, data)
        self._force_reload()

    def delete_account(self, access_key: str) -> bool:
        existing = self.snapshot.accounts.get(access_key)
        if existing is None:
            return False
        path = Path(existing.source)
        data = self.files.read(path)
        data["accounts"] = [a for a in data.get("accounts") or [] if a.get("accessKey") != access_key]
        self.files.write(path, data)
        self._force_reload()
        return True

    def update_global_white(self, addrs: list[str], path: str | None) -> None:
        for a in addrs:
            address_matcher(a)
        target = Path(path) if path else self.files.main_file
        data = self.files.read(target)
        data["globalWhiteRemoteAddresses"] = addrs
        self.files.write(target, data)
        self._force_reload()

    def _force_reload(self) -> None:
        self.snapshot = self.files.load()
        self._mtimes = self.files.mtimes()

    def version_json(self) -> str:
        v = self.snapshot.versions.get(str(self.files.main_file), {"counter": 0, "timestamp": 0})
        return json.dumps(
            {"counter": v["counter"], "stateVersion": 0, "timestamp": v["timestamp"]}, separators=(",", ":")
        )

    def all_versions_json(self) -> str:
        return json.dumps(
            {
                f: {"counter": v["counter"], "stateVersion": 0, "timestamp": v["timestamp"]}
                for f, v in self.snapshot.versions.items()
            },
            separators=(",", ":"),
        )
