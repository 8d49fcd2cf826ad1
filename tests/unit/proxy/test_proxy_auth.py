"""The proxy's check of 5.x client signatures against plain_acl.yml."""

from __future__ import annotations

from pathlib import Path

from broker_core.proxy.auth import Authenticator, Credentials, expected_signature, parse_authorization

YML = """\
accounts:
  - accessKey: adminUser
    secretKey: adminSecret
    admin: true
  - accessKey: appUser
    secretKey: appSecret
"""


def metadata(ak: str, sk: str, date_time: str = "20261203T081500Z") -> list[tuple[str, str]]:
    sig = expected_signature(sk, date_time)
    auth = f"MQv2-HMAC-SHA1 Credential={ak}, SignedHeaders=x-mq-date-time, Signature={sig}"
    return [("x-mq-date-time", date_time), ("authorization", auth)]


def test_parse_authorization() -> None:
    fields = parse_authorization("MQv2-HMAC-SHA1 Credential=ak, SignedHeaders=x-mq-date-time, Signature=ab12")
    assert fields == {"Credential": "ak", "SignedHeaders": "x-mq-date-time", "Signature": "ab12"}
    assert parse_authorization("Basic abc") is None
    assert parse_authorization("MQv2-HMAC-SHA1 Credential=ak") is None


def test_authenticate_accounts_and_proxy_identity(tmp_path: Path) -> None:
    acl = tmp_path / "plain_acl.yml"
    acl.write_text(YML)
    auth = Authenticator(acl)
    assert auth.proxy_identity == Credentials("adminUser", "adminSecret")
    assert auth.authenticate(metadata("appUser", "appSecret")) == Credentials("appUser", "appSecret")
    assert isinstance(auth.authenticate(metadata("appUser", "nope")), str)
    assert isinstance(auth.authenticate(metadata("ghost", "appSecret")), str)
    assert isinstance(auth.authenticate([]), str)
    tampered = metadata("appUser", "appSecret")
    tampered[0] = ("x-mq-date-time", "20261203T081501Z")
    assert isinstance(auth.authenticate(tampered), str)
