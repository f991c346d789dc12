"""Small HTML helpers of the report: escaping, tables, embedded images and the Markdown subset
of hnl-coffea's own tables."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CSS", "esc", "fmt", "img", "markdown_to_html", "table"]

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:1em 2em;color:#222}
h1{border-bottom:3px solid #3f90da}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 7px;text-align:right}th{background:#eef3fa}
td:first-child,th:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:425px}
figure img{width:100%;border:1px solid #ddd}figcaption{font-size:12px;color:#555}
.big figure{width:650px}code{background:#f3f3f3;padding:0 3px}
.warn{color:#a35200}details{margin:.5em 0}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def _inline(text: str) -> str:
    """Escape, then ``code`` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def markdown_to_html(text: str) -> str:
    """The small Markdown subset hnl-coffea's tables use: headings, pipe tables, ``-`` lists
    and paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 5)  # below the page's h1/h2
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            head, *body = rows or [[]]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")  # fmt: skip


def fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or v == "":
        return "–"
    try:
        return f"{float(v):{spec}}"
    except (TypeError, ValueError):
        return str(v)
