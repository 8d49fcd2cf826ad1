"""Java value semantics the selector language inherits from ActiveMQ/RocketMQ.

Values are Python objects standing for Java types: ``bool`` = Boolean, ``int`` = Integer,
:class:`JLong` = Long, ``float`` = Double, ``str`` = String, ``None`` = null. Property values are
always strings; literals are Integer (narrowed when they fit), Long, Double, String or Boolean.

:func:`java_compare` is ``ComparisonExpression.__compare`` with string conversion on: when the two
types differ, a String is converted to the other side's type (``Integer.valueOf``,
``Long.valueOf``, ``Double.valueOf``, ``Boolean.valueOf``) and numbers widen. An incompatible pair
compares as ``-1`` — a quirk kept on purpose (so ``1 < TRUE`` is TRUE, exactly as on Apache). A
failed conversion raises :class:`EvalError`; the message then does not match.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "EvalError",
    "JLong",
    "JavaValue",
    "java_compare",
    "parse_java_double",
    "parse_java_int",
    "parse_java_long",
    "render_value",
]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DOUBLE_MAX = 1.7976931348623157e308
DOUBLE_MIN = 5e-324


class JLong(int):
    """A Java ``Long`` (plain ``int`` is a Java ``Integer``)."""

    __slots__ = ()


JavaValue = bool | int | float | str | None


class EvalError(Exception):
    """What would be a runtime exception in Java (NumberFormatException, ClassCastException)."""


_INTEGRAL = re.compile(r"[+-]?[0-9]+\Z")
_DOUBLE = re.compile(r"([+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))[fFdD]?\Z")


def parse_java_int(text: str) -> int:
    """``Integer.valueOf``."""
    if not _INTEGRAL.match(text):
        raise EvalError(f'For input string: "{text}"')
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise EvalError(f'For input string: "{text}"')
    return value


def parse_java_long(text: str) -> JLong:
    """``Long.valueOf``."""
    if not _INTEGRAL.match(text):
        raise EvalError(f'For input string: "{text}"')
    value = int(text)
    if not LONG_MIN <= value <= LONG_MAX:
        raise EvalError(f'For input string: "{text}"')
    return JLong(value)


def parse_java_double(text: str) -> float:
    """``Double.valueOf`` (decimal forms; surrounding control/space characters are trimmed)."""
    m = _DOUBLE.match(text.strip("".join(chr(c) for c in range(33))))
    if m is None:
        raise EvalError(f'For input string: "{text}"')
    core = m.group(1)
    if core.endswith("Infinity"):
        return -math.inf if core.startswith("-") else math.inf
    return float(core)


def _cmp_double(a: float, b: float) -> int:
    """``Double.compareTo``: NaN is above everything and equal to itself; -0.0 < 0.0."""
    if a < b:
        return -1
    if a > b:
        return 1
    a_nan, b_nan = a != a, b != b
    if a_nan or b_nan:
        return (a_nan > b_nan) - (a_nan < b_nan)
    if a == 0.0:
        sa, sb = math.copysign(1.0, a), math.copysign(1.0, b)
        return (sa > sb) - (sa < sb)
    return 0


def _from_string(text: str, like: object) -> JavaValue:
    t = type(like)
    if t is bool:
        return text.lower() == "true"
    if t is int:
        return parse_java_int(text)
    if t is JLong:
        return parse_java_long(text)
    return parse_java_double(text)


def java_compare(lv: JavaValue, rv: JavaValue) -> int:
    """``__compare(lv, rv, convertStringExpressions=true)``; both sides non-null."""
    lt, rt = type(lv), type(rv)
    if lt is not rt:
        if lt is bool:
            if rt is str:  # Java casts the Boolean to String here: ClassCastException
                raise EvalError("java.lang.Boolean cannot be cast to java.lang.String")
            return -1
        if lt is str:
            if rt not in (bool, int, JLong, float):
                return -1
            lv = _from_string(lv, rv)  # type: ignore[arg-type]
        elif rt is str:
            if lt not in (int, JLong, float):
                return -1
            rv = _from_string(rv, lv)  # type: ignore[arg-type]
        elif lt is float or rt is float:
            if rt is bool or lt is bool:
                return -1
            lv, rv = float(lv), float(rv)  # type: ignore[arg-type]
        elif rt is bool:
            return -1
        # Integer vs Long: Python ints compare directly
    if type(lv) is float:
        return _cmp_double(lv, rv)  # type: ignore[arg-type]
    return (lv > rv) - (lv < rv)  # type: ignore[operator]


def render_value(value: JavaValue) -> str:
    """Literal text as Apache prints it in messages."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value) if isinstance(value, float) else str(int(value))
