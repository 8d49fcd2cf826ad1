"""Compile a parsed selector into nested closures and evaluate them on a properties map.

Compiling once per subscription and caching (:func:`compile_selector`) keeps the per-message cost
to a handful of Python calls. Semantics are SQL three-valued logic exactly as storage spec 5.3
states: a result other than TRUE (FALSE, null, or a Java-side exception such as a failed number
conversion) means *no match*.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from broker_core.broker.filtering.sql92.ast import (
    And,
    BoolCast,
    Compare,
    Const,
    In,
    Negate,
    Node,
    Not,
    Or,
    Prop,
)
from broker_core.broker.filtering.sql92.parser import parse
from broker_core.broker.filtering.sql92.values import (
    EvalError,
    JavaValue,
    JLong,
    java_compare,
    parse_java_double,
)

__all__ = ["CompiledSelector", "compile_node", "compile_selector"]

Properties = Mapping[str, str]
Evaluator = Callable[[Properties], JavaValue]

_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
}


def _negate(value: JavaValue) -> JavaValue:
    t = type(value)
    if t is int:
        return -value  # type: ignore[operator]
    if t is JLong:
        return JLong(-value)  # type: ignore[operator]
    if t is float:
        return -value  # type: ignore[operator]
    return None  # not a Number: Apache answers null


def compile_node(node: Node) -> Evaluator:
    """Turn a tree into one callable ``props -> value``."""
    if isinstance(node, Const):
        value = node.value
        return lambda _p: value
    if isinstance(node, Prop):
        return _get(node.name)
    if isinstance(node, Negate):
        inner = compile_node(node.operand)
        return lambda p: _negate(inner(p))
    if isinstance(node, Not):
        inner = compile_node(node.operand)

        def not_(p: Properties) -> JavaValue:
            v = inner(p)
            return None if v is None else not v

        return not_
    if isinstance(node, BoolCast):
        name = node.operand.name
        return lambda p: None if p.get(name) is None else False
    if isinstance(node, And):
        return _and(compile_node(node.left), compile_node(node.right))
    if isinstance(node, Or):
        return _or(compile_node(node.left), compile_node(node.right))
    if isinstance(node, In):
        name, values, negated = node.operand.name, node.values, node.negated

        def in_(p: Properties) -> JavaValue:
            v = p.get(name)
            return None if v is None else (v in values) is not negated

        return in_
    return _compare(node)


def _get(name: str) -> Evaluator:
    return lambda p: p.get(name)


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def and_(p: Properties) -> JavaValue:
        lv = left(p)
        if lv is False:
            return False
        rv = right(p)
        if rv is False:
            return False
        return None if lv is None or rv is None else True

    return and_


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def or_(p: Properties) -> JavaValue:
        lv = left(p)
        if lv is True:
            return True
        rv = right(p)
        if rv is True:
            return True
        return None if lv is None or rv is None else False

    return or_


def _compare(node: Compare) -> Evaluator:
    left, right = compile_node(node.left), compile_node(node.right)
    if node.op == "=":

        def equal(p: Properties) -> JavaValue:
            lv, rv = left(p), right(p)
            if lv is None:
                return True if rv is None else None
            if rv is None:
                return False
            if type(lv) is type(rv) and lv == rv:
                return True
            return java_compare(lv, rv) == 0

        return equal
    test = _ORDER_TESTS[node.op]

    def ordered(p: Properties) -> JavaValue:
        lv = left(p)
        if lv is None:
            return None
        rv = right(p)
        if rv is None:
            return None
        if type(lv) is str and type(rv) is str:
            lv, rv = parse_java_double(lv), parse_java_double(rv)
        return test(java_compare(lv, rv))

    return ordered


@dataclass(frozen=True, slots=True)
class CompiledSelector:
    """A compiled SQL92 expression; :meth:`matches` is the broker's per-message test."""

    expression: str
    tree: Node
    evaluate: Evaluator
    #: the property names the expression reads (the broker extracts only these from a record)
    names: frozenset[str] = frozenset()

    def matches(self, properties: Properties) -> bool:
        """True only for a Boolean TRUE result; null or an evaluation error is *no match*."""
        try:
            return self.evaluate(properties) is True
        except EvalError:
            return False


@functools.lru_cache(maxsize=1024)
def compile_selector(expression: str) -> CompiledSelector:
    """Parse and compile, cached by expression text (subscriptions repeat on every heartbeat).

    Raises:
        FilterSyntaxError: the expression does not compile (not cached).
    """
    tree = parse(expression)
    return CompiledSelector(expression, tree, compile_node(tree), frozenset(_names(tree)))


def _names(node: Node) -> set[str]:
    if isinstance(node, Prop):
        return {node.name}
    if isinstance(node, (BoolCast, In)):
        return {node.operand.name}
    if isinstance(node, (Negate, Not)):
        return _names(node.operand)
    if isinstance(node, (And, Or, Compare)):
        return _names(node.left) | _names(node.right)
    return set()
