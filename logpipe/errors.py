"""The exceptions a user can act on.

Every error that reaches the CLI edge is a ``LogpipeError`` with a message written for the person at
the terminal: what went wrong, where (file, key, line) and, where we know it, what to do. The CLI
prints the message on one line and exits non-zero; ``--debug`` adds the traceback.
"""

from __future__ import annotations


class LogpipeError(Exception):
    """Base class: the message is shown to the user as is."""

    exit_code = 1


class ConfigError(LogpipeError):
    """The configuration file or an environment override is invalid."""

    exit_code = 2


class UsageError(LogpipeError):
    """A command-line argument or query parameter is invalid."""

    exit_code = 2


class StoreError(LogpipeError):
    """The log store (local folder or S3) cannot be listed or read."""


class QueryError(LogpipeError):
    """A saved query is malformed, or the engine failed to run it."""


class EngineError(QueryError):
    """The query engine (DuckDB or Athena) reported a failure."""


class DeliveryError(LogpipeError):
    """A metric, digest or event could not be delivered (it is kept and retried)."""


class MissingExtraError(LogpipeError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""

    exit_code = 2


class AthenaOnlyError(QueryError):
    """A construct the local engine cannot answer the way Athena (Trino) does: the query runs on
    Athena only. Raised instead of a guess, naming the function and why."""


__all__ = ["AthenaOnlyError", "ConfigError", "DeliveryError", "EngineError", "LogpipeError", "MissingExtraError",
           "QueryError", "StoreError", "UsageError"]
