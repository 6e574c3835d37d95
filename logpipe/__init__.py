"""logpipe: ship ECS container logs to S3 and analyse them with saved queries and pattern detectors."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
