"""Property-based: the compiled evaluator agrees with a tiny reference on random expressions.

Hypothesis builds an expression *tree* here (independent of our parser), renders it as selector
text with random keyword case, spacing and redundant parentheses, and evaluates the tree with the
reference below, written straight from storage spec 5.3: three-valued AND/OR/NOT with left-first
short-circuit, comparisons of a string property with an integer literal via ``Integer.valueOf``
(failure = an exception that aborts the evaluation = no match), string equality, IN, IS NULL and
BETWEEN as ``>= AND <=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.broker.filtering.sql92 import compile_selector

NAMES = ("a", "b", "c")
VALUES = ("0", "1", "2", "5", "-3", "x", "eu", "2147483648")


class Boom(Exception):
    """Stands for a Java exception during evaluation."""


@dataclass(frozen=True)
class Cmp:
    name: str
    op: str
    value: int


@dataclass(frozen=True)
class StrEq:
    name: str
    value: str
    negated: bool


@dataclass(frozen=True)
class Between:
    name: str
    low: int
    high: int
    negated: bool


@dataclass(frozen=True)
class InList:
    name: str
    values: tuple[str, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    name: str
    negated: bool


@dataclass(frozen=True)
class Logic:
    op: str  # AND / OR
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    inner: object


Tri = bool | None


def to_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**31) <= int(text) < 2**31:
        raise Boom(text)
    return int(text)


def ref(node: object, props: dict[str, str]) -> Tri:
    if isinstance(node, Cmp):
        v = props.get(node.name)
        if v is None:
            return None
        x = to_int(v)
        return {"<": x < node.value, "<=": x <= node.value, ">": x > node.value, ">=": x >= node.value,
                "=": x == node.value, "<>": x != node.value}[node.op]  # fmt: skip
    if isinstance(node, StrEq):
        v = props.get(node.name)
        if v is None:
            return None
        return (v == node.value) != node.negated
    if isinstance(node, Between):
        if node.negated:  # x < low OR x > high
            return ref(Logic("OR", Cmp(node.name, "<", node.low), Cmp(node.name, ">", node.high)), props)
        return ref(Logic("AND", Cmp(node.name, ">=", node.low), Cmp(node.name, "<=", node.high)), props)
    if isinstance(node, InList):
        v = props.get(node.name)
        return None if v is None else (v in node.values) != node.negated
    if isinstance(node, IsNull):
        return (node.name not in props) != node.negated
    if isinstance(node, Neg):
        r = ref(node.inner, props)
        return None if r is None else not r
    assert isinstance(node, Logic)
    left = ref(node.left, props)
    if node.op == "AND":
        if left is False:
            return False
        right = ref(node.right, props)
        if right is False:
            return False
        return None if left is None or right is None else True
    if left is True:
        return True
    right = ref(node.right, props)
    if right is True:
        return True
    return None if left is None or right is None else False


def render(node: object, kw: st.DrawFn) -> str:
    def k(word: str) -> str:
        return "".join(c.upper() if kw(st.booleans()) else c.lower() for c in word)

    sp = " " * kw(st.integers(1, 2))
    if isinstance(node, Cmp):
        lit = str(node.value) if node.value >= 0 else f"-{-node.value}"
        return f"{node.name}{sp}{node.op}{sp}{lit}"
    if isinstance(node, StrEq):
        return f"{node.name} {'<>' if node.negated else '='} '{node.value}'"
    if isinstance(node, Between):
        neg = k("NOT") + " " if node.negated else ""
        return f"{node.name} {neg}{k('BETWEEN')} {node.low} {k('AND')} {node.high}"
    if isinstance(node, InList):
        items = ", ".join(f"'{v}'" for v in node.values)
        return f"{node.name} {k('NOT') + ' ' if node.negated else ''}{k('IN')} ({items})"
    if isinstance(node, IsNull):
        return f"{node.name} {k('IS')} {k('NOT') + ' ' if node.negated else ''}{k('NULL')}"
    if isinstance(node, Neg):
        return f"{k('NOT')} ({render(node.inner, kw)})"
    assert isinstance(node, Logic)
    return f"({render(node.left, kw)}){sp}{k(node.op)}{sp}({render(node.right, kw)})"


names = st.sampled_from(NAMES)
ints = st.integers(-5, 6)
leaves = st.one_of(
    st.builds(Cmp, names, st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]), ints),
    st.builds(StrEq, names, st.sampled_from(VALUES), st.booleans()),
    st.builds(lambda n, a, b, neg: Between(n, min(a, b), max(a, b), neg), names, ints, ints, st.booleans()),
    st.builds(
        InList, names, st.lists(st.sampled_from(VALUES), min_size=1, max_size=3).map(tuple), st.booleans()
    ),
    st.builds(IsNull, names, st.booleans()),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Logic, st.sampled_from(["AND", "OR"]), inner, inner),
        st.builds(Neg, inner),
    ),
    max_leaves=8,
)
property_maps = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=3)


@settings(max_examples=400)
@given(tree=trees, props=property_maps, data=st.data())
def test_evaluator_matches_reference(tree: object, props: dict[str, str], data: st.DataObject) -> None:
    text = render(tree, data.draw)
    try:
        expected = ref(tree, props) is True
    except Boom:
        expected = False
    assert compile_selector(text).matches(props) is expected, text


@settings(max_examples=200)
@given(text=st.text(alphabet="ab1 ()'=<>-+.,ANDORTISNUL\n", max_size=30))
def test_random_text_either_compiles_or_raises_a_positioned_error(text: str) -> None:
    from broker_core.broker.filtering.sql92 import FilterSyntaxError

    try:
        selector = compile_selector(text)
    except FilterSyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        return
    selector.matches({"a": "1", "b": "x"})  # evaluating never raises
