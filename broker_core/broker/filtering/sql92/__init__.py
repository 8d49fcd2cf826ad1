"""SQL92 message selectors (``enablePropertyFilter``): the exact 4.9.8 grammar and semantics.

Usage::

    selector = compile_selector("a BETWEEN 0 AND 3 AND region = 'eu'")
    selector.matches({"a": "2", "region": "eu"})   # True
"""

from __future__ import annotations

from broker_core.broker.filtering.sql92.errors import FilterSyntaxError
from broker_core.broker.filtering.sql92.evaluator import CompiledSelector, compile_selector
from broker_core.broker.filtering.sql92.parser import parse

__all__ = ["CompiledSelector", "FilterSyntaxError", "compile_selector", "parse"]
