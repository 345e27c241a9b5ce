"""A benchmark table as an HTML page, rendered from its tidy CSV and its caption file.

The table rule writes, next to ``<benchmark>.csv`` (full-precision numbers, one row per table
row), ``<benchmark>.caption.json``: the caption (protocol, each sampled row's sampler and NFE,
the deviations from the paper) and the footnotes (e.g. which metric weights were missing).
:func:`irsde.report.tables.read_table` rebuilds the :class:`~irsde.report.tables.BenchmarkTable`
from the two, and :func:`render_html` draws it with the cells of the Markdown and LaTeX tables
(:func:`irsde.report.tables.display_rows`: each metric at its own precision), the caption above and
the footnotes below, and a link to the CSV itself.
"""

from __future__ import annotations

from pathlib import Path

from irsde.report import pages
from irsde.report.tables import BenchmarkTable, display_rows, read_table


def render_html(table: BenchmarkTable, csv_name: str | None = None, csv_bytes: bytes | None = None) -> str:
    """The table page: caption, table (a click on a column's header sorts by it), footnotes (and
    a link saving the CSV, when given)."""
    header, body = display_rows(table)
    parts = [
        pages.element("p", table.caption, class_="caption"),
        pages.table(header, body, numeric=range(2, len(header)), sortable=True),
    ]
    parts.extend(pages.element("p", f"* {note}", class_="note") for note in table.footnotes)
    if csv_bytes is not None:
        name = csv_name or f"{table.benchmark}.csv"
        link = pages.download_link(name, name, csv_bytes, "text/csv")
        parts.append(pages.element("p", pages.join(["Every number at full precision: ", link]), class_="note"))
    return pages.page(f"Table: {table.benchmark}", *parts, script=pages.SORT_SCRIPT)


def render_table_page(csv_path: str | Path, caption_path: str | Path) -> str:
    """:func:`render_html` of the table in ``csv_path`` and ``caption_path``, linking the CSV."""
    csv_path = Path(csv_path)
    return render_html(read_table(csv_path, caption_path), csv_path.name, csv_path.read_bytes())
