"""The conformance suite's machinery: Trino's own cases (tests/conformance/cases/*.yaml) run through
logpipe's two engines.

A case is one Trino expression with Trino's answer: its value and its type, copied from Trino's
function tests and documentation (each case names its source). On DuckDB the case is built into a
statement exactly as a saved query is (``BoundStatement``; string bindings of the Trino test become
bound parameters), compiled by ``DuckDBEngine.compile`` and run on one shared connection set up by the
engine itself (settings and macros). Each case ends in one of:

* ``pass``     - DuckDB gave Trino's value with Trino's type (or an error where Trino raises one);
* ``refused``  - logpipe said the construct runs on Athena only (``AthenaOnlyError``, or the runtime
  refusal of a macro): honest, but not a pass;
* ``wrong``    - a value or type that differs from Trino's: a silent wrong answer, the failure that matters;
* ``error``    - any other failure (DuckDB raised where Trino answers, or raised another error than
  Trino's: a message other than the case's, or DuckDB failing to bind the translation).

``python -m support.conformance`` (from tests/) prints the counts by family.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

CASES_DIR = Path(__file__).resolve().parents[1] / "conformance" / "cases"
WINDOW_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
WINDOW_END = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


@dataclass
class Case:
    id: str
    family: str
    sql: str
    source: str
    type: str | None = None
    value: Any = None
    error: str | None = None
    bind: dict[str, str] = field(default_factory=dict)
    from_: str | None = None
    group: str | None = None
    order: str | None = None

    @property
    def expects_error(self) -> bool:
        return self.error is not None


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        family = path.stem
        for index, raw in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            unknown = set(raw) - {"sql", "source", "type", "value", "error", "bind", "from", "group", "order"}
            if unknown:
                raise ValueError(f"{path.name} case {index}: unknown keys {sorted(unknown)}")
            if ("error" in raw) == ("type" in raw):
                raise ValueError(f"{path.name} case {index}: give either type+value or error")
            cases.append(Case(
                id=f"{family}-{index:03d}", family=family, sql=raw["sql"], source=raw["source"],
                type=raw.get("type"), value=raw.get("value"),
                error=None if raw.get("error") is None else str(raw["error"]),
                bind=dict(raw.get("bind") or {}), from_=raw.get("from"), group=raw.get("group"),
                order=raw.get("order")))
    return cases


# -- building the statement ------------------------------------------------------------------------


def _is_string_literal(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def statement_for(case: Case) -> Any:
    """The case as the runner would hand it to an engine: one SELECT with typed, bound parameters.

    A binding of the Trino test that is a string literal becomes a ``:name`` string parameter (bound as
    an execution parameter on Athena, ``$name`` on DuckDB); any other binding is written in place."""
    from logpipe.engines.binding import BoundStatement, Param
    from logpipe.engines.transpile import DIALECT, parse
    from logpipe.queries.params import RUNNER_TYPES, runner_values

    expr = parse(f"SELECT {case.sql}", source=case.id).expressions[0]
    lambda_vars = {i.name for lam in expr.find_all(exp.Lambda) for i in lam.expressions}
    values: dict[str, Any] = {}
    types: dict[str, Param] = {}
    bound: dict[str, exp.Expression] = {}
    for name, text in case.bind.items():
        if name in lambda_vars:
            raise ValueError(f"{case.id}: binding {name!r} is also a lambda variable")
        node = parse(f"SELECT {text}", source=case.id).expressions[0]
        if _is_string_literal(node):
            values[name] = node.this
            types[name] = Param(name, "string")
            bound[name] = exp.Placeholder(this=name)
        else:
            bound[name] = node

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in bound:
            return bound[node.name].copy()
        return node

    if bound:
        expr = expr.transform(substitute)
    sql = f"SELECT {expr.sql(dialect=DIALECT)} AS v"
    if case.from_:
        sql += f" FROM {case.from_}"
    if case.group:
        sql += f" GROUP BY {case.group} ORDER BY {case.group}"
    elif case.order:
        sql += " ORDER BY " + ", ".join(f"{part.strip()} NULLS LAST" for part in case.order.split(","))
    tree = parse(sql, source=case.id)
    for name, value in runner_values(WINDOW_START, WINDOW_END).items():
        values.setdefault(name, value)
    for name, kind in RUNNER_TYPES.items():
        types.setdefault(name, Param(name, kind))
    return BoundStatement(tree=tree, values=values, types=types, window_start=WINDOW_START,
                          window_end=WINDOW_END)


# -- types -------------------------------------------------------------------------------------------

_LENGTH = re.compile(r"\b(varchar|char|varbinary)\(\d+\)")
_PRECISION = re.compile(r"\b(timestamp|time)\(\d+\)")


def trino_type(expected: str) -> str:
    """A Trino type as compared here: lengths and time precisions dropped (DuckDB has neither), the
    two interval types as one."""
    text = " ".join(expected.lower().split())
    text = _LENGTH.sub(lambda m: m.group(1), text)
    text = _PRECISION.sub(lambda m: m.group(1), text)
    text = text.replace("interval day to second", "interval").replace("interval year to month", "interval")
    return text.replace(", ", ",").replace(" ,", ",")


_DUCK_SCALARS = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "FLOAT": "real", "DOUBLE": "double", "VARCHAR": "varchar", "JSON": "json",
    "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "INTERVAL": "interval", "BLOB": "varbinary", "NULL": "unknown", "UUID": "uuid",
}


def duckdb_to_trino(duck: Any) -> str:
    """The Trino name of a DuckDB result type (``DuckDBPyType``); HUGEINT and the like keep their own
    names, so they never match a Trino type."""
    text = str(duck)
    if text.endswith("[]"):
        return f"array({duckdb_to_trino(_Parsed(text[:-2]))})"
    upper = text.upper()
    if upper.startswith("DECIMAL("):
        return "decimal(" + upper[8:-1].replace(" ", "") + ")"
    if upper.startswith("MAP("):
        key, value = _split_top(text[4:-1])
        return f"map({duckdb_to_trino(_Parsed(key))},{duckdb_to_trino(_Parsed(value))})"
    if upper.startswith("STRUCT("):
        fields = []
        for part in _split_top(text[7:-1], many=True):
            name, _, kind = part.strip().partition(" ")
            fields.append(f"{name.strip(chr(34))} {duckdb_to_trino(_Parsed(kind))}")
        return "row(" + ",".join(fields) + ")"
    return _DUCK_SCALARS.get(upper, upper.lower())


@dataclass
class _Parsed:
    text: str

    def __str__(self) -> str:
        return self.text.strip()


def _split_top(text: str, many: bool = False) -> Any:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts if many else (parts[0], ",".join(parts[1:]))


def types_match(expected: str, actual: str) -> bool:
    exp_t, act_t = trino_type(expected), actual
    if "unknown" in exp_t:
        pattern = re.escape(exp_t).replace("unknown", "[^,()]+(?:\\([^()]*\\))?")
        return re.fullmatch(pattern, act_t) is not None
    if exp_t.startswith("row(") and act_t.startswith("row("):
        return _row_types(exp_t) == _row_types(act_t)
    return exp_t == act_t


def _row_types(text: str) -> list[str]:
    return [part.strip().split(" ")[-1] for part in _split_top(text[4:-1], many=True)]


# -- values -------------------------------------------------------------------------------------------


def values_match(expected: Any, actual: Any, kind: str) -> bool:
    kind = trino_type(kind)
    if expected is None or actual is None:
        return expected is None and actual is None
    if kind.startswith("array("):
        inner = kind[6:-1]
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            values_match(e, a, inner) for e, a in zip(expected, actual, strict=True))
    if kind.startswith("map("):
        key_kind, value_kind = _split_top(kind[4:-1])
        pairs = actual.items() if isinstance(actual, dict) else actual
        if not isinstance(expected, dict) or len(list(pairs)) != len(expected):
            return False
        remaining = list(expected.items())
        for k, v in (actual.items() if isinstance(actual, dict) else actual):
            for i, (ek, ev) in enumerate(remaining):
                if values_match(ek, k, key_kind) and values_match(ev, v, value_kind):
                    del remaining[i]
                    break
            else:
                return False
        return not remaining
    if kind.startswith("row("):
        kinds = _row_types(kind)
        got = list(actual.values()) if isinstance(actual, dict) else list(actual)
        return len(got) == len(expected) == len(kinds) and all(
            values_match(e, a, k) for e, a, k in zip(expected, got, kinds, strict=True))
    if kind == "boolean":
        return isinstance(actual, bool) and actual == expected
    if kind in ("tinyint", "smallint", "integer", "bigint"):
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == int(expected)
    if kind in ("double", "real"):
        return _floats_match(expected, actual, kind)
    if kind.startswith("decimal("):
        scale = int(kind[8:-1].split(",")[1])
        return isinstance(actual, Decimal) and actual == Decimal(str(expected)) and -actual.as_tuple().exponent == scale
    if kind in ("varchar", "char", "json"):
        return isinstance(actual, str) and actual == str(expected)
    if kind == "date":
        return isinstance(actual, dt.date) and actual.isoformat() == str(expected)
    if kind in ("timestamp", "timestamp with time zone", "time"):
        return render_time(actual, str(expected)) == str(expected)
    if kind == "interval":
        return render_interval(actual, str(expected)) == str(expected)
    return bool(actual == expected)


def _floats_match(expected: Any, actual: Any, kind: str) -> bool:
    if not isinstance(actual, float) or isinstance(actual, bool):
        return False
    want = float(expected.replace("Infinity", "inf")) if isinstance(expected, str) else float(expected)
    if math.isnan(want):
        return math.isnan(actual)
    if math.isinf(want) or want == 0:
        return actual == want and math.copysign(1, actual) == math.copysign(1, want)
    if kind == "real":
        want = struct.unpack("f", struct.pack("f", want))[0]
        return math.isclose(actual, want, rel_tol=1e-7)
    return math.isclose(actual, want, rel_tol=1e-15)


def render_time(actual: Any, expected: str) -> str:
    """An actual time value written the way the expected text is (same fraction digits, zone suffix)."""
    digits = 0
    body, zone = expected, ""
    if isinstance(actual, dt.datetime) and actual.tzinfo is not None:
        body, _, zone = expected.rpartition(" ")
        if zone != "UTC":
            return f"<zone {actual.tzinfo}: only UTC can be compared>"
        actual = actual.astimezone(dt.UTC).replace(tzinfo=None)
    if "." in body.split(" ")[-1]:
        digits = len(body.split(".")[-1])
    if isinstance(actual, dt.datetime):
        text = actual.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(actual, dt.time):
        text = actual.strftime("%H:%M:%S")
    else:
        return repr(actual)
    micros = f"{actual.microsecond:06d}"
    if digits or micros.rstrip("0"):
        shown = micros[:digits] if not micros[digits:].strip("0") else micros
        text += "." + shown.ljust(digits, "0")
    return f"{text} {zone}" if zone else text


def render_interval(actual: Any, expected: str) -> str:
    months = getattr(actual, "months", 0)
    days = getattr(actual, "days", 0)
    nanos = getattr(actual, "nanoseconds", 0)
    if isinstance(actual, dt.timedelta):
        days, nanos = actual.days, (actual.seconds * 10**6 + actual.microseconds) * 1000
    if ":" not in expected:
        if days or nanos:
            return f"<{days} days {nanos} ns>"
        sign = "-" if months < 0 else ""
        return f"{sign}{abs(months) // 12}-{abs(months) % 12}"
    if months:
        return f"<{months} months>"
    total_ms = (days * 86_400 * 10**9 + nanos) // 10**6
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    d, rest = divmod(total_ms, 86_400_000)
    h, rest = divmod(rest, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{sign}{d} {h:02d}:{m:02d}:{s:02d}.{ms:03d}"


# -- running ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # pass | refused | wrong | error
    detail: str = ""
    duckdb_sql: str = ""


def is_refusal(exc: BaseException) -> bool:
    from logpipe.errors import AthenaOnlyError

    return isinstance(exc, AthenaOnlyError) or "runs on Athena only" in str(exc)


_ERROR_CODE = re.compile(r"[A-Z][A-Z_]+")
# DuckDB's own failures to bind or plan a statement: a translation bug, never Trino's error.
_TRANSLATION_BUGS = ("Catalog Error", "Binder Error", "Parser Error", "Not implemented Error", "INTERNAL Error",
                     "Internal Error")


def error_matches(expected: str, message: str) -> bool:
    """Whether an error raised locally is the one Trino raises: a case giving Trino's message needs
    that message; a case giving only Trino's error code needs an error that is not DuckDB failing to
    bind the translation (a Catalog or Binder error is a bug, whatever Trino raises)."""
    if any(message.startswith(bug) or f"{bug}:" in message[:40] for bug in _TRANSLATION_BUGS):
        return False
    if _ERROR_CODE.fullmatch(expected):
        return True
    return expected in message


def run_on_duckdb(case: Case, con: Any) -> Outcome:
    """Compile the case as the DuckDB engine does and run it on ``con``."""
    from logpipe.engines.duckdb import compile_duckdb

    try:
        sql, params = compile_duckdb(statement_for(case))
    except Exception as exc:
        if is_refusal(exc):
            return Outcome("refused", str(exc))
        if case.expects_error and error_matches(str(case.error), str(exc)):
            return Outcome("pass", f"compile error as Trino: {exc}")
        return Outcome("error", f"compile: {type(exc).__name__}: {exc}")
    try:
        relation = con.sql(sql, params=params or None)
        kind = duckdb_to_trino(relation.types[0])
        column = relation.to_arrow_table().column(0).to_pylist()
    except Exception as exc:
        if is_refusal(exc):
            return Outcome("refused", str(exc), sql)
        if case.expects_error and error_matches(str(case.error), str(exc)):
            return Outcome("pass", f"error as Trino: {exc}", sql)
        return Outcome("error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}", sql)
    if case.expects_error:
        return Outcome("wrong", f"Trino raises {case.error!r}; DuckDB returned {column!r}", sql)
    assert case.type is not None
    many = bool(case.group or case.order)
    actual = column if many else (column[0] if column else None)
    if not types_match(case.type, kind):
        return Outcome("wrong", f"type {kind} (Trino: {case.type}); value {actual!r}", sql)
    expected = case.value
    if many:
        ok = isinstance(expected, list) and len(actual) == len(expected) and all(
            values_match(e, a, case.type) for e, a in zip(expected, actual, strict=True))
    else:
        ok = values_match(expected, actual, case.type)
    if not ok:
        return Outcome("wrong", f"value {actual!r} (Trino: {expected!r})", sql)
    return Outcome("pass", "", sql)


def run_all(cases: list[Case]) -> Iterator[tuple[Case, Outcome]]:
    from logpipe.config import EngineConfig
    from logpipe.engines.duckdb import open_connection

    con = open_connection(EngineConfig())
    try:
        for case in cases:
            yield case, run_on_duckdb(case, con)
    finally:
        con.close()


def summary(results: list[tuple[Case, Outcome]]) -> Mapping[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for case, outcome in results:
        row = table.setdefault(case.family, {"pass": 0, "refused": 0, "wrong": 0, "error": 0})
        row[outcome.status] += 1
    return table


def main() -> None:  # pragma: no cover - a report for people
    import sys

    results = list(run_all(load_cases()))
    table = summary(results)
    verbose = "-v" in sys.argv
    for case, outcome in results:
        if outcome.status != "pass" and (verbose or outcome.status in ("wrong", "error")):
            print(f"{outcome.status.upper():8} {case.id:14} {case.sql[:90]}\n         {outcome.detail[:400]}")
    total = {k: sum(row[k] for row in table.values()) for k in ("pass", "refused", "wrong", "error")}
    print(f"\n{'family':10} {'cases':>6} {'pass':>6} {'refused':>8} {'wrong':>6} {'error':>6}")
    for family, row in sorted(table.items()):
        print(f"{family:10} {sum(row.values()):6} {row['pass']:6} {row['refused']:8} {row['wrong']:6} {row['error']:6}")
    n = sum(total.values())
    print(f"{'total':10} {n:6} {total['pass']:6} {total['refused']:8} {total['wrong']:6} {total['error']:6}"
          f"   pass rate {100 * total['pass'] / n:.1f}%")


if __name__ == "__main__":  # pragma: no cover
    main()
