"""Trino's types, as the DuckDB translation needs them: to give every result Trino's type (BIGINT, not
HUGEINT; DECIMAL(5,2), not DOUBLE), and to pick the rewrite whose semantics depend on a type (integer
versus decimal division, a varchar's length in ``codepoint``, a zone in a timestamp).

A type is a small immutable value (``TType``) written the way Trino writes it (``decimal(5,2)``,
``array(varchar(3))``, ``timestamp(3) with time zone``); ``common_super_type`` follows Trino's
coercion rules and ``duckdb_type`` names the DuckDB type that carries the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

MAX_DECIMAL = 38
UNBOUNDED = -1  # varchar without a length


@dataclass(frozen=True)
class TType:
    """One Trino type: a base name and its parameters (lengths, precisions, element types)."""

    name: str
    params: tuple = ()

    # -- construction ---------------------------------------------------------------------------------

    @staticmethod
    def varchar(length: int = UNBOUNDED) -> TType:
        return TType("varchar", (length,))

    @staticmethod
    def decimal(precision: int, scale: int) -> TType:
        return TType("decimal", (precision, scale))

    @staticmethod
    def array(element: TType) -> TType:
        return TType("array", (element,))

    @staticmethod
    def map(key: TType, value: TType) -> TType:
        return TType("map", (key, value))

    @staticmethod
    def row(fields: tuple[tuple[str | None, TType], ...]) -> TType:
        return TType("row", fields)

    @staticmethod
    def timestamp(precision: int = 3, tz: bool = False) -> TType:
        return TType("timestamp with time zone" if tz else "timestamp", (precision,))

    # -- queries --------------------------------------------------------------------------------------

    @property
    def is_unknown(self) -> bool:
        return self.name == "unknown"

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_RANK

    @property
    def is_decimal(self) -> bool:
        return self.name == "decimal"

    @property
    def is_floating(self) -> bool:
        return self.name in ("real", "double")

    @property
    def is_numeric(self) -> bool:
        return self.is_integer or self.is_decimal or self.is_floating

    @property
    def is_string(self) -> bool:
        return self.name in ("varchar", "char")

    @property
    def is_timestamp(self) -> bool:
        return self.name in ("timestamp", "timestamp with time zone")

    @property
    def has_zone(self) -> bool:
        return self.name in ("timestamp with time zone", "time with time zone")

    @property
    def length(self) -> int:
        return self.params[0] if self.params else UNBOUNDED

    @property
    def precision(self) -> int:
        return self.params[0]

    @property
    def scale(self) -> int:
        return self.params[1]

    @property
    def element(self) -> TType:
        return self.params[0]

    @property
    def key(self) -> TType:
        return self.params[0]

    @property
    def value(self) -> TType:
        return self.params[1]

    def __str__(self) -> str:
        if self.name == "varchar":
            return "varchar" if self.length == UNBOUNDED else f"varchar({self.length})"
        if self.name == "char":
            return f"char({self.length})"
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.name in ("array",):
            return f"array({self.element})"
        if self.name == "map":
            return f"map({self.key}, {self.value})"
        if self.name == "row":
            return "row(" + ", ".join(f"{n} {t}" if n else str(t) for n, t in self.params) + ")"
        if self.name in ("timestamp", "time"):
            return f"{self.name}({self.params[0]})"
        if self.name in ("timestamp with time zone", "time with time zone"):
            return f"{self.name.split()[0]}({self.params[0]}) with time zone"
        return self.name


UNKNOWN = TType("unknown")
BOOLEAN = TType("boolean")
TINYINT = TType("tinyint")
SMALLINT = TType("smallint")
INTEGER = TType("integer")
BIGINT = TType("bigint")
REAL = TType("real")
DOUBLE = TType("double")
VARCHAR = TType.varchar()
DATE = TType("date")
JSON = TType("json")
VARBINARY = TType("varbinary")
INTERVAL_DS = TType("interval day to second")
INTERVAL_YM = TType("interval year to month")

INTEGER_RANK = {"tinyint": 1, "smallint": 2, "integer": 3, "bigint": 4}
# The decimal an integer type becomes when it meets a decimal (Trino's implicit coercion).
INTEGER_AS_DECIMAL = {"tinyint": (3, 0), "smallint": (5, 0), "integer": (10, 0), "bigint": (19, 0)}
INTEGER_RANGE = {"tinyint": 2**7, "smallint": 2**15, "integer": 2**31, "bigint": 2**63}


class TypeError_(Exception):
    """Two types with no common super type (Trino rejects the query)."""


def common_super_type(a: TType, b: TType) -> TType:
    """The type Trino coerces two types to (CASE branches, ARRAY elements, comparisons)."""
    if a == b:
        return a
    if a.is_unknown:
        return b
    if b.is_unknown:
        return a
    if a.is_integer and b.is_integer:
        return a if INTEGER_RANK[a.name] >= INTEGER_RANK[b.name] else b
    if a.is_numeric and b.is_numeric:
        if "double" in (a.name, b.name):
            return DOUBLE
        if "real" in (a.name, b.name):
            return REAL
        da, db = _as_decimal(a), _as_decimal(b)
        scale = max(da.scale, db.scale)
        digits = max(da.precision - da.scale, db.precision - db.scale)
        return TType.decimal(min(MAX_DECIMAL, digits + scale), scale)
    if a.is_string and b.is_string:
        if a.name == "char" and b.name == "char":
            return TType("char", (max(a.length, b.length),))
        if UNBOUNDED in (a.length, b.length):
            return VARCHAR
        return TType.varchar(max(a.length, b.length))
    if {a.name, b.name} <= {"date", "timestamp", "timestamp with time zone"}:
        tz = "timestamp with time zone" in (a.name, b.name)
        precision = max(t.params[0] if t.params else 0 for t in (a, b))
        return TType.timestamp(precision, tz)
    if a.name == b.name == "time":
        return TType("time", (max(a.params[0], b.params[0]),))
    if a.name == b.name == "array":
        return TType.array(common_super_type(a.element, b.element))
    if a.name == b.name == "map":
        return TType.map(common_super_type(a.key, b.key), common_super_type(a.value, b.value))
    if a.name == b.name == "row" and len(a.params) == len(b.params):
        return TType.row(tuple((na if na == nb else None, common_super_type(ta, tb))
                               for (na, ta), (nb, tb) in zip(a.params, b.params, strict=True)))
    if {a.name, b.name} <= {"interval day to second"} or {a.name, b.name} <= {"interval year to month"}:
        return a
    raise TypeError_(f"no common type for {a} and {b}")


def _as_decimal(t: TType) -> TType:
    if t.is_decimal:
        return t
    precision, scale = INTEGER_AS_DECIMAL[t.name]
    return TType.decimal(precision, scale)


def as_decimal(t: TType) -> TType:
    """An integer or decimal type as the decimal Trino computes with."""
    return _as_decimal(t)


# -- DuckDB -----------------------------------------------------------------------------------------

_DUCK_SCALAR = {
    "boolean": "BOOLEAN", "tinyint": "TINYINT", "smallint": "SMALLINT", "integer": "INTEGER",
    "bigint": "BIGINT", "real": "FLOAT", "double": "DOUBLE", "varchar": "VARCHAR", "char": "VARCHAR",
    "varbinary": "BLOB", "date": "DATE", "json": "JSON", "interval day to second": "INTERVAL",
    "interval year to month": "INTERVAL", "uuid": "UUID", "ipaddress": "VARCHAR",
}


class NoDuckDBType(Exception):
    """A Trino type DuckDB cannot hold with the same values (a timestamp finer than microseconds)."""


def duckdb_type_sql(t: TType) -> str:
    """The DuckDB type (as DuckDB SQL) that holds exactly the values of a Trino type."""
    if t.name in _DUCK_SCALAR:
        return _DUCK_SCALAR[t.name]
    if t.name == "decimal":
        return f"DECIMAL({t.precision},{t.scale})"
    if t.name == "timestamp":
        if t.params[0] > 6:
            raise NoDuckDBType(f"{t} (DuckDB timestamps hold microseconds)")
        return "TIMESTAMP"
    if t.name == "timestamp with time zone":
        if t.params[0] > 6:
            raise NoDuckDBType(f"{t} (DuckDB timestamps hold microseconds)")
        return "TIMESTAMPTZ"
    if t.name == "time":
        if t.params[0] > 6:
            raise NoDuckDBType(f"{t} (DuckDB times hold microseconds)")
        return "TIME"
    if t.name == "array":
        return duckdb_type_sql(t.element) + "[]"
    if t.name == "map":
        return f"MAP({duckdb_type_sql(t.key)}, {duckdb_type_sql(t.value)})"
    if t.name == "row":
        fields = ", ".join(f'"{(n or f"field{i}").replace(chr(34), chr(34) * 2)}" {duckdb_type_sql(ft)}'
                           for i, (n, ft) in enumerate(t.params))
        return f"STRUCT({fields})"
    if t.name == "unknown":
        return "INTEGER"
    raise NoDuckDBType(str(t))


def duckdb_datatype(t: TType) -> exp.DataType:
    return exp.DataType.build(duckdb_type_sql(t), dialect="duckdb")


# -- parsing Trino type names -----------------------------------------------------------------------

_SIMPLE = {
    "boolean": BOOLEAN, "tinyint": TINYINT, "smallint": SMALLINT, "integer": INTEGER, "int": INTEGER,
    "bigint": BIGINT, "real": REAL, "float": REAL, "double": DOUBLE, "double precision": DOUBLE,
    "date": DATE, "json": JSON, "varbinary": VARBINARY, "uuid": TType("uuid"),
    "ipaddress": TType("ipaddress"), "unknown": UNKNOWN,
}


def parse_type(text: str) -> TType:
    """A Trino type name (``decimal(10, 2)``, ``array(map(varchar, bigint))``, ``row(a bigint)``)."""
    text = " ".join(text.strip().lower().split())
    if text in _SIMPLE:
        return _SIMPLE[text]
    if text == "varchar":
        return VARCHAR
    if text == "decimal":
        return TType.decimal(38, 0)
    match = re.fullmatch(r"(varchar|char)\((\d+)\)", text)
    if match:
        return TType(match.group(1), (int(match.group(2)),))
    if text == "char":
        return TType("char", (1,))
    match = re.fullmatch(r"decimal\((\d+)(?:,\s*(\d+))?\)", text)
    if match:
        return TType.decimal(int(match.group(1)), int(match.group(2) or 0))
    match = re.fullmatch(r"(timestamp|time)(?:\((\d+)\))?( with time zone)?", text)
    if match:
        precision = int(match.group(2)) if match.group(2) else 3
        name = match.group(1) + (" with time zone" if match.group(3) else "")
        return TType(name, (precision,))
    if text.startswith("interval"):
        return INTERVAL_YM if "month" in text or "year" in text else INTERVAL_DS
    match = re.fullmatch(r"(array|map|row)\((.*)\)", text)
    if match:
        parts = _split(match.group(2))
        if match.group(1) == "array":
            return TType.array(parse_type(parts[0]))
        if match.group(1) == "map":
            return TType.map(parse_type(parts[0]), parse_type(parts[1]))
        fields = []
        for part in parts:
            field = re.fullmatch(r'("?[A-Za-z_][\w]*"?) (.+)', part)
            if field and field.group(2).split("(")[0] in _FIELD_TYPE_STARTS:
                fields.append((field.group(1).strip('"'), parse_type(field.group(2))))
            else:
                fields.append((None, parse_type(part)))
        return TType.row(tuple(fields))
    raise ValueError(f"unsupported type {text!r}")


_FIELD_TYPE_STARTS = {"boolean", "tinyint", "smallint", "integer", "int", "bigint", "real", "double", "date",
                      "json", "varbinary", "varchar", "char", "decimal", "timestamp", "time", "array", "map",
                      "row", "interval", "uuid", "ipaddress", "float"}


def _split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def from_datatype(node: exp.DataType) -> TType:
    """The Trino type of a parsed ``CAST(... AS <type>)`` target."""
    return parse_type(node.sql(dialect="trino"))
