"""The web console and JSON API (``/ui``, ``/api``) and the hardened HTTP server of ``logpipe serve``.

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart, PyJWT): ``pip install 'logpipe[web]'``.
"""

from __future__ import annotations


def require_web(feature: str = "the web console") -> None:
    """A clear error naming the ``web`` extra when the web stack is not installed."""
    from logpipe.extras import require

    require("web", feature)


__all__ = ["require_web"]
