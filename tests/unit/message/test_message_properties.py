"""Properties string codec, tag hash code and name validation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker_core.message import (
    MessageConst,
    append_property,
    decode_properties,
    encode_properties,
    java_string_hash,
    tags_hash_code,
    validate_group,
    validate_topic,
)

_text = st.text(alphabet=st.characters(exclude_characters="\x01\x02", exclude_categories=["Cs"]))


@given(st.dictionaries(_text, _text.filter(bool), max_size=8))
def test_properties_round_trip(props: dict[str, str]) -> None:
    assert decode_properties(encode_properties(props)) == props


def test_encode_format_and_none_skipped() -> None:
    assert encode_properties({"TAGS": "a", "KEYS": None, "WAIT": "true"}) == "TAGS\x01a\x02WAIT\x01true\x02"
    assert encode_properties({}) == ""


def test_decode_follows_java_split() -> None:
    # empty value: Java split drops the trailing empty string -> 1 part -> ignored
    assert decode_properties("A\x01\x02B\x01b\x02") == {"B": "b"}
    # three parts -> ignored; trailing empties dropped -> accepted
    assert decode_properties("A\x01b\x01c\x02D\x01e\x01\x02") == {"D": "e"}
    # missing trailing separator, garbage piece
    assert decode_properties("A\x01b\x02junk\x02C\x01d") == {"A": "b", "C": "d"}
    assert decode_properties("") == {}


def test_append_property_inserts_separator() -> None:
    assert append_property("", "CLUSTER", "c") == "CLUSTER\x01c\x02"
    assert append_property("A\x01b", "CLUSTER", "c") == "A\x01b\x02CLUSTER\x01c\x02"
    assert append_property("A\x01b\x02", "CLUSTER", "c") == "A\x01b\x02CLUSTER\x01c\x02"


def test_java_string_hash() -> None:
    assert tags_hash_code("TagA") == 2598919
    assert tags_hash_code("") == 0
    assert tags_hash_code(None) == 0
    assert java_string_hash("hello") == 99162322
    # overflow to negative int32
    assert java_string_hash("polygenelubricants") == -2147483648
    # UTF-16 code units, not code points: U+1F600 is the surrogate pair D83D DE00
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00
    assert java_string_hash("中") == 0x4E2D


def _reference_hash(text: str) -> int:
    raw = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(raw), 2):
        h = (31 * h + int.from_bytes(raw[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


@given(
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet="0123456789ABCDEF#JavaBench", min_size=20, max_size=300),
    )
)
def test_java_string_hash_matches_the_java_loop(text: str) -> None:
    """The C-summed polynomial (short, cached-head and over-long keys) equals Java's loop."""
    assert java_string_hash(text) == _reference_hash(text)
    assert java_string_hash(text) == _reference_hash(text)  # a cached head gives the same value


def test_constants() -> None:
    assert MessageConst.UNIQ_KEY == "UNIQ_KEY"
    assert MessageConst.REAL_QID == "REAL_QID"
    assert MessageConst.TRAN_MSG == "TRAN_MSG"
    assert MessageConst.KEY_SEPARATOR == " "
    assert "UNIQ_KEY" in MessageConst.SYSTEM_KEYS


def test_validate_topic() -> None:
    assert validate_topic("TopicTest") is None
    assert validate_topic("%RETRY%group_a|x-1") is None
    assert validate_topic("") == "The specified topic is blank."
    assert validate_topic("  ") == "The specified topic is blank."
    assert validate_topic("a b") == (
        "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    )
    assert validate_topic("abc\n") is not None
    assert validate_topic("a" * 127) is None
    assert validate_topic("a" * 128) == "The specified topic is longer than topic max length."


def test_validate_group() -> None:
    assert validate_group("CID_group-1") is None
    assert validate_group("") is not None
    assert validate_group("g" * 255) is None
    assert validate_group("g" * 256) is not None
    assert validate_group("g@h") is not None
