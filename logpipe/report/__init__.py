"""The demo's reports: the self-contained HTML report and the terminal digest of a ``logpipe demo`` run."""

from __future__ import annotations

from logpipe.report.html import write_report
from logpipe.report.model import ReportedRun
from logpipe.report.terminal import print_demo_digest

__all__ = ["ReportedRun", "print_demo_digest", "write_report"]
