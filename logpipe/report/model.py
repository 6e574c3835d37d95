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


__all__ = ["ReportedRun"]
