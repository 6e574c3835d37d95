"""Error-pattern mining: masking, stack-trace grouping and the online template miner."""

from __future__ import annotations

from logpipe.patterns.masking import MASK_REGEXES_SQL, WILDCARD, mask
from logpipe.patterns.miner import MatchResult, MinerConfig, Pattern, TemplateMiner, pattern_id_for
from logpipe.patterns.traces import stack_trace_key

__all__ = [
    "MASK_REGEXES_SQL",
    "WILDCARD",
    "MatchResult",
    "MinerConfig",
    "Pattern",
    "TemplateMiner",
    "mask",
    "pattern_id_for",
    "stack_trace_key",
]
