"""Tokenizer for RocketMQ's SQL92 message selectors (storage spec 5.3, ``SelectorParser.jj`` 4.9.8).

One master regular expression tried at each position, in the JavaCC token order that matters for
longest-match: floating literals before decimals (``1.5`` is one FLOAT, ``0123`` is ``0`` then
``123``), identifiers checked against the case-insensitive keywords afterwards (``NOTE`` is an ID,
``not`` a keyword). A line comment needs its line terminator, as in the grammar: a trailing
``--`` without one lexes as two minus signs.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from broker_core.broker.filtering.sql92.errors import FilterSyntaxError

__all__ = ["Token", "TokenKind", "tokenize"]


class TokenKind(enum.Enum):
    NOT = "NOT"
    AND = "AND"
    OR = "OR"
    BETWEEN = "BETWEEN"
    IN = "IN"
    TRUE = "TRUE"
    FALSE = "FALSE"
    NULL = "NULL"
    IS = "IS"
    DECIMAL = "<DECIMAL_LITERAL>"
    FLOAT = "<FLOATING_POINT_LITERAL>"
    STRING = "<STRING_LITERAL>"
    ID = "<ID>"
    EQ = "="
    NE = "<>"
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    PLUS = "+"
    MINUS = "-"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    EOF = "<EOF>"


_KEYWORDS = {
    k.value: k
    for k in (
        TokenKind.NOT,
        TokenKind.AND,
        TokenKind.OR,
        TokenKind.BETWEEN,
        TokenKind.IN,
        TokenKind.TRUE,
        TokenKind.FALSE,
        TokenKind.NULL,
        TokenKind.IS,
    )
}
_OPERATORS = {k.value: k for k in TokenKind if not k.value[0].isalnum() and not k.value.startswith("<")}
_OPERATORS.update({"<>": TokenKind.NE, "<=": TokenKind.LE, "<": TokenKind.LT})

_MASTER = re.compile(
    r"""
    (?P<skip>[ \t\n\r\f]+ | --[^\n\r]*(?:\r\n|\n|\r) | /\*(?:[^*]|\*+[^*/])*\*+/ )
  | (?P<float>[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)? | \.[0-9]+(?:[eE][+-]?[0-9]+)? | [0-9]+[eE][+-]?[0-9]+)
  | (?P<decimal>(?:0|[1-9][0-9]*)[lL]?)
  | (?P<string>'(?:''|[^'])*')
  | (?P<id>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op><>|<=|>=|[=<>+\-(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token; ``pos`` is the 0-based character offset, ``text`` the source image."""

    kind: TokenKind
    text: str
    pos: int

    @property
    def string_value(self) -> str:
        """Value of a STRING token: quotes removed, ``''`` collapsed to ``'``."""
        return self.text[1:-1].replace("''", "'")


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with an EOF token.

    Raises:
        FilterSyntaxError: a character no token can start with (``!``, ``"``, an unclosed quote).
    """
    tokens: list[Token] = []
    pos = 0
    end = len(text)
    match = _MASTER.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise FilterSyntaxError(f'Lexical error: encountered "{text[pos]}"', text, pos)
        group = m.lastgroup
        image = m.group()
        if group == "id":
            tokens.append(Token(_KEYWORDS.get(image.upper(), TokenKind.ID), image, pos))
        elif group == "decimal":
            tokens.append(Token(TokenKind.DECIMAL, image, pos))
        elif group == "float":
            tokens.append(Token(TokenKind.FLOAT, image, pos))
        elif group == "string":
            tokens.append(Token(TokenKind.STRING, image, pos))
        elif group == "op":
            tokens.append(Token(_OPERATORS[image], image, pos))
        pos = m.end()
    tokens.append(Token(TokenKind.EOF, "", end))
    return tokens
