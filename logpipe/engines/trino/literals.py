"""Literals, columns, parameters, typed literals and CAST: the leaves of every expression."""

from __future__ import annotations

import decimal
import re

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.casts import cast_value
from logpipe.engines.trino.compiler import Compiler, Scope, TrinoError, Typed, expression, refuse
from logpipe.engines.trino.helpers import T, typed_const
from logpipe.engines.trino.types import TType

# -- literals, columns, parameters --------------------------------------------------------------------

_UNICODE_LENGTH = len


def _decimal_literal_type(text: str) -> TType:
    digits = text.lstrip("+-")
    whole, _, frac = digits.partition(".")
    whole = whole.lstrip("0")
    precision = max(len(whole) + len(frac), 1)
    if precision > tt.MAX_DECIMAL:
        raise TrinoError(f"decimal literal {text} has more than 38 digits")
    return TType.decimal(precision, len(frac))


@expression(exp.Literal)
def _literal(c: Compiler, node: exp.Literal, scope: Scope) -> Typed:
    if node.is_string:
        text = node.this
        return typed_const(exp.Literal.string(text), TType.varchar(len(text)), text)
    text = str(node.this)
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        if -(2**31) <= value < 2**31:
            return typed_const(exp.Literal.number(value), tt.INTEGER, value)
        if -(2**63) <= value < 2**63:
            return typed_const(exp.cast(exp.Literal.number(value), "BIGINT"), tt.BIGINT, value)
        kind = _decimal_literal_type(text)
        return typed_const(c.cast(exp.Literal.string(text), kind), kind, decimal.Decimal(text))
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", text):
        kind = _decimal_literal_type(text)
        return typed_const(c.cast(exp.Literal.string(text), kind), kind, decimal.Decimal(text))
    number = float(text)
    return typed_const(exp.cast(exp.Literal.string(repr(number)), "DOUBLE"), tt.DOUBLE, number)


@expression(exp.Null)
def _null(c: Compiler, node: exp.Null, scope: Scope) -> Typed:
    return typed_const(exp.Null(), tt.UNKNOWN, None)


@expression(exp.Boolean)
def _boolean(c: Compiler, node: exp.Boolean, scope: Scope) -> Typed:
    return typed_const(exp.Boolean(this=node.this), tt.BOOLEAN, bool(node.this))


@expression(exp.Placeholder)
def _placeholder(c: Compiler, node: exp.Placeholder, scope: Scope) -> Typed:
    kind = c.param_types.get(node.name, tt.UNKNOWN)
    out = exp.Placeholder(this=node.name)
    if kind.is_unknown:
        return Typed(out, kind)
    # A bound value carries DuckDB's own type (a Python str is VARCHAR, an int BIGINT): pin it to the
    # declared one so every rewrite sees the type the Athena ExecutionParameter would have.
    return Typed(c.cast(out, kind), kind, param=node.name)


@expression(exp.Paren)
def _paren(c: Compiler, node: exp.Paren, scope: Scope) -> Typed:
    import dataclasses

    inner = c.expr(node.this, scope)
    return dataclasses.replace(inner, node=exp.Paren(this=inner.node))


@expression(exp.Column)
def _column(c: Compiler, node: exp.Column, scope: Scope) -> Typed:
    if isinstance(node.this, exp.Star):
        raise TrinoError("* is only allowed in the select list or count(*)")
    name, table = node.name, node.table or None
    kind = scope.lookup(name, table)
    if kind is not None:
        ident = exp.to_identifier(name, quoted=True)
        ref = exp.Column(this=ident, table=exp.to_identifier(table, quoted=True)) if table else exp.Column(this=ident)
        return Typed(ref, kind)
    if table is not None:
        # ``r.f`` where ``r`` is a row-typed column: a field access.
        base = scope.lookup(table, None)
        if base is not None and base.name == "row":
            return _field(c, Typed(exp.Column(this=exp.to_identifier(table, quoted=True)), base), name)
    raise TrinoError(f"Column '{node.sql(dialect='trino')}' cannot be resolved")


@expression(exp.Identifier)
def _identifier(c: Compiler, node: exp.Identifier, scope: Scope) -> Typed:
    """A lambda parameter in the lambda's body (sqlglot leaves it a bare identifier)."""
    return _column(c, exp.Column(this=node.copy()), scope)


def _field(c: Compiler, row: Typed, name: str) -> Typed:
    for i, (fname, ftype) in enumerate(row.type.params):
        key = fname or f"field{i}"
        if key.lower() == name.lower():
            return Typed(exp.Dot(this=exp.Paren(this=row.node), expression=exp.to_identifier(key, quoted=True)), ftype)
    raise TrinoError(f"Column '{name}' cannot be resolved")


@expression(exp.Dot)
def _dot(c: Compiler, node: exp.Dot, scope: Scope) -> Typed:
    row = c.expr(node.this, scope)
    if row.type.name != "row":
        raise TrinoError(f"Expression {node.this.sql(dialect='trino')} is not of type ROW")
    return _field(c, row, node.expression.name)


# -- typed literals and casts -------------------------------------------------------------------------

_TS_LITERAL = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?\s*(?:(Z|UTC|[+-]\d{1,2}(?::?\d{2})?|[A-Za-z_]+/[A-Za-z_/+-]+))?\s*$")


def zone_offset_minutes(zone: str) -> int | None:
    """Minutes east of UTC for a fixed zone ('UTC', 'Z', '+07:09', '-05'); None for a region zone."""
    if zone.upper() in ("UTC", "Z", "GMT", "UT", "ETC/UTC", "ZULU", "UCT"):
        return 0
    match = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", zone)
    if not match:
        return None
    minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
    return -minutes if match.group(1) == "-" else minutes


@expression(exp.Cast, exp.TryCast)
def _cast(c: Compiler, node: exp.Cast, scope: Scope) -> Typed:
    literal = node.meta.get("logpipe_literal")
    if literal is not None and not isinstance(node, exp.TryCast):
        return typed_literal(c, str(node.to.sql(dialect="trino")), literal)
    value = c.expr(node.this, scope)
    target = tt.from_datatype(node.to)
    out = Typed(cast_value(c, value, target, safe=isinstance(node, exp.TryCast)), target)
    if target.name == "json":
        out.json_exact = value.type.name != "json" or value.json_exact
    return out


@expression(exp.ParseJSON)
def _json_literal(c: Compiler, node: exp.ParseJSON, scope: Scope) -> Typed:
    from logpipe.engines.trino.json import parse_json_text

    text = c.expr(node.this, scope)
    return Typed(parse_json_text(c, Typed(c.coerce(text, tt.VARCHAR), tt.VARCHAR)), tt.JSON)


def typed_literal(c: Compiler, kind_text: str, text: str) -> Typed:
    """``DECIMAL '1.50'``, ``TIMESTAMP '2001-08-22 03:04:05.321 +07:09'``, ``BIGINT '3'`` ..."""
    kind = tt.parse_type(kind_text)
    name = kind.name
    if name == "decimal":
        target = _decimal_literal_type(text.strip())
        return typed_const(c.cast(exp.Literal.string(text.strip()), target), target, decimal.Decimal(text.strip()))
    if name == "varchar" and kind.length == tt.UNBOUNDED:
        return typed_const(exp.Literal.string(text), tt.VARCHAR, text)
    if name == "char":
        target = TType("char", (len(text),))
        return typed_const(exp.Literal.string(text), target, text)
    if name in ("timestamp", "timestamp with time zone"):
        return timestamp_literal(c, text)
    if name in ("time", "time with time zone"):
        match = re.fullmatch(r"\s*(\d{1,2}:\d{2}(?::\d{2}(?:\.(\d+))?)?)\s*([+-]\d{1,2}:\d{2})?\s*", text)
        if not match:
            raise TrinoError(f"Value cannot be cast to time: {text}")
        precision = len(match.group(2) or "")
        if match.group(3):
            raise refuse(f"TIME '{text}'", "a time with a time zone cannot be held by DuckDB with its zone")
        return typed_const(c.cast(exp.Literal.string(match.group(1)), TType("time", (min(precision, 6),))),
                           TType("time", (precision,)), text)
    if name == "json":
        from logpipe.engines.trino.json import parse_json_text

        return Typed(parse_json_text(c, Typed(exp.Literal.string(text), tt.VARCHAR)), tt.JSON)
    value = Typed(exp.Literal.string(text), TType.varchar(len(text)), text, True)
    return Typed(cast_value(c, value, kind, safe=False), kind)


def timestamp_literal(c: Compiler, text: str) -> Typed:
    match = _TS_LITERAL.match(text)
    if not match:
        raise TrinoError(f"Value cannot be cast to timestamp: {text}")
    day, hh, mm, ss, frac, zone = match.groups()
    precision = len(frac or "")
    local = f"{day} {int(hh or 0):02d}:{int(mm or 0):02d}:{int(ss or 0):02d}" + (f".{frac}" if frac else "")
    if precision > 6:
        if frac and frac[6:].strip("0"):
            raise refuse(f"TIMESTAMP '{text}'", "DuckDB timestamps hold microseconds, not nanoseconds")
        local = local[: len(local) - (precision - 6)]
    if zone is None:
        kind = TType.timestamp(precision)
        return typed_const(exp.cast(exp.Literal.string(local), "TIMESTAMP"), kind, text)
    kind = TType.timestamp(precision, tz=True)
    offset = zone_offset_minutes(zone)
    node: exp.Expression = exp.cast(exp.Literal.string(f"{local}{_offset_text(offset) if offset is not None else ''}"), "TIMESTAMPTZ")
    if offset is None:
        node = T("timezone({0}, {1})", exp.Literal.string(zone), exp.cast(exp.Literal.string(local), "TIMESTAMP"))
    typed = typed_const(node, kind, text)
    typed.zone = "UTC" if offset == 0 else (zone if offset is None else _offset_text(offset))
    return typed


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


