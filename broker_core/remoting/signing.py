"""ACL 1.0 request signing, as Apache's ``AclClientRPCHook`` does it (remoting spec 8.1).

Signed content = the *values* of every ext field except ``Signature`` and ``_UNIQUE_KEY_QUERY``
(the Java hook signs only the custom-header fields; that flag is added to the ext fields outside
the header, and the broker skips it), in ascending key order (Java ``TreeMap``: UTF-16 code-unit order, which is
code-point order for the keys RocketMQ uses), UTF-8 encoded, followed by the raw body.
``Signature`` = standard Base64 of HmacSHA1(secretKey, content). Both the client side
(:func:`sign_request`) and the broker's validator (:func:`signature_of`) use these functions, so the
two can never disagree.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

from broker_core.remoting.command import RemotingCommand

ACCESS_KEY = "AccessKey"
SECRET_KEY = "SecretKey"
SIGNATURE = "Signature"
SECURITY_TOKEN = "SecurityToken"
#: excluded from the signed content by the broker (``MixAll.UNIQUE_MSG_QUERY_FLAG``)
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"

_VERIFY_SKIP = frozenset({SIGNATURE, UNIQUE_MSG_QUERY_FLAG})


def _java_key(key: str) -> bytes:
    # UTF-16-BE bytes compare in UTF-16 code-unit order, as Java's String.compareTo does
    return key.encode("utf-16-be", "surrogatepass")


def combine_content(ext_fields: Mapping[str, str], body: bytes | None, skip: frozenset[str]) -> bytes:
    """The bytes that are signed: sorted ext-field values (minus ``skip``) then the body."""
    content = _head(ext_fields, skip)
    return content + body if body else content


def _head(ext_fields: Mapping[str, str], skip: frozenset[str]) -> bytes:
    keys = sorted(ext_fields)
    if not "".join(keys).isascii():  # code-point order == UTF-16 order for ASCII keys (the norm)
        keys.sort(key=_java_key)
    return "".join([ext_fields[k] for k in keys if k not in skip]).encode("utf-8")


def hmac_template(secret_key: str) -> hmac.HMAC:
    """A keyed HmacSHA1 to ``copy()`` per request (the key schedule is computed once)."""
    return hmac.new(secret_key.encode("utf-8"), digestmod="sha1")


def signature_with(template: hmac.HMAC, ext_fields: Mapping[str, str], body: bytes | None) -> str:
    """:func:`signature_of` with a prepared key; the body is hashed in place, never copied."""
    h = template.copy()
    h.update(_head(ext_fields, _VERIFY_SKIP))
    if body:
        h.update(body)
    return base64.b64encode(h.digest()).decode("ascii")


def calc_signature(content: bytes, secret_key: str) -> str:
    """Base64(HmacSHA1(secret_key, content))."""
    return base64.b64encode(hmac.digest(secret_key.encode("utf-8"), content, "sha1")).decode("ascii")


def signature_of(ext_fields: Mapping[str, str], body: bytes | None, secret_key: str) -> str:
    """The signature a broker expects for a request with these fields and body."""
    return signature_with(hmac_template(secret_key), ext_fields, body)


def sign_request(
    request: RemotingCommand,
    access_key: str,
    secret_key: str | hmac.HMAC,
    security_token: str | None = None,
) -> RemotingCommand:
    """Add ``AccessKey`` (and ``SecurityToken``) and ``Signature`` to ``request`` in place; returns it.

    ``secret_key`` may be a :func:`hmac_template` made once for many requests.
    """
    ext = request.ext_fields
    if ext is None:
        ext = request.ext_fields = {}
    ext[ACCESS_KEY] = access_key
    if security_token:
        ext[SECURITY_TOKEN] = security_token
    ext.pop(SIGNATURE, None)
    template = hmac_template(secret_key) if isinstance(secret_key, str) else secret_key
    ext[SIGNATURE] = signature_with(template, ext, request.body)
    return request
