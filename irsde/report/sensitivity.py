"""Protocol-sensitivity tables: the same restorations scored under several metric protocols.

Two papers' numbers for one model can differ by their evaluation conventions alone (how the
output is quantised to 8 bits, whether a border is cropped, ...). A benchmark's
``protocol_variants`` scores every row again under each named variant
(:mod:`irsde.metrics.protocols`); :func:`build_protocol_table` lays the PSNR/SSIM means side by
side, next to the published numbers each row reproduces, so a reader sees how much of a gap is
protocol. Rendered only from the per-image metric CSVs, like every table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from irsde.metrics.protocols import get_protocol
from irsde.report.tables import RowLabel, format_value, summarize_methods
from irsde.rows import THIS_RUN

FIDELITY = ("psnr", "ssim")


def build_protocol_table(per_image: pd.DataFrame, protocols: Sequence[str], row_facts: Mapping[str, RowLabel],
                         published: pd.DataFrame | None) -> pd.DataFrame:
    """One row per row id of ``per_image`` (its label, source), a ``<metric> <protocol>`` column
    for PSNR and SSIM under each protocol (mean over images, then over seeds), and the published
    PSNR/SSIM of the paper row it reproduces (NaN when none)."""
    means = {}
    for protocol in protocols:
        chosen = per_image[(per_image["protocol"] == protocol) & per_image["metric"].isin(FIDELITY)]
        if chosen.empty:
            raise ValueError(f"no PSNR/SSIM under protocol {protocol!r} in the metric CSVs")
        for record in summarize_methods(chosen).to_dict("records"):
            means[(record["method"], record["metric"], protocol)] = record["mean"]
    rows = []
    for row_id in dict.fromkeys(per_image["method"]):
        facts = row_facts.get(row_id)
        row = {"id": row_id, "method": facts.label if facts else row_id, "source": facts.source if facts else THIS_RUN}
        for protocol in protocols:
            for metric in FIDELITY:
                row[f"{metric} {protocol}"] = means.get((row_id, metric, protocol), float("nan"))
        paper = _published_row(published, facts.paper_row if facts else None)
        for metric in FIDELITY:
            row[f"{metric} published"] = paper.get(metric, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _published_row(published: pd.DataFrame | None, paper_row: str | None) -> dict:
    if published is None or paper_row is None:
        return {}
    matches = published[published["method"] == paper_row]
    return {metric: float(matches.iloc[0][metric]) for metric in FIDELITY} if len(matches) else {}


def render_protocol_markdown(table: pd.DataFrame, benchmark: str, protocols: Sequence[str]) -> str:
    """The table as Markdown, with a caption naming every protocol's conventions."""
    columns = [f"{metric} {protocol}" for protocol in [*protocols, "published"] for metric in FIDELITY]
    header = ["Method", "Source", *(f"{'PSNR' if c.startswith('psnr') else 'SSIM'} {c.split(' ', 1)[1]}" for c in columns)]
    described = "; ".join(f"'{p}': {get_protocol(p).description}" for p in protocols)
    lines = [f"**Protocol sensitivity: {benchmark}.** The same restorations scored under each protocol "
             f"(mean over images; PSNR in dB). {described}. 'published': the paper's row this one reproduces.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for record in table.to_dict("records"):
        cells = [str(record["method"]), str(record["source"])]
        cells += [format_value(record[column], column.split(" ", 1)[0]) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
