"""Typed parameters and the statement that carries them to an engine, bound, never pasted into SQL.

Why here, below the saved queries: an engine binds values of known types into one parsed statement,
and that is all it needs to know. Where the values come from (a saved query's header, ``--param``,
the runner's window) is ``logpipe.queries``' business; it builds a ``BoundStatement`` and hands it down.

How each type is bound (both engines see the same values):

========== ============================== ==========================================================
type       Python value                   bound as
========== ============================== ==========================================================
string     str                            VARCHAR
int        int (64-bit)                   BIGINT
float      float (finite)                 DOUBLE
bool       bool                           BOOLEAN
timestamp  aware datetime (UTC)           TIMESTAMP WITH TIME ZONE
duration   int seconds                    BIGINT
enum       str, one of the choices        VARCHAR
list       list of the item type          ARRAY of the item type (``x IN (:list)`` works too)
========== ============================== ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlglot import exp

from logpipe.layout import utc

ParamType = Literal["string", "int", "float", "bool", "timestamp", "duration", "enum", "list"]

# SQL types for a typed NULL and for Athena casts.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR", "enum": "VARCHAR", "int": "BIGINT", "duration": "BIGINT", "float": "DOUBLE",
    "bool": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE",
}


@dataclass(frozen=True)
class Param:
    """One typed parameter a statement may bind (declared in a saved query, or the runner's own)."""

    name: str
    type: ParamType
    default: Any = None
    required: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()  # enum values, or the item type's allowed values for list
    item_type: ParamType = "string"  # for list


class BoundStatement:
    """A parsed Athena statement, the validated value of every placeholder, and their types.

    Only a read-only statement over ``logs`` can become one (``logpipe.engines.sandbox``): both
    engines take nothing else, so the check cannot be skipped on the way to either of them. A
    statement given as a tree is checked at once; one given as its text (and maybe the tree its
    saved query was loaded with, to copy) is parsed or copied, and checked, the first time its tree
    is asked for.

    Why the tree may wait: a DuckDB translation already made for this text
    (``logpipe.engines.duckdb.compile_duckdb``) needs only the text and the values, and parsing a
    query with sqlglot costs a short run most of its start-up (the import alone is ~0.1 s).
    """

    __slots__ = ("_template", "_tree", "line_offset", "scan_end", "source", "text", "types", "values",
                 "window_end", "window_start")

    def __init__(self, tree: exp.Expression | None, values: Mapping[str, Any], types: Mapping[str, Param],
                 window_start: datetime, window_end: datetime, source: str = "statement",
                 scan_end: datetime | None = None, text: str | None = None, line_offset: int = 0,
                 template: exp.Expression | None = None) -> None:
        """``template``: a parsed tree of ``text`` to bind a copy of (a loaded saved query's); the copy
        is made, and checked, only when the tree is asked for (the engines rewrite trees in place)."""
        if tree is None and text is None and template is None:
            raise ValueError("a statement needs its parsed tree or its text")
        self._template = template
        self.values = values
        self.types = types
        self.window_start = window_start
        self.window_end = window_end
        self.source = source
        # The end of the partitions to read: past window_end by the lateness records may arrive with.
        self.scan_end = scan_end
        # The statement's source text when it came from one (a saved query's body): the key under
        # which its DuckDB translation is remembered (logpipe.engines.duckdb.compile_duckdb).
        self.text = text
        self.line_offset = line_offset  # the text's first line in its file (error messages)
        self._tree: exp.Expression | None = None
        if tree is not None:
            from logpipe.engines.sandbox import check_read_only

            self._tree = check_read_only(tree, self.source)

    @property
    def tree(self) -> exp.Expression:
        """The statement's tree, parsed from its text and checked read-only on first use."""
        if self._tree is None:
            from logpipe.engines.sandbox import check_read_only

            if self._template is not None:
                tree = self._template.copy()
            else:
                from logpipe.engines.parsing import parse

                assert self.text is not None  # __init__ refuses a statement with none of them
                tree = parse(self.text, source=self.source, line_offset=self.line_offset)
            self._tree = check_read_only(tree, self.source)
        return self._tree

    @property
    def parsed(self) -> bool:
        """Whether the tree exists yet (tests: a remembered translation parses nothing)."""
        return self._tree is not None

    def __repr__(self) -> str:
        return (f"BoundStatement(source={self.source!r}, window={self.window_start!s}..{self.window_end!s}, "
                f"values={dict(self.values)!r})")


def typed_null(param: Param) -> exp.Expression:
    """``CAST(NULL AS <type>)``: a None value is written as SQL NULL, typed so ``:p IS NULL`` works."""
    from sqlglot import exp

    if param.type == "list":
        inner = SQL_TYPES.get(param.item_type, "VARCHAR")
        return exp.cast(exp.Null(), exp.DataType.build(f"ARRAY<{inner}>"))
    return exp.cast(exp.Null(), exp.DataType.build(SQL_TYPES[param.type]))


def prepare_tree(tree: exp.Expression, values: Mapping[str, Any], types: Mapping[str, Param]) -> exp.Expression:
    """Placeholders made ready to bind, on a copy: None values become typed NULLs, and
    ``x IN (:list)`` becomes ``contains(:list, x)`` so a list binds as one array value."""
    from sqlglot import exp

    tree = tree.copy()

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.In) and len(node.expressions) == 1:
            only = node.expressions[0]
            if isinstance(only, exp.Placeholder) and only.name in types and types[only.name].type == "list":
                return exp.ArrayContains(this=only.copy(), expression=node.this.copy())
        if isinstance(node, exp.Placeholder) and node.name in values and values[node.name] is None:
            return typed_null(types[node.name])
        return node

    return tree.transform(visit, copy=False)


def athena_literal(value: Any, kind: ParamType) -> str:
    """One Athena ExecutionParameter: the SQL literal of a validated value.

    Athena parses each ExecutionParameter as a single literal and binds it (it never splices the text
    into the statement); the literal is still built by sqlglot so quotes inside strings are escaped.
    """
    from sqlglot import exp

    if kind in ("string", "enum"):
        return exp.Literal.string(value).sql(dialect="trino")
    if kind in ("int", "duration"):
        return str(int(value))
    if kind == "float":
        text = repr(float(value))
        return text if "e" in text.lower() else text + "E0"
    if kind == "bool":
        return "true" if value else "false"
    if kind == "timestamp":
        return exp.Literal.string(utc(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")).sql(dialect="trino")
    raise ValueError(f"no literal form for {kind}")


__all__ = ["SQL_TYPES", "BoundStatement", "Param", "ParamType", "athena_literal", "prepare_tree", "typed_null"]
