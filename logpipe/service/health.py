"""What ``/healthz`` and ``/status`` say about a running service: one place for their content.

The HTTP side lives in ``logpipe.web`` (routes, authentication, the bounded server); both endpoints
call these two functions and nothing else, so whoever changes what health means (failure counts,
degraded states) changes it here or in ``Service.health``/``Service.status`` only.

``/healthz`` is for the ECS/ALB health check: 200 while the scheduler runs, no job is stuck and none
failed ``[service] degraded_after_failures`` times in a row ("degraded"), 503 otherwise. ``/status`` is for people (behind authentication): jobs, next and last runs, watermarks
and last errors - never configuration values, and no local file paths (an error message naming
``/var/lib/logpipe/cache/...`` tells an outsider about the host; the path is replaced by its last part).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

# An absolute POSIX path of two or more parts, a Windows path, or a file:// URL, as found in messages.
_LOCAL_PATH_RE = re.compile(
    r"file://[^\s'\"()]+|(?<![\w:/.-])/(?:[^\s'\"/,;()]+/)+[^\s'\"/,;()]*"
    r"|\b[A-Za-z]:\\(?:[^\\\s'\"]+\\)*[^\\\s'\"]*")


class Reporting(Protocol):
    """What the endpoints ask of the service (``logpipe.service.scheduler.Service`` is one)."""

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def status(self) -> dict[str, Any]: ...


def without_local_paths(value: Any) -> Any:
    """``value`` with every local path in its strings cut to ``…/last-part``."""
    if isinstance(value, str):
        return _LOCAL_PATH_RE.sub(lambda m: "…/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], value)
    if isinstance(value, dict):
        return {k: without_local_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_local_paths(v) for v in value]
    return value


def health_report(service: Reporting) -> tuple[bool, dict[str, Any]]:
    """(healthy, body) for ``/healthz``."""
    ok, body = service.health()
    return bool(ok), without_local_paths(body)


def status_report(service: Reporting) -> dict[str, Any]:
    """The body of ``/status``."""
    return without_local_paths(service.status())


__all__ = ["Reporting", "health_report", "status_report", "without_local_paths"]
