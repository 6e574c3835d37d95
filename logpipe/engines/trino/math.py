"""Trino's math functions on DuckDB, with Trino's result types.

The type rules are Trino's: ``round``/``ceil``/``floor`` keep an integer's type and give a decimal
``decimal(p - s + min(s, 1), 0)``; ``round(decimal(p, s), n)`` is ``decimal(p + 1, s)``; ``mod`` of
decimals has the scale of the wider operand. Rounding is half away from zero (DuckDB's CAST rounds
half to even, so every rounding is explicit), an integer rounded past its range is an error, and
``greatest``/``least`` are NULL when an argument is NULL (DuckDB skips NULLs).
"""

from __future__ import annotations

import math

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, refuse, rewrite
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lit
from logpipe.engines.trino.operators import arithmetic, unify
from logpipe.engines.trino.types import TType


def numbers(c: Compiler, call: Call, count: int | tuple[int, ...]) -> list[Typed]:
    args = args_of(c, call, count)
    for a in args:
        if not (a.type.is_numeric or a.type.is_unknown):
            raise TrinoError(f"Unexpected parameters ({a.type}) for function {call.name}")
    return args


def as_double(c: Compiler, value: Typed) -> exp.Expression:
    return c.cast(value.node, tt.DOUBLE)


def _one_kind(value: Typed, default: TType = tt.DOUBLE) -> TType:
    return default if value.type.is_unknown else value.type


def _rounded_decimal(kind: TType) -> TType:
    return TType.decimal(max(1, kind.precision - kind.scale + min(kind.scale, 1)), 0)


# -- rounding ---------------------------------------------------------------------------------------------


@rewrite("abs")
def _abs(c: Compiler, call: Call) -> Typed:
    (x,) = numbers(c, call, 1)
    kind = _one_kind(x)
    if kind.is_integer:
        return Typed(T("CASE WHEN {0} < 0 THEN {1} ELSE {0} END", x, c.cast(T("-{0}", x), kind)), kind)
    return Typed(c.cast(fn("abs", c.coerce(x, kind)), kind), kind)


@rewrite("ceil", "ceiling", "floor")
def _ceil_floor(c: Compiler, call: Call) -> Typed:
    (x,) = numbers(c, call, 1)
    kind = _one_kind(x)
    name = "floor" if call.name == "floor" else "ceil"
    if kind.is_integer:
        return Typed(x.node, kind)
    if kind.is_decimal:
        result = _rounded_decimal(kind)
        return Typed(c.cast(fn(name, x), result), result)
    return Typed(c.cast(fn(name, c.coerce(x, kind)), kind), kind)


def _round_integer(c: Compiler, x: Typed, kind: TType, digits: exp.Expression) -> exp.Expression:
    wide = T("CAST({0} AS HUGEINT)", x)
    factor = T("lp_pow10(-{0})", digits)
    rounded = T("sign({0}) * (((abs({0}) + ({1} // 2)) // {1}) * {1})", wide, factor)
    return T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN {1} >= 0 THEN {0} "
             "WHEN {1} < -38 THEN {3} ELSE {2} END",
             x, digits, c.cast(rounded, kind), c.cast(lit(0), kind))


@rewrite("round")
def _round(c: Compiler, call: Call) -> Typed:
    args = numbers(c, call, (1, 2))
    x = args[0]
    kind = _one_kind(x)
    if len(args) == 2 and not (args[1].type.is_integer or args[1].type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({kind}, {args[1].type}) for function round")
    digits = c.cast(args[1].node, tt.BIGINT) if len(args) == 2 else None
    if len(args) == 2 and args[1].is_const and args[1].const is None:
        # round(x, NULL) is NULL (DuckDB refuses a NULL precision when it binds the call).
        result = TType.decimal(min(38, kind.precision + 1), kind.scale) if kind.is_decimal else kind
        return Typed(c.cast(exp.Null(), result), result)
    if kind.is_integer:
        return Typed(x.node if digits is None else _round_integer(c, x, kind, digits), kind)
    if kind.is_decimal:
        if digits is None:
            result = _rounded_decimal(kind)
            return Typed(c.cast(fn("round", x), result), result)
        result = TType.decimal(min(38, kind.precision + 1), kind.scale)
        return Typed(c.cast(fn("round", c.cast(x.node, result), T("CAST({0} AS INTEGER)", digits)), result), result)
    value = c.coerce(x, kind)
    if digits is None:
        return Typed(c.cast(fn("round", value), kind), kind)
    return Typed(c.cast(fn("round", c.cast(value, tt.DOUBLE), T("CAST({0} AS INTEGER)", digits)), kind), kind)


@rewrite("truncate")
def _truncate(c: Compiler, call: Call) -> Typed:
    args = numbers(c, call, (1, 2))
    x = args[0]
    kind = _one_kind(x)
    if kind.is_integer:
        raise TrinoError(f"Unexpected parameters ({kind}) for function truncate")
    if kind.is_decimal:
        if len(args) == 1:
            result = TType.decimal(max(1, kind.precision - kind.scale), 0)
            return Typed(c.cast(fn("trunc", x), result), result)
        digits = c.cast(args[1].node, tt.INTEGER)
        return Typed(c.cast(T("trunc({0} * (10 ** {1})) / (10 ** {1})", c.cast(x.node, TType.decimal(38, kind.scale)), digits), kind), kind)
    if len(args) == 2:
        digits = c.cast(args[1].node, tt.INTEGER)
        return Typed(c.cast(T("trunc({0} * (10 ** {1})) / (10 ** {1})", as_double(c, x), digits), kind), kind)
    return Typed(c.cast(fn("trunc", c.coerce(x, kind)), kind), kind)


@rewrite("sign")
def _sign(c: Compiler, call: Call) -> Typed:
    (x,) = numbers(c, call, 1)
    kind = _one_kind(x)
    if kind.is_decimal:
        return Typed(c.cast(fn("sign", x), TType.decimal(1, 0)), TType.decimal(1, 0))
    if kind.is_floating:
        return Typed(c.cast(T("CASE WHEN isnan({0}) THEN {0} ELSE sign({0}) END", c.coerce(x, kind)), kind), kind)
    return Typed(c.cast(fn("sign", x), kind), kind)


@rewrite("mod")
def _mod(c: Compiler, call: Call) -> Typed:
    a, b = numbers(c, call, 2)
    common = tt.common_super_type(_one_kind(a, tt.INTEGER), _one_kind(b, tt.INTEGER))
    if common.is_floating:
        return Typed(c.cast(T("({0} % {1})", as_double(c, a), as_double(c, b)), common), common)
    return arithmetic(c, "%", a, b)


# -- functions of doubles ---------------------------------------------------------------------------------

_DOUBLE_FUNCTIONS = {
    "sqrt": "sqrt", "cbrt": "cbrt", "exp": "exp", "ln": "ln", "log2": "log2", "log10": "log10", "sin": "sin",
    "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "degrees": "degrees", "radians": "radians",
}


@rewrite(*_DOUBLE_FUNCTIONS)
def _double_function(c: Compiler, call: Call) -> Typed:
    (x,) = numbers(c, call, 1)
    v = as_double(c, x)
    name = _DOUBLE_FUNCTIONS[call.name]
    # Java's Math answers NaN where DuckDB raises (sqrt(-1), ln(0) is -Infinity in both).
    if name in ("sqrt",):
        return Typed(T("CASE WHEN {0} < 0 THEN CAST('NaN' AS DOUBLE) ELSE sqrt({0}) END", v), tt.DOUBLE)
    if name in ("ln", "log2", "log10"):
        return Typed(T(f"CASE WHEN {{0}} < 0 THEN CAST('NaN' AS DOUBLE) WHEN {{0}} = 0 THEN CAST('-Infinity' AS DOUBLE) ELSE {name}({{0}}) END", v), tt.DOUBLE)
    if name in ("asin", "acos"):
        return Typed(T(f"CASE WHEN abs({{0}}) > 1 THEN CAST('NaN' AS DOUBLE) ELSE {name}({{0}}) END", v), tt.DOUBLE)
    return Typed(fn(name, v), tt.DOUBLE)


@rewrite("log")
def _log(c: Compiler, call: Call) -> Typed:
    b, x = numbers(c, call, 2)
    return Typed(T("ln({1}) / ln({0})", as_double(c, b), as_double(c, x)), tt.DOUBLE)


@rewrite("power", "pow")
def _power(c: Compiler, call: Call) -> Typed:
    a, b = numbers(c, call, 2)
    return Typed(fn("pow", as_double(c, a), as_double(c, b)), tt.DOUBLE)


@rewrite("atan2")
def _atan2(c: Compiler, call: Call) -> Typed:
    a, b = numbers(c, call, 2)
    return Typed(fn("atan2", as_double(c, a), as_double(c, b)), tt.DOUBLE)


@rewrite("pi", "e", "nan", "infinity")
def _constant(c: Compiler, call: Call) -> Typed:
    args_of(c, call, 0)
    value = {"pi": math.pi, "e": math.e}.get(call.name)
    if value is not None:
        return Typed(exp.cast(lit(repr(value)), "DOUBLE"), tt.DOUBLE)
    return Typed(exp.cast(lit("NaN" if call.name == "nan" else "Infinity"), "DOUBLE"), tt.DOUBLE)


@rewrite("is_nan", "is_finite", "is_infinite")
def _is_special(c: Compiler, call: Call) -> Typed:
    (x,) = numbers(c, call, 1)
    name = {"is_nan": "isnan", "is_finite": "isfinite", "is_infinite": "isinf"}[call.name]
    return Typed(fn(name, as_double(c, x)), tt.BOOLEAN)


@rewrite("rand", "random")
def _rand(c: Compiler, call: Call) -> Typed:
    args = numbers(c, call, (0, 1, 2))
    if not args:
        return Typed(fn("random"), tt.DOUBLE)
    for a in args:
        if not (a.type.is_integer or a.type.is_unknown):
            raise TrinoError(f"Unexpected parameters ({a.type}) for function {call.name}")
    kind = args[-1].type if not args[-1].type.is_unknown else tt.INTEGER
    if len(args) == 1:
        n = c.cast(args[0].node, tt.BIGINT)
        node = T("CASE WHEN {0} <= 0 THEN {1} ELSE {2} END", n,
                 fail(c, "bound must be positive"), c.cast(T("floor(random() * {0})", n), kind))
        return Typed(node, kind)
    lo, hi = c.cast(args[0].node, tt.BIGINT), c.cast(args[1].node, tt.BIGINT)
    node = T("CASE WHEN {0} >= {1} THEN {2} ELSE {3} END", lo, hi,
             fail(c, "start value must be less than stop value"), c.cast(T("{0} + floor(random() * ({1} - {0}))", lo, hi), kind))
    return Typed(node, kind)


def _integer(call: Call, value: Typed, what: str) -> None:
    """Trino coerces only the integer types to a BIGINT parameter (a DOUBLE or DECIMAL is an error)."""
    if not (value.type.is_integer or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}: the {what} must be an integer")


@rewrite("width_bucket")
def _width_bucket(c: Compiler, call: Call) -> Typed:
    """Trino's MathFunctions.widthBucket: ``(x, bound1, bound2, n)`` with its checks in its order, and
    ``(x, bins)`` by its binary search over an ``array(double)`` (macros lp_width_bucket*)."""
    if len(call.args) == 2:
        x, bins = args_of(c, call, 2)
        if not (x.type.is_numeric or x.type.is_unknown):
            raise TrinoError(f"Unexpected parameters ({x.type}, {bins.type}) for function width_bucket")
        if bins.type.name != "array" or not (bins.type.element.is_numeric or bins.type.element.is_unknown):
            raise TrinoError(f"Unexpected parameters ({x.type}, {bins.type}) for function width_bucket")
        node = fn("lp_width_bucket_bins", as_double(c, x), c.cast(bins.node, TType.array(tt.DOUBLE)), c.flag())
        return Typed(node, tt.BIGINT)
    x, lo, hi, n = numbers(c, call, 4)
    _integer(call, n, "bucket count")
    node = fn("lp_width_bucket", as_double(c, x), as_double(c, lo), as_double(c, hi), c.cast(n.node, tt.BIGINT), c.flag())
    return Typed(node, tt.BIGINT)


# -- bases and bits --------------------------------------------------------------------------------------


@rewrite("from_base")
def _from_base(c: Compiler, call: Call) -> Typed:
    """Java's Long.parseLong(value, radix) (macro lp_from_base), with Trino's radix check."""
    s, radix = args_of(c, call, 2)
    if not (s.type.is_string or s.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({s.type}, {radix.type}) for function from_base")
    _integer(call, radix, "radix")
    return Typed(fn("lp_from_base", c.coerce(s, tt.VARCHAR), c.cast(radix.node, tt.BIGINT), c.flag()), tt.BIGINT)


@rewrite("to_base")
def _to_base(c: Compiler, call: Call) -> Typed:
    """Java's Long.toString(value, radix): lowercase digits (macro lp_to_base); varchar(64) in Trino."""
    x, radix = numbers(c, call, 2)
    _integer(call, x, "value")
    _integer(call, radix, "radix")
    return Typed(fn("lp_to_base", c.cast(x.node, tt.BIGINT), c.cast(radix.node, tt.BIGINT), c.flag()), TType.varchar(64))


@rewrite("bitwise_and", "bitwise_or", "bitwise_xor")
def _bitwise(c: Compiler, call: Call) -> Typed:
    a, b = numbers(c, call, 2)
    op = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "xor"}[call.name]
    x, y = c.cast(a.node, tt.BIGINT), c.cast(b.node, tt.BIGINT)
    node = fn("xor", x, y) if op == "xor" else T(f"({{0}} {op} {{1}})", x, y)
    return Typed(node, tt.BIGINT)


@rewrite("bitwise_not")
def _bitwise_not(c: Compiler, call: Call) -> Typed:
    (a,) = numbers(c, call, 1)
    return Typed(T("~{0}", c.cast(a.node, tt.BIGINT)), tt.BIGINT)


@rewrite("bit_count")
def _bit_count(c: Compiler, call: Call) -> Typed:
    x, bits = numbers(c, call, 2)
    known, width = c.known(bits)
    if not known or width not in (64,):
        raise refuse("bit_count(x, bits)", "only 64 bits are supported locally")
    return Typed(T("CAST(bit_count({0}) AS BIGINT)", c.cast(x.node, tt.BIGINT)), tt.BIGINT)


# -- comparisons of many values -------------------------------------------------------------------------


@rewrite("greatest", "least")
def _greatest_least(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call)
    if not args:
        raise TrinoError(f"{call.name} needs arguments")
    nodes, kind = unify(c, args)
    if kind.name in ("map", "json") or (kind.name == "array" and kind.element.name in ("map", "json")):
        raise TrinoError(f"{call.name} is not defined for {kind}")
    any_null = exp.or_(*[exp.Is(this=n.copy(), expression=exp.Null()) for n in nodes])
    body = fn(call.name, *nodes)
    if kind.is_floating:
        nan = exp.or_(*[fn("isnan", n.copy()) for n in nodes])
        body = T("CASE WHEN {0} THEN {1} ELSE {2} END", nan, fail(c, f"Invalid argument to {call.name}(): NaN"), body)
    return Typed(T("CASE WHEN {0} THEN NULL ELSE {1} END", any_null, body), kind)
