"""Trino's CAST (and TRY_CAST, and implicit coercion) on DuckDB.

DuckDB's CAST accepts more text than Trino (``'12.5'`` as BIGINT is 13 there, an error in Trino), rounds
differently (half to even, Trino half away from zero) and prints differently (a DOUBLE as ``37.7``,
Trino ``3.77E1``; a timestamp without its trailing zeros). Each pair of types that differs goes
through a macro of logpipe.engines.duckdb_macros; TRY_CAST is the same expression under DuckDB's
``try()``, which turns the raised error into NULL as Trino's TRY_CAST does.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from logpipe.engines.duckdb_macros import ATHENA_ONLY
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import DYNAMIC, Compiler, TrinoError, Typed, refuse, set_converter
from logpipe.engines.trino.types import TType


def duck_zone(zone: str) -> str:
    """A Trino zone (``+07:09``, ``UTC``, ``Asia/Tokyo``) as a zone name DuckDB (ICU) knows."""
    if zone[:1] in "+-":
        return "GMT" + zone
    return zone


def local_time(c: Compiler, value: Typed) -> exp.Expression:
    """The wall-clock TIMESTAMP of a ``timestamp with time zone`` in the zone its values carry (a
    zone known only per row must be UTC, or the row is refused)."""
    from logpipe.engines.trino.helpers import T, lit

    if value.zone == DYNAMIC:
        return T("CASE WHEN {0} THEN CAST({1} AS TIMESTAMP) ELSE error({2}) END", value.zone_ok, value.node,
                 lit("the local time of a timestamp whose zone is not UTC: DuckDB does not keep the zone; " + ATHENA_ONLY))
    if value.zone == "UTC":
        return exp.cast(value.node, "TIMESTAMP")
    return T("timezone({0}, {1})", lit(duck_zone(value.zone)), value.node)


def from_local(zone: str, node: exp.Expression) -> exp.Expression:
    """The instant (TIMESTAMPTZ) of a wall-clock TIMESTAMP in a zone."""
    from logpipe.engines.trino.helpers import T, lit

    if zone == "UTC":
        return exp.cast(node, "TIMESTAMPTZ")
    return T("timezone({0}, {1})", lit(duck_zone(zone)), node)


def cast_value(c: Compiler, value: Typed, target: TType, safe: bool) -> exp.Expression:
    """CAST (``safe``: TRY_CAST, NULL where Trino's CAST fails) with Trino's semantics."""
    saved = c.safe
    c.safe = saved or safe
    try:
        return _cast(c, value, target)
    finally:
        c.safe = saved


def _cast(c: Compiler, value: Typed, target: TType) -> exp.Expression:
    from logpipe.engines.trino.helpers import T, fn, lit

    src = value.type
    node = value.node
    if src == target:
        return node
    if src.is_unknown:
        return c.cast(exp.Null() if isinstance(node, exp.Null) else node, target)
    s, t = src.name, target.name

    # -- to varchar -------------------------------------------------------------------------------
    if t == "varchar":
        if s in ("varchar", "char"):
            out = node
        elif src.is_integer or s == "boolean" or s == "date" or s == "decimal":
            out = c.cast(node, tt.VARCHAR)
        elif s == "double":
            out = fn("lp_double_to_varchar", node)
        elif s == "real":
            out = fn("lp_real_to_varchar", node)
        elif s == "timestamp":
            out = ts_text(node, src.precision)
        elif s == "timestamp with time zone":
            zone = "UTC" if value.zone == DYNAMIC else value.zone
            out = T("{0} || {1}", ts_text(local_time(c, value), src.precision), lit(" " + zone))
        elif s == "time":
            out = ts_text(node, src.precision, time_only=True)
        elif s == "json":
            out = fn("lp_json_to_varchar", node, c.flag())
        elif s in ("interval day to second",):
            out = fn("lp_interval_ds_to_varchar", node)
        elif s in ("interval year to month",):
            out = fn("lp_interval_ym_to_varchar", node)
        elif s == "varbinary":
            raise refuse("CAST(varbinary AS varchar)", "not supported locally")
        else:
            raise TrinoError(f"Cannot cast {src} to {target}")
        if target.length != tt.UNBOUNDED:
            out = fn("left", out, lit(target.length))
        return out
    if t == "char":
        raise refuse(f"CAST(... AS {target})", "char(n) padding is not supported locally")

    # -- from varchar -----------------------------------------------------------------------------
    if s in ("varchar", "char"):
        if target.is_integer:
            return c.cast(fn("lp_varchar_to_bigint", node, lit(str(target).upper()), c.flag()), target)
        if t == "double":
            return fn("lp_varchar_to_double", node, c.flag())
        if t == "real":
            return c.cast(fn("lp_varchar_to_double", node, c.flag()), target)
        if t == "decimal":
            return c.cast(fn("lp_varchar_to_decimal_text", node, lit(str(target)), c.flag()), target)
        if t == "boolean":
            return fn("lp_varchar_to_boolean", node, c.flag())
        if t == "date":
            return fn("lp_varchar_to_date", node, c.flag())
        if t == "timestamp":
            if target.precision > 6:
                raise refuse(f"CAST(... AS {target})", "DuckDB timestamps hold microseconds")
            return fn("lp_round_timestamp", fn("lp_varchar_to_timestamp", node, c.flag()), lit(target.precision))
        if t == "timestamp with time zone":
            if target.precision > 6:
                raise refuse(f"CAST(... AS {target})", "DuckDB timestamps hold microseconds")
            return fn("lp_round_timestamptz", fn("lp_varchar_to_timestamptz", node, c.flag()), lit(target.precision))
        if t == "json":
            return T("to_json({0})", node)
        if t == "varbinary":
            return T("encode({0})", node)
        if t in ("interval day to second", "interval year to month"):
            raise refuse(f"CAST(varchar AS {target})", "not supported locally")

    # -- numbers ----------------------------------------------------------------------------------
    if src.is_numeric and target.is_numeric:
        if target.is_integer and (src.is_decimal or src.is_floating):
            return c.cast(T("round({0})", node), target)
        if target.is_decimal and src.is_decimal and target.scale < src.scale:
            return c.cast(T("round({0}, {1})", node, lit(target.scale)), target)
        if target.is_decimal and src.is_floating:
            return fn("lp_double_to_decimal", c.cast(node, tt.DOUBLE), lit(target.precision), lit(target.scale), lit(str(target)), c.flag())
        return c.cast(node, target)
    if s == "boolean" and (target.is_numeric):
        return c.cast(node, target)
    if src.is_numeric and t == "boolean":
        return T("{0} <> 0", node)

    # -- dates and times --------------------------------------------------------------------------
    if s == "date" and t == "timestamp":
        return c.cast(node, target)
    if s == "date" and t == "timestamp with time zone":
        return c.cast(c.cast(node, TType.timestamp(0)), target)
    if s == "timestamp" and t == "date":
        return c.cast(node, target)
    if s == "timestamp" and t == "timestamp":
        if target.precision > 6:
            raise refuse(f"CAST(... AS {target})", "DuckDB timestamps hold microseconds")
        if target.precision >= src.precision:
            return node
        return fn("lp_round_timestamp", node, lit(target.precision))
    if s == "timestamp" and t == "timestamp with time zone":
        if target.precision > 6:
            raise refuse(f"CAST(... AS {target})", "DuckDB timestamps hold microseconds")
        return fn("lp_round_timestamptz", c.cast(node, target), lit(min(target.precision, src.precision)))
    if s == "timestamp with time zone" and t in ("timestamp", "date", "time"):
        local = local_time(c, value)
        if t == "timestamp":
            if target.precision >= src.precision:
                return local
            return fn("lp_round_timestamp", local, lit(target.precision))
        return c.cast(local, target)
    if s == "timestamp with time zone" and t == "timestamp with time zone":
        if target.precision >= src.precision:
            return node
        return fn("lp_round_timestamptz", node, lit(target.precision))
    if s == "time" and t == "time":
        if target.precision >= src.precision:
            return node
        return fn("lp_round_time", node, lit(target.precision))
    if s == "timestamp" and t == "time":
        return c.cast(node, target)

    # -- json -------------------------------------------------------------------------------------
    if s == "json":
        return json_to(c, node, target)
    if t == "json":
        return T("CAST({0} AS JSON)", to_json_text(c, value))

    # -- structural -------------------------------------------------------------------------------
    if s == t == "array":
        inner = Typed(exp.column("_e"), src.element)
        converted = _cast(c, inner, target.element)
        if converted is inner.node:
            return node
        return T("list_transform({0}, lambda _e: {1})", node, converted)
    if s == t == "map":
        k = _cast(c, Typed(exp.column("_k"), src.key), target.key)
        v = _cast(c, Typed(exp.column("_v"), src.value), target.value)
        return T("map_from_entries(list_transform(map_entries({0}), lambda _x: {'key': {1}, 'value': {2}}))",
                 node, _sub(k, "_k", "_x.key"), _sub(v, "_v", "_x.value"))
    if s == t == "row" and len(src.params) == len(target.params):
        fields = []
        for i, ((_, st), (tn, ttype)) in enumerate(zip(src.params, target.params, strict=True)):
            sname = src.params[i][0] or f"field{i}"
            part = _cast(c, Typed(exp.Dot(this=exp.Paren(this=node), expression=exp.to_identifier(sname, quoted=True)), st), ttype)
            fields.append(exp.PropertyEQ(this=exp.to_identifier(tn or f"field{i}", quoted=True), expression=part))
        return exp.Struct(expressions=fields)
    if s == "varbinary" and t == "varchar":
        raise refuse("CAST(varbinary AS varchar)", "not supported locally")
    raise TrinoError(f"Cannot cast {src} to {target}")


def _sub(node: exp.Expression, name: str, replacement: str) -> exp.Expression:
    target: exp.Expression = exp.maybe_parse(replacement, dialect="duckdb")

    def swap(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and n.name == name and not n.table:
            return target.copy()
        return n

    return node.copy().transform(swap)


def ts_text(node: exp.Expression, precision: int, time_only: bool = False) -> exp.Expression:
    """A timestamp (or time) as Trino prints it: exactly ``precision`` fraction digits."""
    from logpipe.engines.trino.helpers import T, lit

    fmt = "%H:%M:%S" if time_only else "%Y-%m-%d %H:%M:%S"
    if time_only:
        node = T("DATE '1970-01-01' + {0}", node)
    if precision == 0:
        return T("strftime({0}, {1})", node, lit(fmt))
    return T("left(strftime({0}, {1}), {2})", node, lit(fmt + ".%f"), lit(len("00:00:00." if time_only else "0000-00-00 00:00:00.") + min(precision, 6)))


# -- JSON ---------------------------------------------------------------------------------------------


def json_to(c: Compiler, node: exp.Expression, target: TType) -> exp.Expression:
    """Trino's CAST(json AS T): numbers, booleans and numeric strings convert to each other; arrays and
    objects convert element by element; anything else is an error."""
    from logpipe.engines.trino.helpers import T, fn, lam, lit

    t = target.name
    if t == "varchar":
        return fn("lp_json_to_varchar", node, c.flag())
    if t == "boolean":
        return fn("lp_json_to_boolean", node, c.flag())
    if target.is_integer:
        return c.cast(fn("lp_json_to_bigint", node, lit(str(target)), c.flag()), target)
    if t == "double":
        return fn("lp_json_to_double", node, c.flag())
    if t == "real":
        return c.cast(fn("lp_json_to_double", node, c.flag()), target)
    if t == "decimal":
        return c.cast(fn("lp_json_to_decimal_text", node, lit(str(target)), c.flag()), target)
    if t == "json":
        return node
    if t == "array":
        element = json_to(c, exp.column("_j"), target.element)
        return T("CASE WHEN {0} IS NULL OR json_type({0}) = 'NULL' THEN NULL "
                 "WHEN json_type({0}) <> 'ARRAY' THEN lp_fail({3}, {2} || CAST({0} AS VARCHAR)) "
                 "ELSE list_transform(CAST(json_extract({0}, '$[*]') AS JSON[]), lambda _j: {1}) END",
                 node, element, lit(f"Cannot cast to {target}. Expected a json array, but got "), c.flag())
    if t == "map":
        if not (target.key.is_string or target.key.is_numeric or target.key.name == "boolean"):
            raise TrinoError(f"Cannot cast json to {target}")
        key = _cast(c, Typed(exp.column("_k"), tt.VARCHAR), target.key)
        value = json_to(c, exp.column("_j"), target.value)
        return fn("lp_json_object_to_map", node, lam("_k", key), lam("_j", value),
                  lit(f"Cannot cast to {target}. Expected a json object, but got "), c.flag())
    raise refuse(f"CAST(json AS {target})", "not supported locally")


def to_json_text(c: Compiler, value: Typed) -> exp.Expression:
    """Trino's CAST(x AS JSON) as JSON text: strings quoted, map keys sorted, row fields by name."""
    from logpipe.engines.trino.helpers import T, fn, lit

    src = value.type
    node = value.node
    s = src.name
    if src.is_unknown:
        return exp.Null()
    if s in ("varchar", "char"):
        return T("to_json({0})::VARCHAR", node)
    if src.is_integer or s == "decimal":
        return c.cast(node, tt.VARCHAR)
    if s == "boolean":
        return c.cast(node, tt.VARCHAR)
    if s in ("double", "real"):
        return fn("lp_json_double", c.cast(node, tt.DOUBLE))
    if s == "json":
        return c.cast(node, tt.VARCHAR)
    if s in ("date", "timestamp", "timestamp with time zone", "time"):
        return T("to_json({0})::VARCHAR", _cast(c, value, tt.VARCHAR))
    if s == "array":
        inner = to_json_text(c, Typed(exp.column("_e"), src.element))
        return T("CASE WHEN {0} IS NULL THEN NULL ELSE '[' || array_to_string(list_transform({0}, lambda _e: coalesce({1}, 'null')), ',') || ']' END",
                 node, inner)
    if s == "map":
        key = _cast(c, Typed(exp.column("_k"), src.key), tt.VARCHAR)
        inner = to_json_text(c, Typed(exp.column("_v"), src.value))
        pairs = T("list_transform(list_sort(map_entries({0}), 'ASC'), lambda _x: to_json({1})::VARCHAR || ':' || coalesce({2}, 'null'))",
                  node, _sub(key, "_k", "_x.key"), _sub(inner, "_v", "_x.value"))
        return T("CASE WHEN {0} IS NULL THEN NULL ELSE '{' || array_to_string({1}, ',') || '}' END", node, pairs)
    if s == "row":
        parts = []
        for i, (name, ftype) in enumerate(src.params):
            field_name = str(name or f"field{i}")
            field = Typed(exp.Dot(this=exp.Paren(this=node), expression=exp.to_identifier(field_name, quoted=True)), ftype)
            parts.append(T("{0} || ':' || coalesce({1}, 'null')", lit(_json_string(name or "")), to_json_text(c, field)))
        body = parts[0] if len(parts) == 1 else T(" || ',' || ".join(f"{{{i}}}" for i in range(len(parts))), *parts)
        return T("CASE WHEN {0} IS NULL THEN NULL ELSE '{' || {1} || '}' END", node, body)
    raise TrinoError(f"Cannot cast {src} to json")


def _json_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def constant(value: Typed) -> Any:
    return value.const if value.is_const else None


set_converter(cast_value)
