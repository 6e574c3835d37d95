"""Athena (Trino) SQL to DuckDB SQL that answers what Athena answers, or refuses.

Saved queries are written once, in Athena's dialect. Athena receives them as written (with ``:name``
placeholders bound as ExecutionParameters, see ``to_athena_positional``). For DuckDB, a statement is
compiled here: sqlglot parses it (every ordinary function call kept as the call it is), and a small
compiler walks it bottom-up with Trino's types (logpipe.engines.trino.types), turning each construct
into DuckDB SQL with Trino's semantics and Trino's result type.

The translations live in one table, ``REWRITES``: Trino function name -> rewrite. Each rewrite gets
the call with its arguments already compiled and typed, and returns DuckDB SQL and the Trino type;
many are a call of a macro of logpipe.engines.duckdb_macros, which holds the function's Trino
semantics in DuckDB SQL. A function that is not in the table, or a construct a rewrite cannot answer
exactly (a timestamp carrying a zone other than UTC, a regex feature RE2 lacks), raises
``AthenaOnlyError`` naming it: the local engine refuses rather than guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from logpipe.engines.parsing import parse, placeholders

# Register the rewrites: each module adds its entries to REWRITES / EXPRESSIONS of the compiler.
from logpipe.engines.trino import (  # noqa: F401
    aggregates,
    arrays,
    casts,
    datetime,
    json,
    literals,
    maps,
    math,
    operators,
    regexps,
    strings,
    urls,
)
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import REWRITES, Compiler
from logpipe.engines.trino.dialect import DIALECT, LogpipeTrino
from logpipe.engines.trino.types import TType
from logpipe.errors import AthenaOnlyError, QueryError

# -- Athena: positional placeholders ------------------------------------------------------------


@dataclass
class _Order:
    names: list[str] = field(default_factory=list)


class _PositionalAthena(LogpipeTrino):
    """Athena's query dialect (engine v3 is Trino), but each named placeholder is written as ``?`` and
    its name recorded in the order the generator writes it: the order Athena's ExecutionParameters
    must follow."""

    class Generator(LogpipeTrino.Generator):
        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            order: _Order = self._logpipe_order
            order.names.append(expression.name)
            return "?"


def to_athena_positional(tree: exp.Expression) -> tuple[str, list[str]]:
    """Athena SQL with ``?`` placeholders, and the placeholder name for each ``?`` in order."""
    order = _Order()
    generator: Any = _PositionalAthena().generator()
    generator._logpipe_order = order
    return generator.generate(tree), order.names


def to_athena(tree: exp.Expression) -> str:
    """The statement as Athena receives it (named placeholders kept)."""
    return tree.sql(dialect=DIALECT)


# -- public entry points ----------------------------------------------------------------------------


def _param_types(types: Mapping[str, Any] | None) -> dict[str, TType]:
    """Trino types of bound parameters, from the runner's ``Param`` declarations."""
    mapping = {"string": tt.VARCHAR, "enum": tt.VARCHAR, "int": tt.BIGINT, "duration": tt.BIGINT,
               "float": tt.DOUBLE, "bool": tt.BOOLEAN, "timestamp": TType.timestamp(3, tz=True)}
    out: dict[str, TType] = {}
    for name, param in (types or {}).items():
        kind = getattr(param, "type", param)
        if kind == "list":
            out[name] = TType.array(mapping.get(getattr(param, "item_type", "string"), tt.VARCHAR))
        elif isinstance(kind, TType):
            out[name] = kind
        else:
            out[name] = mapping.get(str(kind), tt.UNKNOWN)
    return out


def rewrite_for_duckdb(tree: exp.Expression, param_types: Mapping[str, Any] | None = None,
                       schema: Mapping[str, Mapping[str, TType]] | None = None) -> exp.Expression:
    """The DuckDB AST of a parsed Athena statement; raises AthenaOnlyError for what cannot be exact."""
    return Compiler(schema=schema, param_types=_param_types(param_types)).statement(tree)


def compile_for_duckdb(tree: exp.Expression, param_types: Mapping[str, Any], param_values: Mapping[str, Any],
                       schema: Mapping[str, Mapping[str, TType]] | None = None) -> tuple[exp.Expression, dict[str, Any]]:
    """The DuckDB AST of a bound statement, and the values it binds beyond the statement's own
    (derived from them, e.g. a pattern parameter translated for RE2)."""
    compiler = Compiler(schema=schema, param_types=_param_types(param_types), param_values=param_values)
    node = compiler.statement(tree)
    return node, dict(compiler.derived)


def to_duckdb(sql: str | exp.Expression, pretty: bool = False, param_types: Mapping[str, Any] | None = None,
              schema: Mapping[str, Mapping[str, TType]] | None = None) -> str:
    """Athena SQL as DuckDB SQL; ``:name`` placeholders become ``$name``."""
    tree = parse(sql) if isinstance(sql, str) else sql
    return rewrite_for_duckdb(tree, param_types, schema).sql(dialect="duckdb", pretty=pretty)


def athena_only_reason(tree: exp.Expression, param_types: Mapping[str, Any] | None = None,
                       param_values: Mapping[str, Any] | None = None) -> str | None:
    """Why a statement runs on Athena only (the refusal message), or None when it runs locally.

    Only constructs refused at translation time are found here; a value refused at run time (a
    timestamp string with a zone other than UTC) is only known when the query runs. An error Trino
    would raise too is not an Athena-only construct (None)."""
    try:
        compile_for_duckdb(tree, param_types or {}, param_values or {})
    except AthenaOnlyError as exc:
        return str(exc)
    except QueryError:
        return None
    return None


def functions_used(tree: exp.Expression) -> list[str]:
    """The Trino function names a statement calls (lowercase, first use first)."""
    seen: dict[str, None] = {}
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Anonymous):
            seen.setdefault(node.name.lower(), None)
    return list(seen)


__all__ = ["DIALECT", "REWRITES", "LogpipeTrino", "athena_only_reason", "compile_for_duckdb", "functions_used",
           "parse", "placeholders", "rewrite_for_duckdb", "to_athena", "to_athena_positional",
           "to_duckdb"]
