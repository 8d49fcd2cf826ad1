"""Header serialisation: JSON (type 0) and ROCKETMQ binary (type 1).

JSON header (fastjson shape, keys in any order on input)::

    {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,"version":409}

``extFields`` values are strings on the wire from Java, but the C++ client mixes numbers and strings
(``"queueId": 0``), so every value is normalised to ``str`` on input (JSON booleans become
``"true"``/``"false"`` as Java's ``toString`` would write them).

ROCKETMQ binary header (all big-endian):

| size    | field                                                           |
|---------|-----------------------------------------------------------------|
| 2       | code (short)                                                    |
| 1       | language (byte, LanguageCode value)                             |
| 2       | version (short)                                                 |
| 4       | opaque (int)                                                    |
| 4       | flag (int)                                                      |
| 4 + n   | remark length n, UTF-8 bytes (n = 0 means null)                 |
| 4 + m   | extFields byte length m, then entries until m bytes are consumed |
| 2+k,4+v | entry: short key length + key, int value length + value         |

A zero-length string decodes as ``None`` (Java semantics), so an entry with an empty value is
dropped from the map rather than kept as ``""``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

from broker_core.errors import LocalProtocolError, RemoteProtocolError
from broker_core.remoting.codes import LanguageCode, SerializeType
from broker_core.remoting.command import CURRENT_VERSION, FLAG_RESPONSE, RemotingCommand

_FIXED = struct.Struct(">hBhii")  # code, language, version, opaque, flag
_INT = struct.Struct(">i")
_SHORT = struct.Struct(">H")
assert _FIXED.size == 13

_LANG_BY_NAME = {lang.name: int(lang) for lang in LanguageCode}
_NAME_BY_LANG = {int(lang): lang.name for lang in LanguageCode}


def _stdlib_dumps(obj: dict[str, Any]) -> bytes:
    return _encoder.encode(obj).encode("utf-8")


def _stdlib_loads(data: bytes) -> Any:
    return _decoder.decode(data.decode("utf-8"))


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_decoder = json.JSONDecoder()
_dumps: Callable[[dict[str, Any]], bytes] = _stdlib_dumps
_loads: Callable[[bytes], Any] = _stdlib_loads
try:  # orjson: ~10x faster to encode and ~3x to decode a header than the stdlib (hot path)
    import orjson

    _dumps = orjson.dumps
    _loads = orjson.loads
except ImportError:  # orjson is a dependency; the stdlib keeps the codec working without it
    pass


def _ext_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


# --------------------------------------------------------------------------------------------- JSON


def encode_json_header(cmd: RemotingCommand) -> bytes:
    """Serialise the header as fastjson would (alphabetical keys, no whitespace)."""
    header: dict[str, Any] = {"code": cmd.code}
    if cmd.ext_fields is not None:
        header["extFields"] = cmd.ext_fields
    header["flag"] = cmd.flag
    header["language"] = _NAME_BY_LANG.get(cmd.language, "OTHER")
    header["opaque"] = cmd.opaque
    if cmd.remark is not None:
        header["remark"] = cmd.remark
    header["serializeTypeCurrentRPC"] = "JSON"
    header["version"] = cmd.version
    return _dumps(header)


def decode_json_header(data: bytes | memoryview) -> RemotingCommand:
    """Parse a JSON header; raises :class:`RemoteProtocolError` when it is not a valid header."""
    try:
        obj = _loads(bytes(data))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(f"JSON header does not parse: {exc}") from exc
    if not isinstance(obj, dict):
        raise RemoteProtocolError("JSON header is not an object")
    try:
        code = int(obj["code"])
        language = obj.get("language", "JAVA")
        lang = _LANG_BY_NAME.get(language, LanguageCode.OTHER) if isinstance(language, str) else int(language)
        ext_raw = obj.get("extFields")
        ext: dict[str, str] | None
        if ext_raw is None:
            ext = None
        elif isinstance(ext_raw, dict):
            # Java and our client send only strings: keep the parsed dict as is in that case.
            ext = ext_raw
            for v in ext_raw.values():
                if type(v) is not str:
                    ext = {str(k): _ext_value(v) for k, v in ext_raw.items()}
                    break
        else:
            raise RemoteProtocolError("extFields is not an object")
        remark = obj.get("remark")
        return RemotingCommand(
            code=code,
            opaque=int(obj.get("opaque", 0)),
            flag=int(obj.get("flag", 0)),
            language=lang,
            version=int(obj.get("version", 0)),
            remark=None if remark is None else str(remark),
            ext_fields=ext,
            serialize_type=SerializeType.JSON,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"JSON header has an invalid field: {exc!r}") from exc


# ------------------------------------------------------------------------------------------ ROCKETMQ


def encode_binary_header(cmd: RemotingCommand) -> bytes:
    """Serialise the header in the ROCKETMQ binary layout (table above)."""
    parts: list[bytes] = []
    ext_len = 0
    if cmd.ext_fields:
        for key, value in cmd.ext_fields.items():
            if key is None or value is None:
                continue
            kb = key.encode("utf-8")
            vb = value.encode("utf-8")
            entry = b"".join((_SHORT.pack(len(kb)), kb, _INT.pack(len(vb)), vb))
            parts.append(entry)
            ext_len += len(entry)
    remark = cmd.remark.encode("utf-8") if cmd.remark else b""
    try:
        fixed = _FIXED.pack(cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag)
    except struct.error as exc:
        raise LocalProtocolError(f"field out of range for the binary header: {exc}") from exc
    return b"".join((fixed, _INT.pack(len(remark)), remark, _INT.pack(ext_len), *parts))


def decode_binary_header(data: bytes | memoryview) -> RemotingCommand:
    """Parse a ROCKETMQ binary header; lengths past the header are a protocol error."""
    buf = bytes(data)
    end = len(buf)
    if end < 21:
        raise RemoteProtocolError(f"binary header too short ({end} bytes)")
    code, language, version, opaque, flag = _FIXED.unpack_from(buf, 0)
    pos = 13
    (rlen,) = _INT.unpack_from(buf, pos)
    pos += 4
    if rlen < 0 or pos + rlen > end:
        raise RemoteProtocolError(f"remark length {rlen} exceeds the header")
    try:
        remark = buf[pos : pos + rlen].decode("utf-8") if rlen else None
        pos += rlen
        if pos + 4 > end:
            raise RemoteProtocolError("binary header truncated before extFields length")
        (mlen,) = _INT.unpack_from(buf, pos)
        pos += 4
        if mlen < 0 or pos + mlen > end:
            raise RemoteProtocolError(f"extFields length {mlen} exceeds the header")
        ext: dict[str, str] | None = None
        if mlen:
            ext = {}
            stop = pos + mlen
            while pos < stop:
                if pos + 2 > stop:
                    raise RemoteProtocolError("truncated extFields key length")
                (klen,) = _SHORT.unpack_from(buf, pos)
                pos += 2
                if pos + klen + 4 > stop:
                    raise RemoteProtocolError("extFields key exceeds the map")
                key = buf[pos : pos + klen].decode("utf-8")
                pos += klen
                (vlen,) = _INT.unpack_from(buf, pos)
                pos += 4
                if vlen < 0 or pos + vlen > stop:
                    raise RemoteProtocolError("extFields value exceeds the map")
                if vlen and klen:
                    ext[key] = buf[pos : pos + vlen].decode("utf-8")
                pos += vlen
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"binary header holds invalid UTF-8: {exc}") from exc
    return RemotingCommand(
        code=code,
        opaque=opaque,
        flag=flag,
        language=language,
        version=version,
        remark=remark,
        ext_fields=ext,
        serialize_type=SerializeType.ROCKETMQ,
    )


# ---------------------------------------------------------------------- responses without a command

#: what every response of ours carries after ``opaque`` in JSON (flag, language, version are fixed)
_JSON_RESPONSE_MID = (
    f',"flag":{FLAG_RESPONSE},"language":"{_NAME_BY_LANG[int(LanguageCode.PYTHON)]}","opaque":'
).encode()
_JSON_RESPONSE_END = f',"serializeTypeCurrentRPC":"JSON","version":{CURRENT_VERSION}}}'.encode()


def encode_response_header(serialize_type: int, code: int, opaque: int, fields: dict[str, str]) -> bytes:
    """The header of a response with no remark, written straight from its parts (send hot path).

    Byte for byte what :func:`encode_header` writes for ``request.make_response(code, None,
    fields)`` (tests/unit/remoting/test_response_fast.py), without building the command and the
    header map first: the JSON shape is fixed, so only ``fields`` goes through the JSON encoder.
    """
    if serialize_type == SerializeType.ROCKETMQ:
        parts: list[bytes] = []
        for key, value in fields.items():
            kb = key.encode("utf-8")
            vb = value.encode("utf-8")
            parts.append(len(kb).to_bytes(2, "big"))
            parts.append(kb)
            parts.append(len(vb).to_bytes(4, "big"))
            parts.append(vb)
        ext = b"".join(parts)
        try:
            fixed = _FIXED.pack(code, int(LanguageCode.PYTHON), CURRENT_VERSION, opaque, FLAG_RESPONSE)
        except struct.error as exc:
            raise LocalProtocolError(f"field out of range for the binary header: {exc}") from exc
        return b"".join((fixed, b"\0\0\0\0", len(ext).to_bytes(4, "big"), ext))
    return b"".join(
        (
            f'{{"code":{code},"extFields":'.encode(),
            _dumps(fields),
            _JSON_RESPONSE_MID,
            str(opaque).encode(),
            _JSON_RESPONSE_END,
        )
    )


def encode_header(cmd: RemotingCommand) -> bytes:
    if cmd.serialize_type == SerializeType.ROCKETMQ:
        return encode_binary_header(cmd)
    return encode_json_header(cmd)


def decode_header(serialize_type: int, data: bytes | memoryview) -> RemotingCommand:
    if serialize_type == SerializeType.JSON:
        return decode_json_header(data)
    if serialize_type == SerializeType.ROCKETMQ:
        return decode_binary_header(data)
    raise RemoteProtocolError(f"unknown serialize type {serialize_type}")
