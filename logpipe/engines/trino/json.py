"""Trino's JSON functions on DuckDB.

Trino's JSON paths are its own small language (``$.a``, ``$[0]``, ``$["a.b"]``, and ``$.1`` meaning
index 1 of an array); a path is parsed here (``parse_path``) into steps, each taken at run time as an
object member or an array element depending on the value met (``lp_json_step``). Text that is not
JSON gives NULL, as in Trino's varchar overloads.

Numbers: Trino (Jackson) writes a JSON double with Java's ``Double.toString`` and returns a scalar's
number as written in the input; DuckDB (yyjson) writes its own shortest form. Where the two could
differ the value is refused at run time (``lp_json_java``, ``lp_json_raw_number``), never guessed.
"""

from __future__ import annotations

import re

from sqlglot import exp

from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, refuse, rewrite
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lit

# -- paths ------------------------------------------------------------------------------------------

_UNQUOTED = re.compile(r"[\w:]+", re.UNICODE)
_SUBSCRIPT = re.compile(r"\w+", re.UNICODE)


def parse_path(path: str) -> list[str]:
    """The keys of a Trino JSON path (``$.a[0]["b c"]`` -> ['a', '0', 'b c']); an error if invalid."""
    invalid = TrinoError(f"Invalid JSON path: '{path}'")
    if not path.startswith("$"):
        raise invalid
    keys: list[str] = []
    i = 1
    while i < len(path):
        ch = path[i]
        if ch == ".":
            match = _UNQUOTED.match(path, i + 1)
            if not match:
                raise invalid
            keys.append(match.group(0))
            i = match.end()
        elif ch == "[":
            if path.startswith('["', i):
                end = i + 2
                key = []
                while end < len(path) and path[end] != '"':
                    if path[end] == "\\" and end + 1 < len(path):
                        end += 1
                    key.append(path[end])
                    end += 1
                if not path.startswith('"]', end):
                    raise invalid
                keys.append("".join(key))
                i = end + 2
            else:
                match = _SUBSCRIPT.match(path, i + 1)
                if not match or not path.startswith("]", match.end()):
                    raise invalid
                keys.append(match.group(0))
                i = match.end() + 1
        else:
            raise invalid
    return keys


def _steps(c: Compiler, call: Call, value: exp.Expression, path_arg: Typed) -> exp.Expression:
    known, text = c.known(path_arg)
    if not known:
        raise refuse(f"{call.name}()", "the JSON path must be a literal or a parameter to run locally")
    if text is None:
        return exp.cast(exp.Null(), "JSON")
    node = value
    for key in parse_path(str(text)):
        if '"' in key or "\\" in key:
            raise refuse(f"{call.name}() with path {text!r}", "a key with quotes or backslashes is not supported locally")
        index = f"$[{int(key)}]" if key.isdigit() else None
        node = fn("lp_json_step", node, lit(f'$."{key}"'), lit(index))
    return node


# -- arguments ---------------------------------------------------------------------------------------


def json_value(c: Compiler, call: Call, value: Typed) -> tuple[exp.Expression, exp.Expression]:
    """(the JSON value or NULL for text that is not JSON, its text) of a json or varchar argument."""
    if value.type.name == "json":
        return value.node, T("CAST({0} AS VARCHAR)", value)
    if value.type.is_string or value.type.is_unknown:
        text = c.coerce(value, tt.VARCHAR)
        return T("CASE WHEN json_valid({0}) THEN CAST({0} AS JSON) END", text), text
    raise TrinoError(f"Unexpected parameters ({value.type}) for function {call.name}")


def java_json(node: exp.Expression) -> exp.Expression:
    """A JSON value as Trino writes it, or a refusal where Java would write a number differently."""
    return fn("lp_json_java", node)


# -- the functions ----------------------------------------------------------------------------------


@rewrite("json_extract")
def _json_extract(c: Compiler, call: Call) -> Typed:
    value, path = args_of(c, call, 2)
    j, _ = json_value(c, call, value)
    return Typed(_steps(c, call, j, path), tt.JSON)


@rewrite("json_extract_scalar")
def _json_extract_scalar(c: Compiler, call: Call) -> Typed:
    value, path = args_of(c, call, 2)
    j, text = json_value(c, call, value)
    macro = "lp_json_scalar_canonical" if value.type.name == "json" and not value.json_exact else "lp_json_scalar"
    return Typed(fn(macro, _steps(c, call, j, path), text), tt.VARCHAR)


@rewrite("json_size")
def _json_size(c: Compiler, call: Call) -> Typed:
    value, path = args_of(c, call, 2)
    j, _ = json_value(c, call, value)
    return Typed(fn("lp_json_size", _steps(c, call, j, path)), tt.BIGINT)


@rewrite("json_array_length")
def _json_array_length(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    j, _ = json_value(c, call, value)
    return Typed(T("CASE WHEN json_type({0}) = 'ARRAY' THEN CAST(json_array_length({0}) AS BIGINT) END", j), tt.BIGINT)


@rewrite("json_array_get")
def _json_array_get(c: Compiler, call: Call) -> Typed:
    value, index = args_of(c, call, 2)
    j, text = json_value(c, call, value)
    if not (index.type.is_integer or index.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({index.type}) for function json_array_get")
    macro = "lp_json_array_get_canonical" if value.type.name == "json" and not value.json_exact else "lp_json_array_get"
    return Typed(fn(macro, j, c.cast(index.node, tt.BIGINT), text), tt.JSON)


@rewrite("json_array_contains")
def _json_array_contains(c: Compiler, call: Call) -> Typed:
    value, needle = args_of(c, call, 2)
    j, _ = json_value(c, call, value)
    kind = needle.type
    if kind.name == "boolean":
        macro = "lp_json_contains_boolean"
    elif kind.is_integer:
        macro = "lp_json_contains_bigint"
    elif kind.is_numeric:
        macro, needle = "lp_json_contains_double", Typed(c.cast(needle.node, tt.DOUBLE), tt.DOUBLE)
    elif kind.is_string:
        macro = "lp_json_contains_varchar"
    elif kind.is_unknown:
        return Typed(exp.cast(exp.Null(), "BOOLEAN"), tt.BOOLEAN)
    else:
        raise TrinoError(f"Unexpected parameters (json, {kind}) for function json_array_contains")
    return Typed(fn(macro, j, needle), tt.BOOLEAN)


@rewrite("is_json_scalar")
def _is_json_scalar(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if value.type.name == "json":
        return Typed(T("json_type({0}) NOT IN ('OBJECT', 'ARRAY')", value), tt.BOOLEAN)
    _, text = json_value(c, call, value)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL WHEN NOT json_valid({0}) THEN {1} "
                   "ELSE json_type(CAST({0} AS JSON)) NOT IN ('OBJECT', 'ARRAY') END",
                   text, fail(c, T("'Invalid JSON value: ' || {0}", text))), tt.BOOLEAN)


@rewrite("json_parse")
def _json_parse(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if not (value.type.is_string or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({value.type}) for function json_parse")
    return Typed(parse_json_text(c, Typed(c.coerce(value, tt.VARCHAR), tt.VARCHAR)), tt.JSON)


def parse_json_text(c: Compiler, text: Typed) -> exp.Expression:
    """Trino's json_parse (and JSON literal): the text as canonical JSON, an error if it is not JSON."""
    return T("CASE WHEN {0} IS NULL THEN NULL WHEN NOT json_valid({0}) THEN {1} ELSE json({0}) END",
             text, fail(c, T("'Cannot convert value to JSON: ' || {0}", text)))


@rewrite("json_format")
def _json_format(c: Compiler, call: Call) -> Typed:
    (value,) = args_of(c, call, 1)
    if value.type.name != "json" and not value.type.is_unknown:
        raise TrinoError(f"Unexpected parameters ({value.type}) for function json_format")
    text = T("CAST({0} AS VARCHAR)", value.node if value.json_exact else java_json(value.node))
    return Typed(text, tt.VARCHAR)
