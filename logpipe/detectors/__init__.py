"""Error-pattern detectors: new patterns, spikes, error rates and regressions over a window."""

from __future__ import annotations

from logpipe.detectors.base import DetectionContext, Finding, PatternActivity
from logpipe.detectors.run import DetectionReport, detection_points, run_detectors

__all__ = ["DetectionContext", "DetectionReport", "Finding", "PatternActivity", "detection_points", "run_detectors"]
