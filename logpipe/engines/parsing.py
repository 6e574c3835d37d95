"""Parsing one Athena statement, and naming its placeholders: all a saved query's loader needs.

Kept apart from ``logpipe.engines.transpile`` (the DuckDB compiler and its rewrite tables) so that
loading and listing saved queries does not import the compiler.
"""

from __future__ import annotations

import re
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from logpipe.engines.trino.dialect import DIALECT
from logpipe.errors import QueryError

# sqlglot names the node a clause lacks a part of ("Required keyword: 'this' missing for <class
# '...Where'>"); a user reads the SQL word.
_CLAUSES = {"Where": "WHERE", "Order": "ORDER BY", "Group": "GROUP BY", "Having": "HAVING", "Limit": "LIMIT",
            "Offset": "OFFSET", "Join": "JOIN", "Select": "SELECT", "Case": "CASE", "If": "WHEN", "Cast": "CAST",
            "In": "IN", "Between": "BETWEEN", "Like": "LIKE", "Is": "IS", "And": "AND", "Or": "OR", "Not": "NOT",
            "EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "Add": "+", "Sub": "-",
            "Mul": "*", "Div": "/", "Mod": "%", "DPipe": "||", "Alias": "AS", "Union": "UNION", "With": "WITH"}
_MISSING = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+\.(\w+)'>")
# What may not follow a comma in Trino's grammar (a trailing comma sqlglot would silently drop, so a
# query that runs locally would fail on Athena).
_NOT_AFTER_COMMA = {TokenType.FROM: "FROM", TokenType.R_PAREN: ")", TokenType.WHERE: "WHERE",
                    TokenType.GROUP_BY: "GROUP BY", TokenType.HAVING: "HAVING", TokenType.ORDER_BY: "ORDER BY",
                    TokenType.LIMIT: "LIMIT", TokenType.UNION: "UNION", TokenType.SEMICOLON: ";",
                    TokenType.COMMA: ","}


def _readable(desc: str) -> str:
    found = _MISSING.search(desc)
    if found:
        word = _CLAUSES.get(found[1], found[1].upper())
        return f"{word} is incomplete: something is missing after it"
    return desc


def _tokens(sql: str, source: str, line_offset: int) -> list[Token]:
    """The statement's tokens in Trino's dialect (parsed from these, not tokenized twice), checked for
    what Trino's grammar refuses and sqlglot lets by: a trailing comma (``SELECT a, FROM``, ``IN (1, 2,)``)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except TokenError:
        raise QueryError(f"{source}:{line_offset + 1}: SQL syntax error: a string ('...') or quoted name "
                         "(\"...\") is not closed") from None
    for i, token in enumerate(tokens):
        if token.token_type is not TokenType.COMMA:
            continue
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if after is None or after.token_type in _NOT_AFTER_COMMA:
            where = "the end" if after is None else _NOT_AFTER_COMMA[after.token_type]
            raise QueryError(f"{source}:{token.line + line_offset}: SQL syntax error: a comma before {where} "
                             "(Athena does not accept a trailing comma)")
    return tokens


def _check_tree(tree: exp.Expression, source: str) -> None:
    """Empty lists sqlglot accepts and Trino does not (``SELECT FROM logs``, ``GROUP BY`` alone)."""
    for node in tree.walk():
        if isinstance(node, exp.Select) and not node.expressions:
            raise QueryError(f"{source}: SQL syntax error: SELECT has no columns")
        if isinstance(node, exp.Group) and not (node.expressions or any(node.args.get(k) for k in
                                                                          ("grouping_sets", "cube", "rollup", "all"))):
            raise QueryError(f"{source}: SQL syntax error: GROUP BY has nothing to group by")


def parse(sql: str, source: str = "query", line_offset: int = 0) -> exp.Expression:
    """One Athena statement as an AST; a syntax error names the source and its line, in SQL words."""
    tokens = _tokens(sql, source, line_offset)
    try:
        try:
            parsed = sqlglot.Dialect.get_or_raise(DIALECT).parser().parse(tokens, sql)
            statements = [s for s in parsed if s is not None]
        except ParseError:
            # Not a query in Trino's grammar: Athena's own statements (UNLOAD, MSCK, DDL) parse in its
            # dialect, so the sandbox can name what it refuses.
            statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = (first.get("line") or 1) + line_offset
        desc = first.get("description") or str(exc)
        raise QueryError(f"{source}:{line}: SQL syntax error: {_readable(desc)}") from None
    if len(statements) != 1:
        raise QueryError(f"{source}: expected exactly one SQL statement, found {len(statements)}")
    tree = cast(exp.Expression, statements[0])
    _check_tree(tree, source)
    return tree


def placeholders(tree: exp.Expression) -> list[str]:
    """Names of the ``:name`` placeholders in a statement, first use first, without repeats."""
    seen: dict[str, None] = {}
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Placeholder) and node.name:
            seen.setdefault(node.name, None)
    return list(seen)


__all__ = ["parse", "placeholders"]
