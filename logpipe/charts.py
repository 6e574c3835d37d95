"""Charts as inline images: matplotlib (Agg) rendered to PNG data URIs.

Why PNG and not SVG: PNG renders in every mail client that shows images at all, and the same bytes
can be attached by Content-ID for clients that block data URIs. Rendering is headless (Agg).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from logpipe.extras import require

PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD"]


def _pyplot() -> Any:
    require("charts", "drawing charts")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def time_series_chart(series: Mapping[str, Sequence[tuple[datetime, float]]], title: str,
                      ylabel: str = "", width: float = 8.0, height: float = 3.0) -> bytes:
    """A line chart of several named series over time (one line each), as PNG bytes."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    fig, ax = plt.subplots(figsize=(width, height))
    for i, (name, points) in enumerate(sorted(series.items())):
        if not points:
            continue
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
    ax.set_title(title, fontsize=11, loc="left")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M\n%b %d"))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(series) > 1:
        ax.legend(fontsize=8, ncols=min(len(series), 5), frameon=False, loc="upper left")
    return png_bytes(fig)


def sparkline(values: Sequence[float], width: float = 2.4, height: float = 0.5, color: str = "#C44E52") -> bytes:
    """A tiny trend line (no axes) for a table cell."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.plot(range(len(values)), list(values), color=color, linewidth=1.2)
    ax.fill_between(range(len(values)), list(values), color=color, alpha=0.15)
    ax.set_axis_off()
    ax.margins(x=0, y=0.1)
    return png_bytes(fig)


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, width: float = 8.0,
              height: float = 3.0) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.barh(list(labels)[::-1], list(values)[::-1], color=PALETTE[0])
    ax.set_title(title, fontsize=11, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return png_bytes(fig)


__all__ = ["PALETTE", "bar_chart", "data_uri", "png_bytes", "sparkline", "time_series_chart"]
