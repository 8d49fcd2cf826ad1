"""The RemotingCommand: one request or response of the RocketMQ remoting protocol.

A command is the logical content of a frame (see :mod:`broker_core.remoting.frame` for the bytes).
``ext_fields`` is the "custom header": a flat ``str -> str`` map whose keys depend on the request
code. ``serialize_type`` records how the header was (or will be) serialised, so that a server can
answer in the serialisation of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker_core.remoting.codes import LanguageCode, ResponseCode, SerializeType

#: flag bit 0: the command is a response.
FLAG_RESPONSE = 0x1
#: flag bit 1: the request is oneway; the receiver must not answer.
FLAG_ONEWAY = 0x2

#: Version ordinal we report (``MQVersion.Version.V4_9_8``).
CURRENT_VERSION = 409


@dataclass(slots=True)
class RemotingCommand:
    """One request or response.

    Attributes:
        code: RequestCode for requests, ResponseCode for responses.
        opaque: request id; a response carries the opaque of its request.
        flag: bit 0 response, bit 1 oneway.
        remark: human-readable text, used for error reasons.
        ext_fields: the custom header, every value a string (``None`` = no map).
        body: payload bytes (``None`` = no body).
        serialize_type: header serialisation used on the wire.
        body_parts: a body given as buffers to be written one after the other (memoryviews of
            stored records, never copied into one ``bytes``); when set, ``body`` is ignored on
            encoding. Only outgoing commands use it (the pull response).
    """

    code: int
    opaque: int = 0
    flag: int = 0
    language: int = LanguageCode.PYTHON
    version: int = CURRENT_VERSION
    remark: str | None = None
    ext_fields: dict[str, str] | None = None
    body: bytes | None = None
    serialize_type: SerializeType = SerializeType.JSON
    extra: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    body_parts: list[bytes | memoryview] | None = field(default=None, repr=False, compare=False)

    @property
    def is_response(self) -> bool:
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & FLAG_ONEWAY)

    @classmethod
    def request(
        cls,
        code: int,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        oneway: bool = False,
        serialize_type: SerializeType = SerializeType.JSON,
    ) -> RemotingCommand:
        """Build a request; the opaque is assigned by the client when it is sent."""
        return cls(
            code=code,
            flag=FLAG_ONEWAY if oneway else 0,
            ext_fields=ext_fields,
            body=body,
            serialize_type=serialize_type,
        )

    def make_response(
        self,
        code: int = ResponseCode.SUCCESS,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RemotingCommand:
        """Build the response to this request, mirroring its opaque and serialisation."""
        return RemotingCommand(
            code=code,
            opaque=self.opaque,
            flag=FLAG_RESPONSE,
            remark=remark,
            ext_fields=ext_fields,
            body=body,
            serialize_type=self.serialize_type,
        )

    def field(self, name: str, default: str | None = None) -> str | None:
        """An ext field, or ``default`` when absent."""
        if self.ext_fields is None:
            return default
        return self.ext_fields.get(name, default)
