"""SQL92 selector grammar and semantics as a table (storage spec 5.3, SelectorParser.jj 4.9.8)."""

from __future__ import annotations

import pytest

from broker_core.broker.filtering.sql92 import FilterSyntaxError, compile_selector
from broker_core.broker.filtering.sql92.lexer import TokenKind, tokenize

P = {"a": "10", "b": "2", "s": "eu", "q": "it's", "f": "3.5", "t": "true", "TAGS": "TagA", "neg": "-5"}

# (expression, properties, expected match)
VALID: list[tuple[str, dict[str, str], bool]] = [
    ("a BETWEEN 0 AND 10", P, True),
    ("a BETWEEN 0 AND 3", P, False),
    ("b BETWEEN 0 AND 3", P, True),
    ("a NOT BETWEEN 0 AND 3", P, True),
    ("missing BETWEEN 0 AND 3", P, False),
    ("missing NOT BETWEEN 0 AND 3", P, False),
    ("s = 'eu'", P, True),
    ("s <> 'eu'", P, False),
    ("s = 'us'", P, False),
    ("'eu' = s", P, True),
    ("q = 'it''s'", P, True),
    ("a = 10", P, True),
    ("a = '10'", P, True),
    ("a > 5", P, True),
    ("a > 5.5", P, True),
    ("a >= 10 AND a <= 10", P, True),
    ("a < 10", P, False),
    ("f > 3", P, False),  # Integer.valueOf("3.5") fails -> exception -> no match
    ("f > 3.0", P, True),
    ("a > b", P, True),  # two strings: both converted to Double
    ("neg = -5", P, True),
    ("neg < -4", P, True),
    ("a > +5", P, True),
    ("a = 10L", P, True),
    ("a < 3000000000", P, True),  # Long literal
    ("a > 1e0", P, True),
    ("a > .5E1", P, True),
    ("t = TRUE", P, True),
    ("s = TRUE", P, False),
    ("TAGS IN ('TagA', 'TagB')", P, True),
    ("TAGS NOT IN ('TagA', 'TagB')", P, False),
    ("missing IN ('x')", P, False),
    ("missing NOT IN ('x')", P, False),
    ("missing IS NULL", P, True),
    ("missing IS NOT NULL", P, False),
    ("a IS NOT NULL", P, True),
    ("a", P, False),  # bare property: present -> FALSE
    ("NOT a", P, True),
    ("NOT missing", P, False),  # NOT null = null
    ("TRUE", {}, True),
    ("FALSE", {}, False),
    ("NULL", {}, False),
    ("missing > 1 OR a = 10", P, True),  # null OR TRUE = TRUE
    ("missing > 1 AND a = 10", P, False),  # null AND TRUE = null
    ("NOT (missing > 1 AND a = 11)", P, True),  # null AND FALSE = FALSE
    ("NOT (missing > 1)", P, False),
    ("s = 'x' OR (a > 5 AND b < 3)", P, True),
    ("A = 10", P, False),  # names are case-sensitive
    ("a between 0 and 10 aNd s = 'eu'", P, True),  # keywords are not
    ("$x_1 = 'v'", {"$x_1": "v"}, True),
    ("a > 5 -- comment\n AND b = 2", P, True),
    ("a > 5 /* block */ AND b = 2", P, True),
    ("(((a = 10)))", P, True),
    ("a = 10 = TRUE", P, True),  # (a = 10) = TRUE
    ("s > 1", P, False),  # Integer.valueOf("eu") fails
    ("NOT (s > 1)", P, False),  # the exception still means no match
    ("s = 1 OR a = 10", P, False),  # the left side throws before OR sees the right side
    ("a = 10 OR s = 1", P, True),  # ... but a TRUE left side short-circuits
]

# (expression, message fragment, 1-based column)
INVALID: list[tuple[str, str, int]] = [
    ("", 'Encountered "<EOF>"', 1),
    ("a >", 'Encountered "<EOF>"', 4),
    ("a > 'x'", "cannot be compared", 3),
    ("'x' < a", "cannot be compared", 5),
    ("a > TRUE", "cannot be compared", 3),
    ("NOT a > 1", "cannot be compared", 7),
    ("a = NULL", "cannot be compared", 3),
    ("NULL <> a", "cannot be compared", 6),
    ("TRUE = 1", "cannot be compared with", 6),
    ("1", "will not result in a boolean value", 1),
    ("'abc'", "will not result in a boolean value", 1),
    ("a AND 1", "will not result in a boolean value", 3),
    ("-a", "will not result in a boolean value", 1),
    ("a BETWEEN 3 AND 1", "must less than or equal", 3),
    ("a BETWEEN NULL AND 1", "can not be null", 3),
    ("a BETWEEN 1 AND", 'Encountered "<EOF>"', 16),
    ("a IN (1, 2)", "Encountered", 7),
    ("1 IN ('a')", "Expected a property for In expression", 3),
    ("a IN ()", "Encountered", 7),
    ("a LIKE 'x%'", 'Encountered "LIKE"', 3),
    ("a != 1", "Lexical error", 3),
    ("a == 1", 'Encountered "="', 4),
    ('a = "x"', "Lexical error", 5),
    ("a = 'unterminated", "Lexical error", 5),
    ("a.b = 1", "Lexical error", 2),
    ("a = 1 +", 'Encountered "+"', 7),
    ("a = 99999999999999999999", "64-bit", 5),
    ("a > 0.0", "is less than", 5),
    ("a > 1e999", "is greater than", 5),
    ("(a = 1", 'Encountered "<EOF>"', 7),
    ("a = 1)", 'Encountered ")"', 6),
    ("a IS 1", 'Encountered "1"', 6),
    ("a > 5 -- no line end", 'Encountered "-"', 7),
    ("a = 1\nAND ?", "line 2, column 5", 5),
]


@pytest.mark.parametrize(("expression", "props", "expected"), VALID)
def test_valid_expressions(expression: str, props: dict[str, str], expected: bool) -> None:
    assert compile_selector(expression).matches(props) is expected


@pytest.mark.parametrize(("expression", "fragment", "column"), INVALID)
def test_invalid_expressions_report_reason_and_position(expression: str, fragment: str, column: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_selector(expression)
    err = info.value
    assert fragment in str(err)
    assert err.column == column
    assert f"column {column}" in str(err)


def test_compiled_once_and_cached() -> None:
    assert compile_selector("a > 1") is compile_selector("a > 1")


def test_tokens_longest_match() -> None:
    kinds = [t.kind for t in tokenize("0123 1.5 5E2 NOTE not <> <= >= .5")]
    assert kinds == [
        TokenKind.DECIMAL,
        TokenKind.DECIMAL,
        TokenKind.FLOAT,
        TokenKind.FLOAT,
        TokenKind.ID,
        TokenKind.NOT,
        TokenKind.NE,
        TokenKind.LE,
        TokenKind.GE,
        TokenKind.FLOAT,
        TokenKind.EOF,
    ]
