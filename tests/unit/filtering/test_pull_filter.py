"""The broker's commit-log stage for SQL92: raw record -> selected properties -> match."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker_core.broker.filtering.pull_filter import record_filter, record_properties_text, select_properties
from broker_core.broker.filtering.sql92 import compile_selector
from broker_core.message.codec import encode_record
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import decode_properties, encode_properties

text = st.text(
    alphabet=st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)), max_size=6
)


@given(pairs=st.lists(st.tuples(st.sampled_from(["a", "b", "ab", "ba", "TAGS"]), text), max_size=6))
def test_select_properties_agrees_with_full_decode(pairs: list[tuple[str, str]]) -> None:
    encoded = "".join(f"{k}\x01{v}\x02" for k, v in pairs)
    full = decode_properties(encoded)
    names = frozenset(["a", "b", "ab", "TAGS", "missing"])
    assert select_properties(encoded, names) == {k: v for k, v in full.items() if k in names}


def test_record_filter_reads_properties_of_v4_and_v6_records() -> None:
    props = encode_properties({"a": "2", "region": "eu", "TAGS": "T"})
    for sys_flag in (0, 0x10 | 0x20):
        host = ("::1", 1) if sys_flag else ("127.0.0.1", 1)
        msg = BrokerMessage("Topic", 0, b"body", props, sys_flag=sys_flag, born_host=host, store_host=host)
        record = encode_record(msg)
        assert record_properties_text(record) == props
        assert record_filter(compile_selector("a BETWEEN 0 AND 3 AND region = 'eu'"))(record)
        assert not record_filter(compile_selector("region <> 'eu'"))(record)
    assert not record_filter(compile_selector("a > 1"))(b"\x00" * 10)  # garbage never matches
