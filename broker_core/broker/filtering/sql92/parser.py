"""Recursive-descent parser for the 4.9.8 selector grammar (storage spec 5.3).

Precedence, lowest first::

    selector := orExpr
    orExpr   := andExpr ( OR andExpr )*
    andExpr  := eqExpr ( AND eqExpr )*
    eqExpr   := cmpExpr ( '=' cmpExpr | '<>' cmpExpr | IS NULL | IS NOT NULL )*
    cmpExpr  := unary ( ('>'|'>='|'<'|'<=') unary | [NOT] BETWEEN unary AND unary
                      | [NOT] IN '(' string (',' string)* ')' )*
    unary    := '+' unary | '-' unary | NOT unary | primary
    primary  := literal | ID | '(' orExpr ')'

Apache's construction-time checks are reproduced as parse errors (with the position of the
operator that triggered them): ordering comparisons only on numbers and non-boolean expressions,
no NULL literal around ``=``/``<>``, constant BETWEEN bounds non-null and ordered, IN only on a
property, and the operands of AND/OR/NOT and the whole selector must be boolean (a bare property is
cast). A hand-written parser is used because the grammar is tiny and compile cost is paid once per
subscription; a table-driven library would add a dependency without buying speed.
"""

from __future__ import annotations

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
    is_boolean,
    render,
)
from broker_core.broker.filtering.sql92.errors import FilterSyntaxError
from broker_core.broker.filtering.sql92.lexer import Token, TokenKind, tokenize
from broker_core.broker.filtering.sql92.values import (
    DOUBLE_MAX,
    DOUBLE_MIN,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    EvalError,
    JLong,
    java_compare,
)

__all__ = ["parse"]

K = TokenKind
_ORDERING = {K.GT: ">", K.GE: ">=", K.LT: "<", K.LE: "<="}


def parse(text: str) -> Node:
    """Parse ``text`` into a boolean expression tree.

    Raises:
        FilterSyntaxError: lexical, syntax or semantic error, with its position.
    """
    return _Parser(text).selector()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # ------------------------------------------------------------------ helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expect(self, kind: TokenKind) -> Token:
        if self.tok.kind is not kind:
            raise self.unexpected(kind.value)
        return self.take()

    def unexpected(self, expecting: str) -> FilterSyntaxError:
        t = self.tok
        shown = "<EOF>" if t.kind is K.EOF else t.text
        return FilterSyntaxError(f'Encountered "{shown}", was expecting {expecting}', self.text, t.pos)

    def error(self, reason: str, at: Token) -> FilterSyntaxError:
        return FilterSyntaxError(reason, self.text, at.pos)

    def boolean(self, node: Node, at: Token) -> Node:
        """``asBooleanExpression``."""
        if is_boolean(node):
            return node
        if isinstance(node, Prop):
            return BoolCast(node)
        raise self.error(f"Expression will not result in a boolean value: {render(node)}", at)

    def check_ordering(self, node: Node, at: Token) -> None:
        """``checkLessThanOperand``: only numbers and non-boolean expressions are ordered."""
        if isinstance(node, Const):
            v = node.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return
            raise self.error(f"Value '{render(node)}' cannot be compared.", at)
        if is_boolean(node):
            raise self.error(f"Value '{render(node)}' cannot be compared.", at)

    def check_equal(self, left: Node, right: Node, at: Token) -> None:
        """``checkEqualOperand`` on both sides and ``checkEqualOperandCompatability``."""
        for side in (left, right):
            if isinstance(side, Const) and side.value is None:
                raise self.error(f"'{render(side)}' cannot be compared.", at)
        if (
            isinstance(left, Const)
            and isinstance(right, Const)
            and is_boolean(left)
            and not is_boolean(right)
        ):
            raise self.error(f"'{render(left)}' cannot be compared with '{render(right)}'", at)

    # ------------------------------------------------------------------ grammar

    def selector(self) -> Node:
        start = self.tok
        node = self.or_expr()
        if self.tok.kind is not K.EOF:
            raise self.unexpected('"AND", "OR", a comparison or <EOF>')
        return self.boolean(node, start)

    def or_expr(self) -> Node:
        start = self.tok
        left = self.and_expr()
        while self.tok.kind is K.OR:
            op = self.take()
            right = self.and_expr()
            left = Or(self.boolean(left, start), self.boolean(right, op))
        return left

    def and_expr(self) -> Node:
        start = self.tok
        left = self.eq_expr()
        while self.tok.kind is K.AND:
            op = self.take()
            right = self.eq_expr()
            left = And(self.boolean(left, start), self.boolean(right, op))
        return left

    def eq_expr(self) -> Node:
        left = self.cmp_expr()
        while True:
            kind = self.tok.kind
            if kind in (K.EQ, K.NE):
                op = self.take()
                right = self.cmp_expr()
                self.check_equal(left, right, op)
                left = Compare("=", left, right) if kind is K.EQ else Not(Compare("=", left, right))
            elif kind is K.IS:
                self.take()
                if self.tok.kind is K.NOT:
                    self.take()
                    self.expect(K.NULL)
                    left = Not(Compare("=", left, Const(None)))
                else:
                    self.expect(K.NULL)
                    left = Compare("=", left, Const(None))
            else:
                return left

    def cmp_expr(self) -> Node:
        left = self.unary()
        while True:
            kind = self.tok.kind
            if kind in _ORDERING:
                op = self.take()
                right = self.unary()
                self.check_ordering(left, op)
                self.check_ordering(right, op)
                left = Compare(_ORDERING[kind], left, right)
            elif kind is K.BETWEEN or (kind is K.NOT and self.peek().kind is K.BETWEEN):
                left = self.between(left)
            elif kind is K.IN or (kind is K.NOT and self.peek().kind is K.IN):
                left = self.in_list(left)
            else:
                return left

    def between(self, value: Node) -> Node:
        negated = self.tok.kind is K.NOT
        if negated:
            self.take()
        op = self.take()
        low = self.unary()
        self.expect(K.AND)
        high = self.unary()
        if not negated and isinstance(low, Const) and isinstance(high, Const):
            if low.value is None or high.value is None:
                raise self.error("Illegal values of between, values can not be null!", op)
            try:
                reversed_bounds = java_compare(high.value, low.value) < 0
            except EvalError as exc:
                raise self.error(f"Illegal values of between: {exc}", op) from exc
            if reversed_bounds:
                raise self.error(
                    f"Illegal values of between, left value({render(low)}) must less than or equal "
                    f"to right value({render(high)})",
                    op,
                )
        for node in (value, low, value, high):
            self.check_ordering(node, op)
        if negated:
            return Or(Compare("<", value, low), Compare(">", value, high))
        return And(Compare(">=", value, low), Compare("<=", value, high))

    def in_list(self, operand: Node) -> Node:
        negated = self.tok.kind is K.NOT
        if negated:
            self.take()
        op = self.take()
        self.expect(K.LPAREN)
        values = [self.expect(K.STRING).string_value]
        while self.tok.kind is K.COMMA:
            self.take()
            values.append(self.expect(K.STRING).string_value)
        self.expect(K.RPAREN)
        if not isinstance(operand, Prop):
            raise self.error(f"Expected a property for In expression, got: {render(operand)}", op)
        return In(operand, frozenset(values), negated)

    def unary(self) -> Node:
        kind = self.tok.kind
        if kind is K.PLUS:
            self.take()
            return self.unary()
        if kind is K.MINUS:
            self.take()
            return Negate(self.unary())
        if kind is K.NOT:
            op = self.take()
            return Not(self.boolean(self.unary(), op))
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        kind = t.kind
        if kind is K.STRING:
            self.take()
            return Const(t.string_value)
        if kind is K.DECIMAL:
            self.take()
            return Const(self.decimal(t))
        if kind is K.FLOAT:
            self.take()
            return Const(self.floating(t))
        if kind in (K.TRUE, K.FALSE):
            self.take()
            return Const(kind is K.TRUE)
        if kind is K.NULL:
            self.take()
            return Const(None)
        if kind is K.ID:
            self.take()
            return Prop(t.text)
        if kind is K.LPAREN:
            self.take()
            node = self.or_expr()
            self.expect(K.RPAREN)
            return node
        raise self.unexpected("a literal, a property name, NOT, '+', '-' or '('")

    def decimal(self, t: Token) -> int:
        digits = t.text.rstrip("lL")
        value = int(digits)
        if value > LONG_MAX:
            raise self.error(f'For input string: "{digits}" (out of the 64-bit range)', t)
        return value if INT_MIN <= value <= INT_MAX else JLong(value)

    def floating(self, t: Token) -> float:
        value = float(t.text)
        if value > DOUBLE_MAX:
            raise self.error(f"{t.text} is greater than {DOUBLE_MAX!r}", t)
        if value < DOUBLE_MIN:
            raise self.error(f"{t.text} is less than {DOUBLE_MIN!r}", t)
        return value
