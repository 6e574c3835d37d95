"""Trino's array functions (and lambdas) on DuckDB.

What differs from DuckDB's list functions and is handled here: ``contains``, ``arrays_overlap`` and
the ``*_match`` functions answer NULL when a NULL element could decide the answer (DuckDB skips
NULLs); ``array_min``/``array_max`` are NULL when an element is NULL and skip NaN; ``array_distinct``
keeps the first occurrence order and one NULL; ``array_sort`` puts NULLs last and takes a comparator
lambda; ``element_at`` counts from the end for a negative index; ``slice``, ``trim_array``, ``ngrams``,
``repeat`` and ``sequence`` raise Trino's errors for bad arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.casts import cast_value
from logpipe.engines.trino.compiler import Call, Compiler, Scope, TrinoError, Typed, refuse, rewrite
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lam
from logpipe.engines.trino.types import TType

_LAMBDA_COUNTER = [0]


def compile_lambda(c: Compiler, call: Call, node: exp.Expression, param_types: Sequence[TType]) -> tuple[list[str], Typed]:
    """A Trino lambda as DuckDB lambda parameter names and its compiled, typed body."""
    if not isinstance(node, exp.Lambda):
        raise TrinoError(f"{call.name}: expected a lambda expression")
    params = [i.name for i in node.expressions]
    if len(params) != len(param_types):
        raise TrinoError(f"{call.name}: the lambda takes {len(param_types)} arguments, it declares {len(params)}")
    scope = call.scope.child({p.lower(): t for p, t in zip(params, param_types, strict=True)})
    body = c.expr(node.this, scope)
    _LAMBDA_COUNTER[0] += 1
    names = [f"_l{_LAMBDA_COUNTER[0]}_{i}" for i in range(len(params))]
    renamed = rename_columns(body.node, {p.lower(): exp.column(n) for p, n in zip(params, names, strict=True)})
    return names, Typed(renamed, body.type, body.const, body.is_const)


def rename_columns(node: exp.Expression, mapping: dict[str, exp.Expression]) -> exp.Expression:
    def swap(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name.lower() in mapping:
            return mapping[n.name.lower()].copy()
        return n

    return node.copy().transform(swap)


def array_arg(c: Compiler, call: Call, value: Typed) -> Typed:
    if value.type.is_unknown:
        return Typed(exp.cast(exp.Null(), "INTEGER[]"), TType.array(tt.UNKNOWN))
    if value.type.name != "array":
        raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}")
    return value


def _element(kind: TType) -> TType:
    return kind.element if kind.name == "array" else tt.UNKNOWN


def _common_arrays(c: Compiler, call: Call, a: Typed, b: Typed) -> tuple[exp.Expression, exp.Expression, TType]:
    a, b = array_arg(c, call, a), array_arg(c, call, b)
    try:
        kind = tt.common_super_type(a.type, b.type)
    except tt.TypeError_:
        raise TrinoError(f"Unexpected parameters ({a.type}, {b.type}) for function {call.name}") from None
    return c.coerce(a, kind), c.coerce(b, kind), kind


# -- lambdas ------------------------------------------------------------------------------------------


@rewrite("transform")
def _transform(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("transform takes an array and a lambda")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    names, body = compile_lambda(c, call, call.args[1], [_element(a.type)])
    return Typed(fn("list_transform", a, lam(names, body)), TType.array(body.type))


@rewrite("filter")
def _filter(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError("filter takes an array and a lambda")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    names, body = compile_lambda(c, call, call.args[1], [_element(a.type)])
    if body.type.name not in ("boolean", "unknown"):
        raise TrinoError("filter: the lambda must return a boolean")
    return Typed(fn("list_filter", a, lam(names, body)), a.type)


@rewrite("any_match", "all_match", "none_match")
def _match(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 2:
        raise TrinoError(f"{call.name} takes an array and a lambda")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    names, body = compile_lambda(c, call, call.args[1], [_element(a.type)])
    if body.type.name not in ("boolean", "unknown"):
        raise TrinoError(f"{call.name}: the lambda must return a boolean, not {body.type}")
    if body.type.is_unknown:
        body = Typed(c.cast(body.node, tt.BOOLEAN), tt.BOOLEAN)
    results = fn("list_transform", a, lam(names, body))
    template = {
        "any_match": "CASE WHEN {0} IS NULL THEN NULL WHEN list_bool_or(list_transform({1}, lambda _r: coalesce(_r, false))) THEN true "
                     "WHEN len(list_filter({1}, lambda _r: _r IS NULL)) > 0 THEN NULL ELSE false END",
        "all_match": "CASE WHEN {0} IS NULL THEN NULL WHEN list_bool_or(list_transform({1}, lambda _r: _r IS NOT DISTINCT FROM false)) THEN false "
                     "WHEN len(list_filter({1}, lambda _r: _r IS NULL)) > 0 THEN NULL ELSE true END",
        "none_match": "CASE WHEN {0} IS NULL THEN NULL WHEN list_bool_or(list_transform({1}, lambda _r: coalesce(_r, false))) THEN false "
                      "WHEN len(list_filter({1}, lambda _r: _r IS NULL)) > 0 THEN NULL ELSE true END",
    }[call.name]
    return Typed(T(template, a, results), tt.BOOLEAN)


@rewrite("reduce")
def _reduce(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 4:
        raise TrinoError("reduce takes an array, an initial state and two lambdas")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    initial = c.expr(call.args[1], call.scope)
    state = initial.type if not initial.type.is_unknown else tt.UNKNOWN
    names, step = compile_lambda(c, call, call.args[2], [state, _element(a.type)])
    if not step.type.is_unknown and step.type != state:
        try:
            state = tt.common_super_type(state, step.type)
        except tt.TypeError_:
            raise TrinoError("reduce: the lambda's result does not match the state") from None
        names, step = compile_lambda(c, call, call.args[2], [state, _element(a.type)])
    out_names, output = compile_lambda(c, call, call.args[3], [state])
    start = c.coerce(initial, state)
    step_node = c.coerce(step, state)
    reduced = fn("list_reduce", a, lam(names, step_node), start)
    result = rename_columns(output.node, {out_names[0]: exp.Paren(this=reduced)})
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", a, result), output.type)


@rewrite("zip_with")
def _zip_with(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 3:
        raise TrinoError("zip_with takes two arrays and a lambda")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    b = array_arg(c, call, c.expr(call.args[1], call.scope))
    names, body = compile_lambda(c, call, call.args[2], [_element(a.type), _element(b.type)])
    pair = f"_z{names[0]}"
    inner = rename_columns(body.node, {names[0]: T(f"struct_extract({pair}, 1)"), names[1]: T(f"struct_extract({pair}, 2)")})
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE list_transform(list_zip({0}, {1}), {2}) END",
             a, b, lam(pair, inner))
    return Typed(node, TType.array(body.type))


@rewrite("array_sort")
def _array_sort(c: Compiler, call: Call) -> Typed:
    if len(call.args) == 1:
        (a,) = args_of(c, call, 1)
        a = array_arg(c, call, a)
        _orderable(call, a.type.element)
        return Typed(T("list_sort({0}, 'ASC', 'NULLS LAST')", a), a.type)
    if len(call.args) != 2:
        raise TrinoError("array_sort takes an array and an optional comparator")
    a = array_arg(c, call, c.expr(call.args[0], call.scope))
    names, cmp = compile_lambda(c, call, call.args[1], [_element(a.type), _element(a.type)])
    if not cmp.type.is_integer:
        raise TrinoError("array_sort: the comparator must return an integer")
    # A stable insertion sort (what Java's stable sort gives for a consistent comparator): each element
    # goes after the elements that compare <= 0 with it.
    acc, x, e = f"_acc{names[0]}", f"_x{names[0]}", f"_e{names[0]}"
    compare = rename_columns(cmp.node, {names[0]: exp.column(e), names[1]: exp.column(x)})
    checked = T("CASE WHEN {0} IN (-1, 0, 1) THEN {0} ELSE error('Lambda comparator must return either -1, 0, or 1') END", compare)
    count = T(f"len(list_filter({acc}, {{0}}))", lam(e, T("{0} <= 0", checked)))
    insert = T(f"list_concat(list_slice({acc}, 1, {{0}}), [{x}], list_slice({acc}, {{0}} + 1, len({acc})))", count)
    empty = c.cast(T("[]"), a.type)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE list_reduce({0}, {1}, {2}) END", a, lam([acc, x], insert), empty), a.type)


def _orderable(call: Call, kind: TType) -> None:
    if kind.name in ("map", "json") or (kind.name == "row" and any(t.name == "map" for _, t in kind.params)):
        raise TrinoError(f"{call.name}: {kind} is not orderable")


# -- membership ----------------------------------------------------------------------------------------


@rewrite("contains")
def _contains(c: Compiler, call: Call) -> Typed:
    a, x = args_of(c, call, 2)
    a = array_arg(c, call, a)
    try:
        element = tt.common_super_type(_element(a.type), x.type)
    except tt.TypeError_:
        raise TrinoError(f"Unexpected parameters ({a.type}, {x.type}) for function contains") from None
    arr, value = c.coerce(a, TType.array(element)), c.coerce(x, element)
    node = fn("lp_contains", arr, value)
    if element.name == "array":
        node = T("CASE WHEN lp_has_null({0}) THEN {1} ELSE {2} END", value,
                 fail(c, "contains does not support arrays with elements that are null or contain null"), node)
    return Typed(node, tt.BOOLEAN)


@rewrite("array_position")
def _array_position(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    a, x = array_arg(c, call, args[0]), args[1]
    element = tt.common_super_type(_element(a.type), x.type)
    arr, value = c.coerce(a, TType.array(element)), c.coerce(x, element)
    if len(args) == 2:
        return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE CAST(coalesce(list_position({0}, {1}), 0) AS BIGINT) END",
                       arr, value), tt.BIGINT)
    n = c.cast(args[2].node, tt.BIGINT)
    positions = T("list_filter(range(1, len({0}) + 1), lambda _i: list_extract({0}, _i) = {1})", arr, value)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL WHEN {2} = 0 THEN {4} "
             "ELSE CAST(coalesce({3}[{2}], 0) AS BIGINT) END", arr, value, n, positions,
             fail(c, "array_position cannot take a 0-valued instance argument."))
    return Typed(node, tt.BIGINT)


@rewrite("arrays_overlap")
def _arrays_overlap(c: Compiler, call: Call) -> Typed:
    a, b = args_of(c, call, 2)
    x, y, _ = _common_arrays(c, call, a, b)
    return Typed(fn("lp_arrays_overlap", x, y), tt.BOOLEAN)


@rewrite("array_distinct")
def _array_distinct(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    a = array_arg(c, call, a)
    return Typed(fn("lp_array_distinct", a), a.type)


@rewrite("array_intersect")
def _array_intersect(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (1, 2))
    if len(args) == 1:
        raise refuse("array_intersect(array(array))", "not supported locally")
    x, y, kind = _common_arrays(c, call, args[0], args[1])
    # Trino walks the longer array (the first on a tie) and keeps its order.
    return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL "
                   "WHEN len({1}) > len({0}) THEN lp_array_distinct(list_filter({1}, lambda _ie: lp_contains_distinct({0}, _ie))) "
                   "ELSE lp_array_distinct(list_filter({0}, lambda _ie: lp_contains_distinct({1}, _ie))) END", x, y), kind)


@rewrite("array_except")
def _array_except(c: Compiler, call: Call) -> Typed:
    a, b = args_of(c, call, 2)
    x, y, kind = _common_arrays(c, call, a, b)
    return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL "
                   "ELSE lp_array_distinct(list_filter({0}, lambda _ie: NOT lp_contains_distinct({1}, _ie))) END", x, y), kind)


@rewrite("array_union")
def _array_union(c: Compiler, call: Call) -> Typed:
    a, b = args_of(c, call, 2)
    x, y, kind = _common_arrays(c, call, a, b)
    # DuckDB's list_concat skips a NULL list; Trino's union of a NULL is NULL.
    return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE lp_array_distinct(list_concat({0}, {1})) END", x, y), kind)


@rewrite("array_remove")
def _array_remove(c: Compiler, call: Call) -> Typed:
    a, x = args_of(c, call, 2)
    a = array_arg(c, call, a)
    element = tt.common_super_type(_element(a.type), x.type)
    arr, value = c.coerce(a, TType.array(element)), c.coerce(x, element)
    return Typed(T("CASE WHEN {1} IS NULL THEN NULL ELSE list_filter({0}, lambda _e: _e IS NULL OR _e <> {1}) END", arr, value),
                 TType.array(element))


# -- aggregates of an array --------------------------------------------------------------------------------


@rewrite("array_min", "array_max")
def _array_min_max(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    a = array_arg(c, call, a)
    element = _element(a.type)
    _orderable(call, element)
    name = "list_min" if call.name == "array_min" else "list_max"
    if element.is_floating:
        # NaN is skipped, unless every element is NaN.
        body = T(f"coalesce({name}(list_filter({{0}}, lambda _e: NOT isnan(_e))), CASE WHEN len({{0}}) > 0 THEN CAST('NaN' AS DOUBLE) END)", a)
        body = c.cast(body, element)
    else:
        body = fn(name, a)
    return Typed(T("CASE WHEN {0} IS NULL OR len(list_filter({0}, lambda _e: _e IS NULL)) > 0 THEN NULL ELSE {1} END", a, body),
                 element)


@rewrite("array_join")
def _array_join(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    a = array_arg(c, call, args[0])
    element = _element(a.type)
    text = cast_value(c, Typed(exp.column("_e"), element), tt.VARCHAR, safe=False) if not element.is_unknown else exp.Null()
    texts = T("list_transform({0}, lambda _e: {1})", a, text)
    sep = c.coerce(args[1], tt.VARCHAR)
    if len(args) == 3:
        replacement = c.coerce(args[2], tt.VARCHAR)
        body = T("array_to_string(list_transform({0}, lambda _t: coalesce(_t, {1})), {2})", texts, replacement, sep)
        return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL ELSE {3} END", a, sep, replacement, body), tt.VARCHAR)
    body = T("array_to_string(list_filter({0}, lambda _t: _t IS NOT NULL), {1})", texts, sep)
    return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE {2} END", a, sep, body), tt.VARCHAR)


@rewrite("array_histogram")
def _array_histogram(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    a = array_arg(c, call, a)
    element = _element(a.type)
    keys = T("lp_array_distinct(list_filter({0}, lambda _e: _e IS NOT NULL))", a)
    counts = T("list_transform({0}, lambda _k: CAST(len(list_filter({1}, lambda _e: _e = _k)) AS BIGINT))", keys, a)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE map({1}, {2}) END", a, keys, counts), TType.map(element, tt.BIGINT))


@rewrite("euclidean_distance", "dot_product")
def _vector(c: Compiler, call: Call) -> Typed:
    a, b = args_of(c, call, 2)
    x = c.coerce(array_arg(c, call, a), TType.array(tt.DOUBLE))
    y = c.coerce(array_arg(c, call, b), TType.array(tt.DOUBLE))
    products = "list_transform(list_zip({0}, {1}), lambda _p: struct_extract(_p, 1) * struct_extract(_p, 2))" if call.name == "dot_product" else \
        "list_transform(list_zip({0}, {1}), lambda _p: (struct_extract(_p, 1) - struct_extract(_p, 2)) * (struct_extract(_p, 1) - struct_extract(_p, 2)))"
    total = T(f"list_sum({products})", x, y)
    if call.name == "euclidean_distance":
        total = T("sqrt({0})", total)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN len({0}) <> len({1}) THEN {3} "
             "WHEN len(list_filter(list_concat({0}, {1}), lambda _e: _e IS NULL)) > 0 THEN {4} ELSE {2} END",
             x, y, total, fail(c, "The arguments must have the same length"),
             fail(c, "Vectors must not contain nulls"))
    return Typed(node, tt.DOUBLE)


# -- shape -------------------------------------------------------------------------------------------


@rewrite("cardinality")
def _cardinality(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    if a.type.name not in ("array", "map") and not a.type.is_unknown:
        raise TrinoError(f"Unexpected parameters ({a.type}) for function cardinality")
    return Typed(T("CAST(len({0}) AS BIGINT)" if a.type.name != "map" else "CAST(cardinality({0}) AS BIGINT)", a), tt.BIGINT)


@rewrite("element_at")
def _element_at(c: Compiler, call: Call) -> Typed:
    a, i = args_of(c, call, 2)
    if a.type.name == "map":
        key = c.coerce(i, a.type.key)
        return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE map_extract_value({0}, {1}) END", a, key), a.type.value)
    a = array_arg(c, call, a)
    if not (i.type.is_integer or i.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({a.type}, {i.type}) for function element_at")
    index = c.cast(i.node, tt.BIGINT)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN {1} = 0 THEN {2} "
             "WHEN abs({1}) > len({0}) THEN NULL ELSE list_extract({0}, {1}) END", a, index, fail(c, "SQL array indices start at 1"))
    return Typed(node, _element(a.type))


@rewrite("slice")
def _slice(c: Compiler, call: Call) -> Typed:
    a, start, length = args_of(c, call, 3)
    a = array_arg(c, call, a)
    s, n = c.cast(start.node, tt.BIGINT), c.cast(length.node, tt.BIGINT)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL "
             "WHEN {1} = 0 THEN {3} WHEN {2} < 0 THEN {4} "
             "WHEN {1} > 0 THEN list_slice({0}, {1}, {1} + {2} - 1) "
             "WHEN -{1} > len({0}) THEN list_slice({0}, 1, 0) "
             "ELSE list_slice({0}, len({0}) + {1} + 1, len({0}) + {1} + {2}) END",
             a, s, n, fail(c, "SQL array indices start at 1"), fail(c, "length must be greater than or equal to 0"))
    return Typed(node, a.type)


@rewrite("trim_array")
def _trim_array(c: Compiler, call: Call) -> Typed:
    a, size = args_of(c, call, 2)
    a = array_arg(c, call, a)
    n = c.cast(size.node, tt.BIGINT)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN {1} < 0 OR {1} > len({0}) THEN {2} "
             "ELSE list_slice({0}, 1, len({0}) - {1}) END",
             a, n, fail(c, T("'size must not be negative or greater than the array length: ' || CAST({0} AS VARCHAR)", n)))
    return Typed(node, a.type)


@rewrite("ngrams")
def _ngrams(c: Compiler, call: Call) -> Typed:
    a, size = args_of(c, call, 2)
    a = array_arg(c, call, a)
    n = c.cast(size.node, tt.BIGINT)
    grams = T("list_transform(range(1, greatest(len({0}) - {1} + 1, 0) + 1), lambda _i: list_slice({0}, _i, _i + {1} - 1))", a, n)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN {1} <= 0 THEN {2} "
             "WHEN {1} > len({0}) THEN [{0}] ELSE {3} END", a, n, fail(c, "N must be positive"), grams)
    return Typed(node, TType.array(a.type))


@rewrite("flatten")
def _flatten(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    a = array_arg(c, call, a)
    if _element(a.type).name != "array":
        raise TrinoError(f"Unexpected parameters ({a.type}) for function flatten")
    return Typed(T("flatten(list_filter({0}, lambda _e: _e IS NOT NULL))", a), _element(a.type))


@rewrite("repeat")
def _repeat(c: Compiler, call: Call) -> Typed:
    x, count = args_of(c, call, 2)
    n = c.cast(count.node, tt.BIGINT)
    element = x.type
    node = T("CASE WHEN {1} IS NULL THEN NULL WHEN {1} < 0 THEN {2} WHEN {1} > 10000 THEN {3} "
             "ELSE list_transform(range({1}), lambda _i: {0}) END", x, n,
             fail(c, "count argument of repeat function must be greater than or equal to 0"),
             fail(c, "count argument of repeat function must be less than or equal to 10000"))
    return Typed(c.cast(node, TType.array(element)) if not element.is_unknown else node, TType.array(element))


@rewrite("sequence")
def _sequence(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    if not all(a.type.is_integer or a.type.is_unknown for a in args):
        raise refuse("sequence of dates or timestamps", "not supported locally")
    start, stop = c.cast(args[0].node, tt.BIGINT), c.cast(args[1].node, tt.BIGINT)
    step = c.cast(args[2].node, tt.BIGINT) if len(args) == 3 else T("CASE WHEN {0} <= {1} THEN 1 ELSE -1 END", start, stop)
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL WHEN {2} = 0 THEN {3} "
             "WHEN ({2} > 0 AND {0} > {1}) OR ({2} < 0 AND {0} < {1}) THEN {4} "
             "WHEN ({1} - {0}) // {2} + 1 > 10000 THEN {5} ELSE generate_series({0}, {1}, {2}) END",
             start, stop, step, fail(c, "step must not be zero"),
             fail(c, "sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start"),
             fail(c, "result of sequence function must not have more than 10000 entries"))
    return Typed(node, TType.array(tt.BIGINT))


@rewrite("combinations")
def _combinations(c: Compiler, call: Call) -> Typed:
    a, size = args_of(c, call, 2)
    a = array_arg(c, call, a)
    known, k = c.known(size)
    if not known or k is None or not 0 <= int(k) <= 5:
        raise refuse("combinations(array, n)", "n must be a literal from 0 to 5 to run locally")
    k = int(k)
    if k == 0:
        return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE [[]] END", a), TType.array(a.type))
    # Index tuples i1 < i2 < ... < ik in Trino's order (the last index varies fastest).
    tuples = "[[_i1]]" if k == 1 else None
    expr = "list_transform(range(1, len({0}) + 1), lambda _i1: [_i1])"
    for level in range(2, k + 1):
        expr = (f"flatten(list_transform({expr}, lambda _t{level}: list_transform(range(list_extract(_t{level}, -1) + 1, len({{0}}) + 1), "
                f"lambda _j{level}: list_append(_t{level}, _j{level}))))")
    del tuples
    combos = T(f"list_transform(list_filter({expr}, lambda _t: len(_t) = {k}), lambda _t: list_transform(_t, lambda _x: list_extract({{0}}, _x)))", a)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", a, combos), TType.array(a.type))


@rewrite("zip")
def _zip(c: Compiler, call: Call) -> Typed:
    args = [array_arg(c, call, a) for a in args_of(c, call)]
    if len(args) < 2:
        raise TrinoError("zip takes two or more arrays")
    kind = TType.row(tuple((None, _element(a.type)) for a in args))
    longest = T("greatest(" + ", ".join(f"len({{{i}}})" for i in range(len(args))) + ")", *args)
    fields = ", ".join(f"'field{i}': list_extract({{{i}}}, _i)" for i in range(len(args)))
    node = T(f"list_transform(range(1, {{{len(args)}}} + 1), lambda _i: {{{fields}}})", *args, longest)
    nulls = exp.or_(*[exp.Is(this=a.node.copy(), expression=exp.Null()) for a in args])
    return Typed(T("CASE WHEN {0} THEN NULL ELSE {1} END", nulls, c.cast(node, TType.array(kind))), TType.array(kind))


@rewrite("shuffle")
def _shuffle(c: Compiler, call: Call) -> Typed:
    raise refuse("shuffle()", "a random order cannot match Athena's")


_ = Scope
