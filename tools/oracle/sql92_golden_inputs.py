"""Generate the (selector, properties) rows of the SQL92 golden table (deterministic, seed 2026).

Run once, feed the output to Sql92Golden.java (Apache 4.9.8's own filter classes) and commit what it
prints as tests/data/sql92_golden.jsonl; see docs/test-evidence.md. Not run by the tests.

    python tools/oracle/sql92_golden_inputs.py > /tmp/rows.jsonl
"""

from __future__ import annotations

import json
import random
import sys

NAMES = ("a", "b", "c", "region", "s")
VALUES = (
    "0", "1", "-1", "2", "3", "10", "100", "007", "+5", " 1", "1 ",
    "2147483647", "2147483648", "-2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
    "1.5", "-0.5", "3.0", "1e3", "1E-2", ".5", "5.", "NaN", "Infinity", "-Infinity", "0x10", "1L", "1d", "1f",
    "abc", "eu", "us", "EU", "it's", "", "true", "false", "TRUE", "null", "中文", "a b",
)  # fmt: skip
INT_LITERALS = ("0", "1", "2", "3", "-1", "10", "100", "-100", "2147483647", "-2147483648")
LONG_LITERALS = ("2147483648", "-2147483649", "9223372036854775807", "10L", "3l", "0x10", "0X1f", "010", "00")
FLOAT_LITERALS = ("1.5", "-0.5", "3.0", "1e3", "1E-2", ".5", "5.", "2.5e1", "0.0", "1.0E10")
STRING_LITERALS = (
    "'eu'",
    "'us'",
    "'EU'",
    "'it''s'",
    "''",
    "'abc'",
    "'1'",
    "'3.0'",
    "'中文'",
    "'a b'",
    "'true'",
)
BOOL_LITERALS = ("TRUE", "FALSE", "true", "false", "True")
OPS = ("=", "<>", ">", ">=", "<", "<=")
MALFORMED = (
    "a >", "a = ", "AND a = 1", "a == 1", "a = 'open", "a BETWEEN 1", "a BETWEEN 1 OR 2", "a IN ()",
    "(a = 1", "a = 1)", "a != 1", "a = 1 AND", "NOT", "a IS", "a IS NOT", "a IN 'x'", "1 = ", "= 1",
    "a = \"eu\"", "a LIKE 'e%'", "a NOT LIKE 'e%'", "a + 1 > 2", "a * 2 = 4", "a = 1 a = 2", "a =< 1",
    "a = 1;", "a ~ 1", "", "   ", "a IN (1, 2)", "a = 0x", "a = 1.2.3", "a = --1", "a IS NULL NULL",
    "a CONTAINS 'x'", "a STARTSWITH 'x'", "a ENDSWITH 'x'", "a = -'x'", "TRUE AND", "a BETWEEN 'a' AND 'z'",
)  # fmt: skip


def literal(rng: random.Random) -> str:
    pool = rng.choice(
        (INT_LITERALS, INT_LITERALS, LONG_LITERALS, FLOAT_LITERALS, STRING_LITERALS, BOOL_LITERALS)
    )
    return rng.choice(pool + (("NULL",) if rng.random() < 0.05 else ()))


def kw(rng: random.Random, word: str) -> str:
    roll = rng.random()
    return word if roll < 0.6 else word.lower() if roll < 0.92 else word.capitalize()


def atom(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    kind = rng.randrange(11)
    if kind <= 3:
        left, right = name, literal(rng)
        if rng.random() < 0.15:
            left, right = right, left
        if rng.random() < 0.1:
            right = rng.choice(NAMES)
        return f"{left} {rng.choice(OPS)} {right}"
    if kind == 4:
        lo, hi = sorted(rng.sample((-5, -1, 0, 1, 2, 3, 5, 10, 100), 2))
        lo_s = str(lo) if rng.random() < 0.7 else rng.choice(FLOAT_LITERALS + LONG_LITERALS[:3])
        hi_s = str(hi) if rng.random() < 0.7 else rng.choice(FLOAT_LITERALS + LONG_LITERALS[:3])
        neg = kw(rng, "NOT") + " " if rng.random() < 0.3 else ""
        return f"{name} {neg}{kw(rng, 'BETWEEN')} {lo_s} {kw(rng, 'AND')} {hi_s}"
    if kind == 5:
        items = ", ".join(rng.sample(STRING_LITERALS, rng.randint(1, 4)))
        neg = kw(rng, "NOT") + " " if rng.random() < 0.35 else ""
        return f"{name} {neg}{kw(rng, 'IN')} ({items})"
    if kind == 6:
        neg = kw(rng, "NOT") + " " if rng.random() < 0.5 else ""
        return f"{name} {kw(rng, 'IS')} {neg}{kw(rng, 'NULL')}"
    if kind == 7:
        return f"{name} {rng.choice(('=', '<>'))} {rng.choice(BOOL_LITERALS)}"
    if kind == 8:
        return rng.choice(
            (name, rng.choice(BOOL_LITERALS), f"-{name} > 0", f"{name} > -{rng.choice(INT_LITERALS)}")
        )
    if kind == 9:
        op = rng.choice(OPS) if rng.random() < 0.2 else rng.choice(("=", "<>"))
        return f"{name} {op} {rng.choice(STRING_LITERALS)}"
    return f"{name} {rng.choice(OPS)} {rng.choice(FLOAT_LITERALS)}"


def expression(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth >= 3 or roll < 0.45:
        text = atom(rng)
    elif roll < 0.8:
        op = kw(rng, rng.choice(("AND", "OR")))
        text = f"{expression(rng, depth + 1)} {op} {expression(rng, depth + 1)}"
    else:
        text = f"{kw(rng, 'NOT')} {expression(rng, depth + 1)}"
    if rng.random() < 0.25:
        text = f"({text})"
    return text


def properties(rng: random.Random) -> dict[str, str]:
    names = rng.sample(NAMES, rng.randint(0, len(NAMES)))
    return {n: rng.choice(VALUES) for n in names}


def main() -> None:
    rng = random.Random(2026)
    out = sys.stdout
    for text in MALFORMED:
        out.write(json.dumps({"selector": text, "properties": properties(rng)}, ensure_ascii=False) + "\n")
    while_count = 0
    while while_count < 1320:
        selector = expression(rng)
        for _ in range(3):
            out.write(
                json.dumps({"selector": selector, "properties": properties(rng)}, ensure_ascii=False) + "\n"
            )
        while_count += 1


if __name__ == "__main__":
    main()
