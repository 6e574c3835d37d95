"""Error digests: built once per window, rendered per format, delivered exactly once per destination.

The names below are imported on first use (PEP 562): ``logpipe.digest.model`` is imported by every
run cycle, and importing it must not pull in each renderer (rich's console alone is ~25 ms of a
short ``logpipe run``). ``render_html`` and ``render_text`` are imported from their modules
(``logpipe.digest.render_html``...): a lazy name that is also a submodule's would turn into the module
once that is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logpipe.lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from logpipe.digest.build import build_digest
    from logpipe.digest.deliver import Deliverer, DeliveryReport, deliver_now
    from logpipe.digest.model import Digest, DigestFinding, JobProblem, ServiceErrors, TopPattern
    from logpipe.digest.render_md import render_markdown
    from logpipe.digest.render_slack import render_slack

_LAZY = {"build_digest": "build", "Deliverer": "deliver", "DeliveryReport": "deliver", "deliver_now": "deliver",
         "Digest": "model", "DigestFinding": "model", "JobProblem": "model", "ServiceErrors": "model",
         "TopPattern": "model", "render_markdown": "render_md", "render_slack": "render_slack"}

__all__ = ["Deliverer", "DeliveryReport", "Digest", "DigestFinding", "JobProblem", "ServiceErrors", "TopPattern",
           "build_digest", "deliver_now", "render_markdown", "render_slack"]

__getattr__ = _lazy_attributes(__name__, _LAZY)
