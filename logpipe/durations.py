"""Durations as the configuration and the command line write them (``15m``, ``1h``, ``7d``).

Its own module, free of pydantic: the query path parses windows and lateness with it, and a command
whose configuration is remembered (``logpipe.config_cache``) never imports ``logpipe.config``."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``15m``, ``1h`` or ``7d``; raises ValueError with the accepted forms."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, like 90s, 15m, 1h, 7d or 2w")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


__all__ = ["parse_duration"]
