"""Query engines: DuckDB on one machine, Athena at scale; the same saved query text on both.

Engines are the lower layer: they bind and run a ``BoundStatement`` and know nothing of saved
queries. An engine is chosen from ``ENGINES`` (``logpipe.engines.registry``), one entry per
``[engine] kind``.
"""

from __future__ import annotations

from logpipe.engines.base import Cancel, Engine, Progress, QueryCancelled, QueryStats, athena_cost
from logpipe.engines.binding import BoundStatement, Param, ParamType
from logpipe.engines.registry import ENGINES, open_engine

__all__ = ["ENGINES", "BoundStatement", "Cancel", "Engine", "Param", "ParamType", "Progress", "QueryCancelled",
           "QueryStats", "athena_cost", "open_engine"]
