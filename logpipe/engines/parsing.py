"""Parsing one Athena statement, and naming its placeholders: all a saved query's loader needs.

Kept apart from ``logpipe.engines.transpile`` (the DuckDB compiler and its rewrite tables) so that
loading and listing saved queries does not import the compiler.
"""

from __future__ import annotations

from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from logpipe.engines.trino.dialect import DIALECT
from logpipe.errors import QueryError


def parse(sql: str, source: str = "query", line_offset: int = 0) -> exp.Expression:
    """One Athena statement as an AST; a syntax error names the source and its line."""
    try:
        try:
            statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
        except ParseError:
            # Not a query in Trino's grammar: Athena's own statements (UNLOAD, MSCK, DDL) parse in its
            # dialect, so the sandbox can name what it refuses.
            statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = (first.get("line") or 1) + line_offset
        desc = first.get("description") or str(exc)
        raise QueryError(f"{source}:{line}: SQL syntax error: {desc}") from None
    if len(statements) != 1:
        raise QueryError(f"{source}: expected exactly one SQL statement, found {len(statements)}")
    return cast(exp.Expression, statements[0])


def placeholders(tree: exp.Expression) -> list[str]:
    """Names of the ``:name`` placeholders in a statement, first use first, without repeats."""
    seen: dict[str, None] = {}
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Placeholder) and node.name:
            seen.setdefault(node.name, None)
    return list(seen)


__all__ = ["parse", "placeholders"]
