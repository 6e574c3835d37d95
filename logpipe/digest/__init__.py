"""Error digests: built once per window, rendered per format, delivered exactly once per destination."""

from __future__ import annotations

from logpipe.digest.build import build_digest
from logpipe.digest.deliver import Deliverer, DeliveryReport, deliver_now
from logpipe.digest.model import Digest, DigestFinding, JobProblem, ServiceErrors, TopPattern
from logpipe.digest.render_html import render_html
from logpipe.digest.render_md import render_markdown
from logpipe.digest.render_slack import render_slack
from logpipe.digest.render_text import render_text

__all__ = ["Deliverer", "DeliveryReport", "Digest", "DigestFinding", "JobProblem", "ServiceErrors", "TopPattern",
           "build_digest", "deliver_now", "render_html", "render_markdown", "render_slack", "render_text"]
