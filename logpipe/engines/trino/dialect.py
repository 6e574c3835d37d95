"""The SQL dialect saved queries are written in: Athena's (Trino), parsed so that every ordinary
function call stays as written (the compiler dispatches on the Trino name) and typed literals stay
literals (``DECIMAL '1.5'``), so Athena receives exactly what was written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.dialects.trino import Trino


def _literal_parser(original: Callable[..., exp.Expression] | None = None) -> Callable[..., exp.Expression]:
    def parse(parser: Any, this: exp.Expression, to: exp.DataType) -> exp.Expression:
        node = original(parser, this, to) if original else exp.Cast(this=this, to=to)
        node.meta["logpipe_literal"] = this.name
        return node

    return parse


class LogpipeTrino(Trino):
    """Trino's grammar, but ordinary function calls stay ``Anonymous`` (name and arguments as the user
    wrote them) and typed literals (``DECIMAL '1.5'``) stay literals: the compiler dispatches on the
    Trino name, and Athena receives exactly what was written."""

    # Subscripts stay as written (1-based): sqlglot would otherwise shift literal indexes it can type.
    INDEX_OFFSET = 0

    class Parser(Trino.Parser):  # type: ignore[valid-type,misc]
        FUNCTIONS: dict[str, Any] = {}
        # Only the calls with SQL syntax of their own (CAST(x AS t), TRIM(BOTH ... FROM ...)); the
        # rest (DECODE, CHR, MAX_BY ...) are ordinary Trino functions and stay as written.
        FUNCTION_PARSERS: dict[str, Any] = {name: parser for name, parser in Trino.Parser.FUNCTION_PARSERS.items()
                            if name in {"CAST", "TRY_CAST", "EXTRACT", "POSITION", "SUBSTRING", "TRIM",
                                        "NORMALIZE", "LISTAGG", "JSON_QUERY", "JSON_VALUE", "JSON_OBJECT",
                                        "JSON_TABLE", "OVERLAY"}}
        TYPE_LITERAL_PARSERS: dict[Any, Any] = {
            **{dtype: _literal_parser() for dtype in exp.DataType.Type},
            **{dtype: _literal_parser(fn) for dtype, fn in Trino.Parser.TYPE_LITERAL_PARSERS.items()
               if dtype != exp.DataType.Type.JSON},
        }

    class Generator(Trino.Generator):  # type: ignore[valid-type,misc]
        def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
            literal = expression.meta.get("logpipe_literal")
            if literal is not None and not isinstance(expression, exp.TryCast):
                kind = self.sql(expression, "to")
                # A timestamp's zone and precision come from its text: ``TIMESTAMP '... UTC'``.
                for keyword in ("TIMESTAMP", "TIME"):
                    if kind.startswith(keyword + "(") or kind.startswith(keyword + " "):
                        kind = keyword
                return f"{kind} {self.sql(exp.Literal.string(literal))}"
            return super().cast_sql(expression, safe_prefix)


DIALECT = LogpipeTrino

