"""Operators and syntax: arithmetic, comparison, CASE, IN, subscripts, constructors, calls.

What differs from DuckDB and is handled here:

* integer ``/`` truncates (DuckDB's ``/`` is a DOUBLE division) and keeps the operands' type;
* decimal arithmetic has Trino's result precision and scale, and decimal ``/`` and ``%`` are exact
  with rounding half up (DuckDB turns a decimal division into a DOUBLE);
* ``ARRAY[1, NULL] = ARRAY[1, NULL]`` is NULL (DuckDB: true) and map equality ignores entry order
  (DuckDB compares the entries in order);
* an array subscript past the end and a missing map key are errors (DuckDB: NULL).
"""

from __future__ import annotations

from typing import Any, cast

from sqlglot import exp

from logpipe.engines.duckdb_macros import ATHENA_ONLY
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.casts import local_time
from logpipe.engines.trino.compiler import (
    Call,
    Compiler,
    Scope,
    TrinoError,
    Typed,
    bound_of,
    expression,
    refuse,
    rewrite,
)
from logpipe.engines.trino.helpers import T, fail, fn, lam, lit, typed_const
from logpipe.engines.trino.types import TType

# -- arithmetic -----------------------------------------------------------------------------------------

_OPS = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}


def decimal_result(op: str, a: TType, b: TType) -> TType:
    """Trino's result type of a decimal operation (DecimalOperators)."""
    a, b = tt.as_decimal(a), tt.as_decimal(b)
    p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
    if op in ("+", "-"):
        scale = max(s1, s2)
        return TType.decimal(min(38, 1 + scale + max(p1 - s1, p2 - s2)), scale)
    if op == "*":
        if s1 + s2 > 38:
            raise TrinoError(f"DECIMAL scale must be in range [0, precision (38)]: {s1 + s2}")
        return TType.decimal(min(38, p1 + p2), s1 + s2)
    if op == "/":
        scale = max(s1, s2)
        return TType.decimal(min(38, p1 - s1 + s2 + scale), scale)
    scale = max(s1, s2)  # %
    return TType.decimal(min(38, min(p2 - s2, p1 - s1) + scale), scale)


def arithmetic(c: Compiler, op: str, a: Typed, b: Typed) -> Typed:
    ta, tb = a.type, b.type
    if ta.is_unknown and tb.is_unknown:
        ta = tb = tt.INTEGER
    if ta.is_unknown:
        ta = tb if not tb.name.startswith("interval") else tt.BIGINT
    if tb.is_unknown:
        tb = ta if not ta.name.startswith("interval") else tt.BIGINT
    if ta.is_numeric and tb.is_numeric:
        # A NULL operand takes the other's type in DuckDB too (NULL % NULL would be a BIGINT there).
        x = c.cast(a.node, ta) if a.type.is_unknown else a.node
        y = c.cast(b.node, tb) if b.type.is_unknown else b.node
        return numeric_arithmetic(c, op, Typed(x, ta, bound=bound_of(a)), Typed(y, tb, bound=bound_of(b)))
    return temporal_arithmetic(c, op, Typed(a.node, ta, zone=a.zone), Typed(b.node, tb, zone=b.zone))


def numeric_arithmetic(c: Compiler, op: str, a: Typed, b: Typed) -> Typed:
    common = tt.common_super_type(a.type, b.type)
    if common.is_integer:
        x, y = c.coerce(a, common), c.coerce(b, common)
        bounds = bound_of(a), bound_of(b)
        if op in _CHECKED and bounds[0] is not None and bounds[1] is not None:
            # Both operands bounded (lengths, literals, sums of those): when no value can overflow, the
            # plain operation is Trino's. The range check binds each operand again (a long sum of
            # lengths - log_volume's bytes - was planned and run 3-4x slower for it).
            bound = bounds[0] * bounds[1] if op == "*" else bounds[0] + bounds[1]
            if bound < tt.INTEGER_RANGE[common.name]:
                return Typed(c.cast(exp.Paren(this=_binary(op, x, y)), common), common, bound=bound)
        if op in _CHECKED:
            # Computed one size wider and range-checked: Trino's "integer addition overflow: a + b",
            # not DuckDB's own overflow error.
            wide = "HUGEINT" if common == tt.BIGINT else "BIGINT"
            limit = tt.INTEGER_RANGE[common.name]
            what = lit(f"{common.name} {_CHECKED[op]} overflow: ")
            if _size(x) + _size(y) <= _INLINE_OPERANDS:
                wide_op = _binary(op, T(f"CAST({{0}} AS {wide})", x), y)
                checked = fn("lp_int_checked", wide_op, lit(-limit), lit(limit - 1), x.copy(), y.copy(),
                             what, lit(f" {op} "), c.flag())
            else:
                # Nested arithmetic: the inline form repeats its operands (the range test, the result
                # and the message each hold a copy), so a chain of n operations grew as 5^n and a
                # saved query with a long sum never finished compiling. This form binds each operand
                # once (a one-element list's lambda), at some cost per row.
                checked = fn(_CHECKED_ONCE[op], T(f"CAST({{0}} AS {wide})", x),
                             T(f"CAST({{0}} AS {wide})", y), lit(-limit), lit(limit - 1), what, c.flag())
            return Typed(c.cast(checked, common), common)
        if c.safe and op in ("/", "%"):
            y = fn("nullif", y, lit(0))
        node = T("{0} // {1}", x, y) if op == "/" else exp.Paren(this=_binary(op, x, y))
        return Typed(node, common)
    if common.is_floating:
        x, y = c.coerce(a, common), c.coerce(b, common)
        return Typed(exp.Paren(this=_binary(op, x, y)), common)
    result = decimal_result(op, a.type, b.type)
    da, db = tt.as_decimal(a.type), tt.as_decimal(b.type)
    x, y = c.cast(a.node, da), c.cast(b.node, db)
    if op in ("+", "-"):
        wide_a, wide_b = TType.decimal(38, da.scale), TType.decimal(38, db.scale)
        node = _binary(op, c.cast(x, wide_a), c.cast(y, wide_b))
        return Typed(c.cast(exp.Paren(this=node), result), result)
    # DuckDB multiplies decimals exactly only below 38 digits and divides them as DOUBLE: compute on
    # the unscaled integers (HUGEINT) and build the result's text (logpipe.engines.duckdb_macros).
    ua, ub = fn("lp_unscaled", x), fn("lp_unscaled", y)
    if op == "*":
        text = fn("lp_dec_mul", ua, ub, lit(result.scale))
    elif op == "/":
        text = fn("lp_dec_div", ua, lit(da.scale), ub, lit(db.scale), lit(result.scale), c.flag())
    else:
        text = fn("lp_dec_mod", ua, lit(da.scale), ub, lit(db.scale), lit(result.scale), c.flag())
    return Typed(c.cast(text, result), result)


_CHECKED = {"+": "addition", "-": "subtraction", "*": "multiplication"}
_CHECKED_ONCE = {"+": "lp_int_addition_checked", "-": "lp_int_subtraction_checked",
                 "*": "lp_int_multiplication_checked"}
# Operands up to this many nodes are checked inline (fast); larger ones once, through a lambda.
_INLINE_OPERANDS = 24


def _size(node: exp.Expression) -> int:
    return sum(1 for _ in node.walk())


def _binary(op: str, x: exp.Expression, y: exp.Expression) -> exp.Expression:
    cls: Any = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div, "%": exp.Mod}[op]
    return cast(exp.Expression, cls(this=x, expression=y))


def temporal_arithmetic(c: Compiler, op: str, a: Typed, b: Typed) -> Typed:
    ta, tb = a.type, b.type
    intervals = ("interval day to second", "interval year to month")
    if op == "+" and ta.name in intervals and tb.name not in intervals:
        a, b, ta, tb = b, a, tb, ta
    if ta.name in intervals and tb.name in intervals and op in ("+", "-"):
        if ta.name != tb.name:
            raise TrinoError(f"Cannot apply operator: {ta} {op} {tb}")
        return Typed(exp.Paren(this=_binary(op, a.node, b.node)), ta)
    if ta.name in intervals and tb.is_numeric and op in ("*", "/"):
        if ta.name == "interval year to month":
            raise refuse(f"interval {op} number", "year-month interval scaling is not supported locally")
        return Typed(T("to_microseconds(CAST(round(epoch({0}) * 1000000 {2} {1}) AS BIGINT))".replace("{2}", op),
                       a.node, c.cast(b.node, tt.DOUBLE)), ta)
    if ta.is_numeric and tb.name in intervals and op == "*":
        return temporal_arithmetic(c, "*", b, a)
    if ta.name in ("date", "timestamp", "timestamp with time zone") and tb.name in intervals and op in ("+", "-"):
        if ta.name == "date":
            return Typed(c.cast(exp.Paren(this=_binary(op, a.node, b.node)), tt.DATE), tt.DATE)
        if ta.name == "timestamp":
            return Typed(exp.Paren(this=_binary(op, a.node, b.node)), ta)
        if a.zone == "UTC":
            return Typed(exp.Paren(this=_binary(op, a.node, b.node)), ta, zone=a.zone)
        from logpipe.engines.trino.casts import duck_zone

        local = local_time(c, a)
        return Typed(T("timezone({0}, {1})", lit(duck_zone(a.zone)), exp.Paren(this=_binary(op, local, b.node))), ta, zone=a.zone)
    if ta.name == "time" and tb.name == "interval day to second" and op in ("+", "-"):
        return Typed(T("CAST(DATE '1970-01-01' + {0} {2} {1} AS TIME)".replace("{2}", op), a.node, b.node), ta)
    if op == "-" and ta.is_timestamp and tb.is_timestamp:
        return Typed(exp.Paren(this=_binary("-", a.node, b.node)), tt.INTERVAL_DS)
    if op == "-" and ta.name == "date" and tb.name == "date":
        raise TrinoError("Cannot apply operator: date - date")
    raise TrinoError(f"Cannot apply operator: {ta} {op} {tb}")


@expression(exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
def _arith(c: Compiler, node: exp.Binary, scope: Scope) -> Typed:
    a, b = c.expr(node.this, scope), c.expr(node.expression, scope)
    return arithmetic(c, _OPS[type(node)], a, b)


@expression(exp.Neg)
def _neg(c: Compiler, node: exp.Neg, scope: Scope) -> Typed:
    inner = c.expr(node.this, scope)
    if inner.is_const and isinstance(node.this, exp.Literal):
        # A negative literal: -2147483648 is an integer, -9223372036854775808 a bigint.
        text = "-" + str(node.this.this)
        return c.expr(exp.Literal(this=text, is_string=False), scope) if not node.this.is_string else inner
    if inner.type.is_unknown:
        return inner
    if not (inner.type.is_numeric or inner.type.name.startswith("interval")):
        raise TrinoError(f"Cannot negate {inner.type}")
    if inner.type.is_decimal:
        return Typed(c.cast(exp.Neg(this=exp.Paren(this=inner.node)), inner.type), inner.type)
    if inner.type.is_integer:
        low = -tt.INTEGER_RANGE[inner.type.name]
        message = T("{0} || CAST({1} AS VARCHAR)", lit(f"{inner.type.name} negation overflow: "), inner.node)
        return Typed(T(f"CASE WHEN {{0}} = {low} THEN {{1}} ELSE -({{2}}) END", inner.node, fail(c, message), inner.node),
                     inner.type)
    return Typed(exp.Neg(this=exp.Paren(this=inner.node)), inner.type)


@expression(exp.DPipe)
def _dpipe(c: Compiler, node: exp.DPipe, scope: Scope) -> Typed:
    a, b = c.expr(node.this, scope), c.expr(node.expression, scope)
    return concat_values(c, [a, b], "||")


def _depth(kind: TType) -> int:
    return 1 + _depth(kind.element) if kind.name == "array" else 0


def concat_values(c: Compiler, values: list[Typed], name: str) -> Typed:
    """``||`` and ``concat``: strings (NULL if any is NULL), arrays, or an element and an array."""
    kinds = [v.type for v in values]
    if any(k.name == "array" for k in kinds):
        # The deepest arrays are the operands; a value one level shallower is an element.
        deepest = max(_depth(k) for k in kinds)
        element = tt.UNKNOWN
        for k in kinds:
            element = tt.common_super_type(element, k.element if _depth(k) == deepest else k)
        target = TType.array(element)
        parts = []
        for v in values:
            if _depth(v.type) == deepest or (v.type.is_unknown and len(values) > 2):
                parts.append(c.coerce(v, target))
            else:
                parts.append(T("[{0}]", c.coerce(v, element)))
        node = parts[0]
        for part in parts[1:]:
            node = fn("list_concat", node, part)
        return Typed(T("CASE WHEN {1} THEN NULL ELSE {0} END", node,
                       exp.or_(*[exp.Is(this=v.node.copy(), expression=exp.Null()) for v in values])), target)
    if all(k.is_string or k.is_unknown for k in kinds):
        # A NULL literal is a VARCHAR here (DuckDB would type the whole result NULL).
        nodes = [c.coerce(v, tt.VARCHAR) if v.type.is_unknown else v.node for v in values]
        node = nodes[0]
        for part in nodes[1:]:
            node = exp.DPipe(this=node, expression=part, safe=False)
        return Typed(exp.Paren(this=node), tt.VARCHAR)
    if name == "||" and all(k.name == "varbinary" or k.is_unknown for k in kinds):
        return Typed(exp.Paren(this=exp.DPipe(this=values[0].node, expression=values[1].node)), tt.VARBINARY)
    raise TrinoError(f"Unexpected parameters ({', '.join(map(str, kinds))}) for function concat")


# -- comparison -------------------------------------------------------------------------------------

_CMP = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}


def comparable(c: Compiler, a: Typed, b: Typed) -> tuple[exp.Expression, exp.Expression, TType]:
    try:
        common = tt.common_super_type(a.type, b.type)
    except tt.TypeError_:
        raise TrinoError(f"Cannot apply operator: {a.type} = {b.type}") from None
    return c.coerce(a, common), c.coerce(b, common), common


def equal(c: Compiler, x: exp.Expression, y: exp.Expression, kind: TType) -> exp.Expression:
    """Trino's ``=``: NULL when a NULL inside arrays, maps or rows decides it; maps ignore entry order."""
    if kind.name == "array":
        inner = equal(c, exp.column("_p", table=None).copy(), exp.column("_q"), kind.element)
        inner = _sub2(inner)
        return fn("lp_array_eq", x, y, lam("_e", inner))
    if kind.name == "map":
        inner = _sub2(equal(c, exp.column("_p"), exp.column("_q"), kind.value))
        return fn("lp_map_eq", x, y, lam("_e", inner))
    if kind.name == "row":
        parts = []
        for i, (name, ftype) in enumerate(kind.params):
            key = exp.to_identifier(name or f"field{i}", quoted=True)
            parts.append(equal(c, exp.Dot(this=exp.Paren(this=x.copy()), expression=key),
                               exp.Dot(this=exp.Paren(this=y.copy()), expression=key.copy()), ftype))
        node = parts[0]
        for part in parts[1:]:
            node = exp.And(this=node, expression=part)
        return T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE {2} END", x, y, node)
    if kind.name in ("json",):
        raise TrinoError("Cannot apply operator: json = json")
    return exp.EQ(this=x, expression=y)


def _sub2(node: exp.Expression) -> exp.Expression:
    """Element references of a pair lambda: ``_p`` -> ``_e[1]``, ``_q`` -> ``_e[2]``."""
    def swap(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name in ("_p", "_q"):
            return T("struct_extract(_e, 1)" if n.name == "_p" else "struct_extract(_e, 2)")
        return n

    return node.transform(swap)


def _structural(kind: TType) -> bool:
    return kind.name in ("array", "map", "row")


@expression(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
def _compare(c: Compiler, node: exp.Binary, scope: Scope) -> Typed:
    a, b = c.expr(node.this, scope), c.expr(node.expression, scope)
    x, y, kind = comparable(c, a, b)
    op = _CMP[type(node)]
    if op in ("=", "<>") and _structural(kind):
        eq = equal(c, x, y, kind)
        return Typed(eq if op == "=" else exp.Not(this=exp.Paren(this=eq)), tt.BOOLEAN)
    if kind.name == "map":
        raise TrinoError(f"Cannot apply operator: {kind} {op} {kind}")
    cls: Any = type(node)
    return Typed(cls(this=x, expression=y), tt.BOOLEAN)


@expression(exp.NullSafeEQ, exp.NullSafeNEQ)
def _distinct(c: Compiler, node: exp.Binary, scope: Scope) -> Typed:
    a, b = c.expr(node.this, scope), c.expr(node.expression, scope)
    x, y, kind = comparable(c, a, b)
    if kind.name == "map":
        same = fn("lp_map_not_distinct", x, y)
        out = same if isinstance(node, exp.NullSafeEQ) else exp.Not(this=exp.Paren(this=same))
        return Typed(out, tt.BOOLEAN)
    cls = exp.NullSafeEQ if isinstance(node, exp.NullSafeEQ) else exp.NullSafeNEQ
    return Typed(cls(this=x, expression=y), tt.BOOLEAN)


@expression(exp.Between)
def _between(c: Compiler, node: exp.Between, scope: Scope) -> Typed:
    v, lo, hi = c.expr(node.this, scope), c.expr(node.args["low"], scope), c.expr(node.args["high"], scope)
    common = tt.common_super_type(tt.common_super_type(v.type, lo.type), hi.type)
    if _structural(common):
        raise refuse("BETWEEN on arrays", "not supported locally")
    return Typed(exp.Between(this=c.coerce(v, common), low=c.coerce(lo, common), high=c.coerce(hi, common)), tt.BOOLEAN)


@expression(exp.In)
def _in(c: Compiler, node: exp.In, scope: Scope) -> Typed:
    value = c.expr(node.this, scope)
    if node.args.get("query") is not None:
        query, columns = c.query(node.args["query"], scope)
        if len(columns) != 1:
            raise TrinoError("Multiple columns returned by subquery are not yet supported")
        common = tt.common_super_type(value.type, columns[0][1])
        return Typed(exp.In(this=c.coerce(value, common), query=query), tt.BOOLEAN)
    if node.args.get("unnest") is not None or node.args.get("field") is not None:
        raise refuse("IN UNNEST", "not supported locally")
    items = [c.expr(e, scope) for e in node.expressions]
    common = value.type
    for item in items:
        common = tt.common_super_type(common, item.type)
    if _structural(common):
        ors = [equal(c, c.coerce(value, common), c.coerce(i, common), common) for i in items]
        node_out = ors[0]
        for o in ors[1:]:
            node_out = exp.Or(this=node_out, expression=o)
        return Typed(exp.Paren(this=node_out), tt.BOOLEAN)
    return Typed(exp.In(this=c.coerce(value, common), expressions=[c.coerce(i, common) for i in items]), tt.BOOLEAN)


@expression(exp.Is)
def _is(c: Compiler, node: exp.Is, scope: Scope) -> Typed:
    value = c.expr(node.this, scope)
    target = node.expression
    if isinstance(target, exp.Null):
        return Typed(exp.Is(this=value.node, expression=exp.Null()), tt.BOOLEAN)
    if isinstance(target, exp.Boolean):
        return Typed(exp.Is(this=value.node, expression=exp.Boolean(this=target.this)), tt.BOOLEAN)
    raise refuse(node.sql(dialect="trino")[:60], "IS with this operand is not supported locally")


@expression(exp.Like, exp.Escape)
def _like(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    escape = None
    if isinstance(node, exp.Escape):
        escape = c.expr(node.expression, scope)
        node = node.this
    if not isinstance(node, exp.Like):
        raise refuse("ESCAPE", "only LIKE ... ESCAPE is supported locally")
    value, pattern = c.expr(node.this, scope), c.expr(node.expression, scope)
    for part in (value, pattern):
        if not (part.type.is_string or part.type.is_unknown):
            raise TrinoError(f"Cannot apply LIKE to {part.type}")
    like = exp.Like(this=value.node, expression=pattern.node)
    if escape is not None:
        if escape.is_const and escape.const is not None and len(escape.const) != 1:
            raise TrinoError("Escape string must be a single character")
        return Typed(exp.Escape(this=like, expression=escape.node), tt.BOOLEAN)
    return Typed(like, tt.BOOLEAN)


@expression(exp.ILike, exp.RegexpLike, exp.SimilarTo, exp.Glob)
def _not_trino(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    raise TrinoError(f"{type(node).__name__} is not Trino SQL")


@expression(exp.Not)
def _not(c: Compiler, node: exp.Not, scope: Scope) -> Typed:
    inner = c.boolean(node.this, scope)
    return Typed(exp.Not(this=exp.Paren(this=inner.node)), tt.BOOLEAN)


@expression(exp.And, exp.Or)
def _logic(c: Compiler, node: exp.Binary, scope: Scope) -> Typed:
    a, b = c.boolean(node.this, scope), c.boolean(node.expression, scope)
    cls = type(node)
    return Typed(exp.Paren(this=cls(this=a.node, expression=b.node)), tt.BOOLEAN)


# -- conditionals -----------------------------------------------------------------------------------


def unify(c: Compiler, values: list[Typed]) -> tuple[list[exp.Expression], TType]:
    common = tt.UNKNOWN
    for v in values:
        try:
            common = tt.common_super_type(common, v.type)
        except tt.TypeError_:
            raise TrinoError(f"All values must be the same type: {common} and {v.type}") from None
    if common.is_timestamp and common.has_zone:
        zones = {v.zone for v in values if v.type.has_zone}
        if len(zones) > 1:
            raise refuse("timestamps with different zones in one value", "DuckDB cannot carry the zones")
    return [c.coerce(v, common) for v in values], common


@expression(exp.Case)
def _case(c: Compiler, node: exp.Case, scope: Scope) -> Typed:
    subject = c.expr(node.this, scope) if node.this is not None else None
    conditions, results = [], []
    for branch in node.args["ifs"]:
        if subject is None:
            conditions.append(c.boolean(branch.this, scope).node)
        else:
            when = c.expr(branch.this, scope)
            x, y, kind = comparable(c, subject, when)
            conditions.append(equal(c, x, y, kind))
        results.append(c.expr(branch.args["true"], scope))
    default = node.args.get("default")
    if default is not None:
        results.append(c.expr(default, scope))
    nodes, kind = unify(c, results)
    ifs = [exp.If(this=cond, true=res) for cond, res in zip(conditions, nodes, strict=False)]
    out = exp.Case(ifs=ifs, default=nodes[-1] if default is not None else None)
    zone = next((r.zone for r in results if r.type.has_zone), "UTC")
    return Typed(out, kind, zone=zone)


@expression(exp.If)
def _if(c: Compiler, node: exp.If, scope: Scope) -> Typed:
    cond = c.boolean(node.this, scope)
    branches = [c.expr(node.args["true"], scope)]
    if node.args.get("false") is not None:
        branches.append(c.expr(node.args["false"], scope))
    nodes, kind = unify(c, branches)
    return Typed(exp.Case(ifs=[exp.If(this=cond.node, true=nodes[0])], default=nodes[1] if len(nodes) > 1 else None), kind)


# -- constructors and subscripts ----------------------------------------------------------------------


@expression(exp.Array)
def _array(c: Compiler, node: exp.Array, scope: Scope) -> Typed:
    items = [c.expr(e, scope) for e in node.expressions]
    if not items:
        return Typed(T("[]"), TType.array(tt.UNKNOWN))
    nodes, element = unify(c, items)
    if element.is_unknown:
        return Typed(exp.Array(expressions=nodes), TType.array(tt.UNKNOWN))
    return Typed(c.cast(exp.Array(expressions=nodes), TType.array(element)), TType.array(element))


@expression(exp.Tuple)
def _tuple(c: Compiler, node: exp.Tuple, scope: Scope) -> Typed:
    return row_of(c, [c.expr(e, scope) for e in node.expressions])


def row_of(c: Compiler, items: list[Typed]) -> Typed:
    kind = TType.row(tuple((None, i.type) for i in items))
    fields = [exp.PropertyEQ(this=exp.to_identifier(f"field{n}", quoted=True), expression=i.node) for n, i in enumerate(items)]
    return Typed(exp.Struct(expressions=fields), kind)


@expression(exp.Bracket)
def _subscript(c: Compiler, node: exp.Bracket, scope: Scope) -> Typed:
    base = c.expr(node.this, scope)
    if len(node.expressions) != 1:
        raise TrinoError("a subscript takes one index")
    index = c.expr(node.expressions[0], scope)
    if base.type.name == "array":
        if not (index.type.is_integer or index.type.is_unknown):
            raise TrinoError(f"Cannot use {index.type} for subscript of {base.type}")
        return Typed(fn("lp_array_subscript", base.node, c.cast(index.node, tt.BIGINT), c.flag()), base.type.element)
    if base.type.name == "map":
        # Trino binds the key type to the common super type of the map's keys and the index (a wider
        # index widens the map; it is never narrowed to the map's key type).
        try:
            common = tt.common_super_type(base.type.key, index.type)
        except tt.TypeError_:
            raise TrinoError(f"Cannot use {index.type} for subscript of {base.type}") from None
        mapped = base.node if common == base.type.key else c.coerce(base, TType.map(common, base.type.value))
        key = c.coerce(index, common)
        return Typed(fn("lp_map_subscript", mapped, key, c.cast(key.copy(), tt.VARCHAR), c.flag()), base.type.value)
    if base.type.name == "row":
        if not index.is_const or not isinstance(index.const, int):
            raise TrinoError("a row subscript must be a constant integer")
        params = base.type.params
        if not 1 <= index.const <= len(params):
            raise TrinoError(f"Invalid subscript index: {index.const}")
        name, ftype = params[index.const - 1]
        return Typed(exp.Dot(this=exp.Paren(this=base.node), expression=exp.to_identifier(name or f"field{index.const - 1}", quoted=True)), ftype)
    if base.type.is_unknown:
        return typed_const(exp.Null(), tt.UNKNOWN, None)
    raise TrinoError(f"Cannot use subscript on {base.type}")


# -- intervals ------------------------------------------------------------------------------------------

_DAY_UNITS = {"DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}


@expression(exp.Interval)
def _interval(c: Compiler, node: exp.Interval, scope: Scope) -> Typed:
    unit = node.args.get("unit")
    value = node.this
    if not isinstance(value, exp.Literal):
        raise refuse("INTERVAL", "an interval with a computed value is not supported locally")
    text = str(value.this).strip()
    if isinstance(unit, exp.IntervalSpan):
        start, end = unit.this.name.upper(), unit.expression.name.upper()
        if start == "YEAR" and end == "MONTH":
            years, _, months = text.lstrip("-").partition("-")
            total = int(years) * 12 + int(months or 0)
            total = -total if text.startswith("-") else total
            return Typed(T("to_months({0})", lit(total)), tt.INTERVAL_YM)
        if start == "DAY" and end == "SECOND":
            import re

            match = re.fullmatch(r"(-)?(\d+) (\d+):(\d+):(\d+)(?:\.(\d+))?", text)
            if not match:
                raise refuse(f"INTERVAL '{text}' DAY TO SECOND", "this interval text is not supported locally")
            sign, d, h, m, s, frac = match.groups()
            micros = ((int(d) * 24 + int(h)) * 60 + int(m)) * 60 + int(s)
            micros = micros * 1_000_000 + int((frac or "0").ljust(6, "0")[:6])
            ms = micros - micros % 1000
            return Typed(T("to_microseconds({0})", lit(-ms if sign else ms)), tt.INTERVAL_DS)
        raise refuse(f"INTERVAL {start} TO {end}", "not supported locally")
    name = unit.name.upper().rstrip("S") if unit is not None else "DAY"
    if name in ("YEAR", "MONTH"):
        count = int(text) * (12 if name == "YEAR" else 1)
        return Typed(T("to_months({0})", lit(count)), tt.INTERVAL_YM)
    if name in _DAY_UNITS or name == "MILLISECOND":
        from decimal import Decimal

        seconds = Decimal(text) * (Decimal(_DAY_UNITS[name]) if name != "MILLISECOND" else Decimal("0.001"))
        micros = int((seconds * 1_000_000).to_integral_value())
        micros -= micros % 1000 if micros >= 0 else -((-micros) % 1000)
        return Typed(T("to_microseconds({0})", exp.cast(lit(micros), "BIGINT")), tt.INTERVAL_DS)
    raise refuse(f"INTERVAL '{text}' {name}", "not supported locally")


# -- subqueries -----------------------------------------------------------------------------------------


@expression(exp.Subquery)
def _scalar_subquery(c: Compiler, node: exp.Subquery, scope: Scope) -> Typed:
    query, columns = c.query(node.this, scope)
    if len(columns) != 1:
        raise TrinoError("Multiple columns returned by subquery are not yet supported")
    return Typed(exp.Subquery(this=query), columns[0][1])


@expression(exp.Exists)
def _exists(c: Compiler, node: exp.Exists, scope: Scope) -> Typed:
    query, _ = c.query(node.this, scope)
    return Typed(exp.Exists(this=query), tt.BOOLEAN)


# -- calls: plain, aggregate (DISTINCT, ORDER BY, FILTER) and window (OVER) -------------------------------


@expression(exp.Anonymous)
def _anonymous(c: Compiler, node: exp.Anonymous, scope: Scope) -> Typed:
    return _call(c, node, scope)


def _call(c: Compiler, node: exp.Expression, scope: Scope, **kw: object) -> Typed:
    if isinstance(node, exp.GroupConcat):
        return _listagg_syntax(c, node, scope, **kw)
    if not isinstance(node, exp.Anonymous):
        return c.expr(node, scope)
    args = list(node.expressions)
    distinct = False
    order = None
    if len(args) == 1 and isinstance(args[0], exp.Order):
        order = list(args[0].expressions)
        args = [args[0].this]
    if args and isinstance(args[0], exp.Distinct):
        distinct = True
        args = list(args[0].expressions) + args[1:]
    if args and isinstance(args[-1], exp.Order) and order is None:
        order = list(args[-1].expressions)
        args = [*args[:-1], args[-1].this]
    return c.call(node.name, node, args, scope, distinct=distinct, order=order, **kw)


@expression(exp.GroupConcat)
def _group_concat(c: Compiler, node: exp.GroupConcat, scope: Scope) -> Typed:
    return _listagg_syntax(c, node, scope)


def _listagg_syntax(c: Compiler, node: exp.GroupConcat, scope: Scope, **kw: Any) -> Typed:
    """Trino's ``LISTAGG(x, sep [ON OVERFLOW ...]) WITHIN GROUP (ORDER BY ...)``, parsed by sqlglot as
    GROUP_CONCAT: the ``listagg`` aggregate with its ORDER BY (logpipe.engines.trino.aggregates)."""
    value, order, distinct = node.this, None, False
    if isinstance(value, exp.Order):
        order, value = list(value.expressions), value.this
    if isinstance(value, exp.Distinct):
        distinct, value = True, value.expressions[0]
    args = [value] if node.args.get("separator") is None else [value, node.args["separator"]]
    overflow = node.args.get("on_overflow")
    truncate = overflow is not None and not (isinstance(overflow, exp.Var) and overflow.name.upper() == "ERROR")
    typed = c.call("listagg", node, args, scope, distinct=distinct, order=order, **kw)
    # Trino fails (ON OVERFLOW ERROR, the default) or truncates past 1048576 bytes; DuckDB has no limit.
    limit = T("octet_length(encode({0})) > 1048576", typed.node)
    too_long = (fn("error", lit(f"listagg ON OVERFLOW TRUNCATE: a result over 1048576 bytes is not truncated locally; {ATHENA_ONLY}"))
                if truncate else fail(c, "Concatenated string has the length in bytes larger than the maximum output length 1048576"))
    return Typed(exp.Case(ifs=[exp.If(this=limit, true=too_long)], default=typed.node), tt.VARCHAR)


@expression(exp.Filter)
def _filter(c: Compiler, node: exp.Filter, scope: Scope) -> Typed:
    where = node.expression
    condition = where.this if isinstance(where, exp.Where) else where
    return _call(c, node.this, scope, filter=condition)


@expression(exp.Window)
def _window(c: Compiler, node: exp.Window, scope: Scope) -> Typed:
    inner = node.this
    nulls = None
    if isinstance(inner, exp.IgnoreNulls):
        nulls, inner = "IGNORE", inner.this
    elif isinstance(inner, exp.RespectNulls):
        nulls, inner = "RESPECT", inner.this
    filter_ = None
    if isinstance(inner, exp.Filter):
        where = inner.expression
        filter_ = where.this if isinstance(where, exp.Where) else where
        inner = inner.this
    if node.args.get("alias") or (isinstance(node.args.get("partition_by"), str)):
        raise refuse("named WINDOW", "named windows are not supported locally")
    window = exp.Window(
        this=exp.Null(),
        partition_by=[c.expr(p, scope).node for p in node.args.get("partition_by") or []] or None,
        order=c.order_by(node.args["order"], scope) if node.args.get("order") is not None else None,
        spec=node.args["spec"].copy() if node.args.get("spec") is not None else None,
    )
    return _call(c, inner, scope, window=window, nulls=nulls, filter=filter_)


@expression(exp.IgnoreNulls, exp.RespectNulls)
def _nulls_outside_window(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    raise TrinoError("IGNORE NULLS and RESPECT NULLS need a window function")


@expression(exp.Lambda)
def _lambda_alone(c: Compiler, node: exp.Lambda, scope: Scope) -> Typed:
    raise TrinoError("a lambda is only allowed as a function argument")


@expression(exp.Star)
def _star(c: Compiler, node: exp.Star, scope: Scope) -> Typed:
    raise TrinoError("* is only allowed in the select list or count(*)")




@expression(exp.ArrayContains)
def _array_contains(c: Compiler, node: exp.ArrayContains, scope: Scope) -> Typed:
    """``x IN (:list)`` of a list parameter, rewritten by logpipe.engines.binding to ``contains``."""
    return c.call("contains", node, [node.this, node.expression], scope)


# -- conditional functions ------------------------------------------------------------------------------


@rewrite("row")
def _row(c: Compiler, call: Call) -> Typed:
    """``ROW(a, b)``: the same anonymous row as ``(a, b)``."""
    if not call.args:
        raise TrinoError("ROW needs at least one field")
    return row_of(c, [c.expr(a, call.scope) for a in call.args])


@rewrite("coalesce")
def _coalesce(c: Compiler, call: Call) -> Typed:
    values = [c.expr(a, call.scope) for a in call.args]
    if not values:
        raise TrinoError("coalesce needs arguments")
    nodes, kind = unify(c, values)
    zone = next((v.zone for v in values if v.type.has_zone), "UTC")
    bounds = [bound for v in values if (bound := bound_of(v)) is not None]
    bound = max(bounds) if kind.is_integer and len(bounds) == len(values) else None
    return Typed(fn("coalesce", *nodes), kind, zone=zone, bound=bound)


@rewrite("nullif")
def _nullif(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("nullif takes two arguments")
    a, b = c.expr(call.args[0], call.scope), c.expr(call.args[1], call.scope)
    x, y, kind = comparable(c, a, b)
    # The first value keeps its own type; it is compared in the common type.
    return Typed(T("CASE WHEN {0} THEN NULL ELSE {1} END", equal(c, x, y, kind), a.node), a.type, zone=a.zone)


@rewrite("try")
def _try(c: Compiler, call: Call) -> Typed:
    """Trino's try(): NULL where the expression raises. The macros that raise Trino's errors take a
    ``safe`` argument (true here) and answer NULL instead; DuckDB's own errors (a division by zero)
    are avoided the same way; a refusal is never turned into a NULL."""
    if len(call.args) != 1:
        raise TrinoError("try takes one argument")
    saved = c.safe
    c.safe = True
    try:
        inner = c.expr(call.args[0], call.scope)
    finally:
        c.safe = saved
    return inner


@rewrite("typeof")
def _typeof(c: Compiler, call: Call) -> Typed:
    (value,) = [c.expr(a, call.scope) for a in call.args]
    return Typed(exp.Literal.string(str(value.type)), tt.VARCHAR)
