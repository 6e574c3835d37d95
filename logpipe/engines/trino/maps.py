"""Trino's map functions on DuckDB.

DuckDB's MAP keeps its entries in order and its functions are close to Trino's; what differs:
``map()`` with a NULL key or duplicate keys and ``transform_keys`` to duplicate keys are errors in
Trino; ``element_at`` of a missing key is NULL (the ``[]`` subscript raises, see operators); entries
are compared without regard to order (operators); lambdas over a map take (key, value).
"""

from __future__ import annotations

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.arrays import array_arg, compile_lambda, rename_columns
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, rewrite
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lam
from logpipe.engines.trino.types import TType


def map_arg(c: Compiler, call: Call, value: Typed) -> Typed:
    if value.type.is_unknown:
        return Typed(exp.cast(exp.Null(), "MAP(INTEGER, INTEGER)"), TType.map(tt.UNKNOWN, tt.UNKNOWN))
    if value.type.name != "map":
        raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}")
    return value


def _checked_map(c: Compiler, keys: exp.Expression, values: exp.Expression) -> exp.Expression:
    """map(keys, values) with Trino's errors for NULL keys, duplicate keys and different lengths."""
    return T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL "
             "WHEN len({0}) <> len({1}) THEN {2} WHEN lp_has_null({0}) THEN {3} "
             "WHEN len(lp_array_distinct({0})) <> len({0}) THEN {4} ELSE map({0}, {1}) END",
             keys, values, fail(c, "Key and value arrays must be the same length"), fail(c, "map key cannot be null"),
             fail(c, "Duplicate map keys are not allowed"))


@rewrite("map")
def _map(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (0, 2))
    if not args:
        return Typed(T("MAP {}"), TType.map(tt.UNKNOWN, tt.UNKNOWN))
    keys, values = (array_arg(c, call, a) for a in args)
    kind = TType.map(keys.type.element, values.type.element)
    return Typed(_checked_map(c, keys.node, values.node), kind)


def _entries_kind(c: Compiler, call: Call, value: Typed) -> tuple[TType, TType, TType]:
    value = array_arg(c, call, value)
    row = value.type.element
    if row.name != "row" or len(row.params) != 2:
        raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}")
    return row.params[0][1], row.params[1][1], row


def _row_field(row: TType, i: int) -> str:
    name = (row.params[i][0] or f"field{i}").replace("'", "''")
    return f"struct_extract(_r, '{name}')"


@rewrite("map_from_entries")
def _map_from_entries(c: Compiler, call: Call) -> Typed:
    (entries,) = args_of(c, call, 1)
    key, value, row = _entries_kind(c, call, entries)
    keys = T(f"list_transform({{0}}, lambda _r: {_row_field(row, 0)})", entries)
    values = T(f"list_transform({{0}}, lambda _r: {_row_field(row, 1)})", entries)
    body = T("CASE WHEN lp_has_null({0}) THEN {2} ELSE {1} END", entries, _checked_map(c, keys, values),
             fail(c, "map entry cannot be null"))
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", entries, body), TType.map(key, value))


@rewrite("multimap_from_entries")
def _multimap_from_entries(c: Compiler, call: Call) -> Typed:
    (entries,) = args_of(c, call, 1)
    key, value, row = _entries_kind(c, call, entries)
    keys = T(f"lp_array_distinct(list_transform({{0}}, lambda _r: {_row_field(row, 0)}))", entries)
    grouped = T(f"list_transform({{1}}, lambda _k: list_transform(list_filter({{0}}, lambda _r: {_row_field(row, 0)} = _k), lambda _r: {_row_field(row, 1)}))",
                entries, keys)
    body = T("CASE WHEN {0} IS NULL THEN NULL WHEN lp_has_null({0}) THEN {3} "
             f"WHEN lp_has_null(list_transform({{0}}, lambda _r: {_row_field(row, 0)})) THEN {{4}} ELSE map({{1}}, {{2}}) END",
             entries, keys, grouped, fail(c, "map entry cannot be null"), fail(c, "map key cannot be null"))
    return Typed(body, TType.map(key, TType.array(value)))


@rewrite("map_keys", "map_values")
def _map_keys_values(c: Compiler, call: Call) -> Typed:
    (m,) = args_of(c, call, 1)
    m = map_arg(c, call, m)
    kind = m.type.key if call.name == "map_keys" else m.type.value
    return Typed(fn(call.name, m), TType.array(kind))


@rewrite("map_entries")
def _map_entries(c: Compiler, call: Call) -> Typed:
    (m,) = args_of(c, call, 1)
    m = map_arg(c, call, m)
    kind = TType.array(TType.row(((None, m.type.key), (None, m.type.value))))
    # DuckDB 2 casts a STRUCT to another STRUCT by field name: the entries are rebuilt as rows.
    entries = T("list_transform(map_entries({0}), lambda _e: {'field0': _e.key, 'field1': _e.value})", m)
    return Typed(c.cast(entries, kind), kind)


@rewrite("map_concat")
def _map_concat(c: Compiler, call: Call) -> Typed:
    maps = [map_arg(c, call, m) for m in args_of(c, call)]
    if not maps:
        raise TrinoError("map_concat needs arguments")
    kind = maps[0].type
    for m in maps[1:]:
        kind = tt.common_super_type(kind, m.type)
    nodes = [c.coerce(m, kind) for m in maps]
    any_null = exp.or_(*[exp.Is(this=n.copy(), expression=exp.Null()) for n in nodes])
    return Typed(T("CASE WHEN {0} THEN NULL ELSE {1} END", any_null, fn("map_concat", *nodes)), kind)


def _entry_lambda(c: Compiler, call: Call, m: Typed, node: exp.Expression) -> tuple[str, Typed]:
    names, body = compile_lambda(c, call, node, [m.type.key, m.type.value])
    entry = f"_m{names[0]}"
    inner = rename_columns(body.node, {names[0]: T(f"struct_extract({entry}, 'key')"), names[1]: T(f"struct_extract({entry}, 'value')")})
    return entry, Typed(inner, body.type)


@rewrite("map_filter")
def _map_filter(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("map_filter takes a map and a lambda")
    m = map_arg(c, call, c.expr(call.args[0], call.scope))
    entry, body = _entry_lambda(c, call, m, call.args[1])
    return Typed(T("map_from_entries(list_filter(map_entries({0}), {1}))", m, lam(entry, body)), m.type)


@rewrite("transform_values")
def _transform_values(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("transform_values takes a map and a lambda")
    m = map_arg(c, call, c.expr(call.args[0], call.scope))
    entry, body = _entry_lambda(c, call, m, call.args[1])
    kind = TType.map(m.type.key, body.type)
    return Typed(T("map(map_keys({0}), list_transform(map_entries({0}), {1}))", m, lam(entry, body)), kind)


@rewrite("transform_keys")
def _transform_keys(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("transform_keys takes a map and a lambda")
    m = map_arg(c, call, c.expr(call.args[0], call.scope))
    entry, body = _entry_lambda(c, call, m, call.args[1])
    keys = T("list_transform(map_entries({0}), {1})", m, lam(entry, body))
    kind = TType.map(body.type, m.type.value)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", m, _checked_map(c, keys, T("map_values({0})", m))), kind)


@rewrite("map_zip_with")
def _map_zip_with(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 3:
        raise TrinoError("map_zip_with takes two maps and a lambda")
    a = map_arg(c, call, c.expr(call.args[0], call.scope))
    b = map_arg(c, call, c.expr(call.args[1], call.scope))
    key = tt.common_super_type(a.type.key, b.type.key)
    x = c.coerce(a, TType.map(key, a.type.value))
    y = c.coerce(b, TType.map(key, b.type.value))
    names, body = compile_lambda(c, call, call.args[2], [key, a.type.value, b.type.value])
    k = f"_k{names[0]}"
    inner = rename_columns(body.node, {names[0]: exp.column(k), names[1]: T(f"map_extract_value({{0}}, {k})", x),
                                       names[2]: T(f"map_extract_value({{0}}, {k})", y)})
    keys = T("lp_array_distinct(list_concat(map_keys({0}), map_keys({1})))", x, y)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE map({2}, list_transform({2}, {3})) END",
             x, y, keys, lam(k, inner))
    return Typed(node, TType.map(key, body.type))
