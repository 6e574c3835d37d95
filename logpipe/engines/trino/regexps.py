"""Trino's regular-expression functions on DuckDB (RE2).

Trino's patterns are Java-style (its default engine is Joni with Java syntax); DuckDB's are RE2. A
pattern must be known when the query is compiled (a literal or a bound parameter) and is translated
token by token (``translate``): what RE2 writes differently is rewritten (``(?<name>`` as
``(?P<name>``, ``\\uXXXX`` as ``\\x{XXXX}``, ``\\s`` with Java's vertical tab), and what RE2 cannot do
(lookaround, backreferences, possessive quantifiers, atomic groups, class intersections) is refused.

Semantics that differ and are handled:

* ``regexp_extract`` answers NULL when there is no match or the group did not take part (DuckDB: '');
  a group index beyond the pattern's groups is an error;
* a replacement's ``$n``, ``$nn`` and ``${name}`` follow Java's rules (``$10`` is group 1 then '0' when
  there are fewer than ten groups; a reference to a missing group is an error);
* after a non-empty match Java may match the empty string at the same place, RE2 does not: a pattern
  that can match both empty and non-empty text is refused for the values where that happens;
* ``$`` in Java syntax also matches before a final line break: refused for such values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp

from logpipe.engines.duckdb_macros import ATHENA_ONLY
from logpipe.engines.trino import types as tt
from logpipe.engines.trino.compiler import Call, Compiler, TrinoError, Typed, refuse, rewrite
from logpipe.engines.trino.helpers import T, args_of, fail, fn, lit
from logpipe.engines.trino.types import TType

# -- Java pattern -> RE2 pattern -------------------------------------------------------------------

_JAVA_SPACE = r"\t\n\x0B\f\r "
_CATEGORIES = {"L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd",
               "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf",
               "Co", "Cs"}


class Unsupported(Exception):
    """A pattern feature RE2 does not have (the caller refuses)."""


@dataclass
class Pattern:
    re2: str
    groups: int = 0
    names: dict[str, int] = field(default_factory=dict)
    optional: set[int] = field(default_factory=set)  # groups that may not take part in a match
    dollar: bool = False  # has an end-of-input anchor '$'
    may_be_empty: bool = True  # can match the empty string
    only_empty: bool = False  # matches only the empty string


@dataclass
class _Frame:
    groups: list[int] = field(default_factory=list)  # groups opened directly or nested in this frame
    alternation: bool = False
    group: int | None = None  # the capturing group this frame is, if any


def translate(pattern: str) -> Pattern:
    """The RE2 form of a Java pattern, with what the rewrites need to know about it."""
    out: list[str] = []
    result = Pattern("")
    frames = [_Frame()]
    i, n = 0, len(pattern)
    last_atom_group: int | None = None  # the group that just closed (a quantifier may follow)
    last_atom_frame: _Frame | None = None
    while i < n:
        ch = pattern[i]
        atom_group, atom_frame = None, None
        if ch == "\\":
            text, i = _escape(pattern, i, in_class=False)
            out.append(text)
        elif ch == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
        elif ch == "(":
            if pattern.startswith("(?", i):
                rest = pattern[i + 2:]
                if rest.startswith(("=", "!", "<=", "<!")):
                    raise Unsupported("lookaround (?= (?! (?<= (?<!")
                if rest.startswith(">"):
                    raise Unsupported("atomic groups (?>")
                if rest.startswith("<"):
                    match = re.match(r"<([A-Za-z][A-Za-z0-9]*)>", rest)
                    if not match:
                        raise TrinoError(f"invalid group name in pattern {pattern!r}")
                    result.groups += 1
                    result.names[match.group(1)] = result.groups
                    frame = _Frame(group=result.groups)
                    for f in frames:
                        f.groups.append(result.groups)
                    frames.append(frame)
                    out.append(f"(?P<{match.group(1)}>")
                    i += 2 + match.end()
                    continue
                if rest.startswith(":"):
                    frames.append(_Frame())
                    out.append("(?:")
                    i += 3
                    continue
                match = re.match(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
                if not match:
                    raise TrinoError(f"invalid group in pattern {pattern!r}")
                flags = (match.group(1) or "") + (match.group(2) or "")
                if set(flags) - set("ims"):
                    raise Unsupported(f"the flags (?{flags})")
                out.append("(?" + match.group(0))
                i += 2 + match.end()
                if match.group(3) == ":":
                    frames.append(_Frame())
                continue
            result.groups += 1
            for f in frames:
                f.groups.append(result.groups)
            frames.append(_Frame(group=result.groups))
            out.append("(")
            i += 1
            continue
        elif ch == ")":
            if len(frames) == 1:
                raise TrinoError(f"unmatched ')' in pattern {pattern!r}")
            frame = frames.pop()
            if frame.alternation:
                result.optional.update(frame.groups if frame.group is None else [g for g in frame.groups if g != frame.group])
            out.append(")")
            i += 1
            atom_group, atom_frame = frame.group, frame
            last_atom_group, last_atom_frame = atom_group, atom_frame
            continue
        elif ch == "|":
            frames[-1].alternation = True
            out.append("|")
            i += 1
        elif ch in "*+?{":
            quant, i = _quantifier(pattern, i)
            if quant is None:
                out.append("\\{")
                i += 1
            else:
                out.append(quant)
                if _allows_zero(quant) and last_atom_frame is not None:
                    group_ids = list(last_atom_frame.groups)
                    if last_atom_group is not None:
                        group_ids.append(last_atom_group)
                    result.optional.update(group_ids)
        elif ch == "$":
            result.dollar = True
            out.append("$")
            i += 1
        else:
            out.append(ch)
            i += 1
        last_atom_group, last_atom_frame = atom_group, atom_frame
    if len(frames) != 1:
        raise TrinoError(f"unclosed group in pattern {pattern!r}")
    if frames[0].alternation:
        result.optional.update(frames[0].groups)
    result.re2 = "".join(out)
    result.may_be_empty, result.only_empty = _widths(result.re2)
    return result


def _widths(re2: str) -> tuple[bool, bool]:
    """(can match '', matches only ''), from Python's parser of the (RE2) pattern; unsure means yes/no."""
    try:
        import re._parser as parser  # type: ignore[import-not-found]

        low, high = parser.parse(re2.replace("(?P<", "(?P<").replace("\\z", "\\Z")).getwidth()
    except Exception:
        return True, False
    return low == 0, high == 0


def _allows_zero(quant: str) -> bool:
    q = quant.rstrip("?")
    if q in ("*", "?"):
        return True
    match = re.fullmatch(r"\{(\d+)(?:,\d*)?\}", q)
    return bool(match and int(match.group(1)) == 0)


def _quantifier(pattern: str, i: int) -> tuple[str | None, int]:
    ch = pattern[i]
    if ch == "{":
        match = re.match(r"\{(\d+)(,(\d*))?\}", pattern[i:])
        if not match:
            return None, i
        low = int(match.group(1))
        high = int(match.group(3)) if match.group(3) else low
        if max(low, high) > 1000:
            raise Unsupported("a repetition count above 1000")
        text, i = match.group(0), i + match.end()
    else:
        text, i = ch, i + 1
    if i < len(pattern) and pattern[i] == "+":
        raise Unsupported("possessive quantifiers")
    if i < len(pattern) and pattern[i] == "?":
        text, i = text + "?", i + 1
    return text, i


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(pattern):
        raise TrinoError(f"pattern {pattern!r} ends with a backslash")
    c = pattern[i + 1]
    if c.isdigit():
        raise Unsupported("backreferences and octal escapes")
    if c in "dDwW":
        return "\\" + c, i + 2
    if c == "s":
        return (_JAVA_SPACE if in_class else f"[{_JAVA_SPACE}]"), i + 2
    if c == "S":
        if in_class:
            raise Unsupported("\\S inside a character class")
        return f"[^{_JAVA_SPACE}]", i + 2
    if c in "bB" and not in_class:
        return "\\" + c, i + 2
    if c == "A" and not in_class:
        return "\\A", i + 2
    if c == "z" and not in_class:
        return "\\z", i + 2
    if c in "tnrf":
        return "\\" + c, i + 2
    if c == "v":  # Joni's Java syntax: the vertical tab
        return "\\x0B", i + 2
    if c == "a":
        return "\\x07", i + 2
    if c == "e":
        return "\\x1B", i + 2
    if c == "x":
        match = re.match(r"x(\{[0-9a-fA-F]+\}|[0-9a-fA-F]{2})", pattern[i + 1:])
        if not match:
            raise TrinoError(f"illegal hexadecimal escape in pattern {pattern!r}")
        return "\\" + match.group(0), i + 1 + match.end()
    if c == "u":
        match = re.match(r"u([0-9a-fA-F]{4})", pattern[i + 1:])
        if not match:
            raise TrinoError(f"illegal unicode escape in pattern {pattern!r}")
        return "\\x{" + match.group(1) + "}", i + 1 + match.end()
    if c in "pP":
        match = re.match(r"[pP](\{(\^?)([A-Za-z_]+)\}|([A-Z]))", pattern[i + 1:])
        if not match:
            raise TrinoError(f"illegal property in pattern {pattern!r}")
        name = match.group(3) or match.group(4)
        if name not in _CATEGORIES:
            raise Unsupported(f"the character property \\{c}{{{name}}}")
        return "\\" + match.group(0), i + 1 + match.end()
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
        text = "".join("\\" + ch if not ch.isalnum() and ch != "_" and ord(ch) < 128 else ch for ch in literal)
        return text, (len(pattern) if end < 0 else end + 2)
    if c.isalnum():
        raise Unsupported(f"the escape \\{c}")
    return "\\" + c, i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    out = ["["]
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        if ch == "[":
            raise Unsupported("nested character classes, unions, intersections and POSIX classes")
        if ch == "&" and pattern.startswith("&&", i):
            raise Unsupported("character class intersections (&&)")
        if ch == "\\":
            text, i = _escape(pattern, i, in_class=True)
            out.append(text)
        elif ch == "]":
            out.append("\\]")
            i += 1
        else:
            out.append(ch)
            i += 1
        first = False
    raise TrinoError(f"unclosed character class in pattern {pattern!r}")


# -- Java replacement -> RE2 rewrite ---------------------------------------------------------------


def replacement(text: str, pattern: Pattern) -> str:
    """Java's replacement rules (``$n``, ``${name}``, backslash escapes) as an RE2 rewrite string."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise TrinoError("character to be escaped is missing")
            nxt = text[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif ch == "$":
            if i + 1 >= len(text):
                raise TrinoError("Illegal group reference: group index is missing")
            nxt = text[i + 1]
            if nxt == "{":
                end = text.find("}", i + 2)
                name = text[i + 2:end] if end >= 0 else ""
                if end < 0 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
                    raise TrinoError("named capturing group is missing trailing '}'" if end < 0 else
                                     f"Illegal group reference: {text}")
                if name not in pattern.names:
                    raise TrinoError(f"No group with name {{{name}}}")
                group = pattern.names[name]
                i = end + 1
            elif nxt.isdigit():
                group = int(nxt)
                if group > pattern.groups:
                    raise TrinoError(f"No group {group}")
                i += 2
                while i < len(text) and text[i].isdigit():
                    bigger = group * 10 + int(text[i])
                    if bigger > pattern.groups:
                        break
                    group = bigger
                    i += 1
            else:
                raise TrinoError("Illegal group reference")
            if group > 9:
                raise Unsupported("a reference to group 10 or above in the replacement")
            out.append(f"\\{group}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# -- the rewrites ------------------------------------------------------------------------------------


def _string(c: Compiler, call: Call, value: Typed, position: int) -> Typed:
    if not (value.type.is_string or value.type.is_unknown):
        raise TrinoError(f"Unexpected parameters for function {call.name}: argument {position} is {value.type}")
    return Typed(c.coerce(value, tt.VARCHAR), tt.VARCHAR)


def _pattern(c: Compiler, call: Call, value: Typed) -> tuple[Pattern | None, exp.Expression]:
    """The translated pattern and the DuckDB expression holding it (None: a NULL pattern)."""
    if not (value.type.is_string or value.type.is_unknown or value.type.name == "joniregexp"):
        raise TrinoError(f"Unexpected parameters for function {call.name}: pattern is {value.type}")
    known, text = c.known(value)
    if not known:
        raise refuse(f"{call.name}()", "the pattern must be a literal or a parameter to run locally")
    if text is None:
        return None, exp.cast(exp.Null(), "VARCHAR")
    try:
        pattern = translate(str(text))
    except Unsupported as exc:
        raise refuse(f"{call.name}() with pattern {text!r}", f"RE2 has no {exc}") from None
    node = lit(pattern.re2) if value.is_const else c.bind_derived(pattern.re2)
    return pattern, node


def _guards(c: Compiler, call: Call, pattern: Pattern, s: Typed, body: exp.Expression) -> exp.Expression:
    """``body``, refused at run time for the values where RE2 and Java would part ways."""
    checks = []
    if pattern.dollar:
        checks.append((T("ends_with({0}, chr(10))", s), "'$' before a final line break"))
    if pattern.may_be_empty and not pattern.only_empty:
        checks.append((T("list_bool_or(list_transform(regexp_extract_all({0}, {1}), lambda _m: _m <> ''))",
                         s, lit(pattern.re2)), "a pattern matching both empty and non-empty text"))
    for cond, why in reversed(checks):
        message = f"{call.name}(): {why} is matched differently by RE2; {ATHENA_ONLY}"
        body = T("CASE WHEN {0} THEN error({1}) ELSE {2} END", cond, lit(message), body)
    return body


def _null_pattern(kind: TType) -> Typed:
    return Typed(exp.cast(exp.Null(), tt.duckdb_type_sql(kind)), kind)


# A pattern only known per row (a lambda over a list of patterns): used as it is when it has none of
# the features Java and RE2 read differently, refused per row otherwise.
_DYNAMIC_UNSAFE = (r"\(\?[=!<>#x]|\\[1-9]|[*+?}]\+|\\[^dDwWbBtnrfsS\\.()\[\]{}|*+?^$/\- ]|\[\[|&&|\{,"
                   r"|\(\?[a-zA-Z-]*[^imsU:)a-zA-Z-]")


def _dynamic_like(c: Compiler, call: Call, s: Typed, value: Typed) -> Typed:
    p = c.coerce(value, tt.VARCHAR)
    message = lit(f"{call.name}(): the pattern uses a feature RE2 reads differently from Java; {ATHENA_ONLY}")
    line_end = lit(f"{call.name}(): '$' or \\s with this text is matched differently by RE2; {ATHENA_ONLY}")
    node = T("CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN regexp_matches({1}, {2}) THEN error({3}) "
             "WHEN (contains({1}, '$') AND ends_with({0}, chr(10))) OR (regexp_matches({1}, '\\\\[sS]') AND contains({0}, chr(11))) "
             "THEN error({4}) ELSE regexp_matches({0}, {1}) END", s, p, lit(_DYNAMIC_UNSAFE), message, line_end)
    return Typed(node, tt.BOOLEAN)


@rewrite("regexp_like")
def _regexp_like(c: Compiler, call: Call) -> Typed:
    s_arg, p_arg = args_of(c, call, 2)
    s = _string(c, call, s_arg, 1)
    if not c.known(p_arg)[0] and (p_arg.type.is_string or p_arg.type.is_unknown):
        return _dynamic_like(c, call, s, p_arg)
    pattern, p = _pattern(c, call, p_arg)
    if pattern is None:
        return _null_pattern(tt.BOOLEAN)
    body = fn("regexp_matches", s, p)
    if pattern.dollar:
        body = _guards(c, call, Pattern(pattern.re2, dollar=True, may_be_empty=False), s, body)
    return Typed(body, tt.BOOLEAN)


def _group_arg(c: Compiler, call: Call, pattern: Pattern, group: Typed | None) -> exp.Expression:
    if group is None:
        return lit(0)
    if not (group.type.is_integer or group.type.is_unknown):
        raise TrinoError(f"Unexpected parameters for function {call.name}: group is {group.type}")
    known, value = c.known(group)
    if known and value is not None:
        if value < 0:
            raise TrinoError(f"Group cannot be negative: {value}")
        if value > pattern.groups:
            raise TrinoError(f"Pattern has {pattern.groups} groups. Cannot access group {value}")
        return lit(int(value))
    raise refuse(f"{call.name}()", "the group number must be a literal to run locally")


def _extracted(pattern: Pattern, group: int, value: exp.Expression) -> exp.Expression:
    """An extracted group (DuckDB: '' when the group did not take part), NULL where Trino has NULL."""
    if group == 0 or group not in pattern.optional:
        return value
    sub = _group_source(pattern, group)
    if sub is not None and not _widths(sub)[0]:
        return T("nullif({0}, '')", value)  # the group cannot match '': '' means it did not take part
    return T("CASE WHEN {0} = '' THEN error({1}) ELSE {0} END", value,
             lit(f"regexp group {group} is empty or did not take part, which RE2 cannot tell apart; {ATHENA_ONLY}"))


def _group_source(pattern: Pattern, group: int) -> str | None:
    """The RE2 text inside capturing group ``group`` (None if it cannot be found)."""
    count, depth, start = 0, 0, None
    text = pattern.re2
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            j = i + 1
            while j < len(text) and (text[j] != "]" or j == i + 1):
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "(":
            depth += 1
            if not text.startswith("(?", i) or text.startswith("(?P<", i):
                count += 1
                if count == group:
                    start, target = (text.index(">", i) + 1 if text.startswith("(?P<", i) else i + 1), depth
        elif ch == ")":
            if start is not None and depth == target:
                return text[start:i]
            depth -= 1
        i += 1
    return None


@rewrite("regexp_extract")
def _regexp_extract(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    s = _string(c, call, args[0], 1)
    pattern, p = _pattern(c, call, args[1])
    if pattern is None:
        return _null_pattern(tt.VARCHAR)
    group = _group_arg(c, call, pattern, args[2] if len(args) == 3 else None)
    value = _extracted(pattern, int(group.this), fn("regexp_extract", s, p, group))
    body = T("CASE WHEN {0} IS NULL OR NOT regexp_matches({0}, {1}) THEN NULL ELSE {2} END", s, p, value)
    return Typed(_guards(c, call, pattern, s, body), tt.VARCHAR)


@rewrite("regexp_extract_all")
def _regexp_extract_all(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3))
    s = _string(c, call, args[0], 1)
    pattern, p = _pattern(c, call, args[1])
    kind = TType.array(tt.VARCHAR)
    if pattern is None:
        return _null_pattern(kind)
    group = _group_arg(c, call, pattern, args[2] if len(args) == 3 else None)
    items = fn("regexp_extract_all", s, p, group)
    element = _extracted(pattern, int(group.this), exp.column("_m"))
    if element is not exp.column("_m") and not (isinstance(element, exp.Column) and element.name == "_m"):
        items = T("list_transform({0}, lambda _m: {1})", items, element)
    return Typed(_guards(c, call, pattern, s, items), kind)


def _marked(s: Typed, p: exp.Expression) -> exp.Expression:
    """The text with U+0000 before each match (the matches as Java finds them, given the guards)."""
    return T("regexp_replace({0}, {1}, chr(0) || '\\0', 'g')", s, p)


def _no_nul(s: Typed, body: exp.Expression, name: str) -> exp.Expression:
    return T("CASE WHEN contains({0}, chr(0)) THEN error({1}) ELSE {2} END", s,
             lit(f"{name}(): the text contains U+0000, which the local translation uses; {ATHENA_ONLY}"), body)


@rewrite("regexp_count")
def _regexp_count(c: Compiler, call: Call) -> Typed:
    s_arg, p_arg = args_of(c, call, 2)
    s = _string(c, call, s_arg, 1)
    pattern, p = _pattern(c, call, p_arg)
    if pattern is None:
        return _null_pattern(tt.BIGINT)
    body = T("CAST(len(regexp_extract_all({0}, {1})) AS BIGINT)", s, p)
    return Typed(_guards(c, call, pattern, s, body), tt.BIGINT)


@rewrite("regexp_split")
def _regexp_split(c: Compiler, call: Call) -> Typed:
    s_arg, p_arg = args_of(c, call, 2)
    s = _string(c, call, s_arg, 1)
    pattern, p = _pattern(c, call, p_arg)
    kind = TType.array(tt.VARCHAR)
    if pattern is None:
        return _null_pattern(kind)
    body = T("string_split(regexp_replace({0}, {1}, chr(0), 'g'), chr(0))", s, p)
    return Typed(_no_nul(s, _guards(c, call, pattern, s, body), call.name), kind)


@rewrite("regexp_position")
def _regexp_position(c: Compiler, call: Call) -> Typed:
    args = args_of(c, call, (2, 3, 4))
    s = _string(c, call, args[0], 1)
    pattern, p = _pattern(c, call, args[1])
    if pattern is None:
        return _null_pattern(tt.INTEGER)
    ints = []
    for index, default in ((2, 1), (3, 1)):
        if len(args) > index:
            if not (args[index].type.is_integer or args[index].type.is_unknown):
                raise TrinoError(f"Unexpected parameters for function {call.name}")
            ints.append(c.cast(args[index].node, tt.BIGINT))
        else:
            ints.append(exp.cast(lit(default), "BIGINT"))
    start, occurrence = ints
    if len(args) > 2 and re.search(r"\^|\\[bBA]|\(\?[a-z]*m", pattern.re2):
        known, value = c.known(args[2])
        if not (known and value == 1):
            raise refuse(f"{call.name}() with a start position", "anchors and word boundaries would see a cut text")
    sub = Typed(T("substring({0}, {1})", s, start), tt.VARCHAR)
    parts = T("string_split({0}, chr(0))", _marked(sub, p))
    body = T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL "
             "WHEN {1} < 1 THEN {4} WHEN {2} < 1 THEN {5} "
             "WHEN len({3}) - 1 < {2} THEN -1 "
             "ELSE CAST({1} - 1 + list_sum(list_transform(list_slice({3}, 1, {2}), lambda _p: length(_p))) + 1 AS INTEGER) END",
             s, start, occurrence, parts,
             fail(c, "start position cannot be smaller than 1"), fail(c, "occurrence cannot be smaller than 1"))
    return Typed(_no_nul(s, _guards(c, call, pattern, sub, body), call.name), tt.INTEGER)


@rewrite("regexp_replace")
def _regexp_replace(c: Compiler, call: Call) -> Typed:
    if len(call.args) == 3 and isinstance(call.args[2], exp.Lambda):
        return _regexp_replace_function(c, call)
    args = args_of(c, call, (2, 3))
    s = _string(c, call, args[0], 1)
    pattern, p = _pattern(c, call, args[1])
    if pattern is None:
        return _null_pattern(tt.VARCHAR)
    if len(args) == 3:
        known, text = c.known(args[2])
        if not known:
            raise refuse("regexp_replace()", "the replacement must be a literal or a parameter to run locally")
        if text is None:
            return _null_pattern(tt.VARCHAR)
        try:
            rewrite_text = replacement(str(text), pattern)
        except Unsupported as exc:
            raise refuse(f"regexp_replace() with replacement {text!r}", f"RE2 has no {exc}") from None
        rep = lit(rewrite_text) if args[2].is_const else c.bind_derived(rewrite_text)
    else:
        rep = lit("")
    body = fn("regexp_replace", s, p, rep, lit("g"))
    return Typed(_guards(c, call, pattern, s, body), tt.VARCHAR)


def _regexp_replace_function(c: Compiler, call: Call) -> Typed:
    """regexp_replace(string, pattern, x -> ...): each match replaced by the lambda's value of the
    match's groups (x[1] is group 1; a group that took no part is NULL)."""
    from logpipe.engines.trino.arrays import compile_lambda, rename_columns

    s = _string(c, call, c.expr(call.args[0], call.scope), 1)
    pattern, p = _pattern(c, call, c.expr(call.args[1], call.scope))
    if pattern is None:
        return _null_pattern(tt.VARCHAR)
    names, body = compile_lambda(c, call, call.args[2], [TType.array(tt.VARCHAR)])
    if not (body.type.is_string or body.type.is_unknown):
        raise TrinoError("regexp_replace: the function must return a varchar")
    groups = [_extracted(pattern, g, T("list_extract({0}, _k)", fn("regexp_extract_all", s, p, lit(g))))
              for g in range(1, pattern.groups + 1)]
    group_list = exp.Array(expressions=groups) if groups else T("CAST([] AS VARCHAR[])")
    value = rename_columns(body.node, {names[0]: exp.Paren(this=group_list)})
    message = f"regexp_replace(): the function returned NULL for a match; {ATHENA_ONLY}"
    piece = T("CASE WHEN {0} IS NULL THEN error({1}) ELSE {0} END", value, lit(message))
    gaps = T("string_split(regexp_replace({0}, {1}, chr(0), 'g'), chr(0))", s, p)
    body_sql = T("list_extract({0}, 1) || array_to_string(list_transform(range(1, len({0})), lambda _k: {1} || list_extract({0}, _k + 1)), '')",
                 gaps, piece)
    node = T("CASE WHEN {0} IS NULL THEN NULL ELSE {1} END", s, body_sql)
    return Typed(_no_nul(s, _guards(c, call, pattern, s, node), call.name), tt.VARCHAR)
