"""The FireLens log router: Fluent Bit configs, parsers, Lua filters and task-definition snippets per service."""

from __future__ import annotations

from logpipe.firelens.render import RenderedService, render_service, service_names

__all__ = ["RenderedService", "render_service", "service_names"]
