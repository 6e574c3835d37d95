"""Saved-query parameters: the text a user gives, validated into typed values for the engine to bind.

Two defences, in this order: a value must parse as its declared type (a UsageError names the
parameter and the type expected), and the parsed value reaches the engine as a bound parameter
(DuckDB prepared parameters; Athena ExecutionParameters), so even a string full of quotes is only
ever compared, never run.

What each type accepts (``logpipe.engines.binding`` says how each is bound):

========== ============================== ==========================================================
type       accepts                        bound as
========== ============================== ==========================================================
string     any text without NUL, <= 1024   VARCHAR (1024: Athena's limit for one ExecutionParameter)
int        ``-12``, ``42`` (64-bit)        BIGINT
float      ``1.5``, ``2e-3`` (finite)      DOUBLE
bool       true/false/yes/no/1/0           BOOLEAN
timestamp  ISO 8601 (``Z`` or offset)      TIMESTAMP WITH TIME ZONE (UTC)
duration   ``90s`` ``15m`` ``1h`` ``7d``   BIGINT seconds
enum       one of the declared choices     VARCHAR
list       ``a,b`` or a JSON array         ARRAY of the item type (``x IN (:list)`` works too)
========== ============================== ==========================================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from logpipe.durations import parse_duration
from logpipe.engines.binding import Param, ParamType
from logpipe.errors import UsageError
from logpipe.layout import partition_bounds, utc
from logpipe.queries.model import RUNNER_PARAMS, SavedQuery

MAX_STRING = 1024
MAX_LIST = 100
_INT_RE = re.compile(r"^[+-]?\d{1,19}$")
_BOOLS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
SCALAR_TYPES: tuple[ParamType, ...] = ("string", "int", "float", "bool", "timestamp", "duration", "enum")


def _describe(param: Param) -> str:
    if param.type == "enum":
        return "one of " + ", ".join(param.choices)
    if param.type == "list":
        inner = "one of " + "|".join(param.choices) if param.choices else param.item_type
        return f"a list of {inner} (comma-separated or a JSON array)"
    return {
        "string": f"text without NUL characters, at most {MAX_STRING} characters",
        "int": "a whole number (64-bit)",
        "float": "a finite number",
        "bool": "true or false",
        "timestamp": "an ISO 8601 time like 2026-11-26T10:00:00Z",
        "duration": "a duration like 90s, 15m, 1h or 7d",
    }[param.type]


def _bad(param: Param, value: Any) -> UsageError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return UsageError(f"parameter '{param.name}' expects {_describe(param)}, got {shown}")


def _scalar(param: Param, kind: ParamType, value: Any, choices: tuple[str, ...]) -> Any:
    if kind in ("string", "enum"):
        if not isinstance(value, str) or "\x00" in value or len(value) > MAX_STRING:
            raise _bad(param, value)
        if kind == "enum" and value not in choices:
            raise _bad(param, value)
        return value
    if kind == "int":
        if isinstance(value, bool):
            raise _bad(param, value)
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INT_RE.match(value.strip()):
            number = int(value.strip())
        else:
            raise _bad(param, value)
        if not -(2**63) <= number < 2**63:
            raise _bad(param, value)
        return number
    if kind == "float":
        if isinstance(value, bool):
            raise _bad(param, value)
        try:
            real = float(value) if isinstance(value, (int, float, str)) else math.nan
        except ValueError:
            raise _bad(param, value) from None
        if not math.isfinite(real):
            raise _bad(param, value)
        return real
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise _bad(param, value)
    if kind == "timestamp":
        if isinstance(value, datetime):
            return utc(value)
        if isinstance(value, str) and len(value) <= 40:
            try:
                return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
            except ValueError:
                pass
        raise _bad(param, value)
    if kind == "duration":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                pass
        raise _bad(param, value)
    raise _bad(param, value)


def coerce(param: Param, value: Any) -> Any:
    """The typed value of a parameter given as text (CLI, header default) or as a Python value."""
    if value is None:
        if param.required:
            raise UsageError(f"parameter '{param.name}' is required: give --param {param.name}=VALUE")
        return None
    if param.type != "list":
        return _scalar(param, param.type, value, param.choices)
    items: Iterable[Any]
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise _bad(param, value) from None
            if not isinstance(items, list):
                raise _bad(param, value)
        else:
            items = [part.strip() for part in text.split(",")] if text else []
    else:
        raise _bad(param, value)
    result = [_scalar(param, param.item_type, item, param.choices) for item in items]
    if len(result) > MAX_LIST:
        raise UsageError(f"parameter '{param.name}' takes at most {MAX_LIST} items, got {len(result)}")
    return result


def runner_values(start: datetime, end: datetime, scan_end: datetime | None = None) -> dict[str, Any]:
    """What the runner always binds: the window and the partition bounds that cover it (to
    ``scan_end`` when given: the hours past the window where its late records lie)."""
    bounds = partition_bounds(start, scan_end or end)
    return {
        "window_start": utc(start), "window_end": utc(end),
        "dt_start": bounds.dt_start, "dt_end": bounds.dt_end,
        "dthour_start": bounds.dthour_start, "dthour_end": bounds.dthour_end,
    }


RUNNER_TYPES: dict[str, ParamType] = {
    "window_start": "timestamp", "window_end": "timestamp", "dt_start": "string", "dt_end": "string",
    "dthour_start": "string", "dthour_end": "string",
}


def resolve(query: SavedQuery, given: Mapping[str, Any], start: datetime, end: datetime,
            scan_end: datetime | None = None) -> tuple[dict[str, Any], dict[str, Param]]:
    """Every value the query can use (declared params with defaults, then the runner's), and the
    Param of each name. Unknown names and missing required values are UsageErrors."""
    declared = {p.name: p for p in query.params}
    for name in given:
        if name in RUNNER_PARAMS:
            raise UsageError(f"parameter '{name}' is set by the runner from --since/--until; do not pass it")
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise UsageError(f"query '{query.name}' has no parameter '{name}' (its parameters: {known})")
    values: dict[str, Any] = {}
    for name, param in declared.items():
        values[name] = coerce(param, given[name]) if name in given else coerce(param, param.default)
    types = dict(declared)
    for name, value in runner_values(start, end, scan_end).items():
        values[name] = value
        types[name] = Param(name, RUNNER_TYPES[name])
    return values, types


__all__ = ["MAX_LIST", "MAX_STRING", "RUNNER_TYPES", "coerce", "resolve", "runner_values"]
