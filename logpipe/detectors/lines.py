"""From a pattern to exactly its lines: which shapes the detectors counted as the pattern.

The detectors count a pattern as the ERROR/FATAL records of every (service, hour, pattern_id) group
(``pattern_id``: the ``logs`` view's id of a line's masked template) whose example the miner puts in
that pattern (``run_detectors``). This module repeats that assignment for a window without learning
anything: it runs the same ``error_shapes`` query, asks the stored miner which pattern each group's
example belongs to (``TemplateMiner.match`` follows merges), and returns the pattern's line ids.
``pattern_lines`` with those ids then returns the very records that were counted - the same number
the pattern store holds for the window's hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from logpipe.detectors.shapes import ERROR_SHAPES_QUERY, PATTERN_LINES_QUERY
from logpipe.patterns.store import PatternStore
from logpipe.queries.params import MAX_LIST
from logpipe.redact import redact

if TYPE_CHECKING:
    from logpipe.config import Config


@dataclass
class PatternShapes:
    pattern_id: str
    window_start: datetime
    window_end: datetime
    ids: list[str] = field(default_factory=list)  # the logs view's pattern_ids, most records first
    records: int = 0  # the records of those ids in the window: what pattern_lines returns
    services: dict[str, int] = field(default_factory=dict)
    truncated: bool = False  # more ids than one list parameter takes

    @property
    def query(self) -> str:
        return PATTERN_LINES_QUERY

    def params(self) -> dict[str, str]:
        return {"patterns": ",".join(self.ids)}


def pattern_shapes(config: Config, pattern_id: str, start: datetime, end: datetime,
                   store: PatternStore | None = None) -> PatternShapes:
    """The line ids (``logs.pattern_id``) of ``pattern_id`` in ``[start, end)`` and how many records they hold."""
    from logpipe.patterns.miner import TemplateMiner
    from logpipe.queries.runner import run_query

    store = store or PatternStore.from_config(config)
    current = store.resolve_id(pattern_id)
    with store.transaction() as writer:
        state = writer.load_miner_state()
    found = PatternShapes(current, start, end)
    if not state:
        return found
    miner = TemplateMiner.from_state(state)
    frame = run_query(config, ERROR_SHAPES_QUERY, start, end, {}, redacted=False).frame  # ids as the engine has them
    per_id: dict[str, int] = {}
    for row in frame.itertuples(index=False):
        match = miner.match("" if row.example is None else str(row.example))
        if match is None or miner.resolve(match.pattern_id) != current:
            continue
        line_id = str(row.pattern_id)
        per_id[line_id] = per_id.get(line_id, 0) + int(row.records)
        service = redact(str(row.service))
        found.services[service] = found.services.get(service, 0) + int(row.records)
    ranked = sorted(per_id.items(), key=lambda kv: (-kv[1], kv[0]))
    found.truncated = len(ranked) > MAX_LIST
    found.ids = [i for i, _ in ranked[:MAX_LIST]]
    found.records = sum(n for _, n in ranked[:MAX_LIST])
    return found


__all__ = ["PatternShapes", "pattern_shapes"]
