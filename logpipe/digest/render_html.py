"""The digest as HTML that renders in common mail clients.

Mail clients are not browsers: no stylesheets (Gmail drops ``<style>`` in many cases, Outlook uses
Word's engine), so the template is nested tables with inline styles only. Charts are PNG: in a file
they are ``data:`` URIs (one self-contained file); in an email, Gmail blocks data URIs, so
``images="cid"`` references ``cid:`` parts that ``mime_email`` attaches (multipart/related).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from typing import Any, Literal, cast

from logpipe.digest.model import Digest

SEVERITY_COLORS = {"critical": "#de350b", "warning": "#ff991f", "info": "#0065ff"}


@cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("logpipe.digest", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("digest.html.j2")


def render_html(digest: Digest, images: Literal["data", "cid"] = "data") -> str:
    """The HTML; ``images="data"`` inlines charts, ``"cid"`` points at MIME parts by Content-ID."""
    from logpipe.charts import data_uri

    sources: dict[str, str | None] = {}
    for p in digest.top_patterns:
        if p.chart_png is None:
            sources[p.pattern_id] = None
        elif images == "cid":
            sources[p.pattern_id] = f"cid:{p.content_id}"
        else:
            sources[p.pattern_id] = data_uri(p.chart_png)
    return _template().render(d=digest, images=sources, colors=SEVERITY_COLORS)


def mime_email(digest: Digest, sender: str, recipients: list[str], text: str | None = None) -> bytes:
    """A multipart/alternative email (text + HTML) whose HTML part is multipart/related with the
    charts attached inline by Content-ID: what SES ``send_raw_email`` takes."""
    from logpipe.digest.render_md import render_markdown

    msg = EmailMessage()
    msg["Subject"] = digest.subject()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    # Stable per digest window: SES has no idempotency key, but mail systems that deduplicate by
    # Message-ID (Gmail does) show a repeat after an interrupted delivery as the same message.
    msg["Message-ID"] = f"<logpipe-{digest.digest_id}@logpipe>"
    msg.set_content(text or render_markdown(digest))
    msg.add_alternative(render_html(digest, images="cid"), subtype="html")
    html_part = cast(list[EmailMessage], msg.get_payload())[1]
    for p in digest.top_patterns:
        if p.chart_png is not None:
            html_part.add_related(p.chart_png, maintype="image", subtype="png", cid=f"<{p.content_id}>",
                                  filename=f"{p.pattern_id}.png")
    return msg.as_bytes()
