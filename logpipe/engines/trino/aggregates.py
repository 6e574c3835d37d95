"""Trino's aggregate and window functions on DuckDB, with Trino's result types.

``sum`` of integers is a BIGINT (DuckDB: HUGEINT), ``avg`` of a decimal a decimal of the same type
rounded half up (DuckDB: DOUBLE), ``count_if`` a BIGINT; ``max_by``/``min_by`` keep a NULL value
(DuckDB's ``arg_max`` skips it); ``map_agg`` keeps the first value of a duplicate key and skips NULL
keys; ``approx_percentile`` takes the element at rank floor(p * n) of the sorted values, which is
what Trino's digest answers for the small inputs its tests use (the weighted and accuracy forms are
refused); ``approx_distinct`` is the exact count, which Trino's estimate approximates. Window
functions take IGNORE NULLS, and ``lag``/``lead`` Trino's errors for a NULL or negative offset.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, refuse, rewrite
from logpipe.engines.trino.helpers import T, fn, lit
from logpipe.engines.trino.types import TType


def _args(c: Compiler, call: Call) -> list[Typed]:
    return [c.expr(a, call.scope) for a in call.args if not isinstance(a, exp.Star)]


def build(c: Compiler, call: Call, name: str, args: Sequence[exp.Expression | Typed],
          order: bool = True, ignore_nulls: bool = False) -> exp.Expression:
    """A DuckDB aggregate or window call carrying the call's DISTINCT, ORDER BY, FILTER and OVER."""
    nodes = [a.node if isinstance(a, Typed) else a for a in args]
    if call.distinct and order and call.order and _may_raise(nodes):
        # DuckDB matches a DISTINCT aggregate's ORDER BY to its arguments only when they hold no
        # error() call (volatile): array_agg orders first, then keeps each value's first place.
        if name != "array_agg":
            raise refuse(f"{call.name}(DISTINCT ... ORDER BY ...)", "an argument that can raise Trino's errors is not supported locally here")
        plain = Call(call.name, call.args, call.scope, call.node, False, call.order, call.filter, call.window,
                     call.nulls)
        return fn("lp_array_distinct", build(c, plain, name, args, order, ignore_nulls))
    if call.distinct:
        nodes = [exp.Distinct(expressions=nodes)]
    if order and call.order:
        if call.distinct:
            wanted = {e.sql() for e in call.args}
            for item in call.order:
                inner = item.this if isinstance(item, exp.Ordered) else item
                if inner.sql() not in wanted:
                    raise TrinoError("For aggregate function with DISTINCT, ORDER BY expressions must appear in arguments")
        ordered = c.order_by(exp.Order(expressions=list(call.order)), call.scope).expressions
        nodes = [*nodes[:-1], exp.Order(this=nodes[-1], expressions=ordered)] if nodes else nodes
    if ignore_nulls:
        last = nodes[-1]
        nodes = [*nodes[:-1], exp.Var(this=f"{last.sql(dialect='duckdb')} IGNORE NULLS")]
    node: exp.Expression = exp.Anonymous(this=name, expressions=nodes)
    if call.filter is not None:
        node = exp.Filter(this=node, expression=exp.Where(this=c.boolean(call.filter, call.scope).node))
    if call.window is not None:
        window = call.window.copy()
        window.set("this", node)
        node = window
    return node


def _may_raise(nodes: Sequence[exp.Expression]) -> bool:
    """Whether compiled arguments may call error() (directly or through an lp_ macro)."""
    return any(isinstance(n, exp.Anonymous) and (str(n.this).lower() == "error" or str(n.this).lower().startswith("lp_"))
               for node in nodes for n in node.walk())


def _no_nulls_clause(call: Call) -> None:
    if call.nulls == "IGNORE":
        raise TrinoError(f"IGNORE NULLS is not allowed for {call.name}")


# -- counting ---------------------------------------------------------------------------------------


@rewrite("count", kind="aggregate")
def _count(c: Compiler, call: Call) -> Typed:
    _no_nulls_clause(call)
    args = _args(c, call)
    if len(args) > 1:
        raise TrinoError("count takes at most one argument")
    if not args:
        return Typed(build(c, call, "count_star", []), tt.BIGINT)
    return Typed(build(c, call, "count", args), tt.BIGINT)


@rewrite("count_if", kind="aggregate")
def _count_if(c: Compiler, call: Call) -> Typed:
    args = _args(c, call)
    if len(args) != 1 or args[0].type.name not in ("boolean", "unknown"):
        raise TrinoError("count_if takes one boolean argument")
    return Typed(c.cast(build(c, call, "count_if", args), tt.BIGINT), tt.BIGINT)


@rewrite("approx_distinct", kind="aggregate")
def _approx_distinct(c: Compiler, call: Call) -> Typed:
    args = _args(c, call)
    if len(args) != 1:
        raise refuse("approx_distinct(x, e)", "a custom standard error is not supported locally")
    distinct = Call(call.name, call.args[:1], call.scope, call.node, True, None, call.filter, call.window)
    return Typed(build(c, distinct, "count", args[:1]), tt.BIGINT)


# -- sums and averages -----------------------------------------------------------------------------


@rewrite("sum", kind="aggregate")
def _sum(c: Compiler, call: Call) -> Typed:
    _no_nulls_clause(call)
    (x,) = _args(c, call)
    kind = x.type
    if kind.is_unknown:
        kind = tt.BIGINT
    if kind.is_integer:
        result = tt.BIGINT
    elif kind.is_decimal:
        result = TType.decimal(38, kind.scale)
    elif kind.is_floating:
        result = kind
    elif kind == tt.INTERVAL_DS:  # DuckDB has no sum of intervals: their microseconds are summed
        total = build(c, call, "sum", [fn("epoch_us", x)])
        return Typed(T("to_microseconds(CAST({0} AS BIGINT))", total), kind)
    elif kind == tt.INTERVAL_YM:
        total = build(c, call, "sum", [T("datepart('year', {0}) * 12 + datepart('month', {0})", x)])
        return Typed(T("to_months(CAST({0} AS INTEGER))", total), kind)
    else:
        raise TrinoError(f"Unexpected parameters ({kind}) for function sum")
    return Typed(c.cast(build(c, call, "sum", [x]), result), result)


@rewrite("avg", kind="aggregate")
def _avg(c: Compiler, call: Call) -> Typed:
    _no_nulls_clause(call)
    (x,) = _args(c, call)
    kind = x.type
    if kind.is_unknown or kind.is_integer:
        return Typed(c.cast(build(c, call, "avg", [x]), tt.DOUBLE), tt.DOUBLE)
    if kind.is_floating:
        return Typed(c.cast(build(c, call, "avg", [x]), kind), kind)
    if kind.is_decimal:
        total = c.cast(build(c, call, "sum", [x]), TType.decimal(38, kind.scale))
        count = build(c, call, "count", [x])
        text = fn("lp_dec_div", fn("lp_unscaled", total), lit(kind.scale), T("CAST({0} AS HUGEINT)", count), lit(0),
                  lit(kind.scale), c.flag())
        return Typed(T("CASE WHEN {0} = 0 THEN NULL ELSE {1} END", count, c.cast(text, kind)), kind)
    if kind.name == "interval day to second":
        return Typed(T("to_microseconds(CAST(round(epoch({0}) * 1000) AS BIGINT) * 1000)", build(c, call, "avg", [x])), kind)
    raise TrinoError(f"Unexpected parameters ({kind}) for function avg")


_STATISTICS = ("stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop")


@rewrite(*_STATISTICS, "geometric_mean", kind="aggregate")
def _statistic(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    if not (x.type.is_numeric or x.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({x.type}) for function {call.name}")
    name = "geomean" if call.name == "geometric_mean" else call.name
    kind = tt.REAL if x.type.name == "real" else tt.DOUBLE
    return Typed(c.cast(build(c, call, name, [c.cast(x.node, tt.DOUBLE)]), kind), kind)


@rewrite("corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", kind="aggregate")
def _two_variable(c: Compiler, call: Call) -> Typed:
    y, x = _args(c, call)
    kind = tt.REAL if y.type.name == "real" and x.type.name == "real" else tt.DOUBLE
    node = build(c, call, call.name, [c.cast(y.node, tt.DOUBLE), c.cast(x.node, tt.DOUBLE)])
    return Typed(c.cast(node, kind), kind)


# -- extremes ---------------------------------------------------------------------------------------


@rewrite("min", "max", kind="aggregate")
def _min_max(c: Compiler, call: Call) -> Typed:
    _no_nulls_clause(call)
    args = _args(c, call)
    x = args[0]
    if x.type.name in ("map", "json"):
        raise TrinoError(f"{call.name}: {x.type} is not orderable")
    if len(args) == 2:
        n = c.cast(args[1].node, tt.BIGINT)
        node = build(c, call, call.name, [x, n])
        return Typed(node, TType.array(x.type))
    return Typed(build(c, call, call.name, [x]), x.type, zone=x.zone, zone_ok=x.zone_ok)


@rewrite("max_by", "min_by", kind="aggregate")
def _max_by(c: Compiler, call: Call) -> Typed:
    args = _args(c, call)
    if len(args) == 3:
        raise refuse(f"{call.name}(x, y, n)", "not supported locally")
    x, y = args
    name = "arg_max_null" if call.name == "max_by" else "arg_min_null"
    return Typed(build(c, call, name, [x, y]), x.type)


@rewrite("arbitrary", "any_value", kind="aggregate")
def _arbitrary(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    return Typed(build(c, call, "any_value", [x]), x.type)


@rewrite("bool_and", "bool_or", "every", kind="aggregate")
def _bool(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    if x.type.name not in ("boolean", "unknown"):
        raise TrinoError(f"Unexpected parameters ({x.type}) for function {call.name}")
    return Typed(build(c, call, "bool_and" if call.name == "every" else call.name, [x]), tt.BOOLEAN)


# -- collections ----------------------------------------------------------------------------------


@rewrite("array_agg", kind="aggregate")
def _array_agg(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    return Typed(build(c, call, "array_agg", [x]), TType.array(x.type))


def _pairs(c: Compiler, call: Call, k: Typed, v: Typed) -> exp.Expression:
    """array_agg of {'k', 'v'} pairs over the rows whose key is not NULL."""
    pair = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier("k"), expression=k.node),
                                   exp.PropertyEQ(this=exp.to_identifier("v"), expression=v.node)])
    condition: exp.Expression = exp.Not(this=exp.Is(this=k.node.copy(), expression=exp.Null()))
    if call.filter is not None:
        condition = exp.And(this=exp.Paren(this=call.filter.copy()), expression=condition)
    keyed = Call(call.name, call.args, call.scope, call.node, False, call.order, condition, call.window)
    return build(c, keyed, "array_agg", [pair])


@rewrite("map_agg", kind="aggregate")
def _map_agg(c: Compiler, call: Call) -> Typed:
    k, v = _args(c, call)
    return Typed(fn("lp_map_from_pairs", _pairs(c, call, k, v)), TType.map(k.type, v.type))


@rewrite("multimap_agg", kind="aggregate")
def _multimap_agg(c: Compiler, call: Call) -> Typed:
    k, v = _args(c, call)
    return Typed(fn("lp_multimap_from_pairs", _pairs(c, call, k, v)), TType.map(k.type, TType.array(v.type)))


@rewrite("histogram", kind="aggregate")
def _histogram(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    one = Typed(exp.Literal.number(1), tt.INTEGER)
    return Typed(fn("lp_histogram_from_pairs", _pairs(c, call, x, one)), TType.map(x.type, tt.BIGINT))


@rewrite("approx_percentile", kind="aggregate")
def _approx_percentile(c: Compiler, call: Call) -> Typed:
    args = _args(c, call)
    if len(args) != 2:
        raise refuse(f"approx_percentile with {len(args)} arguments",
                     "the weighted and accuracy forms follow Trino's digest, which the local engine does not reproduce")
    x, p = args
    kind = x.type
    if kind.is_integer or kind.is_unknown:
        kind = tt.BIGINT
    elif kind.is_decimal:
        kind = tt.DOUBLE
    if not kind.is_numeric:
        raise TrinoError(f"Unexpected parameters ({x.type}) for function approx_percentile")
    values = c.cast(x.node, kind)
    no_order = Call(call.name, call.args, call.scope, call.node, False, None, call.filter, call.window)
    sorted_values = T("list_sort({0}, 'ASC', 'NULLS LAST')",
                      build(c, no_order, "array_agg", [values]))
    sorted_values = T("list_filter({0}, lambda _v: _v IS NOT NULL)", sorted_values)
    if p.type.name == "array":
        ps = c.cast(p.node, TType.array(tt.DOUBLE))
        node = T("CASE WHEN len({0}) = 0 THEN NULL ELSE list_transform({1}, lambda _p: lp_percentile_at({0}, _p)) END", sorted_values, ps)
        return Typed(node, TType.array(kind))
    node = T("lp_percentile_at({0}, {1})", sorted_values, c.cast(p.node, tt.DOUBLE))
    return Typed(node, kind)


@rewrite("listagg", kind="aggregate")
def _listagg(c: Compiler, call: Call) -> Typed:
    if call.window is not None:
        raise refuse("listagg(...) OVER (...)", "Trino has no listagg window frames either")
    args = _args(c, call)
    if len(args) not in (1, 2):
        raise TrinoError("listagg takes a value and a separator")
    x = args[0]
    if not (x.type.is_string or x.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({x.type}) for function listagg: the value must be a varchar")
    sep = args[1] if len(args) > 1 else Typed(lit(""), tt.VARCHAR)
    if not sep.is_const or not (sep.type.is_string or sep.type.is_unknown):
        raise TrinoError("listagg: the separator must be a constant varchar")
    return Typed(build(c, call, "string_agg", [c.cast(x.node, tt.VARCHAR), sep]), tt.VARCHAR)


# -- window functions ---------------------------------------------------------------------------------


@rewrite("row_number", "rank", "dense_rank", kind="window")
def _ranking(c: Compiler, call: Call) -> Typed:
    if call.args:
        raise TrinoError(f"{call.name} takes no arguments")
    return Typed(build(c, call, call.name, []), tt.BIGINT)


@rewrite("percent_rank", "cume_dist", kind="window")
def _distribution(c: Compiler, call: Call) -> Typed:
    return Typed(build(c, call, call.name, []), tt.DOUBLE)


@rewrite("ntile", kind="window")
def _ntile(c: Compiler, call: Call) -> Typed:
    (n,) = _args(c, call)
    return Typed(build(c, call, "ntile", [c.cast(n.node, tt.BIGINT)]), tt.BIGINT)


@rewrite("first_value", "last_value", kind="window")
def _first_last(c: Compiler, call: Call) -> Typed:
    (x,) = _args(c, call)
    return Typed(build(c, call, call.name, [x], ignore_nulls=call.nulls == "IGNORE"), x.type)


@rewrite("nth_value", kind="window")
def _nth_value(c: Compiler, call: Call) -> Typed:
    x, n = _args(c, call)
    known, value = c.known(n)
    if not known or value is None or int(value) < 1:
        raise TrinoError("Offset must be at least 1") if known else refuse("nth_value()", "the offset must be a literal")
    return Typed(build(c, call, "nth_value", [x, lit(int(value))], ignore_nulls=call.nulls == "IGNORE"), x.type)


@rewrite("lag", "lead", kind="window")
def _lag_lead(c: Compiler, call: Call) -> Typed:
    args = _args(c, call)
    x = args[0]
    nodes: list[exp.Expression] = [x.node]
    if len(args) >= 2:
        known, offset = c.known(args[1])
        if not known:
            raise refuse(f"{call.name}()", "the offset must be a literal to run locally")
        if offset is None:
            raise TrinoError("Offset must not be null")
        if int(offset) < 0:
            raise TrinoError(f"Offset must be at least 0: {offset}")
        nodes.append(exp.Literal.number(int(offset)))
    if len(args) == 3:
        try:
            kind = tt.common_super_type(x.type, args[2].type)
        except tt.TypeError_:
            raise TrinoError(f"{call.name}: the default does not match the value's type") from None
        if kind != x.type and not x.type.is_unknown:
            kind = x.type
        nodes.append(c.coerce(args[2], kind))
    return Typed(build(c, call, call.name, nodes, ignore_nulls=call.nulls == "IGNORE"), x.type)


@rewrite("bitwise_and_agg", "bitwise_or_agg", "bitwise_xor_agg", kind="aggregate")
def _bitwise_agg(c: Compiler, call: Call) -> Typed:
    """Trino's bitwise aggregates over BIGINT (two's complement); NULL for no non-NULL input."""
    _no_nulls_clause(call)
    (x,) = _args(c, call)
    if not (x.type.is_integer or x.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({x.type}) for function {call.name}")
    name = {"bitwise_and_agg": "bit_and", "bitwise_or_agg": "bit_or", "bitwise_xor_agg": "bit_xor"}[call.name]
    return Typed(build(c, call, name, [c.cast(x.node, tt.BIGINT)]), tt.BIGINT)



@rewrite("grouping")
def _grouping(c: Compiler, call: Call) -> Typed:
    """Trino's ``grouping(a, b, ...)``: a BIGINT bit set, the last argument the lowest bit, a bit 1 when
    the row's grouping set leaves that column out (DuckDB's ``grouping`` is the same)."""
    args = _args(c, call)
    if not args:
        raise TrinoError("grouping() needs at least one argument")
    select = call.node.find_ancestor(exp.Select) if call.node is not None else None
    if select is None or select.args.get("group") is None:
        raise TrinoError("grouping() can only be used with a GROUP BY (its grouping sets)")
    return Typed(c.cast(exp.Anonymous(this="grouping", expressions=[a.node for a in args]), tt.BIGINT), tt.BIGINT)
