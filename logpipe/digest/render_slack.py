"""The digest as a Slack Block Kit message, kept within Slack's documented limits.

Slack rejects a whole message (``invalid_blocks``) when one limit is exceeded, and a digest of a bad
day is exactly when texts get long. So the renderer truncates to fit, and ``validate_blocks``
checks the result against the limits (https://api.slack.com/reference/block-kit/blocks):

* at most 50 blocks per message;
* ``header``: ``plain_text`` only, at most 150 characters;
* ``section``: ``text`` at most 3000 characters; at most 10 ``fields``, each at most 2000;
* ``context``: at most 10 elements (each a text object or an image);
* text objects: ``type`` ``plain_text`` or ``mrkdwn`` and a non-empty ``text``; ``divider`` has nothing else.
"""

from __future__ import annotations

from typing import Any

from logpipe.digest.model import Digest
from logpipe.digest.render_md import text_sparkline

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT_FALLBACK = 4000  # the top-level ``text`` (notification fallback): Slack truncates beyond 40k
SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
KNOWN_BLOCKS = {"header", "section", "context", "divider", "actions", "image", "rich_text", "input", "file", "video"}


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities; a sample cannot ping @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str, limit: int) -> str:
    return "`" + _fit(_escape(" ".join(text.split()).replace("`", "'")), limit) + "`"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, MAX_SECTION_TEXT)}}


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(t, MAX_SECTION_TEXT)}
                                            for t in texts[:MAX_CONTEXT_ELEMENTS] if t]}


def render_slack(digest: Digest) -> dict[str, Any]:
    """The message payload (``{"text": ..., "blocks": [...]}``) for chat.postMessage or a webhook."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _fit(digest.title, MAX_HEADER), "emoji": True}},
        _section(f"{_escape(digest.errors_text())} · {_escape(digest.counts_text(' · '))}"),
    ]
    if digest.job_problems:
        lines = [f"• `{p.job}` {p.window_start:%Y-%m-%d %H:%M}Z ({p.attempts}×): {_escape(_fit(p.error, 200))}"
                 for p in digest.job_problems[:10]]
        blocks.append(_section(":warning: *Failed scheduled jobs* (retried on the next run)\n" + "\n".join(lines)))
    if digest.quality is not None:
        detail = "\n".join(f"• {_escape(_fit(line, 200))}" for line in digest.quality.lines(5))
        icon = "" if digest.quality.clean else ":warning: "
        blocks.append(_section(_fit(f"{icon}*Data quality*: {_escape(digest.quality.headline())}"
                                    + (f"\n{detail}" if detail else ""), MAX_SECTION_TEXT)))
    if digest.services:
        fields = [{"type": "mrkdwn", "text": _fit(f"*{_escape(s.service)}*\n{s.errors} errors ({s.change_text}, "
                                                   f"was {s.previous})", MAX_FIELD_TEXT)}
                  for s in digest.services[:MAX_FIELDS]]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Errors per service*"},
                       "fields": fields})
        if len(digest.services) > MAX_FIELDS:
            blocks.append(_context(f"and {len(digest.services) - MAX_FIELDS} more services"))
    # Findings and patterns share the remaining budget; the last block says what was left out.
    budget = MAX_BLOCKS - len(blocks) - 3
    findings = digest.findings
    if findings:
        blocks.append({"type": "divider"})
        blocks.append(_section("*Findings*"))
        budget -= 2
    shown = 0
    for f in findings:
        if budget < 4:
            break
        text = f"{SEVERITY_EMOJI.get(f.severity, '')} *{f.severity}* {_escape(_fit(f.title, 400))}"
        if f.samples:
            text += "\n" + _code(f.samples[0], 600)
        blocks.append(_section(text))
        link = f"<{f.console_url}|Athena console>" if f.console_url else ""
        blocks.append(_context(_code(f.command, 500), link))
        budget -= 2
        shown += 1
    patterns_shown = 0
    if digest.top_patterns and budget >= 4:
        blocks.append({"type": "divider"})
        blocks.append(_section("*Top error patterns* (trend per hour)"))
        budget -= 2
        for p in digest.top_patterns:
            if budget < 2:
                break
            text = (f"*{p.count}* (was {p.previous}) `{text_sparkline(p.hourly)}` {_escape(', '.join(p.services))}\n"
                    + _code(p.template, 800))
            if p.samples:
                text += "\n" + _code(p.samples[0], 600)
            blocks.append(_section(text))
            blocks.append(_context(_code(p.command, 500)))
            budget -= 2
            patterns_shown += 1
    left = (len(findings) - shown) + (len(digest.top_patterns) - patterns_shown)
    footer = [f"generated {digest.generated_at:%Y-%m-%d %H:%M}Z by logpipe ({digest.engine}) · "
              f"digest id {digest.digest_id}"]
    if left:
        footer.append(f"{left} more findings/patterns: run `logpipe digest --since "
                      f"{digest.window_start:%Y-%m-%dT%H:%MZ} --until {digest.window_end:%Y-%m-%dT%H:%MZ}`")
    blocks.append(_context(*footer))
    return {"text": _fit(f"{digest.subject()} ({digest.digest_id})", MAX_TEXT_FALLBACK), "blocks": blocks[:MAX_BLOCKS]}


def _text_object(obj: Any, where: str, problems: list[str], limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        problems.append(f"{where}: must be a text object (plain_text or mrkdwn)")
        return
    if plain_only and obj["type"] != "plain_text":
        problems.append(f"{where}: must be plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}: text must be a non-empty string")
    elif len(text) > limit:
        problems.append(f"{where}: text is {len(text)} characters, the limit is {limit}")


def validate_blocks(payload: dict[str, Any]) -> list[str]:
    """Problems that would make Slack reject the message (empty list: valid)."""
    problems: list[str] = []
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return ["blocks: must be a non-empty list"]
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} blocks, the limit is {MAX_BLOCKS}")
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in KNOWN_BLOCKS:
            problems.append(f"{where}: unknown block type {kind!r}")
            continue
        if kind == "header":
            _text_object(block.get("text"), f"{where}.text", problems, MAX_HEADER, plain_only=True)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                _text_object(block["text"], f"{where}.text", problems, MAX_SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    problems.append(f"{where}.fields: must be a non-empty list")
                else:
                    if len(fields) > MAX_FIELDS:
                        problems.append(f"{where}.fields: {len(fields)} fields, the limit is {MAX_FIELDS}")
                    for j, item in enumerate(fields):
                        _text_object(item, f"{where}.fields[{j}]", problems, MAX_FIELD_TEXT)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                problems.append(f"{where}.elements: must be a non-empty list")
                continue
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                problems.append(f"{where}.elements: {len(elements)} elements, the limit is {MAX_CONTEXT_ELEMENTS}")
            for j, item in enumerate(elements):
                if isinstance(item, dict) and item.get("type") == "image":
                    if not item.get("image_url") or not item.get("alt_text"):
                        problems.append(f"{where}.elements[{j}]: an image needs image_url and alt_text")
                else:
                    _text_object(item, f"{where}.elements[{j}]", problems, MAX_SECTION_TEXT)
        elif kind == "divider" and set(block) - {"type", "block_id"}:
            problems.append(f"{where}: a divider takes no fields but type and block_id")
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or len(block_id) > 255):
            problems.append(f"{where}.block_id: at most 255 characters")
    return problems
