"""What the demo's reports read of a run: a protocol, so the report stays below the demo.

``logpipe.demo.DemoRun`` is one; the report never imports the demo (which imports the report).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from logpipe.config import Config
from logpipe.detectors.base import Finding
from logpipe.digest.model import Digest
from logpipe.queries.model import QueryResult
from logpipe.simulate import SimulationSummary
from logpipe.text import plural


class ReportedRun(Protocol):
    """A finished demo run: what was simulated, queried, detected and published."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    @property
    def config(self) -> Config: ...

    @property
    def simulation(self) -> SimulationSummary: ...

    @property
    def results(self) -> dict[str, QueryResult]: ...

    @property
    def skipped(self) -> dict[str, str]: ...

    @property
    def findings(self) -> list[Finding]: ...

    @property
    def points_published(self) -> int: ...

    @property
    def timings(self) -> dict[str, float]: ...

    @property
    def digest(self) -> Digest | None: ...

    @property
    def report_path(self) -> Path | None: ...

    @property
    def bad_lines(self) -> dict[str, int]: ...


def bad_lines_text(run: ReportedRun) -> str:
    """Why the simulator's and the engine's bad-record numbers differ, in one paragraph.

    The simulator counts every bad line it wrote, by kind; the engine counts the lines it could not
    read, by reason, over the day. A line with a wrong type (``"status": "abc"``) is still a JSON
    object: it is read, with that field empty, so it is not among the engine's. A truncated line is
    "not_json" to the engine.
    """
    sim = run.simulation
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(sim.bad_by_kind.items()))
    counted = sum(run.bad_lines.values())
    reasons = ", ".join(f"{k} {n:,}" for k, n in sorted(run.bad_lines.items()))
    wrong = sim.bad_by_kind.get("wrong_types", 0)
    text = (f"The simulator wrote {plural(sim.bad_records, 'bad line')} ({kinds or 'none'}); the engine could not read "
            f"{plural(counted, 'line')} of the day and counted {'them' if counted != 1 else 'it'} by reason "
            f"({reasons or 'none'}).")
    if wrong:
        text += (f" The {plural(wrong, 'line')} with a wrong type {'are' if wrong != 1 else 'is'} still JSON: read, "
                 "with the field that does not fit left empty.")
    if sim.bad_by_kind.get("truncated"):
        text += " Truncated lines are not_json to the engine."
    return text


__all__ = ["ReportedRun"]
