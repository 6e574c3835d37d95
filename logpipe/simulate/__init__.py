"""The log simulator: realistic FireLens records for a window, written in the storage layout.

Five services on one cluster (Java, .NET, Python, Go and nginx, each logging the way that runtime
does), a daily traffic curve, error bursts, crashes, a deploy that brings a brand-new error, and
bad records at a chosen rate: the material every detector, query and report is demonstrated and
tested on. ``simulate()`` is the API; ``logpipe simulate`` the command.
"""

from __future__ import annotations

from logpipe.simulate.generator import Burst, Crash, SimulationSummary, simulate, traffic_curve

__all__ = ["Burst", "Crash", "SimulationSummary", "simulate", "traffic_curve"]
