"""What keeps the Trino-to-DuckDB translation from failing in DuckDB's own words.

A rewrite that calls a macro nobody defined (``lp_from_base``) or a DuckDB function with arguments
it cannot bind gives a DuckDB Catalog or Binder error: neither Trino's error nor the clear "runs on
Athena only" refusal. These tests look for that class of bug everywhere, not only where a
conformance case happens to pass through:

* every ``lp_*`` name the translation's source mentions is a macro the connection setup creates,
  and every DuckDB function a rewrite calls by name exists (static: read from the source);
* a function the compiler does not know is refused as Athena-only, never sent to DuckDB;
* every rewrite, called with argument shapes Trino would reject or accept, either compiles to SQL
  DuckDB binds, or raises Trino's error or the Athena-only refusal: never a DuckDB bind error and
  never a Python error from the compiler itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.conformance import Case, run_on_duckdb, statement_for

import logpipe.engines.transpile  # noqa: F401  (fills REWRITES)
from logpipe.config import EngineConfig
from logpipe.engines.duckdb import compile_duckdb, open_connection
from logpipe.engines.trino.compiler import REWRITES, TrinoError
from logpipe.errors import AthenaOnlyError, QueryError
from logpipe.schema import COMPACTED_COLUMNS

ENGINES = Path(__file__).resolve().parents[2] / "logpipe" / "engines"
SOURCES = [*sorted((ENGINES / "trino").glob("*.py")), ENGINES / "duckdb_macros.py", ENGINES / "duckdb.py",
           ENGINES / "transpile.py"]
LP_NAME = re.compile(r"\blp_[a-z][a-z0-9_]*")
# Names in the lp_ namespace that are not macros: the bound parameters derived at compile time.
NOT_MACROS = ("lp_derived_",)
# Columns of the compacted Parquet hours share the prefix; they are not functions.
NOT_MACRO_COLUMNS = frozenset(COMPACTED_COLUMNS)


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    connection = open_connection(EngineConfig())
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def duckdb_functions(con: Any) -> set[str]:
    return {row[0].lower() for row in con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()}


def _strings(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, text, followed_by_a_value) for each literal piece of text in a module; the flag is set
    for an f-string piece directly followed by a ``{...}`` (a name built at run time)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            for piece, after in zip(node.values, [*node.values[1:], None], strict=True):
                if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                    yield node.lineno, piece.value, isinstance(after, ast.FormattedValue)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value, False


def _called_names(path: Path) -> Iterator[tuple[int, str]]:
    """The first argument of ``fn("name", ...)`` and ``exp.Anonymous(this="name")`` calls."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name == "fn" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node.lineno, node.args[0].value
        if name == "Anonymous":
            for kw in node.keywords:
                if kw.arg == "this" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    yield node.lineno, kw.value.value


def test_every_lp_function_the_translation_mentions_is_defined(duckdb_functions: set[str]) -> None:
    defined = {name for name in duckdb_functions if name.startswith("lp_")}
    assert len(defined) > 100, "the connection setup created no lp_ macros"
    missing, dynamic = [], []
    for path in SOURCES:
        for line, text, built in _strings(path):
            names = LP_NAME.findall(text)
            if built and names and text.endswith(names[-1]):
                if not names[-1].startswith(NOT_MACROS):
                    dynamic.append(f"{path.name}:{line}: {names[-1]}{{...}}")
                names = names[:-1]
            missing += [f"{path.name}:{line}: {n}" for n in names
                        if n not in defined and not n.startswith(NOT_MACROS) and n not in NOT_MACRO_COLUMNS]
    assert not dynamic, f"macro names built at run time cannot be checked; spell them out: {dynamic}"
    assert not missing, f"lp_ functions used but never created by duckdb_macros.install: {sorted(set(missing))}"


def test_every_duckdb_function_a_rewrite_calls_by_name_exists(duckdb_functions: set[str]) -> None:
    missing = [f"{path.name}:{line}: {name}" for path in SOURCES for line, name in _called_names(path)
               if name.lower() not in duckdb_functions and name.lower() not in SPECIAL_FORMS]
    assert not missing, f"functions DuckDB does not have: {missing}"


# SQL forms DuckDB parses itself rather than looking up as functions.
SPECIAL_FORMS = {"coalesce", "nullif", "grouping"}


# Real Trino functions (docs/src/main/sphinx/functions/*.md) and made-up names: each one either has a
# rewrite or is refused as Athena-only; none reaches DuckDB as an unknown function.
TRINO_FUNCTIONS = [
    "geometric_mean", "st_point", "st_distance", "murmur3", "xxhash64", "spooky_hash_v2_32", "bing_tile",
    "classify", "features", "evaluate_classifier_predictions", "tdigest_agg", "qdigest_agg", "make_set_digest",
    "merge", "numeric_histogram", "reduce_agg", "approx_most_frequent", "approx_set", "cardinality",
    "cosine_similarity", "wilson_interval_lower", "beta_cdf", "inverse_normal_cdf", "t_pvalue", "luhn_check",
    "soundex", "to_utf8", "from_big_endian_64", "hmac_sha256", "crc32", "md5", "sha512", "to_ieee754_64",
    "url_encode", "word_stem", "normalize", "format_number", "parse_data_size", "to_milliseconds",
    "timezone_hour", "with_timezone", "current_timezone", "last_day_of_month", "human_readable_seconds",
    "json_format", "json_exists", "json_array", "array_histogram", "trim_array", "euclidean_distance",
    "dot_product", "lp_made_up_function", "no_such_function_at_all", "list_value", "struct_pack", "regexp_full_match",
]
# Trino's special forms sqlglot parses into their own nodes.
TRINO_FORMS = ["json_query(JSON '{\"a\":1}', 'lax $.a')", "json_value(JSON '{\"a\":1}', 'lax $.a')",
               "json_object('a': 1)"]
# DuckDB's own functions that reach files, settings or the catalog: the sandbox refuses them first.
DUCKDB_ONLY = ["duckdb_functions", "read_csv", "glob", "getenv", "current_setting", "pragma_version"]


def _outcome(sql: str, con: Any) -> Any:
    case = Case(id="unknown", family="safety", sql=sql, source="test#unknown", type="unknown")
    return run_on_duckdb(case, con)


@pytest.mark.parametrize("name", TRINO_FUNCTIONS)
def test_a_function_without_a_rewrite_is_refused_as_athena_only(name: str, con: Any) -> None:
    outcome = _outcome(f"{name}('x')", con)
    if name in REWRITES:  # translated: whatever it answers for a text, DuckDB binds what it runs
        assert not _bind_failure(outcome.detail), outcome.detail
        return
    assert outcome.status == "refused", f"{name}: {outcome.status}: {outcome.detail}"
    assert "runs on Athena only" in outcome.detail and name in outcome.detail


@pytest.mark.parametrize("sql", TRINO_FORMS)
def test_a_special_form_without_a_rewrite_is_refused_as_athena_only(sql: str, con: Any) -> None:
    outcome = _outcome(sql, con)
    assert outcome.status == "refused", f"{sql}: {outcome.status}: {outcome.detail}"
    assert "runs on Athena only" in outcome.detail


@pytest.mark.parametrize("name", DUCKDB_ONLY)
def test_duckdb_only_functions_never_reach_duckdb(name: str, con: Any) -> None:
    outcome = _outcome(f"{name}('x')", con)
    assert outcome.status in ("refused", "error"), outcome.detail
    assert not _bind_failure(outcome.detail) and ("runs on Athena only" in outcome.detail
                                                  or "SandboxError" in outcome.detail), outcome.detail


# Argument shapes: right and wrong types and counts, NULLs, lambdas.
SHAPES = [
    (), ("'abc'",), ("1",), ("NULL",), ("ARRAY[1, 2]",), ("MAP(ARRAY['a'], ARRAY[1])",), ("INTERVAL '1' DAY",),
    ("'abc'", "1"), ("1", "ARRAY['a']"), ("2.5", "NULL"), ("ARRAY[1, 2]", "x -> x"),
    ("MAP(ARRAY['a'], ARRAY[1])", "(k, v) -> v > 0"), ("'day'", "DATE '2020-01-01'"),
]
_BIND_FAILURES = ("Catalog Error", "Binder Error", "Parser Error", "Not implemented Error", "INTERNAL Error")


def _bind_failure(detail: str) -> bool:
    return any(word in detail for word in _BIND_FAILURES)


def _call(name: str, args: tuple[str, ...]) -> str:
    sql = f"{name}({', '.join(args)})"
    return sql + " OVER (ORDER BY 1)" if REWRITES[name].kind == "window" else sql


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REWRITES))
def test_every_rewrite_binds_in_duckdb_or_raises_trinos_error(name: str, con: Any) -> None:
    """Compiled and bound (not run): DuckDB's binder sees every macro and function call."""
    problems = []
    for args in SHAPES:
        case = Case(id=f"shape-{name}", family="safety", sql=_call(name, args), source="test#shape", type="unknown")
        try:
            sql, params = compile_duckdb(statement_for(case))
        except (TrinoError, AthenaOnlyError, QueryError):
            continue
        except Exception as exc:  # the compiler itself failed: a bug, whatever Trino does
            problems.append(f"{case.sql}: compiler raised {type(exc).__name__}: {exc}")
            continue
        try:
            con.sql(sql, params=params or None).types  # noqa: B018  (binds the statement)
        except Exception as exc:
            if _bind_failure(str(exc)):
                problems.append(f"{case.sql}: {str(exc).splitlines()[0]}\n    {sql}")
    assert not problems, "\n".join(problems)
