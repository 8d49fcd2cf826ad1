"""Expression tree of a compiled selector.

Node kinds mirror Apache's expression classes closely enough that the parse-time checks
(``checkLessThanOperand``, ``checkEqualOperand``, ``asBooleanExpression`` …) can be stated on them
the same way: a node is *boolean* exactly when Apache's counterpart implements
``BooleanExpression``. Literal values carry their Java type (see :mod:`.values`).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.broker.filtering.sql92.values import JavaValue, render_value

__all__ = [
    "And",
    "BoolCast",
    "Compare",
    "Const",
    "In",
    "Negate",
    "Node",
    "Not",
    "Or",
    "Prop",
    "is_boolean",
    "render",
]


@dataclass(frozen=True, slots=True)
class Const:
    value: JavaValue


@dataclass(frozen=True, slots=True)
class Prop:
    name: str


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolCast:
    """A bare property used where a boolean is required: absent ⇒ null, present ⇒ FALSE."""

    operand: Prop


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare:
    """``op`` is one of ``= > >= < <=`` (``<>`` is ``Not(Compare('='))``, ``IS NULL`` is ``= NULL``)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class In:
    operand: Prop
    values: frozenset[str]
    negated: bool


Node = Const | Prop | Negate | Not | BoolCast | And | Or | Compare | In


def is_boolean(node: Node) -> bool:
    """True where Apache's node would be a ``BooleanExpression`` (TRUE/FALSE/NULL literals included)."""
    if isinstance(node, Const):
        return node.value is None or isinstance(node.value, bool)
    return isinstance(node, (Not, BoolCast, And, Or, Compare, In))


def render(node: Node) -> str:
    """Readable text of a node for error messages (close to Apache's ``toString``)."""
    if isinstance(node, Const):
        return render_value(node.value)
    if isinstance(node, Prop):
        return node.name
    if isinstance(node, Negate):
        return f"(- {render(node.operand)})"
    if isinstance(node, Not):
        return f"(NOT {render(node.operand)})"
    if isinstance(node, BoolCast):
        return render(node.operand)
    if isinstance(node, And):
        return f"({render(node.left)} AND {render(node.right)})"
    if isinstance(node, Or):
        return f"({render(node.left)} OR {render(node.right)})"
    if isinstance(node, Compare):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    items = ", ".join(sorted(node.values))
    return f"{render(node.operand)} {'NOT IN' if node.negated else 'IN'} ( {items} )"
