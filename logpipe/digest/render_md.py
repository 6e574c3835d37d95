"""The digest as Markdown: for a file, a ticket, an SNS message (plain text that reads well raw)."""

from __future__ import annotations

from logpipe.digest.model import Digest

BARS = "▁▂▃▄▅▆▇█"
SEVERITY_MARK = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


def text_sparkline(values: list[int]) -> str:
    """Counts per hour as block characters (Markdown has no inline images that every viewer shows)."""
    if not values:
        return ""
    top = max(values)
    if top == 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(len(BARS) - 1, round(v / top * (len(BARS) - 1)))] for v in values)


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split()).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(digest: Digest, *, samples: bool = True, max_findings: int | None = None) -> str:
    lines = [f"# {digest.title}", ""]
    lines.append(f"{digest.errors_text()}, {digest.counts_text()}.")
    lines.append("")
    if digest.job_problems:
        lines += ["## Failed scheduled jobs", ""]
        for p in digest.job_problems:
            lines.append(f"- `{p.job}` window {p.window_start:%Y-%m-%d %H:%M}Z failed {p.attempts}× "
                         f"(retried on the next run): {_cell(p.error, 300)}")
        lines.append("")
    if digest.quality is not None:
        lines += ["## Data quality", "", digest.quality.headline() + ".", ""]
        lines += [f"- {_cell(line, 400)}" for line in digest.quality.lines()]
        if digest.quality.lines():
            lines.append("")
    lines += ["## Errors per service", ""]
    if digest.services:
        lines += ["| service | errors | previous period | change |", "| --- | ---: | ---: | ---: |"]
        for s in digest.services:
            lines.append(f"| {_cell(s.service)} | {s.errors} | {s.previous} | {s.change_text} |")
    else:
        lines.append("No errors in this window or the previous one.")
    lines.append("")
    findings = digest.findings if max_findings is None else digest.findings[:max_findings]
    if digest.findings:
        lines += ["## Findings", ""]
        for f in findings:
            lines.append(f"- {SEVERITY_MARK.get(f.severity, '')} **{f.severity}** {_cell(f.title, 300)}")
            if samples and f.samples:
                lines.append(f"  - sample: `{_code(f.samples[0])}`")
            lines.append(f"  - see: `{f.command}`" + (f" ([Athena console]({f.console_url}))" if f.console_url else ""))
        if len(findings) < len(digest.findings):
            lines.append(f"- … and {len(digest.findings) - len(findings)} more")
        lines.append("")
    if digest.top_patterns:
        lines += ["## Top error patterns", "",
                  "| # | count | previous | trend (per hour) | services | pattern |",
                  "| ---: | ---: | ---: | --- | --- | --- |"]
        for i, top in enumerate(digest.top_patterns, 1):
            lines.append(f"| {i} | {top.count} | {top.previous} | {text_sparkline(top.hourly)} | "
                         f"{_cell(', '.join(top.services), 60)} | `{_code(top.template, 150)}` |")
        lines.append("")
        if samples:
            for i, top in enumerate(digest.top_patterns, 1):
                lines.append(f"**{i}. `{top.pattern_id}`** — `{top.command}`")
                for line in top.samples:
                    lines.append(f"    {_code(line, 400)}")
                lines.append("")
    for note in digest.notes:
        lines.append(f"> {note}")
    lines.append(f"_generated {digest.generated_at:%Y-%m-%d %H:%M}Z by logpipe ({digest.engine}) · "
                 f"digest id {digest.digest_id}_")
    return "\n".join(lines) + "\n"
