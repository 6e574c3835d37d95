"""Trino's string functions on DuckDB.

Trino counts and slices strings by code point and trims Java's whitespace (tabs, CR/LF, the Unicode
spaces); DuckDB's ``reverse`` works on grapheme clusters, its ``trim`` on spaces only, its ``replace``
with an empty search string does nothing, and ``split_part`` past the end answers '' where Trino
answers NULL. Each function below is written so the DuckDB answer is Trino's.
"""

from __future__ import annotations

from sqlglot import exp

from logpipe.engines.duckdb_macros import WHITESPACE_CLASS
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import (
    MAX_LENGTH,
    Call,
    Compiler,
    Scope,
    TrinoError,
    Typed,
    expression,
    refuse,
    rewrite,
)
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lit, typed_const
from logpipe.engines.trino.operators import concat_values
from logpipe.engines.trino.types import TType


def strings(c: Compiler, call: Call, count: int | tuple[int, ...], integers: tuple[int, ...] = ()) -> list[Typed]:
    """The call's arguments: strings, except the positions in ``integers`` (checked, cast to BIGINT)."""
    args = args_of(c, call, count)
    out = []
    for i, a in enumerate(args):
        if i in integers:
            if not (a.type.is_integer or a.type.is_unknown):
                raise TrinoError(f"Unexpected parameters for function {call.name}: argument {i + 1} is {a.type}")
            out.append(Typed(c.cast(a.node, tt.BIGINT), tt.BIGINT, a.const, a.is_const))
        else:
            if not (a.type.is_string or a.type.is_unknown):
                raise TrinoError(f"Unexpected parameters for function {call.name}: argument {i + 1} is {a.type}")
            out.append(Typed(c.coerce(a, tt.VARCHAR) if a.type.is_unknown else a.node, tt.VARCHAR, a.const, a.is_const))
    return out


def varchar(node: exp.Expression) -> Typed:
    return Typed(node, tt.VARCHAR)


# -- length, case, reverse ----------------------------------------------------------------------------


@rewrite("length")
def _length(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    if a.type.name == "varbinary":
        return Typed(fn("octet_length", a), tt.BIGINT, bound=MAX_LENGTH)
    (s,) = strings(c, call, 1)
    return Typed(fn("length", s), tt.BIGINT, bound=MAX_LENGTH)  # code points


@rewrite("lower", "upper")
def _case(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return varchar(fn(call.name, s))


@rewrite("reverse")
def _reverse(c: Compiler, call: Call) -> Typed:
    (a,) = args_of(c, call, 1)
    if a.type.name == "array":
        return Typed(fn("list_reverse", a), a.type)
    if a.type.name == "varbinary":
        raise refuse("reverse(varbinary)", "not supported locally")
    (s,) = strings(c, call, 1)
    # By code point (DuckDB's reverse keeps grapheme clusters together).
    return varchar(T("array_to_string(list_reverse(string_split({0}, '')), '')", s))


@rewrite("chr")
def _chr(c: Compiler, call: Call) -> Typed:
    (n,) = strings(c, call, 1, integers=(0,))
    return varchar(T("CASE WHEN {0} IS NULL THEN NULL WHEN {0} < 0 OR {0} > 1114111 OR {0} BETWEEN 55296 AND 57343 "
                     "THEN {1} ELSE chr(CAST({0} AS INTEGER)) END",
                     n, fail(c, T("'Not a valid Unicode code point: ' || CAST({0} AS VARCHAR)", n))))


@rewrite("codepoint")
def _codepoint(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL WHEN length({0}) <> 1 THEN {1} ELSE unicode({0}) END",
                   s, fail(c, "Input string must be a single character string")), tt.INTEGER)


# -- concatenation ----------------------------------------------------------------------------------------


@rewrite("concat")
def _concat(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call)
    if len(args) < 2 and not (args and args[0].type.name == "array"):
        raise TrinoError("There must be two or more concatenation arguments")
    return concat_values(c, args, "concat")


@rewrite("concat_ws")
def _concat_ws(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call)
    if len(args) < 2:
        raise TrinoError("There must be two or more arguments")
    sep = args[0]
    if len(args) == 2 and args[1].type.name == "array":
        values = args[1]
        if not (sep.type.is_string or sep.type.is_unknown) or not (
                values.type.element.is_string or values.type.element.is_unknown):
            raise TrinoError(f"Unexpected parameters ({sep.type}, {values.type}) for function concat_ws")
        return varchar(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL "
                         "ELSE array_to_string(list_filter({1}, lambda _s: _s IS NOT NULL), {0}) END", sep, values))
    strs = strings(c, call, len(args))
    parts = T("list_filter([" + ", ".join(f"{{{i}}}" for i in range(1, len(strs))) + "], lambda _s: _s IS NOT NULL)",
              *[exp.Null()] + [s.node for s in strs[1:]])
    return varchar(T("CASE WHEN {0} IS NULL THEN NULL ELSE array_to_string({1}, {0}) END", strs[0], parts))


# -- search ---------------------------------------------------------------------------------------------


@rewrite("strpos")
def _strpos(c: Compiler, call: Call) -> Typed:
    args = strings(c, call, (2, 3), integers=(2,))
    if len(args) == 2:
        return Typed(fn("strpos", args[0], args[1]), tt.BIGINT)
    s, sub, n = args
    return Typed(fn("lp_strpos_nth", s, sub, n, c.flag()), tt.BIGINT)


@expression(exp.StrPosition)
def _position(c: Compiler, node: exp.StrPosition, scope: Scope) -> Typed:
    args = [node.this, node.args["substr"]]
    if node.args.get("position") is not None or node.args.get("occurrence") is not None:
        raise refuse("POSITION", "this form is not supported locally")
    return c.call("strpos", node, args, scope)


@rewrite("starts_with")
def _starts_with(c: Compiler, call: Call) -> Typed:
    s, p = strings(c, call, 2)
    return Typed(fn("starts_with", s, p), tt.BOOLEAN)


@rewrite("ends_with")
def _ends_with(c: Compiler, call: Call) -> Typed:
    s, p = strings(c, call, 2)
    return Typed(fn("ends_with", s, p), tt.BOOLEAN)


# -- substrings -------------------------------------------------------------------------------------------


@rewrite("substr", "substring")
def _substr(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    if args[0].type.name == "varbinary":
        raise refuse(f"{call.name}(varbinary)", "not supported locally")
    args = strings(c, call, (2, 3), integers=(1, 2))
    if len(args) == 2:
        return varchar(fn("lp_substr", args[0], args[1], exp.cast(lit(None), "BIGINT")))
    return varchar(fn("lp_substr3", *args))


@expression(exp.Substring)
def _substring(c: Compiler, node: exp.Substring, scope: Scope) -> Typed:
    args = [node.this, node.args["start"]]
    if node.args.get("length") is not None:
        args.append(node.args["length"])
    return c.call("substr", node, args, scope)


@rewrite("split_part")
def _split_part(c: Compiler, call: Call) -> Typed:
    s, d, i = strings(c, call, 3, integers=(2,))
    return varchar(fn("lp_split_part", s, d, i, c.flag()))


@rewrite("split")
def _split(c: Compiler, call: Call) -> Typed:
    args = strings(c, call, (2, 3), integers=(2,))
    limit = args[2] if len(args) == 3 else Typed(exp.cast(lit(None), "BIGINT"), tt.BIGINT)
    return Typed(fn("lp_split", args[0], args[1], limit, lit(len(args) == 3), c.flag()), TType.array(tt.VARCHAR))


@rewrite("split_to_map")
def _split_to_map(c: Compiler, call: Call) -> Typed:
    s, entry, kv = strings(c, call, 3)
    return Typed(fn("lp_split_to_map", s, entry, kv, c.flag()), TType.map(tt.VARCHAR, tt.VARCHAR))


@rewrite("split_to_multimap")
def _split_to_multimap(c: Compiler, call: Call) -> Typed:
    s, entry, kv = strings(c, call, 3)
    return Typed(fn("lp_split_to_multimap", s, entry, kv, c.flag()), TType.map(tt.VARCHAR, TType.array(tt.VARCHAR)))


# -- replace, translate, pad, trim ----------------------------------------------------------------------------


@rewrite("replace")
def _replace(c: Compiler, call: Call) -> Typed:
    args = strings(c, call, (2, 3))
    s, search = args[0], args[1]
    rep = args[2] if len(args) == 3 else Typed(lit(""), tt.VARCHAR, "", True)
    return varchar(fn("lp_replace", s, search, rep))


@rewrite("translate")
def _translate(c: Compiler, call: Call) -> Typed:
    s, src, dst = strings(c, call, 3)
    return varchar(fn("translate", s, src, dst))


@rewrite("lpad", "rpad")
def _pad(c: Compiler, call: Call) -> Typed:
    s, n, pad = strings(c, call, 3, integers=(1,))
    return varchar(fn("lp_pad", s, n, pad, lit(call.name == "lpad"), c.flag()))


@rewrite("ltrim", "rtrim", "trim")
def _trim(c: Compiler, call: Call) -> Typed:
    args = strings(c, call, (1, 2))
    side = {"ltrim": "LEADING", "rtrim": "TRAILING", "trim": "BOTH"}[call.name]
    return trim(args[0], args[1] if len(args) == 2 else None, side)


def trim(s: Typed, chars: Typed | None, side: str) -> Typed:
    if chars is not None:
        name = {"LEADING": "ltrim", "TRAILING": "rtrim", "BOTH": "trim"}[side]
        return varchar(fn(name, s, chars))
    ws = WHITESPACE_CLASS
    pattern = {"LEADING": f"^{ws}+", "TRAILING": f"{ws}+$", "BOTH": f"^{ws}+|{ws}+$"}[side]
    return varchar(fn("regexp_replace", s, lit(pattern), lit(""), lit("g")))


@expression(exp.Trim)
def _trim_syntax(c: Compiler, node: exp.Trim, scope: Scope) -> Typed:
    value = c.expr(node.this, scope)
    chars = c.expr(node.expression, scope) if node.expression is not None else None
    side = (node.args.get("position") or "BOTH").upper()
    for part in (value, chars):
        if part is not None and not (part.type.is_string or part.type.is_unknown):
            raise TrinoError(f"Unexpected parameters for function trim: {part.type}")
    return trim(value, chars, side)


# -- bytes ------------------------------------------------------------------------------------------------


@rewrite("to_utf8")
def _to_utf8(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(fn("encode", s), tt.VARBINARY)


_CONT = "[89AB][0-9A-F]"
# Well-formed UTF-8 (RFC 3629), as a pattern over the bytes' hex digits.
UTF8_HEX = ("(?:[0-7][0-9A-F]"
            f"|(?:C[2-9A-F]|D[0-9A-F]){_CONT}"
            f"|E0[AB][0-9A-F]{_CONT}|(?:E[1-9ABCEF]){_CONT}{_CONT}|ED[89][0-9A-F]{_CONT}"
            f"|F0[9AB][0-9A-F]{_CONT}{_CONT}|F[123]{_CONT}{_CONT}{_CONT}|F48[0-9A-F]{_CONT}{_CONT})*")


def _binary(c: Compiler, call: Call) -> Typed:
    (b,) = args_of(c, call, 1)
    if not (b.type.name == "varbinary" or b.type.is_unknown):
        raise TrinoError(f"Unexpected parameters ({b.type}) for function {call.name}")
    return Typed(c.coerce(b, tt.VARBINARY), tt.VARBINARY)


@rewrite("from_utf8")
def _from_utf8(c: Compiler, call: Call) -> Typed:
    if len(call.args) != 1:
        raise refuse("from_utf8(binary, replacement)", "a replacement character is not supported locally")
    b = _binary(c, call)
    # Trino replaces invalid UTF-8 with U+FFFD; DuckDB refuses to decode it: refuse such a value.
    return varchar(T("CASE WHEN {0} IS NULL THEN NULL WHEN regexp_full_match(hex({0}), {1}) THEN decode({0}) "
                     "ELSE lp_from_utf8_invalid({0}) END", b, lit(UTF8_HEX)))


@rewrite("to_hex")
def _to_hex(c: Compiler, call: Call) -> Typed:
    b = _binary(c, call)
    return varchar(fn("hex", b))


@rewrite("from_hex")
def _from_hex(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(T("CASE WHEN {0} IS NULL THEN NULL WHEN length({0}) % 2 <> 0 OR NOT regexp_full_match({0}, '[0-9a-fA-F]*') "
                   "THEN {1} ELSE unhex({0}) END", s, fail(c, "invalid input length")), tt.VARBINARY)


@rewrite("to_base64")
def _to_base64(c: Compiler, call: Call) -> Typed:
    return varchar(fn("to_base64", _binary(c, call)))


@rewrite("from_base64")
def _from_base64(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return Typed(fn("from_base64", s), tt.VARBINARY)


@rewrite("md5", "sha1", "sha256")
def _digest(c: Compiler, call: Call) -> Typed:
    b = _binary(c, call)
    return Typed(fn("unhex", fn(call.name, b)), tt.VARBINARY)


# -- distances --------------------------------------------------------------------------------------------


@rewrite("levenshtein_distance")
def _levenshtein(c: Compiler, call: Call) -> Typed:
    a, b = strings(c, call, 2)
    return Typed(fn("levenshtein", a, b), tt.BIGINT)


@rewrite("hamming_distance")
def _hamming(c: Compiler, call: Call) -> Typed:
    a, b = strings(c, call, 2)
    return Typed(T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN length({0}) <> length({1}) THEN {2} "
                   "ELSE CAST(len(list_filter(range(1, length({0}) + 1), lambda _i: substr({0}, _i, 1) <> substr({1}, _i, 1))) AS BIGINT) END",
                   a, b, fail(c, "The input strings to hamming_distance function must have the same length")), tt.BIGINT)


@rewrite("normalize")
def _normalize(c: Compiler, call: Call) -> Typed:
    (s,) = strings(c, call, 1)
    return varchar(fn("nfc_normalize", s))


@expression(exp.Normalize)
def _normalize_syntax(c: Compiler, node: exp.Normalize, scope: Scope) -> Typed:
    form = node.args.get("form")
    if isinstance(form, exp.Expression) and form.name.upper() != "NFC":
        raise refuse(f"normalize(..., {form.name})", "only NFC normalisation is available locally")
    return c.call("normalize", node, [node.this], scope)


__all__ = ["strings", "trim", "typed_const"]
