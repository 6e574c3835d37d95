"""A small reader for Fluent Bit's classic config format, to check what we render.

Why our own: Fluent Bit has no package here, and the format is simple: ``[SECTION]`` headers,
indented ``Key Value`` lines (the value is everything after the first run of spaces, and a key may
repeat), ``#`` comment lines and ``@INCLUDE`` / ``@SET`` commands. Rule lines of a
``[MULTILINE_PARSER]`` carry double-quoted fields, split by ``rule_fields``.
"""

from __future__ import annotations

import re

from logpipe.errors import LogpipeError
from logpipe.firelens.render import Section

_SECTION_RE = re.compile(r"^\[([A-Za-z_]+)\]\s*$")
_ENTRY_RE = re.compile(r"^(\s+)(\S+)(?:\s+(.*?))?\s*$")
_QUOTED_RE = re.compile(r'"([^"]*)"')


class ConfigParseError(LogpipeError):
    """The text is not a classic Fluent Bit config."""


def parse_classic(text: str, source: str = "<config>") -> list[Section]:
    """Sections in file order; keys keep their spelling and order, values are stripped."""
    sections: list[Section] = []
    name: str | None = None
    entries: list[tuple[str, str]] = []
    indent: str | None = None

    def close() -> None:
        if name is not None:
            sections.append(Section(name.upper(), tuple(entries)))

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("@"):
            command = stripped.split(None, 1)[0].upper()
            if command not in ("@INCLUDE", "@SET"):
                raise ConfigParseError(f"{source}:{number}: unknown command {command}")
            continue
        header = _SECTION_RE.match(line)
        if header:
            close()
            name, entries, indent = header.group(1), [], None
            continue
        entry = _ENTRY_RE.match(line)
        if name is None or not entry:
            raise ConfigParseError(f"{source}:{number}: expected '[SECTION]' or an indented 'Key Value': {line!r}")
        if indent is None:
            indent = entry.group(1)
        elif entry.group(1) != indent:
            raise ConfigParseError(f"{source}:{number}: inconsistent indentation in [{name}]")
        if entry.group(3) is None:
            raise ConfigParseError(f"{source}:{number}: key {entry.group(2)!r} has no value")
        entries.append((entry.group(2), entry.group(3)))
    close()
    return sections


def rule_fields(value: str) -> tuple[str, str, str]:
    """The (state, regex, next state) of a ``rule "state" "/regex/" "next"`` value."""
    fields = _QUOTED_RE.findall(value)
    if len(fields) != 3 or _QUOTED_RE.sub("", value).strip():
        raise ConfigParseError(f"rule must be three double-quoted fields: {value!r}")
    state, regex, next_state = fields
    if not (regex.startswith("/") and regex.rstrip("imx").endswith("/") and len(regex) >= 2):
        raise ConfigParseError(f"rule regex must be written /.../: {regex!r}")
    return state, regex[1 : len(regex.rstrip("imx")) - 1], next_state
