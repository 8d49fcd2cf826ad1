"""The one exception of the SQL92 compiler: what went wrong and where."""

from __future__ import annotations

from broker_core.errors import BrokerCoreError

__all__ = ["FilterSyntaxError"]


class FilterSyntaxError(BrokerCoreError, ValueError):
    """An expression that does not compile.

    ``position`` is the 0-based character offset of the offending token; ``line``/``column`` are
    1-based like JavaCC's messages, so the text the subscriber sees reads the way Apache's does.
    """

    def __init__(self, reason: str, expression: str, position: int) -> None:
        self.reason = reason
        self.expression = expression
        self.position = position
        before = expression[:position]
        self.line = before.count("\n") + 1
        self.column = position - (before.rfind("\n") + 1) + 1
        super().__init__(f"{reason.rstrip('.')} at line {self.line}, column {self.column}")
