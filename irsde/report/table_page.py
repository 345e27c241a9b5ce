"""A benchmark table as an HTML page, rendered from its tidy CSV and its caption file.

The table rule writes, next to ``<benchmark>.csv`` (full-precision numbers, one row per table
row), ``<benchmark>.caption.json``: the caption (protocol, each sampled row's sampler and NFE,
the deviations from the paper) and the footnotes (e.g. which metric weights were missing).
:func:`read_table` rebuilds the :class:`irsde.report.tables.BenchmarkTable` from the two, and
:func:`render_html` draws it with the cells of the Markdown and LaTeX tables
(:func:`irsde.report.tables.display_rows`: each metric at its own precision), the caption above and
the footnotes below, and a link to the CSV itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from irsde.report import pages
from irsde.report.tables import BenchmarkTable, display_rows

# Columns of the tidy CSV that are table-wide or per-row sampling facts, not cells.
CSV_ONLY_COLUMNS = ("benchmark", "protocol", "sampler", "nfe")


def write_caption(table: BenchmarkTable, path: str | Path) -> None:
    record = {"benchmark": table.benchmark, "caption": table.caption, "footnotes": table.footnotes}
    Path(path).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_table(csv_path: str | Path, caption_path: str | Path) -> BenchmarkTable:
    """The table written as ``csv_path`` (:func:`irsde.report.tables.table_to_csv_frame`) with the
    caption and footnotes of ``caption_path``."""
    frame = pd.read_csv(csv_path)
    record = json.loads(Path(caption_path).read_text())
    missing = [column for column in ("method", "id", "source", *CSV_ONLY_COLUMNS) if column not in frame.columns]
    if missing:
        raise ValueError(f"{csv_path}: not a table CSV written by the table rule (no column {', '.join(missing)})")
    samplers = {
        str(row["id"]): (str(row["sampler"]), int(row["nfe"]))
        for row in frame.to_dict("records")
        if isinstance(row["id"], str) and isinstance(row["sampler"], str) and not math.isnan(row["nfe"])
    }
    protocol = str(frame["protocol"].iloc[0]) if len(frame) else ""
    rows = frame.drop(columns=list(CSV_ONLY_COLUMNS))
    return BenchmarkTable(record["benchmark"], rows, protocol, samplers, record["caption"], list(record["footnotes"]))


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
        link = pages.download_link(csv_name or f"{table.benchmark}.csv", csv_name or f"{table.benchmark}.csv",
                                         csv_bytes, "text/csv")
        parts.append(pages.element("p", pages.join(["Every number at full precision: ", link]), class_="note"))
    return pages.page(f"Table: {table.benchmark}", *parts, script=pages.SORT_SCRIPT)


def render_table_page(csv_path: str | Path, caption_path: str | Path) -> str:
    """:func:`render_html` of the table in ``csv_path`` and ``caption_path``, linking the CSV."""
    csv_path = Path(csv_path)
    return render_html(read_table(csv_path, caption_path), csv_path.name, csv_path.read_bytes())
