"""The compiler from a parsed Athena statement to DuckDB SQL with Trino's semantics.

It walks the statement bottom-up with Trino's types (logpipe.engines.trino.types): each construct is
compiled by the handler registered for its sqlglot class in ``EXPRESSIONS``, each function call by
the rewrite registered for its Trino name in ``REWRITES`` (the one rewrite table; the modules of
logpipe.engines.trino fill both). What cannot be answered exactly raises ``AthenaOnlyError`` through
``refuse``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from logpipe.engines.duckdb_macros import ATHENA_ONLY
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.dialect import DIALECT
from logpipe.engines.trino.sql import T
from logpipe.engines.trino.types import TType
from logpipe.errors import AthenaOnlyError, QueryError


@dataclass
class Typed:
    """A compiled expression: DuckDB AST and its Trino type."""

    node: exp.Expression
    type: TType
    # Set when the expression is a literal (its Python value), for rewrites that need a constant.
    const: Any = None
    is_const: bool = False
    # For a ``timestamp with time zone``: the zone its values carry in Trino ('UTC', '+07:09',
    # 'Asia/Tokyo'). DuckDB holds the instant only; the zone is tracked here, statically.
    zone: str = "UTC"
    # Set for a bound parameter (``:name``): its name. Its value is known when the statement is
    # compiled (see ``Compiler.known``) but stays a bound parameter in the SQL.
    param: str | None = None
    # For a ``timestamp with time zone`` whose zone is only known per row (zone DYNAMIC, e.g. parsed
    # from text): true for the rows whose zone is UTC. Whatever needs the zone refuses the others.
    zone_ok: exp.Expression | None = None
    # A JSON value whose text is exactly Trino's (CAST(x AS JSON) writes it the way Trino does). Other
    # JSON texts were written by DuckDB's JSON writer (yyjson), whose doubles may be written
    # differently from Java's: they are checked where the text is seen.
    json_exact: bool = False
    # For an integer expression: a bound on the absolute value of every value it takes, where known
    # statically (a string's length, sums of those and literals): arithmetic that cannot overflow
    # needs no range check (logpipe.engines.trino.operators).
    bound: int | None = None


# No DuckDB string is longer than this (4 GiB; a Trino VARCHAR or VARBINARY holds less than 2 GiB):
# the bound of a length.
MAX_LENGTH = 2**32


def bound_of(typed: Typed) -> int | None:
    """The bound of an integer expression's absolute values (``Typed.bound``, or an integer literal's
    own), or None when unknown."""
    if typed.bound is not None:
        return typed.bound
    if typed.is_const and type(typed.const) is int:
        return abs(typed.const)
    return None


DYNAMIC = "*"  # Typed.zone of a timestamp whose zone differs from row to row


@dataclass
class Source:
    """A relation in scope: its alias and its columns with their Trino types."""

    alias: str | None
    columns: list[tuple[str, TType]]


@dataclass
class Scope:
    sources: list[Source] = field(default_factory=list)
    outer: Scope | None = None
    lambdas: dict[str, TType] = field(default_factory=dict)
    aliases: dict[str, TType] = field(default_factory=dict)  # select-list aliases (ORDER BY may use them)

    def child(self, lambdas: Mapping[str, TType]) -> Scope:
        return Scope(sources=self.sources, outer=self.outer, lambdas={**self.lambdas, **lambdas},
                     aliases=self.aliases)

    def lookup(self, name: str, table: str | None) -> TType | None:
        key = name.lower()
        if table is None and key in self.lambdas:
            return self.lambdas[key]
        for source in self.sources:
            if table is not None and (source.alias or "").lower() != table.lower():
                continue
            for column, kind in source.columns:
                if column.lower() == key:
                    return kind
        if table is None and key in self.aliases:
            return self.aliases[key]
        if self.outer is not None:
            return self.outer.lookup(name, table)
        return None


@dataclass
class Call:
    """A function call being compiled: what a rewrite receives."""

    name: str
    args: list[exp.Expression]
    scope: Scope
    node: exp.Expression
    distinct: bool = False
    order: list[exp.Expression] | None = None  # ORDER BY inside an aggregate (Ordered nodes)
    filter: exp.Expression | None = None  # FILTER (WHERE ...) of an aggregate
    window: exp.Window | None = None  # OVER (...) of a window or aggregate function
    nulls: str | None = None  # IGNORE / RESPECT (NULLS) of a window function


@dataclass(frozen=True)
class Rewrite:
    """How one Trino function runs on DuckDB (see the function's docstring for why)."""

    name: str
    compile: Callable[[Compiler, Call], Typed]
    kind: str = "scalar"  # scalar | aggregate | window


REWRITES: dict[str, Rewrite] = {}


def rewrite(*names: str, kind: str = "scalar") -> Callable[[Callable[[Compiler, Call], Typed]], Callable[[Compiler, Call], Typed]]:
    """Register a rewrite in ``REWRITES`` under one or more Trino function names."""

    def register(fn: Callable[[Compiler, Call], Typed]) -> Callable[[Compiler, Call], Typed]:
        for name in names:
            REWRITES[name] = Rewrite(name, fn, kind)
        return fn

    return register


def refuse(construct: str, why: str) -> AthenaOnlyError:
    """The error for a construct the local engine cannot answer the way Athena does."""
    return AthenaOnlyError(f"{construct}: {why}; this query runs on Athena only (the local DuckDB engine "
                           "cannot give Athena's answer for it)")


class TrinoError(QueryError):
    """An error Trino raises at analysis time (a bad argument type); raised locally too."""


# Logs view and raw table schema, for typing columns of saved queries.
def logs_schema() -> dict[str, dict[str, TType]]:
    from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS, VIEW_COLUMNS

    raw = {c: tt.VARCHAR for c in (*RAW_COLUMNS, *PARTITION_COLUMNS)}
    # The view's own columns in its own order (``SELECT *`` expands to them): the raw ``time`` is
    # ``raw_time`` there and ``ts`` the parsed instant.
    logs = {c: TType.timestamp(3, tz=True) if c == "ts" else tt.VARCHAR for c in VIEW_COLUMNS}
    # The Parquet hours (logpipe.engines.compact): the raw columns and the derived fields.
    compacted = {**raw, "lp_ts_ms": tt.BIGINT, "lp_service": tt.VARCHAR, "lp_level": tt.VARCHAR}
    return {"logs": logs, "logs_raw": raw, "logs_compacted": compacted}


class Compiler:
    """Compiles one Athena statement to DuckDB, with Trino types (see the module docstring)."""

    def __init__(self, schema: Mapping[str, Mapping[str, TType]] | None = None,
                 param_types: Mapping[str, TType] | None = None, param_values: Mapping[str, Any] | None = None):
        self.schema = {k.lower(): dict(v) for k, v in (schema if schema is not None else logs_schema()).items()}
        self.param_types = dict(param_types or {})
        # Kept as given (not copied): compile_duckdb passes a mapping that records which values a
        # translation depended on, so the translation can be reused while those values stay the same.
        self.param_values = param_values if param_values is not None else {}
        # Values derived from bound parameters (a pattern translated for RE2), bound as parameters too.
        self.derived: dict[str, Any] = {}
        self.ctes: list[dict[str, Source]] = []
        # Inside Trino's try() or a TRY_CAST: the errors Trino would raise become NULLs.
        self.safe = False

    # -- statements -----------------------------------------------------------------------------------

    def statement(self, tree: exp.Expression) -> exp.Expression:
        if not isinstance(tree, (exp.Query, exp.Values)):
            raise refuse(type(tree).__name__.upper(), "only SELECT queries run on the local engine")
        node, _ = self.query(tree, None)
        return node

    def query(self, node: exp.Expression, outer: Scope | None) -> tuple[exp.Expression, list[tuple[str, TType]]]:
        if isinstance(node, exp.Subquery):
            inner, columns = self.query(node.this, outer)
            out = node.copy()
            out.set("this", inner)
            return out, columns
        if isinstance(node, exp.SetOperation):
            return self.set_operation(node, outer)
        if isinstance(node, exp.Select):
            return self.select(node, outer)
        if isinstance(node, exp.Values):
            return self.values(node, outer)
        raise refuse(type(node).__name__, "this query construct is not supported locally")

    def with_ctes(self, node: exp.Expression, outer: Scope | None) -> tuple[exp.With | None, dict[str, Source]]:
        with_ = node.args.get("with_")
        frame: dict[str, Source] = {}
        if with_ is None:
            return None, frame
        if with_.args.get("recursive"):
            raise refuse("WITH RECURSIVE", "recursive queries are not supported locally")
        self.ctes.append(frame)
        out = with_.copy()
        ctes = []
        for cte in with_.expressions:
            query, columns = self.query(cte.this, outer)
            alias = cte.alias
            names = [c.name for c in cte.args["alias"].columns] if cte.args["alias"].columns else [c for c, _ in columns]
            frame[alias.lower()] = Source(alias, [(n, t) for n, (_, t) in zip(names, columns, strict=False)])
            new = cte.copy()
            new.set("this", query)
            ctes.append(new)
        out.set("expressions", ctes)
        return out, frame

    def set_operation(self, node: exp.SetOperation, outer: Scope | None) -> tuple[exp.Expression, list[tuple[str, TType]]]:
        with_, _ = self.with_ctes(node, outer)
        try:
            left, lcols = self.query(node.this, outer)
            right, rcols = self.query(node.expression, outer)
        finally:
            if with_ is not None:
                self.ctes.pop()
        if len(lcols) != len(rcols):
            raise TrinoError("set operation: the queries have different numbers of columns")
        columns = []
        for (name, lt), (_, rt) in zip(lcols, rcols, strict=True):
            columns.append((name, tt.common_super_type(lt, rt)))
        left = self.coerce_query(left, lcols, columns)
        right = self.coerce_query(right, rcols, columns)
        out = node.copy()
        out.set("this", left)
        out.set("expression", right)
        out.set("with_", with_)
        if out.args.get("order"):
            scope = Scope(sources=[Source(None, columns)], outer=outer)
            out.set("order", self.order_by(out.args["order"], scope))
        return out, columns

    def coerce_query(self, query: exp.Expression, have: list[tuple[str, TType]],
                     want: list[tuple[str, TType]]) -> exp.Expression:
        if all(h == w for (_, h), (_, w) in zip(have, want, strict=True)):
            return query
        if isinstance(query, exp.Select):
            projections = []
            for proj, (_, h), (_, w) in zip(query.expressions, have, want, strict=True):
                if h != w:
                    alias = proj.alias_or_name
                    inner = proj.this if isinstance(proj, exp.Alias) else proj
                    proj = exp.alias_(self.cast(inner, w), alias or "_col", quoted=True)
                projections.append(proj)
            out = query.copy()
            out.set("expressions", projections)
            return out
        names = [exp.to_identifier(f"_c{i}") for i in range(len(want))]
        sub = exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("_u"), columns=names))
        select = exp.Select(expressions=[exp.alias_(self.cast(exp.column(n.name), w), n.name)
                                         for n, (_, w) in zip(names, want, strict=True)])
        return select.from_(sub)

    def select(self, node: exp.Select, outer: Scope | None) -> tuple[exp.Expression, list[tuple[str, TType]]]:
        with_, _ = self.with_ctes(node, outer)
        try:
            return self._select(node, outer, with_)
        finally:
            if with_ is not None:
                self.ctes.pop()

    def _select(self, node: exp.Select, outer: Scope | None, with_: exp.With | None) -> tuple[exp.Expression, list[tuple[str, TType]]]:
        for key in ("windows", "prewhere", "connect", "sample", "match"):
            if node.args.get(key):
                raise refuse(key.upper(), "not supported by the local engine")
        out = node.copy()
        out.set("with_", with_)
        scope = Scope(outer=outer)
        from_ = node.args.get("from_")
        if from_ is not None:
            relation, source = self.relation(from_.this, scope)
            scope.sources.append(source)
            out.set("from_", exp.From(this=relation))
        joins = []
        for join in node.args.get("joins") or []:
            joins.append(self.join(join, scope))
        out.set("joins", joins or None)
        if node.args.get("where") is not None:
            out.set("where", exp.Where(this=self.boolean(node.args["where"].this, scope).node))
        projections: list[Any] = []
        columns: list[tuple[str, TType]] = []
        for proj in node.expressions:
            if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)):
                table = proj.table if isinstance(proj, exp.Column) else None
                for source in scope.sources:
                    if table and (source.alias or "").lower() != table.lower():
                        continue
                    for name, kind in source.columns:
                        columns.append((name, kind))
                        ref = exp.column(name, table=source.alias, quoted=True) if source.alias else exp.column(name, quoted=True)
                        projections.append(ref)
                continue
            inner = proj.this if isinstance(proj, exp.Alias) else proj
            typed = self.output(self.expr(inner, scope), "a selected value")
            name = proj.alias_or_name if (isinstance(proj, exp.Alias) or isinstance(inner, exp.Column)) else f"_col{len(columns)}"
            projections.append(exp.alias_(typed.node, name, quoted=True))
            columns.append((name, typed.type))
        out.set("expressions", projections)
        scope.aliases = {name.lower(): kind for name, kind in columns}
        group = node.args.get("group")
        if group is not None:
            out.set("group", self.group_by(group, scope))
        if node.args.get("having") is not None:
            out.set("having", exp.Having(this=self.boolean(node.args["having"].this, scope).node))
        if node.args.get("qualify") is not None:
            out.set("qualify", exp.Qualify(this=self.boolean(node.args["qualify"].this, scope).node))
        if node.args.get("order") is not None:
            out.set("order", self.order_by(node.args["order"], scope))
        for key in ("limit", "offset"):
            if node.args.get(key) is not None:
                out.set(key, self.limit(node.args[key], scope, key))
        return out, columns

    def limit(self, node: exp.Expression, scope: Scope, key: str) -> exp.Expression:
        out = node.copy()
        value = node.args.get("expression") or node.this
        if value is not None and not isinstance(value, exp.Literal):
            compiled = self.expr(value, scope)
            if not (compiled.type.is_integer or compiled.type.is_unknown):
                raise TrinoError(f"{key.upper()} must be an integer")
            out.set("expression" if node.args.get("expression") is not None else "this", compiled.node)
        return out

    def group_by(self, group: exp.Group, scope: Scope) -> exp.Group:
        """GROUP BY items, ``ROLLUP``/``CUBE``/``GROUPING SETS`` included: DuckDB expands them into the
        same grouping sets as Trino (the standard's), with NULL for a column a set leaves out."""
        out = group.copy()
        for key in ("grouping_sets", "cube", "rollup"):  # older sqlglot kept them in separate args
            if group.args.get(key):
                raise refuse(f"GROUP BY {key.upper().replace('_', ' ')}", "this form of grouping sets is not supported locally")
        out.set("expressions", [self.group_item(e, scope) for e in group.expressions])
        return out

    def group_item(self, item: exp.Expression, scope: Scope) -> exp.Expression:
        if isinstance(item, exp.Literal):
            return item.copy()
        if isinstance(item, (exp.Rollup, exp.Cube, exp.GroupingSets, exp.Tuple, exp.Paren)):
            out = item.copy()
            if isinstance(item, exp.Paren):
                out.set("this", self.group_item(item.this, scope))
            else:
                out.set("expressions", [self.group_item(e, scope) for e in item.expressions])
            return out
        return self.expr(item, scope).node

    def order_by(self, order: exp.Order, scope: Scope) -> exp.Order:
        out = order.copy()
        out.set("expressions", [self.ordered(o, scope) for o in order.expressions])
        return out

    def ordered(self, item: exp.Expression, scope: Scope) -> exp.Ordered:
        if not isinstance(item, exp.Ordered):
            item = exp.Ordered(this=item)
        value = item.this
        node: exp.Expression
        if isinstance(value, exp.Literal) and not value.is_string:
            node = value.copy()
        else:
            node = self.expr(value, scope).node
        # Trino sorts NULLs last in both directions unless told otherwise; say so explicitly.
        nulls_first = bool(item.args.get("nulls_first")) and item.meta.get("explicit_nulls", True)
        return exp.Ordered(this=node, desc=item.args.get("desc"), nulls_first=nulls_first)

    def join(self, join: exp.Join, scope: Scope) -> exp.Join:
        relation, source = self.relation(join.this, scope)
        out = join.copy()
        out.set("this", relation)
        scope.sources.append(source)
        if join.args.get("on") is not None:
            out.set("on", self.boolean(join.args["on"], scope).node)
        if join.args.get("using"):
            pass
        return out

    # -- relations ------------------------------------------------------------------------------------

    def relation(self, node: exp.Expression, scope: Scope) -> tuple[exp.Expression, Source]:
        alias = node.alias or None
        alias_columns = [c.name for c in node.args["alias"].columns] if node.args.get("alias") and node.args["alias"].columns else []
        if isinstance(node, exp.Table):
            name = node.name.lower()
            for frame in reversed(self.ctes):
                if name in frame and not node.args.get("db"):
                    columns = frame[name].columns
                    break
            else:
                if name not in self.schema:
                    raise refuse(f"table {node.name}", "only the logs table is available locally")
                columns = list(self.schema[name].items())
            if alias_columns:
                columns = [(n, t) for n, (_, t) in zip(alias_columns, columns, strict=False)]
            return node.copy(), Source(alias or node.name, columns)
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Values):
            query, columns = self.values(node.this, scope.outer)
            out = node.copy()
            out.set("this", query)
            names = alias_columns or [c for c, _ in columns]
            return out, Source(alias, [(n, t) for n, (_, t) in zip(names, columns, strict=False)])
        if isinstance(node, exp.Values):
            query, columns = self.values(node, scope.outer)
            names = alias_columns or [c for c, _ in columns]
            return query, Source(alias, [(n, t) for n, (_, t) in zip(names, columns, strict=False)])
        if isinstance(node, exp.Subquery):
            query, columns = self.query(node.this, scope.outer)
            out = node.copy()
            out.set("this", query)
            names = alias_columns or [c for c, _ in columns]
            return out, Source(alias, [(n, t) for n, (_, t) in zip(names, columns, strict=False)])
        if isinstance(node, exp.Unnest):
            return self.unnest(node, scope)
        if isinstance(node, exp.Lateral):
            raise refuse("LATERAL", "lateral joins are not supported locally")
        raise refuse(type(node).__name__, "this relation is not supported locally")

    def values(self, node: exp.Values, outer: Scope | None) -> tuple[exp.Expression, list[tuple[str, TType]]]:
        scope = Scope(outer=outer)
        rows: list[list[Typed]] = []
        for row in node.expressions:
            items = row.expressions if isinstance(row, exp.Tuple) else [row]
            rows.append([self.expr(item, scope) for item in items])
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise TrinoError("VALUES rows have different numbers of columns")
        kinds = []
        for i in range(width):
            kind = tt.UNKNOWN
            for r in rows:
                kind = tt.common_super_type(kind, r[i].type)
            kinds.append(kind)
        out_rows = []
        for r in rows:
            cells = [self.coerce(cell, kinds[i]) for i, cell in enumerate(r)]
            out_rows.append(exp.Tuple(expressions=cells))
        names = [c.name for c in node.args["alias"].columns] if node.args.get("alias") and node.args["alias"].columns else [f"_col{i}" for i in range(width)]
        out = exp.Values(expressions=out_rows, alias=node.args.get("alias"))
        return out, list(zip(names, kinds, strict=False))

    def unnest(self, node: exp.Unnest, scope: Scope) -> tuple[exp.Expression, Source]:
        """Trino's ``UNNEST(a, b) WITH ORDINALITY AS t(x, y, n)``: arrays side by side, the shorter
        padded with NULLs; an array of rows becomes one column per field; a map its keys and values.
        DuckDB: a lateral subquery of select-list ``unnest`` calls (which pad the same way)."""
        alias = node.alias or "_unnest"
        names = [c.name for c in node.args["alias"].columns] if node.args.get("alias") else []
        projections: list[Any] = []
        columns: list[tuple[str, TType]] = []
        inner = Scope(sources=scope.sources, outer=scope.outer)
        for arg in node.expressions:
            typed = self.expr(arg, inner)
            if typed.type.name == "array":
                elem = typed.type.element
                if elem.name == "row":
                    for i, (fname, ftype) in enumerate(elem.params):
                        key = fname or f"field{i}"
                        projections.append(exp.Dot(this=exp.Paren(this=exp.Anonymous(this="unnest", expressions=[typed.node])),
                                                   expression=exp.to_identifier(key, quoted=True)))
                        columns.append((key, ftype))
                else:
                    projections.append(exp.Anonymous(this="unnest", expressions=[typed.node]))
                    columns.append(("_col", elem))
            elif typed.type.name == "map":
                projections.append(exp.Anonymous(this="unnest", expressions=[exp.Anonymous(this="map_keys", expressions=[typed.node])]))
                projections.append(exp.Anonymous(this="unnest", expressions=[exp.Anonymous(this="map_values", expressions=[typed.node])]))
                columns += [("key", typed.type.key), ("value", typed.type.value)]
            else:
                raise TrinoError(f"Cannot unnest type: {typed.type}")
        if node.args.get("offset"):  # WITH ORDINALITY: 1, 2, ... as long as the longest array
            lengths = [exp.Anonymous(this="len", expressions=[self.expr(a, inner).node]) for a in node.expressions]
            longest = exp.Anonymous(this="greatest", expressions=lengths)
            projections.append(exp.Anonymous(this="unnest", expressions=[
                exp.Anonymous(this="range", expressions=[exp.Literal.number(1), exp.Add(this=longest, expression=exp.Literal.number(1))])]))
            columns.append(("ordinality", tt.BIGINT))
        if names:
            if len(names) != len(columns):
                raise TrinoError(f"UNNEST: {len(columns)} columns, but the alias names {len(names)}")
            columns = [(n, t) for n, (_, t) in zip(names, columns, strict=True)]
        select = exp.Select(expressions=[exp.alias_(p, n, quoted=True) for p, (n, _) in zip(projections, columns, strict=True)])
        lateral = exp.Lateral(this=exp.Subquery(this=select), alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return lateral, Source(alias, columns)

    # -- expressions ----------------------------------------------------------------------------------

    def boolean(self, node: exp.Expression, scope: Scope) -> Typed:
        typed = self.expr(node, scope)
        if typed.type.name not in ("boolean", "unknown"):
            raise TrinoError(f"expected a boolean, found {typed.type}: {node.sql(dialect=DIALECT)}")
        return typed

    def expr(self, node: exp.Expression, scope: Scope) -> Typed:
        handler = EXPRESSIONS.get(type(node))
        if handler is None:
            for cls in type(node).__mro__:
                handler = EXPRESSIONS.get(cls)
                if handler is not None:
                    break
        if handler is None:
            raise refuse(node.sql(dialect=DIALECT)[:80], f"the construct {type(node).__name__} is not supported locally")
        return handler(self, node, scope)

    def call(self, name: str, node: exp.Expression, args: Sequence[exp.Expression], scope: Scope, **kw: Any) -> Typed:
        key = name.lower()
        entry = REWRITES.get(key)
        if entry is None:
            raise refuse(f"{key}()", "this function has no exact DuckDB translation")
        call = Call(name=key, args=list(args), scope=scope, node=node, **kw)
        if entry.kind == "scalar" and (call.window is not None or call.filter is not None or call.distinct):
            raise TrinoError(f"{key} is not an aggregate or window function")
        if entry.kind == "window" and call.window is None:
            raise TrinoError(f"{key} needs an OVER clause")
        try:
            return entry.compile(self, call)
        except (ValueError, IndexError, tt.TypeError_) as exc:
            # A rewrite unpacking arguments of a shape the function does not take (too many, too
            # few, a text where a number literal belongs): Trino rejects the call too.
            raise TrinoError(f"Unexpected parameters for function {key} ({len(args)} arguments): {exc}") from None

    # -- helpers for rewrites --------------------------------------------------------------------------

    def output(self, typed: Typed, where: str) -> Typed:
        """A value as it leaves a query: its zone checked (``utc_only``), a JSON text DuckDB wrote
        checked to be the text Trino would write."""
        typed = self.utc_only(typed, where)
        kind = typed.type
        if kind.name == "json" and not typed.json_exact:
            return Typed(exp.Anonymous(this="lp_json_java", expressions=[typed.node]), kind)
        if kind.name == "array" and kind.element.name == "json":
            return Typed(T("list_transform({0}, lambda _j: lp_json_java(_j))", typed.node), kind)
        if kind.name == "map" and kind.value.name == "json":
            return Typed(T("map_from_entries(list_transform(map_entries({0}), lambda _x: {'key': _x.key, 'value': lp_json_java(_x.value)}))",
                           typed.node), kind)
        return typed

    def utc_only(self, typed: Typed, where: str) -> Typed:
        """A value that leaves an expression (a selected column): DuckDB keeps a timestamp's instant,
        not its zone, so a ``timestamp with time zone`` must be in UTC here (what logpipe.schema's
        ``ts`` is); another zone is refused, a zone known only per row is checked per row."""
        if "with time zone" not in str(typed.type) or typed.zone == "UTC":
            return typed
        if typed.zone == DYNAMIC and typed.zone_ok is not None:
            message = f"a timestamp with a time zone other than UTC as {where}: DuckDB cannot keep its zone; {ATHENA_ONLY}"
            node = exp.Case(ifs=[exp.If(this=typed.zone_ok, true=typed.node)],
                            default=exp.Anonymous(this="error", expressions=[exp.Literal.string(message)]))
            return Typed(node, typed.type)
        raise refuse(f"timestamp with time zone {typed.zone}",
                     f"as {where} it needs its zone, which DuckDB cannot keep (convert it with AT TIME ZONE 'UTC')")

    def known(self, typed: Typed) -> tuple[bool, Any]:
        """(True, value) when an argument's value is known at compile time: a literal, or a bound
        parameter (its value is part of the statement); (False, None) otherwise."""
        if typed.is_const:
            return True, typed.const
        if typed.param is not None and typed.param in self.param_values:
            return True, self.param_values[typed.param]
        return False, None

    def bind_derived(self, value: Any) -> exp.Expression:
        """A new bound parameter holding a value computed from a parameter's value."""
        name = f"lp_derived_{len(self.derived)}"
        self.derived[name] = value
        return exp.Placeholder(this=name)

    def flag(self) -> exp.Expression:
        """The ``safe`` argument of the macros that raise Trino's errors (true inside try())."""
        return exp.Boolean(this=self.safe)

    def cast(self, node: exp.Expression, to: TType) -> exp.Expression:
        try:
            cls = exp.TryCast if self.safe else exp.Cast
            return cls(this=node, to=tt.duckdb_datatype(to))
        except tt.NoDuckDBType as exc:
            raise refuse(f"type {to}", str(exc)) from None

    def coerce(self, typed: Typed, to: TType) -> exp.Expression:
        """The expression as a value of ``to`` (Trino's implicit coercion), cast only when needed."""
        if typed.type == to or to.is_unknown:
            return typed.node
        if typed.type.is_unknown and isinstance(typed.node, exp.Null):
            return self.cast(exp.Null(), to)
        return self.convert(typed, to)

    def convert(self, typed: Typed, to: TType) -> exp.Expression:
        """An implicit coercion or an explicit CAST with Trino's semantics (logpipe.engines.trino.casts)."""
        if CONVERT is None:
            raise RuntimeError("logpipe.engines.trino.casts is not loaded")
        return CONVERT[0](self, typed, to, False)


EXPRESSIONS: dict[type, Callable[[Compiler, Any, Scope], Typed]] = {}

# Trino's CAST, set by logpipe.engines.trino.casts (which needs the compiler, so cannot be imported here).
CONVERT: list[Callable[[Compiler, Typed, TType, bool], exp.Expression]] | None = None


def set_converter(convert: Callable[[Compiler, Typed, TType, bool], exp.Expression]) -> None:
    global CONVERT
    CONVERT = [convert]


def expression(*classes: type) -> Callable[[Callable[[Compiler, Any, Scope], Typed]], Callable[[Compiler, Any, Scope], Typed]]:
    def register(fn: Callable[[Compiler, Any, Scope], Typed]) -> Callable[[Compiler, Any, Scope], Typed]:
        for cls in classes:
            EXPRESSIONS[cls] = fn
        return fn

    return register
