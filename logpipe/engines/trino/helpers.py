"""Building blocks of the rewrites: DuckDB SQL from templates, literals, runtime errors and refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from logpipe.engines.duckdb_macros import ATHENA_ONLY
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, refuse
from logpipe.engines.trino.sql import T, fn, lam, lit
from logpipe.engines.trino.types import TType

__all__ = ["T", "args_of", "athena_only_value", "cast_to", "const", "fail", "fn", "lam", "lit", "null_if_any",
           "require_const", "typed_const"]

def fail(c: Compiler, message: exp.Expression | str) -> exp.Expression:
    """Raise Trino's error when the value is reached (NULL instead inside try(), as in Trino)."""
    return fn("lp_fail", c.flag(), lit(message) if isinstance(message, str) else message)


def athena_only_value(construct: str, why: str) -> exp.Expression:
    """A runtime refusal, for a value (not a construct) the local engine cannot answer exactly.
    Never turned into a NULL, not even inside try()."""
    return fn("error", lit(f"{construct}: {why}; {ATHENA_ONLY}"))


def const(typed: Typed) -> Any:
    return typed.const if typed.is_const else None


def require_const(call: Call, typed: Typed, what: str) -> Any:
    if not typed.is_const:
        raise refuse(f"{call.name}()", f"the {what} must be a literal to run locally")
    return typed.const


def cast_to(c: Compiler, node: exp.Expression | Typed, to: TType) -> exp.Expression:
    return c.cast(node.node if isinstance(node, Typed) else node, to)


def typed_const(node: exp.Expression, kind: TType, value: Any) -> Typed:
    return Typed(node, kind, const=value, is_const=True)


def args_of(c: Compiler, call: Call, count: Sequence[int] | int | None = None) -> list[Typed]:
    """The call's arguments compiled (lambdas excluded); checks the argument count."""
    if count is not None:
        allowed = (count,) if isinstance(count, int) else tuple(count)
        if len(call.args) not in allowed:
            raise TrinoError(f"{call.name}: unexpected number of arguments ({len(call.args)})")
    return [c.expr(a, call.scope) for a in call.args]


def null_if_any(args: Sequence[Typed], node: exp.Expression) -> exp.Expression:
    """``node``, or NULL when one of the (nullable) arguments is NULL (Trino's RETURNS NULL ON NULL INPUT)."""
    checks = [a.node for a in args if not (a.is_const and a.const is not None)]
    if not checks:
        return node
    cond = exp.or_(*[exp.Is(this=n.copy(), expression=exp.Null()) for n in checks])
    return exp.Case(ifs=[exp.If(this=cond, true=exp.Null())], default=node)


