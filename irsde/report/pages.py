"""Self-contained HTML pages for the Snakemake report: one style, escaped text, no outside files.

The report shows an HTML result in a frame of its own (a ``data:`` URI), so every page carries
its style inline and embeds whatever it shows (images as ``data:`` URIs). Text is escaped here;
callers pass plain strings, or markup built by these functions (:class:`Markup`).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1f2933; }
h1 { font-size: 1.35em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
p.caption { max-width: 62em; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { padding: 0.3em 0.75em; border-bottom: 1px solid #d9e2ec; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.sortable { cursor: pointer; } th.sortable:after { content: " \\2195"; color: #9fb3c8; }
p.note { font-size: 0.88em; color: #52606d; max-width: 62em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; margin: 0.4em 0 1.2em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f0f4f8; padding: 0.8em; overflow-x: auto; }
"""

# Click a header to sort a table.sortable by that column (numbers numerically), again to reverse.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (header, column) {
  header.classList.add("sortable");
  header.addEventListener("click", function () {
    var body = header.closest("table").tBodies[0];
    var rows = Array.from(body.rows);
    var ascending = header.dataset.order !== "ascending";
    header.dataset.order = ascending ? "ascending" : "descending";
    var key = function (row) {
      var text = row.cells[column].textContent.trim();
      var number = parseFloat(text);
      return isNaN(number) ? text : number;
    };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


class Markup(str):
    """HTML that is not escaped again (what the functions of this module return)."""


def escape(text) -> Markup:
    """``text`` as HTML text (markup passes unchanged)."""
    return text if isinstance(text, Markup) else Markup(html.escape(str(text)))


def join(parts: Iterable[str]) -> Markup:
    return Markup("".join(escape(part) for part in parts))


def element(tag: str, content="", **attributes) -> Markup:
    """``<tag attributes>content</tag>``; ``class_`` gives ``class``."""
    text = "".join(f' {name.rstrip("_")}="{html.escape(str(value))}"' for name, value in attributes.items() if value)
    return Markup(f"<{tag}{text}>{escape(content)}</{tag}>")


def page(title: str, *body: str, script: str = "") -> str:
    """A complete HTML document: ``title`` as its heading, then ``body`` (markup or text)."""
    scripts = f"<script>{script}</script>" if script else ""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{element('h1', title)}{join(body)}{scripts}</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence], numeric: Iterable[int] = (), sortable: bool = False) -> Markup:
    """A table; the columns whose indices are in ``numeric`` are right-aligned."""
    numeric = set(numeric)

    def cells(tag, values):
        return join(element(tag, value, class_="number" if index in numeric else "") for index, value in enumerate(values))

    head = element("thead", element("tr", cells("th", header)))
    body = element("tbody", join(element("tr", cells("td", row)) for row in rows))
    return element("table", join([head, body]), class_="sortable" if sortable else "")


def facts(items: Iterable[tuple[str, str]]) -> Markup:
    """A two-column list of (name, value)."""
    return element("dl", join(join([element("dt", name), element("dd", value)]) for name, value in items), class_="facts")


def image(png: bytes | Path, alt: str) -> Markup:
    """An embedded PNG (bytes or a file)."""
    data = png.read_bytes() if isinstance(png, Path) else png
    return Markup(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')


def download_link(text: str, filename: str, content: bytes, mime: str) -> Markup:
    """A link that saves ``content`` as ``filename``."""
    uri = f"data:{mime};base64,{base64.b64encode(content).decode()}"
    return Markup(f'<a download="{html.escape(filename)}" href="{uri}">{escape(text)}</a>')
