"""Athena (Trino) SQL to DuckDB SQL: sqlglot, plus one table of the rewrites sqlglot gets wrong.

Saved queries are written once, in Athena's dialect. sqlglot translates almost all of it; where its
DuckDB output differs from what Trino returns, the fix lives here, in ``REWRITES``: one AST transform
per expression type, each with its own test (tests/test_transpile.py). An ``if`` chain scattered over
the engines would drift; a table keyed by expression type reads like sqlglot's own dialect tables.

Named placeholders (``:service``) survive the translation as AST nodes (``exp.Placeholder``); they
become DuckDB's ``$service`` here and Athena's positional ``?`` in ``to_athena``. Values are never
pasted into the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ParseError
from sqlglot.optimizer.annotate_types import annotate_types

from logpipe.errors import QueryError

READ = "athena"

_INTEGER_TYPES = exp.DataType.INTEGER_TYPES


def parse(sql: str, source: str = "query", line_offset: int = 0) -> exp.Expression:
    """One Athena statement as an AST; a syntax error names the source and its line."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = (first.get("line") or 1) + line_offset
        desc = first.get("description") or str(exc)
        raise QueryError(f"{source}:{line}: SQL syntax error: {desc}") from None
    if len(statements) != 1:
        raise QueryError(f"{source}: expected exactly one SQL statement, found {len(statements)}")
    return cast(exp.Expression, statements[0])


def placeholders(tree: exp.Expression) -> list[str]:
    """Names of the ``:name`` placeholders in a statement, first use first, without repeats."""
    seen: dict[str, None] = {}
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Placeholder) and node.name:
            seen.setdefault(node.name, None)
    return list(seen)


# -- the rewrites -------------------------------------------------------------------------------


def _is_integer(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this in _INTEGER_TYPES


def _integer_division(node: exp.Expression) -> exp.Expression:
    """Trino: ``7/2`` is 3 for integers (truncating toward zero). DuckDB's ``/`` gives 3.5 and a
    cast rounds; its ``//`` truncates on integers like Trino."""
    if isinstance(node, exp.Div) and _is_integer(node.this) and _is_integer(node.expression):
        return exp.IntDiv(this=node.this, expression=node.expression)
    return node


def _regexp_extract_null(node: exp.Expression) -> exp.Expression:
    """Trino's ``regexp_extract`` is NULL when the pattern does not match; DuckDB's is ''. Guard it
    with ``regexp_matches`` so an empty *match* stays ''."""
    if not isinstance(node, exp.RegexpExtract) or node.meta.get("logpipe_guarded"):
        return node
    node.meta["logpipe_guarded"] = True
    matches = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
    return exp.Case(ifs=[exp.If(this=matches, true=node)])


_DOLLAR_GROUP = re.compile(r"\$(\d+)|\$\{(\w+)\}")


def java_replacement_to_re2(text: str) -> str:
    """A Java/Trino replacement (``$1``, ``\\$`` for a literal dollar) as RE2's (``\\1``)."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
            continue
        match = _DOLLAR_GROUP.match(text, i)
        if match:
            out.append("\\" + (match.group(1) or match.group(2)))
            i = match.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _regexp_replace_groups(node: exp.Expression) -> exp.Expression:
    """Trino writes back-references as ``$1``; DuckDB (RE2) as ``\\1``, and keeps ``$1`` literally."""
    if not isinstance(node, exp.RegexpReplace):
        return node
    replacement = node.args.get("replacement")
    if isinstance(replacement, exp.Literal) and replacement.is_string and not node.meta.get("logpipe_re2"):
        node.meta["logpipe_re2"] = True
        node.set("replacement", exp.Literal.string(java_replacement_to_re2(replacement.this)))
    elif replacement is not None and not isinstance(replacement, exp.Literal):
        raise QueryError("regexp_replace with a computed replacement cannot be translated to DuckDB: "
                         "write the replacement as a string literal")
    return node


def _json_extract_scalar(node: exp.Expression) -> exp.Expression:
    """Trino's ``json_extract_scalar`` is NULL for objects, arrays and invalid JSON; DuckDB's ``->>``
    returns an object's text and raises on invalid JSON."""
    if not isinstance(node, exp.JSONExtractScalar) or node.meta.get("logpipe_guarded"):
        return node
    node.meta["logpipe_guarded"] = True
    doc, path = node.this, node.expression
    extracted = exp.JSONExtract(this=doc.copy(), expression=path.copy())
    json_type = exp.Anonymous(this="json_type", expressions=[extracted])
    is_scalar = exp.not_(exp.In(this=json_type, expressions=[exp.Literal.string("OBJECT"),
                                                              exp.Literal.string("ARRAY")]))
    valid = exp.Anonymous(this="json_valid", expressions=[doc.copy()])
    return exp.Case(ifs=[exp.If(this=exp.and_(valid, is_scalar), true=node)])


def _weighted_percentile(node: exp.Expression) -> exp.Expression:
    """``approx_percentile(x, w, p)``: sqlglot drops the weight. Repeat each value ``w`` times and take
    the nearest-rank quantile of the list (exact, so within Trino's approximation)."""
    if not isinstance(node, exp.ApproxQuantile) or node.args.get("weight") is None:
        return node
    value, weight, quantile = node.this, node.args["weight"], node.args["quantile"]
    repeated = exp.Anonymous(this="repeat", expressions=[
        exp.Array(expressions=[value.copy()]),
        exp.Cast(this=weight.copy(), to=exp.DataType.build("BIGINT"))])
    listed = exp.Anonymous(this="flatten", expressions=[exp.ArrayAgg(this=repeated)])
    return exp.Anonymous(this="list_aggregate", expressions=[
        listed, exp.Literal.string("quantile_disc"), quantile.copy()])


_DATE_UNITS = {"DAY", "DAYS", "WEEK", "WEEKS", "MONTH", "MONTHS", "YEAR", "YEARS"}


def _date_interval(node: exp.Expression) -> exp.Expression:
    """Trino: ``date - interval '1' day`` is a DATE; DuckDB makes it a TIMESTAMP (a varchar cast then
    shows ``00:00:00``). Keep the date a date."""
    if not isinstance(node, (exp.Add, exp.Sub)) or node.meta.get("logpipe_date"):
        return node
    left, right = node.this, node.expression
    if not (isinstance(right, exp.Interval) and left.type is not None
            and left.type.this == exp.DataType.Type.DATE):
        return node
    unit = right.args.get("unit")
    if unit is None or unit.name.upper() not in _DATE_UNITS:
        return node
    node.meta["logpipe_date"] = True
    return exp.Cast(this=node, to=exp.DataType.build("DATE"))


def _varchar_length(node: exp.Expression) -> exp.Expression:
    """Trino's ``CAST(x AS varchar(n))`` truncates to n characters; DuckDB ignores n."""
    if not isinstance(node, (exp.Cast, exp.TryCast)):
        return node
    to = node.to
    if to.this not in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR) or not to.expressions:
        return node
    size = to.expressions[0].this
    plain = node.__class__(this=node.this, to=exp.DataType.build("VARCHAR"))
    return exp.Left(this=plain, expression=size.copy())


# Joda-Time pattern letters (Trino's format_datetime) -> strftime (DuckDB), longest first.
_JODA = [
    ("yyyy", "%Y"), ("YYYY", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"), ("M", "%-m"),
    ("dd", "%d"), ("d", "%-d"), ("HH", "%H"), ("H", "%-H"), ("hh", "%I"), ("h", "%-I"), ("mm", "%M"),
    ("m", "%-M"), ("ss", "%S"), ("s", "%-S"), ("SSSSSS", "%f"), ("SSS", "%g"), ("EEEE", "%A"), ("EEE", "%a"),
    ("a", "%p"), ("ZZ", "%z"), ("Z", "%z"), ("z", "%Z"), ("DDD", "%j"), ("ww", "%V"),
]


def joda_to_strftime(pattern: str) -> str:
    """A Joda-Time pattern (``yyyy-MM-dd HH:mm``) as a strftime format (``%Y-%m-%d %H:%M``)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            out.append("'" if end == i + 1 else pattern[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        for joda, fmt in _JODA:
            if pattern.startswith(joda, i):
                out.append(fmt)
                i += len(joda)
                break
        else:
            if ch.isalpha():
                raise QueryError(f"format_datetime pattern {pattern!r}: letter {ch!r} has no DuckDB equivalent")
            out.append("%%" if ch == "%" else ch)
            i += 1
    return "".join(out)


def _format_datetime(node: exp.Expression) -> exp.Expression:
    """Trino's ``format_datetime(ts, 'yyyy-MM-dd')`` (Joda) does not exist in DuckDB: ``strftime``."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "format_datetime"):
        return node
    value, pattern = node.expressions
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise QueryError("format_datetime needs a literal pattern to run on DuckDB")
    return exp.Anonymous(this="strftime", expressions=[value, exp.Literal.string(joda_to_strftime(pattern.this))])


_URL_PATH_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)"


def _url_extract_path(node: exp.Expression) -> exp.Expression:
    """Trino's ``url_extract_path`` does not exist in DuckDB: the path part by regex (NULL if not a URL)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "url_extract_path"):
        return node
    (url,) = node.expressions
    extract = exp.RegexpExtract(this=url, expression=exp.Literal.string(_URL_PATH_RE),
                                group=exp.Literal.number(1))
    return _regexp_extract_null(extract)


_ARRAY_MATCH = {"any_match", "all_match", "none_match"}


def _array_match(node: exp.Expression) -> exp.Expression:
    """Trino's ``any_match(array, x -> p)`` (and ``all_match``, ``none_match``) do not exist in DuckDB:
    count the elements ``list_filter`` keeps. An empty array gives false / true / true as in Trino; a
    NULL array gives NULL. (Trino's NULL for "no element true but some predicate NULL" becomes false.)"""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() in _ARRAY_MATCH):
        return node
    array, predicate = node.expressions
    if not isinstance(predicate, exp.Lambda):
        raise QueryError(f"{node.name} needs a lambda (x -> ...) as its second argument")
    kind = node.name.lower()
    if kind == "all_match":
        predicate = exp.Lambda(this=exp.not_(exp.paren(predicate.this.copy())),
                               expressions=[e.copy() for e in predicate.expressions])
    kept = exp.Anonymous(this="len", expressions=[
        exp.Anonymous(this="list_filter", expressions=[array.copy(), predicate.copy()])])
    zero = exp.Literal.number(0)
    return exp.GT(this=kept, expression=zero) if kind == "any_match" else exp.EQ(this=kept, expression=zero)


def _utf8_length(node: exp.Expression) -> exp.Expression:
    """``length(to_utf8(s))`` (bytes, the way storage and ingestion are billed): DuckDB has no
    ``length`` of a BLOB; ``octet_length`` is the same number."""
    if isinstance(node, exp.Length) and isinstance(node.this, exp.Encode):
        return exp.Anonymous(this="octet_length", expressions=[node.this.copy()])
    return node


def _count_if_bigint(node: exp.Expression) -> exp.Expression:
    """Trino's ``count_if`` is a BIGINT; DuckDB's is a HUGEINT, which pandas turns into float64 (JSON
    output then shows ``237.0``). Cast it back."""
    if not isinstance(node, exp.CountIf) or node.meta.get("logpipe_bigint"):
        return node
    node.meta["logpipe_bigint"] = True
    return exp.Cast(this=node, to=exp.DataType.build("BIGINT"))


@dataclass(frozen=True)
class Rewrite:
    """One fix of sqlglot's Athena -> DuckDB output, with why it is needed (see its docstring)."""

    name: str
    transform: Callable[[exp.Expression], exp.Expression]
    needs_types: bool = False


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("integer_division", _integer_division, needs_types=True),
    Rewrite("date_minus_interval", _date_interval, needs_types=True),
    Rewrite("regexp_extract_no_match", _regexp_extract_null),
    Rewrite("regexp_replace_backrefs", _regexp_replace_groups),
    Rewrite("json_extract_scalar_object", _json_extract_scalar),
    Rewrite("weighted_approx_percentile", _weighted_percentile),
    Rewrite("varchar_length", _varchar_length),
    Rewrite("format_datetime", _format_datetime),
    Rewrite("url_extract_path", _url_extract_path),
    Rewrite("array_match_lambdas", _array_match),
    Rewrite("utf8_byte_length", _utf8_length),
    Rewrite("count_if_bigint", _count_if_bigint),
)


def rewrite_for_duckdb(tree: exp.Expression) -> exp.Expression:
    """Apply every rewrite of ``REWRITES`` to a parsed Athena statement (a copy)."""
    tree = tree.copy()
    if any(r.needs_types for r in REWRITES):
        tree = annotate_types(tree, dialect=READ)
    for rewrite in REWRITES:
        tree = tree.transform(rewrite.transform, copy=False)
    return tree


def to_duckdb(sql: str | exp.Expression, pretty: bool = False) -> str:
    """Athena SQL as DuckDB SQL; ``:name`` placeholders become ``$name``."""
    tree = parse(sql) if isinstance(sql, str) else sql
    return rewrite_for_duckdb(tree).sql(dialect="duckdb", pretty=pretty)


# -- Athena: positional placeholders ------------------------------------------------------------


@dataclass
class _Order:
    names: list[str] = field(default_factory=list)


class _PositionalAthena(Trino):
    """Athena's query dialect (engine v3 is Trino; sqlglot's Athena hands queries to Trino's generator), but each named placeholder is written as ``?`` and its name recorded in the
    order the generator writes it: the order Athena's ExecutionParameters must follow."""

    class Generator(Trino.Generator):  # type: ignore[valid-type,misc]
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
