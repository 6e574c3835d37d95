"""Trino's date and time functions on DuckDB.

DuckDB's TIMESTAMPTZ holds an instant; Trino's ``timestamp with time zone`` holds an instant and a
zone. The zone is tracked statically (``Typed.zone``): a literal's zone, the zone of ``AT TIME ZONE``,
or DYNAMIC for values parsed from text (``from_iso8601_timestamp``), checked per row where the zone
matters (the hour of the day, a formatted text) and refused unless it is UTC. Fields (``hour()``,
``date_trunc``, ``date_add`` by days) are computed on the wall clock of the value's zone, as Trino does.

Formats: ``date_format``/``date_parse`` take MySQL specifiers, ``format_datetime``/``parse_datetime``
Joda patterns; both are translated when the query is compiled (the format must be a literal or a
parameter) into DuckDB ``strftime`` formats and RE2 patterns. ``date_diff`` counts whole units
(Joda's rule, which DuckDB's ``date_sub`` follows), not boundaries crossed (DuckDB's ``date_diff``).
"""

from __future__ import annotations

import re

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.casts import cast_value, from_local, local_time
from logpipe.engines.trino.compiler import (
    DYNAMIC,
    Call,
    Compiler,
    Scope,
    TrinoError,
    Typed,
    expression,
    refuse,
    rewrite,
)
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lit
from logpipe.engines.trino.literals import zone_offset_minutes
from logpipe.engines.trino.types import TType

TSTZ3 = TType.timestamp(3, tz=True)
TS3 = TType.timestamp(3)
TIME_TYPES = ("date", "timestamp", "timestamp with time zone", "time")


def _zone_name(c: Compiler, call: Call, arg: Typed) -> str:
    """A zone argument, which must be known when the query is compiled."""
    known, value = c.known(arg)
    if not known or value is None:
        raise refuse(f"{call.name}()", "the time zone must be a literal or a parameter to run locally")
    return normalize_zone(str(value))


def normalize_zone(zone: str) -> str:
    """A Trino zone as tracked here: 'UTC', a fixed offset '+07:09', or a region name."""
    text = zone.strip()
    offset = zone_offset_minutes(text)
    if offset == 0:
        return "UTC"
    if offset is not None:
        sign = "-" if offset < 0 else "+"
        return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    if not re.fullmatch(r"[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*", text):
        raise TrinoError(f"Time zone not supported: {zone}")
    return text


def wall_clock(c: Compiler, value: Typed) -> exp.Expression:
    """A DuckDB TIMESTAMP (or TIME) holding the value's fields as Trino sees them."""
    name = value.type.name
    if name == "timestamp with time zone":
        return local_time(c, value)
    if name == "date":
        return exp.cast(value.node, "TIMESTAMP")
    return value.node


def _temporal(c: Compiler, call: Call, value: Typed, allowed: tuple[str, ...] = TIME_TYPES) -> Typed:
    if value.type.is_unknown:
        return Typed(exp.cast(exp.Null(), "TIMESTAMP"), TS3)
    if value.type.name not in allowed:
        raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}")
    return value


def _unit(c: Compiler, call: Call, arg: Typed, allowed: tuple[str, ...]) -> str:
    known, value = c.known(arg)
    if not known:
        raise refuse(f"{call.name}()", "the unit must be a literal or a parameter to run locally")
    if value is None:
        return ""
    unit = str(value).strip().lower()
    if unit not in allowed:
        raise TrinoError(f"'{value}' is not a valid {call.name.split('_')[-1]} field")
    return unit


TIME_UNITS = ("millisecond", "second", "minute", "hour")
DATE_UNITS = ("day", "week", "month", "quarter", "year")


def _units_for(kind: TType) -> tuple[str, ...]:
    if kind.name == "date":
        return DATE_UNITS
    if kind.name == "time":
        return TIME_UNITS
    return TIME_UNITS + DATE_UNITS


def _null(kind: TType) -> Typed:
    return Typed(exp.cast(exp.Null(), tt.duckdb_type_sql(kind)), kind)


# -- fields -------------------------------------------------------------------------------------------

_PARTS = {
    "year": "year", "quarter": "quarter", "month": "month", "week": "week", "week_of_year": "week",
    "day": "day", "day_of_month": "day", "day_of_week": "isodow", "dow": "isodow", "day_of_year": "doy",
    "doy": "doy", "year_of_week": "isoyear", "yow": "isoyear", "hour": "hour", "minute": "minute",
    "second": "second", "millisecond": "millisecond",
}
_TIME_PARTS = ("hour", "minute", "second", "millisecond")


def field_of(c: Compiler, name: str, value: Typed) -> Typed:
    """``year(x)``, ``hour(x)`` ... and EXTRACT: a field of a date, time, timestamp or interval."""
    kind = value.type
    if kind.is_unknown:
        return _null(tt.BIGINT)
    if name in ("timezone_hour", "timezone_minute"):
        if kind.name != "timestamp with time zone":
            raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
        offset = T("CAST((epoch_ms({0}) - epoch_ms(CAST({1} AS TIMESTAMP))) // 60000 AS BIGINT)",
                   local_time(c, value), value.node)
        node = T("CAST({0} // 60 AS BIGINT)" if name == "timezone_hour" else "CAST({0} % 60 AS BIGINT)", offset)
        return Typed(node, tt.BIGINT)
    if kind.name == "interval day to second":
        ms = T("epoch_ms({0})", value)
        formulas = {"day": "{0} // 86400000", "hour": "{0} // 3600000 % 24", "minute": "{0} // 60000 % 60",
                    "second": "{0} // 1000 % 60", "millisecond": "{0} % 1000"}
        if name not in formulas:
            raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
        return Typed(T(f"CAST({formulas[name]} AS BIGINT)", ms), tt.BIGINT)
    if kind.name == "interval year to month":
        months = T("({0} * 12 + {1})", fn("datepart", lit("year"), value), fn("datepart", lit("month"), value))
        formulas = {"year": "{0} // 12", "month": "{0} % 12"}
        if name not in formulas:
            raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
        return Typed(T(f"CAST({formulas[name]} AS BIGINT)", months), tt.BIGINT)
    if name not in _PARTS:
        raise TrinoError(f"Invalid EXTRACT field: {name}")
    if kind.name == "time" and name not in _TIME_PARTS:
        raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
    if kind.name == "date" and name in _TIME_PARTS:
        raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
    if kind.name not in TIME_TYPES:
        raise TrinoError(f"Unexpected parameters ({kind}) for function {name}")
    clock = wall_clock(c, value)
    part = _PARTS[name]
    node = fn("datepart", lit(part), clock)
    if name == "millisecond":
        node = T("{0} % 1000", node)
    return Typed(T("CAST({0} AS BIGINT)", node), tt.BIGINT)


@rewrite(*_PARTS, "timezone_hour", "timezone_minute")
def _field(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    return field_of(c, call.name, value)


@expression(exp.Extract)
def _extract(c: Compiler, node: exp.Extract, scope: Scope) -> Typed:
    name = node.this.name.lower()
    value = c.expr(node.expression, scope)
    return field_of(c, name, value)


@rewrite("last_day_of_month")
def _last_day_of_month(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    value = _temporal(c, call, value, ("date", "timestamp", "timestamp with time zone"))
    return Typed(T("last_day({0})", wall_clock(c, value)), tt.DATE)


# -- truncation and arithmetic -------------------------------------------------------------------------


_INTERVALS = {
    "millisecond": "to_microseconds({0} * 1000)", "second": "to_seconds({0})", "minute": "to_minutes({0})",
    "hour": "to_hours({0})", "day": "to_days({0})", "week": "to_days({0} * 7)", "month": "to_months({0})",
    "quarter": "to_months({0} * 3)", "year": "to_years({0})",
}


def _interval(unit: str, n: exp.Expression) -> exp.Expression:
    return T(_INTERVALS[unit], n)


@rewrite("date_trunc")
def _date_trunc(c: Compiler, call: Call) -> Typed:
    unit_arg, value = args_of(c, call, 2)
    value = _temporal(c, call, value)
    unit = _unit(c, call, unit_arg, _units_for(value.type))
    kind = value.type
    if not unit:
        return _null(kind)
    if kind.name == "date":
        return Typed(T("CAST({0} AS DATE)", fn("date_trunc", lit(unit), value)), kind)
    if kind.name == "time":
        return Typed(T("CAST({0} AS TIME)", fn("date_trunc", lit(unit), T("DATE '1970-01-01' + {0}", value))), kind)
    if kind.name == "timestamp":
        return Typed(fn("date_trunc", lit(unit), value), kind)
    if unit in ("millisecond", "second", "minute") and value.zone != DYNAMIC:
        # Whole minutes: the same instant in every zone with a whole-minute offset.
        return Typed(T("CAST({0} AS TIMESTAMPTZ)", fn("date_trunc", lit(unit), T("CAST({0} AS TIMESTAMP)", value))), kind,
                     zone=value.zone, zone_ok=value.zone_ok)
    zone = "UTC" if value.zone == DYNAMIC else value.zone
    local = fn("date_trunc", lit(unit), local_time(c, value))
    return Typed(from_local(zone, local), kind, zone=zone)


@rewrite("date_add")
def _date_add(c: Compiler, call: Call) -> Typed:
    unit_arg, amount, value = args_of(c, call, 3)
    value = _temporal(c, call, value)
    unit = _unit(c, call, unit_arg, _units_for(value.type))
    kind = value.type
    if not (amount.type.is_integer or amount.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({amount.type}) for function date_add")
    if not unit:
        return _null(kind)
    delta = _interval(unit, c.cast(amount.node, tt.BIGINT))
    if kind.name == "date":
        return Typed(T("CAST({0} + {1} AS DATE)", value, delta), kind)
    if kind.name == "time":
        return Typed(T("CAST(DATE '1970-01-01' + {0} + {1} AS TIME)", value, delta), kind)
    if kind.name == "timestamp":
        return Typed(T("({0} + {1})", value, delta), kind)
    if unit in TIME_UNITS:  # exact durations: the same on the instant in every zone
        return Typed(T("({0} + {1})", value, delta), kind, zone=value.zone, zone_ok=value.zone_ok)
    zone = "UTC" if value.zone == DYNAMIC else value.zone
    return Typed(from_local(zone, T("({0} + {1})", local_time(c, value), delta)), kind, zone=zone)


@rewrite("date_diff")
def _date_diff(c: Compiler, call: Call) -> Typed:
    unit_arg, a, b = args_of(c, call, 3)
    a, b = _temporal(c, call, a), _temporal(c, call, b)
    try:
        common = tt.common_super_type(a.type, b.type)
    except tt.TypeError_:
        raise TrinoError(f"Unexpected parameters ({a.type}, {b.type}) for function date_diff") from None
    unit = _unit(c, call, unit_arg, _units_for(common))
    if not unit:
        return _null(tt.BIGINT)
    if common.name == "timestamp with time zone":
        if unit in TIME_UNITS:
            x, y = T("CAST({0} AS TIMESTAMP)", c.coerce(a, common)), T("CAST({0} AS TIMESTAMP)", c.coerce(b, common))
        else:
            # Trino counts days and months on the first value's wall clock, for both values.
            zone_of_a = a if a.type.name == "timestamp with time zone" else Typed(a.node, common)
            x = local_time(c, Typed(c.coerce(a, common), common, zone=zone_of_a.zone, zone_ok=zone_of_a.zone_ok))
            y = local_time(c, Typed(c.coerce(b, common), common, zone=zone_of_a.zone, zone_ok=zone_of_a.zone_ok))
    elif common.name == "time":
        x, y = T("DATE '1970-01-01' + {0}", a), T("DATE '1970-01-01' + {0}", b)
    else:
        x, y = c.coerce(a, common), c.coerce(b, common)
    return Typed(T("CAST({0} AS BIGINT)", fn("date_sub", lit(unit), x, y)), tt.BIGINT)


# -- zones ------------------------------------------------------------------------------------------------


@expression(exp.AtTimeZone)
def _at_time_zone(c: Compiler, node: exp.AtTimeZone, scope: Scope) -> Typed:
    value = c.expr(node.this, scope)
    zone_arg = c.expr(node.args["zone"], scope)
    return at_zone(c, Call("at_timezone", [], scope, node), value, zone_arg)


def at_zone(c: Compiler, call: Call, value: Typed, zone_arg: Typed) -> Typed:
    if zone_arg.type.name.startswith("interval"):
        raise refuse("AT TIME ZONE INTERVAL", "an interval as a zone is not supported locally")
    zone = _zone_name(c, call, zone_arg)
    if value.type.is_unknown:
        return Typed(exp.cast(exp.Null(), "TIMESTAMPTZ"), TSTZ3, zone=zone)
    if value.type.name == "timestamp":
        # A timestamp without zone is first read in the session zone (UTC).
        kind = TType.timestamp(value.type.precision, tz=True)
        return Typed(exp.cast(value.node, "TIMESTAMPTZ"), kind, zone=zone)
    if value.type.name != "timestamp with time zone":
        raise TrinoError(f"Unexpected parameters ({value.type}) for AT TIME ZONE")
    return Typed(value.node, value.type, zone=zone)


@rewrite("at_timezone")
def _at_timezone(c: Compiler, call: Call) -> Typed:
    value, zone = args_of(c, call, 2)
    return at_zone(c, call, value, zone)


@rewrite("with_timezone")
def _with_timezone(c: Compiler, call: Call) -> Typed:
    value, zone_arg = args_of(c, call, 2)
    zone = _zone_name(c, call, zone_arg)
    if value.type.name != "timestamp":
        raise TrinoError(f"Unexpected parameters ({value.type}) for function with_timezone")
    kind = TType.timestamp(value.type.precision, tz=True)
    return Typed(from_local(zone, value.node), kind, zone=zone)


@rewrite("current_timezone")
def _current_timezone(c: Compiler, call: Call) -> Typed:
    args_of(c, call, 0)
    return Typed(lit("UTC"), tt.VARCHAR)


@rewrite("now", "current_timestamp")
def _now(c: Compiler, call: Call) -> Typed:
    args_of(c, call, 0)
    return Typed(T("CAST(date_trunc('millisecond', get_current_timestamp()) AS TIMESTAMPTZ)"), TSTZ3)


@expression(exp.CurrentTimestamp)
def _current_timestamp(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    if node.this is not None:
        raise refuse("CURRENT_TIMESTAMP(p)", "a precision is not supported locally")
    return Typed(T("CAST(date_trunc('millisecond', get_current_timestamp()) AS TIMESTAMPTZ)"), TSTZ3)


@expression(exp.CurrentDate)
def _current_date(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    return Typed(T("CAST(get_current_timestamp() AS DATE)"), tt.DATE)


@expression(exp.Localtimestamp)
def _localtimestamp(c: Compiler, node: exp.Expression, scope: Scope) -> Typed:
    return Typed(T("date_trunc('millisecond', CAST(get_current_timestamp() AS TIMESTAMP))"), TS3)


# -- unix time ------------------------------------------------------------------------------------------


@rewrite("to_unixtime")
def _to_unixtime(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    value = _temporal(c, call, value, ("timestamp", "timestamp with time zone"))
    return Typed(T("epoch({0})", value), tt.DOUBLE)


@rewrite("from_unixtime")
def _from_unixtime(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (1, 2, 3))
    seconds = args[0]
    if not (seconds.type.is_numeric or seconds.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({seconds.type}) for function from_unixtime")
    x = c.cast(seconds.node, tt.DOUBLE)
    node = T("CASE WHEN isnan({0}) OR isinf({0}) THEN {1} "
             "ELSE CAST(make_timestamp(CAST(floor({0} * 1000 + 0.5) AS BIGINT) * 1000) AS TIMESTAMPTZ) END",
             x, fail(c, "Invalid unix time"))
    zone = "UTC"
    if len(args) == 2:
        zone = _zone_name(c, call, args[1])
    elif len(args) == 3:
        hours_known, hours = c.known(args[1])
        minutes_known, minutes = c.known(args[2])
        if not (hours_known and minutes_known) or hours is None or minutes is None:
            raise refuse("from_unixtime(x, hours, minutes)", "the offset must be literals to run locally")
        total = int(hours) * 60 + int(minutes)
        zone = normalize_zone(f"{'-' if total < 0 else '+'}{abs(total) // 60:02d}:{abs(total) % 60:02d}")
    return Typed(node, TSTZ3, zone=zone)


@rewrite("to_milliseconds")
def _to_milliseconds(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if value.type.name != "interval day to second":
        raise TrinoError(f"Unexpected parameters ({value.type}) for function to_milliseconds")
    return Typed(T("CAST(epoch_ms({0}) AS BIGINT)", value), tt.BIGINT)


# -- ISO 8601 -----------------------------------------------------------------------------------------


@rewrite("from_iso8601_date")
def _from_iso8601_date(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if not (value.type.is_string or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function from_iso8601_date")
    return Typed(fn("lp_from_iso8601_date", c.coerce(value, tt.VARCHAR), c.flag()), tt.DATE)


@rewrite("from_iso8601_timestamp")
def _from_iso8601_timestamp(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if not (value.type.is_string or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function from_iso8601_timestamp")
    text = c.coerce(value, tt.VARCHAR)
    node = fn("lp_from_iso8601_timestamp", text, c.flag())
    known, constant = c.known(value)
    if known and constant is not None:
        match = re.search(r"(Z|[+-]\d{2}(?::?\d{2})?)$", str(constant).strip())
        zone = normalize_zone(match.group(1)) if match else "UTC"
        return Typed(node, TSTZ3, zone=zone)
    return Typed(node, TSTZ3, zone=DYNAMIC, zone_ok=fn("lp_iso8601_in_utc", text))


@rewrite("from_iso8601_timestamp_nanos", "from_unixtime_nanos", "parse_datetime_nanos")
def _nanos(c: Compiler, call: Call) -> Typed:
    raise refuse(f"{call.name}()", "DuckDB timestamps hold microseconds, not nanoseconds")


@rewrite("to_iso8601")
def _to_iso8601(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    value = _temporal(c, call, value, ("date", "timestamp", "timestamp with time zone"))
    kind = value.type
    if kind.name == "date":
        return Typed(T("strftime({0}, '%Y-%m-%d')", value), tt.VARCHAR)
    precision = kind.precision
    clock = wall_clock(c, value)
    body = T("strftime({0}, '%Y-%m-%dT%H:%M:%S')", clock)
    if precision > 0:
        body = T("{0} || '.' || left(strftime({1}, '%f'), {2})", body, clock, lit(min(precision, 6)))
    if kind.name == "timestamp":
        return Typed(body, tt.VARCHAR)
    zone = "UTC" if value.zone == DYNAMIC else value.zone
    if zone == "UTC":
        suffix = lit("Z")
    elif zone[:1] in "+-":
        suffix = lit(zone)
    else:
        minutes = T("CAST((epoch_ms({0}) - epoch_ms(CAST({1} AS TIMESTAMP))) // 60000 AS BIGINT)", clock, value.node)
        suffix = T("CASE WHEN {0} = 0 THEN 'Z' ELSE (CASE WHEN {0} < 0 THEN '-' ELSE '+' END) || "
                   "lpad(CAST(abs({0}) // 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(abs({0}) % 60 AS VARCHAR), 2, '0') END",
                   minutes)
    return Typed(T("{0} || {1}", body, suffix), tt.VARCHAR)


# -- formats ----------------------------------------------------------------------------------------------

_MYSQL_FORMAT = {
    "a": "%a", "b": "%b", "c": "%-m", "d": "%d", "e": "%-d", "f": "%f", "H": "%H", "h": "%I", "I": "%I",
    "i": "%M", "j": "%j", "k": "%-H", "l": "%-I", "M": "%B", "m": "%m", "p": "%p", "r": "%I:%M:%S %p",
    "S": "%S", "s": "%S", "T": "%H:%M:%S", "v": "%V", "W": "%A", "x": "%G", "Y": "%Y", "y": "%y", "%": "%%",
}
_MYSQL_UNSUPPORTED = "DUuVwX"


def mysql_to_strftime(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec in _MYSQL_UNSUPPORTED:
                raise TrinoError(f"%{spec} not supported in date format string")
            out.append(_MYSQL_FORMAT.get(spec, "%%" if spec == "%" else spec))
            i += 2
        else:
            out.append("%%" if ch == "%" else ch)
            i += 1
    return "".join(out)


def _known_text(c: Compiler, call: Call, arg: Typed, what: str) -> str | None:
    if not (arg.type.is_string or arg.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({arg.type}) for function {call.name}")
    known, value = c.known(arg)
    if not known:
        raise refuse(f"{call.name}()", f"the {what} must be a literal or a parameter to run locally")
    return None if value is None else str(value)


@rewrite("date_format")
def _date_format(c: Compiler, call: Call) -> Typed:
    value, fmt_arg = args_of(c, call, 2)
    value = _temporal(c, call, value, ("date", "timestamp", "timestamp with time zone"))
    fmt = _known_text(c, call, fmt_arg, "format")
    if fmt is None:
        return _null(tt.VARCHAR)
    return Typed(T("strftime({0}, {1})", wall_clock(c, value), lit(mysql_to_strftime(fmt))), tt.VARCHAR)


def _joda_tokens(pattern: str) -> list[tuple[str, str]]:
    """A Joda pattern as (letter run, '') tokens and ('', literal) tokens."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:
                tokens.append(("", "'"))
                i += 2
                continue
            if end < 0:
                raise TrinoError(f"Invalid format: unterminated quote in {pattern!r}")
            tokens.append(("", pattern[i + 1:end]))
            i = end + 1
        elif ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            tokens.append((pattern[i:j], ""))
            i = j
        else:
            tokens.append(("", ch))
            i += 1
    return tokens


def _joda_format_piece(c: Compiler, run: str, value: Typed, clock: exp.Expression) -> exp.Expression:
    letter, n = run[0], len(run)
    simple = {
        "y": "%y" if n == 2 else "%Y", "Y": "%y" if n == 2 else "%Y", "x": "%G",
        "M": {1: "%-m", 2: "%m", 3: "%b"}.get(n, "%B"), "d": "%-d" if n == 1 else "%d",
        "D": "%-j" if n == 1 else "%j", "H": "%-H" if n == 1 else "%H", "h": "%-I" if n == 1 else "%I",
        "m": "%-M" if n == 1 else "%M", "s": "%-S" if n == 1 else "%S", "a": "%p",
        "E": "%A" if n >= 4 else "%a", "w": "%-V" if n == 1 else "%V", "e": "%u", "G": "AD",
    }
    if letter in "yYx" and n not in (1, 2, 4):
        raise refuse(f"format_datetime pattern {run!r}", "this year width is not supported locally")
    if letter == "x" and n == 2:
        raise refuse(f"format_datetime pattern {run!r}", "a two-digit week year is not supported locally")
    if letter in simple:
        return T("strftime({0}, {1})", clock, lit(simple[letter]))
    if letter == "S":
        digits = T("left(strftime({0}, '%f'), {1})", clock, lit(min(n, 6)))
        return T("rpad({0}, {1}, '0')", digits, lit(n)) if n > 6 else digits
    if letter == "Z":
        zone = "UTC" if value.zone == DYNAMIC or value.type.name != "timestamp with time zone" else value.zone
        if n >= 3:
            return lit(zone)
        if zone == "UTC":
            return lit("+0000" if n == 1 else "+00:00")
        if zone[:1] in "+-":
            return lit(zone.replace(":", "") if n == 1 else zone)
        minutes = T("CAST((epoch_ms({0}) - epoch_ms(CAST({1} AS TIMESTAMP))) // 60000 AS BIGINT)", clock, value.node)
        sep = "" if n == 1 else ":"
        return T(f"(CASE WHEN {{0}} < 0 THEN '-' ELSE '+' END) || lpad(CAST(abs({{0}}) // 60 AS VARCHAR), 2, '0') "
                 f"|| '{sep}' || lpad(CAST(abs({{0}}) % 60 AS VARCHAR), 2, '0')", minutes)
    if letter == "z" and (value.zone == "UTC" or value.type.name != "timestamp with time zone"):
        return lit("UTC")
    raise refuse(f"format_datetime pattern letter {letter!r}", "not supported locally")


@rewrite("format_datetime")
def _format_datetime(c: Compiler, call: Call) -> Typed:
    value, fmt_arg = args_of(c, call, 2)
    value = _temporal(c, call, value, ("timestamp", "timestamp with time zone"))
    fmt = _known_text(c, call, fmt_arg, "format")
    if fmt is None:
        return _null(tt.VARCHAR)
    clock = wall_clock(c, value)
    pieces = []
    for run, text in _joda_tokens(fmt):
        pieces.append(lit(text) if not run else _joda_format_piece(c, run, value, clock))
    node = pieces[0] if pieces else lit("")
    for piece in pieces[1:]:
        node = exp.DPipe(this=node, expression=piece, safe=False)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", value, node), tt.VARCHAR)


# -- parsing ----------------------------------------------------------------------------------------------

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]


class _Parser:
    """A format turned into one RE2 pattern whose groups are the date-time fields."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.fields: dict[str, int] = {}
        self.groups = 0

    def literal(self, text: str) -> None:
        self.parts.append(re.escape(text) if text else "")

    def field(self, name: str, pattern: str) -> None:
        self.groups += 1
        self.fields[name] = self.groups  # the last occurrence wins, as in Joda
        self.parts.append(f"({pattern})")

    @property
    def pattern(self) -> str:
        return "".join(self.parts)


def _mysql_parser(fmt: str) -> _Parser:
    p = _Parser()
    numeric = {"Y": ("year", "[+-]?[0-9]{1,4}"), "y": ("year2", "[0-9]{2}"), "m": ("month", "[0-9]{1,2}"),
               "c": ("month", "[0-9]{1,2}"), "d": ("day", "[0-9]{1,2}"), "e": ("day", "[0-9]{1,2}"),
               "H": ("hour", "[0-9]{1,2}"), "k": ("hour", "[0-9]{1,2}"), "h": ("hour12", "[0-9]{1,2}"),
               "I": ("hour12", "[0-9]{1,2}"), "l": ("hour12", "[0-9]{1,2}"), "i": ("minute", "[0-9]{1,2}"),
               "s": ("second", "[0-9]{1,2}"), "S": ("second", "[0-9]{1,2}"), "f": ("fraction", "[0-9]{1,9}"),
               "j": ("doy", "[0-9]{1,3}"), "v": ("week", "[0-9]{1,2}"), "x": ("weekyear", "[0-9]{1,4}"),
               "p": ("ampm", "(?i:AM|PM)"), "b": ("monthtext", "(?i:[a-z]{3})"), "M": ("monthname", "(?i:[a-z]+)")}
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            i += 2
            if spec in _MYSQL_UNSUPPORTED:
                raise TrinoError(f"%{spec} not supported in date format string")
            if spec == "T":
                for name, pat, sep in (("hour", "[0-9]{1,2}", ":"), ("minute", "[0-9]{1,2}", ":"), ("second", "[0-9]{1,2}", "")):
                    p.field(name, pat)
                    p.literal(sep)
            elif spec == "r":
                for name, pat, sep in (("hour12", "[0-9]{1,2}", ":"), ("minute", "[0-9]{1,2}", ":"),
                                       ("second", "[0-9]{1,2}", " ")):
                    p.field(name, pat)
                    p.literal(sep)
                p.field("ampm", "(?i:AM|PM)")
            elif spec in ("a", "W"):
                raise refuse(f"date_parse with %{spec}", "parsing a day name is not supported locally")
            elif spec in numeric:
                name, pat = numeric[spec]
                p.field(name, pat)
            else:
                p.literal(spec)
        else:
            p.literal(ch)
            i += 1
    return p


def _joda_parser(fmt: str) -> _Parser:
    p = _Parser()
    for run, text in _joda_tokens(fmt):
        if not run:
            p.literal(text)
            continue
        letter, n = run[0], len(run)
        width = f"{{{n}}}" if n > 1 else "{1,2}"
        if letter in "yY":
            p.field("year2" if n == 2 else "year", "[0-9]{2}" if n == 2 else "[+-]?[0-9]{1,9}")
        elif letter == "x":
            p.field("weekyear", "[0-9]{1,9}")
        elif letter == "w":
            p.field("week", "[0-9]" + width)
        elif letter == "M":
            if n >= 3:
                p.field("monthname" if n >= 4 else "monthtext", "(?i:[a-z]+)")
            else:
                p.field("month", "[0-9]" + width)
        elif letter in "dHhms":
            p.field({"d": "day", "H": "hour", "h": "hour12", "m": "minute", "s": "second"}[letter], "[0-9]" + width)
        elif letter == "D":
            p.field("doy", "[0-9]{1,3}")
        elif letter == "S":
            p.field("fraction", "[0-9]{1,9}")
        elif letter == "a":
            p.field("ampm", "(?i:AM|PM)")
        elif letter == "Z" and n <= 2:
            p.field("offset", "Z|[+-][0-9]{2}:?[0-9]{2}")
        else:
            raise refuse(f"parse_datetime pattern letter {letter!r}", "not supported locally")
    return p


def _build_timestamp(c: Compiler, s: exp.Expression, parser: _Parser, name: str) -> tuple[exp.Expression, exp.Expression | None]:
    """(the parsed wall-clock TIMESTAMP, the offset text expression if the format has one)."""
    pattern = parser.pattern
    fields = parser.fields

    def group(field: str) -> exp.Expression:
        return T("regexp_extract({0}, {1}, {2})", s, lit("^" + pattern + "$"), lit(fields[field]))

    def number(field: str, default: int) -> exp.Expression:
        return T("CAST({0} AS BIGINT)", group(field)) if field in fields else lit(default)

    if "year2" in fields and ("year" not in fields or fields["year2"] > fields["year"]):
        year = T("CASE WHEN CAST({0} AS BIGINT) < 70 THEN 2000 ELSE 1900 END + CAST({0} AS BIGINT)", group("year2"))
    else:
        year = number("year", 1970)
    if "monthname" in fields or "monthtext" in fields:
        key = "monthname" if "monthname" in fields else "monthtext"
        names = "[" + ", ".join(f"'{m if key == 'monthname' else m[:3]}'" for m in _MONTHS) + "]"
        month = T(f"list_position({names}, lower({{0}}))", group(key))
    else:
        month = number("month", 1)
    hour = number("hour", 0)
    if "hour12" in fields:
        pm = T("upper({0}) = 'PM'", group("ampm")) if "ampm" in fields else exp.false()
        hour = T("CASE WHEN CAST({0} AS BIGINT) BETWEEN 1 AND 12 THEN CAST({0} AS BIGINT) % 12 + CASE WHEN {1} THEN 12 ELSE 0 END END",
                 group("hour12"), pm)
    minute, second = number("minute", 0), number("second", 0)
    millis = T("CAST(rpad(left({0}, 3), 3, '0') AS BIGINT)", group("fraction")) if "fraction" in fields else lit(0)
    if "weekyear" in fields or "week" in fields:
        if "weekyear" not in fields or "week" not in fields or "day" in fields or "month" in fields:
            raise refuse(f"{name} with a week", "only a week year with a week is supported locally")
        jan4 = T("make_date(CAST({0} AS INTEGER), 1, 4)", number("weekyear", 1970))
        day = T("CAST({0} - to_days(isodow({0}) - 1) + to_days(({1} - 1) * 7) AS DATE)", jan4, number("week", 1))
    elif "doy" in fields:
        day = T("CAST(make_date(CAST({0} AS INTEGER), 1, 1) + to_days({1} - 1) AS DATE)", year, number("doy", 1))
    else:
        day = T("make_date(CAST({0} AS INTEGER), CAST({1} AS INTEGER), CAST({2} AS INTEGER))", year, month,
                number("day", 1))
    valid = T("{0} BETWEEN 0 AND 23 AND {1} BETWEEN 0 AND 59 AND {2} BETWEEN 0 AND 59", hour, minute, second)
    stamp = T("CASE WHEN {3} THEN CAST({0} AS TIMESTAMP) + to_hours({1}) + to_minutes({2}) + to_seconds({4}) + to_milliseconds({5}) END",
              day, hour, minute, valid, second, millis)
    matched = T("regexp_full_match({0}, {1})", s, lit(pattern))
    message = T("'Invalid format: \"' || {0} || '\"'", s)
    node = T("CASE WHEN {0} IS NULL THEN NULL WHEN NOT {1} THEN {2} ELSE coalesce(try({3}), {2}) END",
             s, matched, fail(c, message), stamp)
    offset = group("offset") if "offset" in fields else None
    return node, offset


@rewrite("date_parse")
def _date_parse(c: Compiler, call: Call) -> Typed:
    s_arg, fmt_arg = args_of(c, call, 2)
    if not (s_arg.type.is_string or s_arg.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({s_arg.type}) for function date_parse")
    fmt = _known_text(c, call, fmt_arg, "format")
    if fmt is None:
        return _null(TS3)
    node, _ = _build_timestamp(c, c.coerce(s_arg, tt.VARCHAR), _mysql_parser(fmt), call.name)
    return Typed(node, TS3)


@rewrite("parse_datetime")
def _parse_datetime(c: Compiler, call: Call) -> Typed:
    s_arg, fmt_arg = args_of(c, call, 2)
    if not (s_arg.type.is_string or s_arg.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({s_arg.type}) for function parse_datetime")
    fmt = _known_text(c, call, fmt_arg, "format")
    if fmt is None:
        return _null(TSTZ3)
    s = c.coerce(s_arg, tt.VARCHAR)
    local, offset = _build_timestamp(c, s, _joda_parser(fmt), call.name)
    if offset is None:
        return Typed(exp.cast(local, "TIMESTAMPTZ"), TSTZ3)
    minutes = T("CASE WHEN {0} = 'Z' THEN 0 ELSE (CASE WHEN left({0}, 1) = '-' THEN -1 ELSE 1 END) * "
                "(CAST(substr({0}, 2, 2) AS INTEGER) * 60 + CAST(right({0}, 2) AS INTEGER)) END", offset)
    instant = T("CAST({0} - to_minutes({1}) AS TIMESTAMPTZ)", local, minutes)
    return Typed(instant, TSTZ3, zone=DYNAMIC, zone_ok=T("coalesce({0} = 0, true)", minutes))


# -- durations ------------------------------------------------------------------------------------------


@rewrite("parse_duration")
def _parse_duration(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if not (value.type.is_string or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function parse_duration")
    return Typed(fn("lp_parse_duration", c.coerce(value, tt.VARCHAR), c.flag()), tt.INTERVAL_DS)


@rewrite("human_readable_seconds")
def _human_readable_seconds(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if not (value.type.is_numeric or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function human_readable_seconds")
    return Typed(fn("lp_human_readable_seconds", c.cast(value.node, tt.DOUBLE), c.flag()), tt.VARCHAR)


@rewrite("date")
def _date(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    return Typed(cast_value(c, value, tt.DATE, safe=False), tt.DATE)

