"""DuckDB SQL built from templates and small constructors (no knowledge of Trino here)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Protocol, cast

import sqlglot
from sqlglot import exp


class HasNode(Protocol):
    node: exp.Expression


# -- building DuckDB SQL ------------------------------------------------------------------------------

_ARG = re.compile(r"\{(\d+)\}")


@functools.lru_cache(maxsize=2048)
def _template(text: str) -> exp.Expression:
    return cast(exp.Expression, sqlglot.parse_one(_ARG.sub(lambda m: f"__lp_arg{m.group(1)}__", text), read="duckdb"))


def T(text: str, *args: Any) -> exp.Expression:
    """DuckDB SQL from a template: ``T("coalesce({0}, {1})", a, b)``; arguments are AST nodes."""
    nodes = [a.node if not isinstance(a, exp.Expression) else a for a in args]

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__lp_arg"):
            return nodes[int(node.name[8:-2])].copy()
        return node

    return _template(text).copy().transform(fill)


def lam(names: str | Sequence[str], body: Any) -> exp.Lambda:
    """A DuckDB lambda ``lambda x, y: body`` (sqlglot cannot parse a lambda outside a call)."""
    params = [names] if isinstance(names, str) else list(names)
    return exp.Lambda(this=body.node if not isinstance(body, exp.Expression) else body,
                      expressions=[exp.to_identifier(n) for n in params])


def fn(name: str, *args: Any) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=[a.node if not isinstance(a, exp.Expression) else a for a in args])


def lit(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))
