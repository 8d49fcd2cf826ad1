"""The send path's string-level property edits agree with the general property functions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.broker.processors.send import _without_wait
from broker_core.broker.schedule import replace_property

_pieces = st.lists(
    st.one_of(
        st.sampled_from(["WAIT\x01true", "WAIT\x01false", "NOWAIT\x01x", "TAGS\x01a", "UNIQ_KEY\x01ABC", ""]),
        st.text(alphabet="AWIT\x01x", max_size=6),
    ),
    max_size=6,
)


@settings(max_examples=400)
@given(_pieces, st.booleans(), st.booleans())
def test_without_wait_equals_replace_property(pieces: list[str], lead: bool, trail: bool) -> None:
    props = ("\x02" if lead else "") + "\x02".join(pieces) + ("\x02" if trail else "")
    assert _without_wait(props) == replace_property(props, "WAIT", None)


def test_without_wait_cuts_one_entry() -> None:
    assert _without_wait("A\x01b\x02WAIT\x01true\x02C\x01d\x02") == "A\x01b\x02C\x01d\x02"
    assert _without_wait("WAIT\x01true\x02C\x01d") == "C\x01d\x02"
    assert _without_wait("C\x01d\x02WAIT\x01false") == "C\x01d\x02"
