"""The spread of a table's rows over sampling seeds: one mean per seed, then mean ± sd and range.

A stochastic method (IR-SDE's samplers) gives a different restoration for each sampling seed
(config key ``seeds``); the table shows the mean over seeds ± their standard deviation. This page
shows every seed's mean over the test images, so that a difference between two rows can be
compared with the spread of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from irsde.report import pages
from irsde.report.tables import METRIC_DECIMALS, METRIC_LABELS, format_value

SPREAD_METRICS = ("psnr", "ssim")


def seed_means(per_image: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` over the test images for each (method, seed): columns method, seed, value."""
    rows = per_image[per_image["metric"] == metric]
    return rows.groupby(["method", "seed"], sort=False, as_index=False)["value"].mean()


def spread_rows(per_image: pd.DataFrame, labels: Mapping[str, str], metric: str) -> list[list[str]]:
    """Per row (in ``labels``' order): label, seeds, each seed's mean, mean ± sd, max − min."""
    means = seed_means(per_image, metric)
    rows = []
    for row, label in labels.items():
        values = means[means["method"] == row].sort_values("seed")
        if values.empty:
            continue
        numbers = values["value"].to_numpy(dtype=float)
        per_seed = ", ".join(f"{seed}: {format_value(value, metric)}" for seed, value in zip(values["seed"], numbers))
        if len(numbers) > 1:
            spread = f"{format_value(numbers.mean(), metric)} ± {format_value(numbers.std(ddof=1), metric)}"
            extent = format_value(float(np.ptp(numbers)), metric)
        else:
            spread, extent = format_value(numbers[0], metric), "one seed"
        rows.append([label, str(len(numbers)), per_seed, spread, extent])
    return rows


def render_page(benchmark: str, per_image: pd.DataFrame, labels: Mapping[str, str], seeds: Sequence[int]) -> str:
    """The page: one table per metric of :data:`SPREAD_METRICS` present in ``per_image``."""
    note = (f"Sampling seeds of this configuration: {', '.join(map(str, seeds))}. Rows of deterministic methods "
            "(and the degraded input) are restored once.")
    if len(seeds) < 2:
        note += " With one seed there is no spread to show: list several in the config key `seeds` (e.g. [0, 1, 2])."
    parts = [pages.element("p", note, class_="caption")]
    for metric in SPREAD_METRICS:
        if not (per_image["metric"] == metric).any():
            continue
        name = METRIC_LABELS[metric]
        header = ["Method", "Seeds", f"{name} per seed (mean over images)", f"{name} mean ± sd", "max − min"]
        parts.append(pages.element("h2", f"{name} ({METRIC_DECIMALS[metric]} decimals)"))
        parts.append(pages.table(header, spread_rows(per_image, labels, metric), numeric=(1, 3, 4), sortable=True))
    return pages.page(f"Spread over sampling seeds: {benchmark}", *parts, script=pages.SORT_SCRIPT)
