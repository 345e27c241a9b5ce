"""Benchmark tables, rendered only from tidy CSVs: the numbers, their captions and their formats.

Inputs:
- per-image metric CSVs written by ``irsde evaluate`` (columns dataset, method, image, seed,
  protocol, metric, value; a missing metric is NaN, optionally with a ``note`` column saying why);
  ``method`` is a method id (``irsde``, ``cnn_baseline``, ``input`` ...): labels and paper rows
  come from the row facts (:mod:`irsde.rows`, :func:`irsde.methods.row_facts`) and are applied
  only here, when a table is drawn;
- the published numbers (``results/published/published_results.csv``: benchmark, method, psnr,
  ssim, lpips, fid, source).

Every number in a table is the arithmetic mean of per-image values (FID is one value per set) of
the evaluated methods, or a published number copied from the CSV and labelled by its source.
The figures are drawn by :mod:`irsde.report.figures`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from irsde.rows import THIS_RUN

METRICS = ("psnr", "ssim", "lpips", "fid")
METRIC_LABELS = {"psnr": "PSNR↑", "ssim": "SSIM↑", "lpips": "LPIPS↓", "fid": "FID↓"}
METRIC_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 3, "fid": 2}
NOT_AVAILABLE = "n/a"
NOTED = "†"  # marks a value computed differently from the protocol's rule, said in a remark
CSV_ONLY_COLUMNS = ("benchmark", "protocol", "sampler", "nfe")
"""Columns of the tidy CSV that are table-wide or per-row sampling facts, not cells."""


class RowLabel(Protocol):
    """What drawing needs to know about a row id (:class:`irsde.rows.RowFacts` has it)."""

    label: str
    paper_row: str | None
    source: str


@dataclass
class BenchmarkTable:
    """One benchmark's results: rows of methods, metric means, deltas to the paper, notes.

    ``samplers`` maps the id of each sampled row (IR-SDE ...) to its (sampler name, network
    evaluations per image). ``footnotes`` say why a value is ``n/a`` (marked ``*``); ``remarks``
    say how the values in ``noted`` ((row id, metric) pairs, marked ``†``) were computed where
    that differs from the protocol (e.g. LPIPS on the 8-bit images of a set without float output)."""

    benchmark: str
    rows: pd.DataFrame
    protocol: str
    samplers: dict[str, tuple[str, int]]
    caption: str
    footnotes: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    noted: set[tuple[str, str]] = field(default_factory=set)


def read_metric_csvs(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-image metric CSVs; an empty list or a malformed file is an error."""
    if not paths:
        raise ValueError("no metric CSVs given")
    frames = []
    required = {"dataset", "method", "image", "seed", "protocol", "metric", "value"}
    for path in paths:
        frame = pd.read_csv(path)
        missing = required - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def summarize_methods(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean over images per (method, seed), then mean and std over seeds.

    Returns one row per (method, metric) with columns mean, std (NaN for one seed), seeds, note.
    """
    if "note" not in per_image.columns:
        per_image = per_image.assign(note="")
    per_image = per_image.assign(note=per_image["note"].fillna("").astype(str))
    per_seed = (
        per_image.groupby(["method", "metric", "seed"], sort=False)
        .agg(value=("value", "mean"), note=("note", _first_note))
        .reset_index()
    )
    summary = (
        per_seed.groupby(["method", "metric"], sort=False)
        .agg(
            mean=("value", "mean"),
            std=("value", lambda v: v.std(ddof=1) if len(v) > 1 else np.nan),
            seeds=("seed", "nunique"),
            note=("note", _first_note),
        )
        .reset_index()
    )
    return summary


def _first_note(notes: pd.Series) -> str:
    values = [n for n in notes if isinstance(n, str) and n]
    return values[0] if values else ""


def build_table(
    benchmark: str,
    summary: pd.DataFrame,
    published: pd.DataFrame | None,
    row_facts: Mapping[str, RowLabel],
    protocol: str,
    samplers: Mapping[str, tuple[str, int]],
    synthetic: bool,
    deviations: Sequence[str] = (),
    released: Sequence[str] = (),
    omitted: Sequence[str] = (),
) -> BenchmarkTable:
    """Assemble published rows and our rows into one table.

    ``summary`` is keyed by method id; ``row_facts`` gives each id its label, the published
    method it reproduces and its source ("this run", "user outputs"; an id it lacks is shown as
    itself, from this run, with no paper row); deltas are ours
    minus the paper where that row exists. ``published`` holds the published rows of this
    benchmark only (may be empty or None). ``samplers`` maps the ids of our sampled rows to
    (sampler, NFE), e.g. ``{"irsde": ("sde", 100)}``; the caption states those of the rows
    present. ``deviations`` lists, in words, how our IR-SDE run differs from the paper's setting
    (:func:`irsde.deviations.paper_deviations`); the caption names each of them. ``released`` names,
    in words, the checkpoint, source and git blob id of each row restored with released weights
    (the caption lists them); ``omitted`` explains each configured released row that is not in
    the table (a footnote each). The degraded input comes first; each of our rows that
    reproduces a published row sits right below it.
    """
    ours, footnotes, remarks = [], list(omitted), {}
    published = published if published is not None else pd.DataFrame(columns=["method", *METRICS, "source"])
    for method_id, group in summary.groupby("method", sort=False):
        facts = row_facts.get(method_id)
        row = {"method": facts.label if facts else method_id, "id": method_id, "source": facts.source if facts else THIS_RUN}
        for record in group.to_dict("records"):
            if record["metric"] in METRICS:
                finite = math.isfinite(record["mean"])
                row[record["metric"]] = record["mean"] if finite else np.nan  # never inf in a table
                if record.get("seeds", 1) > 1:
                    row[f"{record['metric']}_std"] = record["std"] if finite else np.nan
                if not finite and (record.get("note") or not math.isnan(record["mean"])):
                    reason = record.get("note") or f"its mean is {record['mean']}"
                    footnotes.append(f"{METRIC_LABELS[record['metric']]} unavailable: {reason}")
                elif record.get("note"):
                    remarks.setdefault((record["metric"], record["note"]), []).append((method_id, row["method"]))
        reference = facts.paper_row if facts else None
        matches = published[published["method"] == reference] if reference else published.iloc[0:0]
        if len(matches):
            paper = matches.iloc[0]
            for metric in METRICS:
                row[f"delta_{metric}"] = row.get(metric, np.nan) - _float_or_nan(paper.get(metric))
        ours.append((reference if len(matches) else None, row))
    table = pd.DataFrame(_interleave(published, ours))
    for metric in METRICS:
        if metric not in table.columns:
            table[metric] = np.nan
    label = "synthetic stand-in benchmark (not the real dataset)" if synthetic else "benchmark"
    present = set(table["id"].dropna()) if "id" in table.columns else set()
    samplers = {row: (str(name), int(nfe)) for row, (name, nfe) in samplers.items() if row in present}
    labels = {row: (row_facts[row].label if row in row_facts else row) for row in samplers}
    caption = (
        f"{benchmark}: {label}. Metrics under protocol '{protocol}'.{_sampling_sentence(samplers, labels)} "
        f"Our rows are means over test images (FID: one value per set)."
    )
    if deviations:
        caption += f" Our IR-SDE differs from the paper's setting in: {'; '.join(deviations)}."
    if released:
        caption += f" Restored here with released weights: {'; '.join(released)}."
    if any("delta_" in c for c in table.columns):
        caption += " Δ = this run minus the paper's row."
    noted = {(row, metric) for (metric, _), rows_noted in remarks.items() for row, _ in rows_noted}
    remark_lines = [f"{METRIC_LABELS[metric]} of {', '.join(label for _, label in rows_noted)}: {note}"
                    for (metric, note), rows_noted in remarks.items()]
    return BenchmarkTable(benchmark, table, protocol, samplers, caption, sorted(set(footnotes)), remark_lines, noted)


def _interleave(published: pd.DataFrame, ours: list[tuple[str | None, dict]]) -> list[dict]:
    """Table rows in order: our rows that reproduce no published row (the input first), then each
    published row followed by ours that reproduce it."""
    rows = [row for reference, row in ours if reference is None]
    for record in published.to_dict("records"):
        row = {"method": record["method"], "id": None, "source": f"published ({record['source']})"}
        row.update({m: _float_or_nan(record.get(m)) for m in METRICS})
        rows.append(row)
        rows += [ours_row for reference, ours_row in ours if reference == record["method"]]
    return rows


def _sampling_sentence(samplers: dict[str, tuple[str, int]], labels: Mapping[str, str]) -> str:
    """How the sampled rows were sampled, with their network evaluations (NFE) per image."""
    if not samplers:
        return ""
    parts = [f"{labels[row]} with the '{name}' sampler, {nfe} NFE" for row, (name, nfe) in samplers.items()]
    return " Sampled: " + "; ".join(parts) + " (NFE: network evaluations per image)."


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def format_value(value, metric: str, delta: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE if not delta else ""
    text = f"{value:+.{METRIC_DECIMALS[metric]}f}" if delta else f"{value:.{METRIC_DECIMALS[metric]}f}"
    return text


def display_rows(table: BenchmarkTable) -> tuple[list[str], list[list[str]]]:
    """The header and the formatted cells (at each metric's precision) every rendering shows."""
    has_delta = {m: f"delta_{m}" in table.rows.columns for m in METRICS}
    header = ["Method", "Source"]
    for metric in METRICS:
        header.append(METRIC_LABELS[metric])
        if has_delta[metric]:
            header.append(f"Δ{METRIC_LABELS[metric][:-1]}")
    body = []
    for record in table.rows.to_dict("records"):
        cells = [str(record["method"]), str(record["source"])]
        for metric in METRICS:
            cell = format_value(record.get(metric), metric)
            std = record.get(f"{metric}_std")
            if std is not None and not (isinstance(std, float) and math.isnan(std)):
                cell += f" ± {format_value(std, metric)}"
            if cell == NOT_AVAILABLE and isinstance(record.get("id"), str) and table.footnotes:
                cell += "*"
            elif (record.get("id"), metric) in table.noted:
                cell += NOTED
            cells.append(cell)
            if has_delta[metric]:
                cells.append(format_value(record.get(f"delta_{metric}"), metric, delta=True))
        body.append(cells)
    return header, body


def render_markdown(table: BenchmarkTable) -> str:
    header, body = display_rows(table)
    lines = [f"**Table: {table.benchmark}.** {table.caption}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(cells) + " |" for cells in body)
    if table.footnotes or table.remarks:
        lines.append("")
        lines.extend(f"\\* {note}" for note in table.footnotes)
        lines.extend(f"{NOTED} {remark}" for remark in table.remarks)
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                    "↑": r"$\uparrow$", "↓": r"$\downarrow$", "Δ": r"$\Delta$", "±": r"$\pm$", NOTED: r"\dag{}"}
    return "".join(replacements.get(char, char) for char in text)


def render_latex(table: BenchmarkTable) -> str:
    header, body = display_rows(table)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.benchmark}}}",
        r"\begin{tabular}{ll" + "r" * (len(header) - 2) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines.extend(" & ".join(_latex_escape(c) for c in cells) + r" \\" for cells in body)
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    for note in table.footnotes:
        lines.append(r"\par\footnotesize{*} " + _latex_escape(note))
    for remark in table.remarks:
        lines.append(r"\par\footnotesize{\dag} " + _latex_escape(remark))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def table_to_csv_frame(table: BenchmarkTable) -> pd.DataFrame:
    """The machine-readable table: the label (``method``), the id of our rows (empty for published
    ones), the numeric columns, and benchmark, protocol, and the sampler and its NFE on each
    sampled row (empty on the others)."""
    frame = table.rows.copy()
    frame.insert(0, "benchmark", table.benchmark)
    frame["protocol"] = table.protocol
    settings = [table.samplers.get(row) for row in frame["id"]]
    frame["sampler"] = [setting[0] if setting else None for setting in settings]
    frame["nfe"] = pd.array([setting[1] if setting else None for setting in settings], dtype="Int64")
    return frame


def write_table(table: BenchmarkTable, csv_path: str | Path, md_path: str | Path, tex_path: str | Path,
                caption_path: str | Path | None = None) -> None:
    """The table as CSV, Markdown and LaTeX, and its caption and footnotes as JSON
    (:func:`write_caption`: what the CSV lacks to render the table again)."""
    table_to_csv_frame(table).to_csv(csv_path, index=False)
    Path(md_path).write_text(render_markdown(table))
    Path(tex_path).write_text(render_latex(table))
    if caption_path is not None:
        write_caption(table, caption_path)


def write_caption(table: BenchmarkTable, path: str | Path) -> None:
    record = {"benchmark": table.benchmark, "caption": table.caption, "footnotes": table.footnotes}
    Path(path).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_table(csv_path: str | Path, caption_path: str | Path) -> BenchmarkTable:
    """The table written as ``csv_path`` (:func:`table_to_csv_frame`) with the
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
