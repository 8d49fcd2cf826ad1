"""Typed headers: the generated fast decoder agrees with the checked decoder on any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.remoting.codes import RequestCode
from broker_core.remoting.headers.base import CommandHeader, HeaderError
from broker_core.remoting.headers.client import UnregisterClientRequestHeader
from broker_core.remoting.headers.pull import PullMessageRequestHeader
from broker_core.remoting.headers.send import V2_ALIASES, SendMessageRequestHeader

HEADERS: list[type[CommandHeader]] = [
    SendMessageRequestHeader,
    PullMessageRequestHeader,
    UnregisterClientRequestHeader,
]


def decode_checked(cls: type[CommandHeader], ext: dict[str, str]) -> object:
    try:
        return cls._decode_checked(ext)
    except HeaderError as exc:
        return ("error", str(exc))


def decode_public(cls: type[CommandHeader], ext: dict[str, str]) -> object:
    try:
        return cls.from_ext_fields(ext)
    except HeaderError as exc:
        return ("error", str(exc))


values = st.one_of(
    st.sampled_from(["", "0", "12", "-3", "true", "TRUE", "false", "x", "1.5"]), st.text(max_size=5)
)


@pytest.mark.parametrize("cls", HEADERS)
@settings(max_examples=150)
@given(data=st.data())
def test_fast_decoder_matches_checked_decoder(cls: type[CommandHeader], data: st.DataObject) -> None:
    wires = [wire for _name, wire, _parser, _req in cls._fields_plan()]
    ext = data.draw(st.dictionaries(st.sampled_from([*wires, "extra"]), values, max_size=len(wires) + 1))
    assert decode_public(cls, ext) == decode_checked(cls, ext)


def test_round_trip_and_defaults() -> None:
    h = UnregisterClientRequestHeader.from_ext_fields({"clientID": "c1"})
    assert h.client_id == "c1" and h.producer_group is None
    assert UnregisterClientRequestHeader.from_ext_fields(h.to_ext_fields()) == h
    with pytest.raises(HeaderError, match="clientID is missing"):
        UnregisterClientRequestHeader.from_ext_fields({})


def _send_v2(ext: dict[str, str]) -> object:
    try:
        return SendMessageRequestHeader.from_request(RequestCode.SEND_MESSAGE_V2, ext)
    except HeaderError as exc:
        return ("error", str(exc))


@settings(max_examples=300)
@given(data=st.data())
def test_send_v2_direct_decoder_matches_generic_decoder(data: st.DataObject) -> None:
    """The letter-key fast path of SEND_MESSAGE_V2 decodes exactly as aliasing + the generic decoder.

    (A V2 header that also holds full names is left out: Java reads only the letters there, as the
    fast path does, while the generic path lets a full name win.)
    """
    letters = list(V2_ALIASES)
    required = {k: "1" for k in "defgh"} | {"a": "pg", "b": "T", "c": "TBW102"}
    drawn = data.draw(st.dictionaries(st.sampled_from([*letters, "extra"]), values, max_size=16))
    ext = data.draw(st.sampled_from([drawn, required | drawn]))
    generic = decode_public(SendMessageRequestHeader, {V2_ALIASES.get(k, k): v for k, v in ext.items()})
    assert _send_v2(ext) == generic
