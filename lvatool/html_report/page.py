"""The page every HTML report shares: one file, plotly.js inlined once, text escaped.

Why plotly: its Python package ships plotly.js, so a report can carry the library inside
the file and open offline, from a CI artifact or an e-mail, with no CDN and no network;
its charts are interactive (hover shows each point's value, zoom on a latency spike).
Weighed against it: bokeh can inline its JavaScript too (``resources=INLINE``) but its
data sources pull in pandas and its server side tornado, heavy for a CLI; matplotlib
writes static PNGs, with no hover and no zoom. Hand-written SVG would be ours to keep.
The cost is about 4.8 MB of JavaScript per file, included once however many charts
(each chart is a ``<div>`` plus its data as JSON).

Escaping: extension names, labels and status messages come from the peer. Everything put
into the page goes through :func:`text` (``html.escape``), and strings handed to plotly go
through :func:`chart_text`, since plotly reads a small HTML dialect in its text (``<b>``,
``<br>``, ``<a href>``): escaped, a label ``<script>`` is shown as that text and never runs.
Plotly's own JSON writer already turns ``<`` into ``\\u003c`` inside the ``<script>``.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import plotly.io  # type: ignore[import-untyped]
import plotly.offline  # type: ignore[import-untyped]

from lvatool.text import visible

_CHART_CONFIG = {"displaylogo": False, "responsive": True}  # no link out to plotly.com

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em;
       color: #222; max-width: 1280px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { text-align: left; padding: 0.25em 0.8em 0.25em 0; vertical-align: top; }
table.grid th, table.grid td { border-bottom: 1px solid #eee; padding-right: 1em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.columns { display: flex; flex-wrap: wrap; gap: 2.5em; }
.chart { margin-top: 1em; }
.outcome-pass { color: #17803d; }
.outcome-fail, .outcome-error { color: #c0262d; font-weight: bold; }
.outcome-warn { color: #a86a00; } .outcome-skip { color: #888; }
.message { color: #444; font-size: 0.92em; white-space: pre-wrap; }
.note { color: #666; font-style: italic; }
.strip { display: flex; flex-wrap: wrap; gap: 0.6em; }
.strip figure { margin: 0; width: 200px; }
.strip img { width: 200px; display: block; border: 1px solid #ccc; }
.strip figcaption { font-size: 0.75em; color: #444; overflow-wrap: anywhere; }
"""


def text(value: object) -> str:
    """Any value as HTML text: markup and quotes escaped, control characters shown."""
    return html.escape(visible(str(value)), quote=True)


def chart_text(value: object) -> str:
    """A string for a chart's labels or hover text: plotly's HTML dialect neutralised."""
    return html.escape(visible(str(value)), quote=False)


def chart(figure: Any, div_id: str, *, height: int = 340) -> str:
    """A plotly figure as a ``<div>`` and its script; plotly.js itself is in the page head."""
    figure.update_layout(
        margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white", height=height
    )
    body = plotly.io.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=_CHART_CONFIG,
    )
    return f'<div class="chart" data-chart="{text(div_id)}">{body}</div>'


def key_values(rows: Iterable[tuple[str, object]]) -> str:
    """A two-column table of names (ours) and values (possibly the peer's), escaped."""
    cells = "".join(f"<tr><th>{text(name)}</th><td>{text(value)}</td></tr>" for name, value in rows)
    return f"<table>{cells}</table>"


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{text(title)}</h2>{''.join(parts)}</section>"


def note(sentence: str) -> str:
    return f'<p class="note">{text(sentence)}</p>'


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    """The whole document. ``sections`` are HTML already built from escaped parts."""
    script = (
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script>{plotly.offline.get_plotlyjs()}</script>\n"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>{text(title)}</title>\n"
        f"<style>{_STYLE}</style>\n{script}</head>\n"
        f'<body><h1>{text(title)}</h1><p class="sub">{text(subtitle)}</p>\n'
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_page(path: Path, document: str) -> None:
    """Write the file whole or not at all: a temporary file beside it, then a rename.

    A report cut short by a full disk would open as a half-drawn page that looks
    complete; OSError goes to the caller, who names the option.
    """
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(document)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the report from a CI uploader
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
