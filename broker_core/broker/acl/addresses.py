"""Remote-address patterns of ``plain_acl.yml`` (``RemoteAddressStrategyFactory``, storage spec 10.6).

=================================  =============================================================
pattern                            matches
=================================  =============================================================
blank                              nothing
``*``, ``*.*.*.*``, ``*:*:…``       everything
``192.168.1.{1,2,3}``              the listed last octets (braces in the last segment)
``192.168.1.1,192.168.1.2``        any listed address
``192.168.*.*``, ``192.168.1.*``   prefix, then ``*`` segments
``192.168.1.1-100``                a numeric range in one segment (following segments must be ``*``)
``192.168.1.1``                    exactly that address
=================================  =============================================================

IPv6 addresses are compared in their fully expanded form. A malformed pattern raises
:class:`AclConfigError`, as Apache refuses to load such a file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from broker_core.errors import BrokerCoreError

Matcher = Callable[[str], bool]


class AclConfigError(BrokerCoreError):
    """``plain_acl.yml`` holds something Apache would refuse (bad pattern, short key, bad perm)."""


def _is_v4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _expand(text: str) -> str | None:
    """Canonical form of an IP address (IPv6 fully expanded, upper case), None when invalid."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        return addr.exploded.upper()
    return str(addr)


def _never(_addr: str) -> bool:
    return False


def _always(_addr: str) -> bool:
    return True


def _set_matcher(addresses: list[str]) -> Matcher:
    wanted: set[str] = set()
    for a in addresses:
        canon = _expand(a)
        if canon is None:
            raise AclConfigError(f"Netaddress examine Exception netaddress is {a}")
        wanted.add(canon)

    def match(addr: str) -> bool:
        return _expand(addr) in wanted

    return match


def _range_v4(pattern: str) -> Matcher:
    parts = [p.strip() for p in pattern.split(".")]
    if len(parts) != 4:
        raise AclConfigError(
            f"RangeRemoteAddressStrategy netaddress examine scope Exception netaddress {pattern}"
        )
    for index in (1, 2, 3):
        value = parts[index]
        if value == "*":
            start, end = 0, 255
        elif "-" in value:
            if value.startswith("-"):
                raise AclConfigError(
                    f"RangeRemoteAddressStrategy netaddress examine scope Exception value {value} "
                )
            lo, _, hi = value.partition("-")
            start, end = int(lo), int(hi)
            if not (0 <= start <= end <= 255):
                raise AclConfigError(
                    f"RangeRemoteAddressStrategy netaddress examine scope Exception start is {start} , end is {end}"
                )
        else:
            continue
        if any(p != "*" for p in parts[index + 1 :]):
            raise AclConfigError(
                f"RangeRemoteAddressStrategy netaddress examine scope Exception netaddress {pattern}"
            )
        head = parts[:index]

        def match(
            addr: str, head: list[str] = head, index: int = index, start: int = start, end: int = end
        ) -> bool:
            if not _is_v4(addr):
                return False
            got = addr.split(".")
            return got[:index] == head and start <= int(got[index]) <= end

        return match
    return _set_matcher([pattern])


def _range_v6(pattern: str) -> Matcher:
    parts = pattern.split(":")
    for index, value in enumerate(parts):
        if value == "*" or "-" in value:
            if value == "*":
                start, end = 0, 0xFFFF
            else:
                lo, _, hi = value.partition("-")
                start, end = int(lo, 16), int(hi, 16)
            head = [p.upper().zfill(4) for p in parts[:index]]

            def match(
                addr: str, head: list[str] = head, index: int = index, start: int = start, end: int = end
            ) -> bool:
                canon = _expand(addr)
                if canon is None or ":" not in canon:
                    return False
                segs = canon.split(":")
                return segs[:index] == head and start <= int(segs[index], 16) <= end

            return match
    return _set_matcher([pattern])


def address_matcher(pattern: str | None) -> Matcher:
    """The matcher of one pattern (remote address without port in, bool out)."""
    if pattern is None or not pattern.strip():
        return _never
    p = pattern.strip()
    if p in ("*", "*.*.*.*", "*:*:*:*:*:*:*:*"):
        return _always
    if p.endswith("}"):
        sep = ":" if ":" in p else "."
        head, _, last = p.rpartition(sep)
        if not last.startswith("{") or (sep == "." and len(p.split(".")) < 4):
            raise AclConfigError(
                f"MultipleRemoteAddressStrategy netaddress examine scope Exception netaddress {p}"
            )
        return _set_matcher([f"{head}{sep}{x.strip()}" for x in last[1:-1].split(",") if x.strip()])
    if "," in p:
        return _set_matcher([x for x in p.split(",") if x.strip()])
    if "*" in p or "-" in p:
        return _range_v6(p) if ":" in p else _range_v4(p)
    return _set_matcher([p])
