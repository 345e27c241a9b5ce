"""The figures, rendered only from tidy CSVs and images: validation curves and timestep errors
of training runs (``val_log.csv``: iteration, [image,] metric, value), the qualitative grid of
restored images, and a benchmark's report figures: the training curves of its trained rows and
its per-image metrics (where does a method win or lose?), from ``train_log.csv`` (iteration,
loss, lr, wall_time) and the per-image metric CSVs of ``irsde evaluate``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from irsde.report.tables import METRIC_LABELS

VALIDATION_PANELS = ("psnr", "ssim")
"""The validation metrics a benchmark's training-curves figure plots beside the loss."""
TITLE_WIDTH = 22
"""Characters per line of a qualitative figure's column title (longer labels wrap, never clip)."""


def read_validation_logs(
    logs: Mapping[str, str | Path] | Sequence[tuple[str, str | Path]], metric: str = "psnr"
) -> pd.DataFrame:
    """Validation logs -> tidy frame (run, iteration, value) of the mean of ``metric`` per iteration.

    ``logs`` maps run labels to log paths, or is a list of ``(label, path)`` pairs in which several
    logs (e.g. the training seeds of one setting) may share a label. Accepts tidy logs
    (iteration, [image,] metric, value) and wide logs (iteration, <metric>).
    """
    frames = []
    for run, path in logs.items() if isinstance(logs, Mapping) else logs:
        log = pd.read_csv(path)
        if "metric" in log.columns:
            log = log[log["metric"] == metric]
            if "image" in log.columns:
                log = log[log["image"].astype(str) != "mean"]
            values = log.groupby("iteration", as_index=False)["value"].mean()
        elif metric in log.columns:
            values = log.groupby("iteration", as_index=False)[metric].mean().rename(columns={metric: "value"})
        else:
            raise ValueError(f"{path}: no '{metric}' values (columns: {list(log.columns)})")
        if values.empty:
            raise ValueError(f"{path}: the log holds no validation record of '{metric}'")
        frames.append(values.assign(run=run))
    return pd.concat(frames, ignore_index=True)


def plot_validation_curves(
    curves: pd.DataFrame,
    title: str,
    ylabel: str,
    outputs: list[str | Path],
    reference: tuple[str, float] | None = None,
) -> None:
    """Validation value vs iteration, one line per run label: the mean over the label's logs (its
    seeds) with a band of one standard deviation; ``reference`` = (label, value) draws a dashed
    horizontal line (e.g. the degraded input's PSNR). Saved to every output path."""
    plt, sns = pyplot()
    figure, axes = plt.subplots(figsize=(5.4, 3.6))
    sns.lineplot(data=curves, x="iteration", y="value", hue="run", marker="o", errorbar="sd", ax=axes)
    if reference is not None:
        label, value = reference
        axes.axhline(value, color="black", linestyle="--", linewidth=1, label=f"{label}: {value:.2f}")
    axes.set_title(title)
    axes.set_xlabel("training iteration")
    axes.set_ylabel(ylabel)
    axes.legend(title=None, fontsize="small")
    save_figure(figure, outputs)


def plot_timestep_errors(errors: pd.DataFrame, title: str, outputs: list[str | Path]) -> None:
    """Noise-prediction error (left) and its clean-image equivalent (right) against timestep, one
    line per validation iteration (darker = later), from a tidy ``val_timesteps.csv`` frame."""
    plt, _ = pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(9.0, 3.6))
    iterations = sorted(errors["iteration"].unique())
    colours = plt.get_cmap("viridis_r")(np.linspace(0.15, 1.0, len(iterations)))
    for axes, metric, ylabel in zip(
        panels, ("noise_error", "x0_error"), ("noise error |eps_hat - eps|", "clean-image error (x0 equivalent)")
    ):
        for colour, iteration in zip(colours, iterations):
            rows = errors[(errors["iteration"] == iteration) & (errors["metric"] == metric)].sort_values("t")
            axes.plot(rows["t"], rows["value"], color=colour, marker=".", label=f"iteration {iteration}")
        axes.set_yscale("log")
        axes.set_xlabel("timestep t")
        axes.set_ylabel(ylabel, fontsize="small")
    panels[1].set_title("sigmabar_t exp(thetabar_t dt) |eps_hat - eps|", fontsize="small")
    panels[1].legend(fontsize="x-small")
    figure.suptitle(title)
    save_figure(figure, outputs)


def pyplot():
    """matplotlib's pyplot (headless) and seaborn, with the figures' theme set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def save_figure(figure, outputs: list[str | Path]) -> None:
    """Lay out ``figure``, save it to every path of ``outputs`` and close it."""
    figure.tight_layout()
    for output in outputs:
        figure.savefig(output, dpi=150)
    import matplotlib.pyplot as plt

    plt.close(figure)


def qualitative_grid(
    rows: list[tuple[str, dict[str, np.ndarray]]], columns: list[str], output: str | Path, crop: int = 96
) -> None:
    """A grid of image crops: one row per test image, one column per source (GT, LQ, methods).

    ``rows`` is a list of (image name, {column name: HxWx3 uint8}); each image is centre-cropped
    to ``crop`` pixels (or its own size when smaller).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("qualitative grid: no images")
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(1.9 * len(columns), 1.9 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, column in enumerate(columns):
            if column not in images:
                raise KeyError(f"qualitative grid: image '{name}' has no '{column}' version")
            axes[r][c].imshow(_centre_crop(images[column], crop))
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
            if r == 0:
                axes[r][c].set_title(textwrap.fill(column, TITLE_WIDTH), fontsize=8)
            if c == 0:
                axes[r][c].set_ylabel(name, fontsize=7)
    figure.tight_layout()
    figure.savefig(output, dpi=150)
    plt.close(figure)


def _centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top : top + size, left : left + size]


def training_curves(runs: Sequence[tuple[str, str | Path]], output: str | Path) -> None:
    """Training loss (log scale), validation PSNR and SSIM against iteration: one line per
    (label, run folder) in ``runs``. With no run, a figure that says so."""
    plt, _ = pyplot()
    figure, panels = plt.subplots(1, 3, figsize=(12.0, 3.6))
    for label, run in runs:
        train_log = pd.read_csv(Path(run) / "train_log.csv")
        panels[0].plot(train_log["iteration"], train_log["loss"], label=label)
        validation = pd.read_csv(Path(run) / "val_log.csv") if (Path(run) / "val_log.csv").is_file() else None
        for axes, metric in zip(panels[1:], VALIDATION_PANELS):
            if validation is None:
                continue
            means = validation[(validation["image"] == "mean") & (validation["metric"] == metric)]
            axes.plot(means["iteration"], means["value"], marker="o", label=label)
    panels[0].set_yscale("log")
    for axes, title in zip(panels, ["training loss (mean since the previous log row)",
                                    *(f"validation {METRIC_LABELS[m][:-1]} (mean of the validation images)"
                                      for m in VALIDATION_PANELS)]):
        axes.set_title(title, fontsize="small")
        axes.set_xlabel("training iteration")
    if runs:
        panels[0].legend(fontsize="small")
    else:
        panels[1].text(0.5, 0.5, "no trained row on this benchmark", ha="center", va="center", transform=panels[1].transAxes)
    save_figure(figure, [output])


def per_image_strips(per_image: pd.DataFrame, labels: Mapping[str, str], output: str | Path) -> None:
    """PSNR and SSIM of every test image, one dot per row of the table (the mean over its
    sampling seeds), rows in ``labels``' order: an image where a row's dot sits below the
    input's is one it made worse."""
    plt, sns = pyplot()
    per_image = per_image[per_image["method"].isin(labels) & per_image["metric"].isin(VALIDATION_PANELS)]
    means = per_image.groupby(["method", "image", "metric"], sort=False, as_index=False)["value"].mean()
    means["row"] = means["method"].map(labels)
    metrics = [m for m in VALIDATION_PANELS if (means["metric"] == m).any()]
    images = sorted(means["image"].astype(str).unique())
    width = min(32.0, max(9.0, 0.35 * len(images) + 5.0))
    figure, panels = plt.subplots(len(metrics), 1, figsize=(width, 3.2 * len(metrics)), squeeze=False)
    for axes, metric in zip(panels[:, 0], metrics):
        rows = means[means["metric"] == metric].astype({"image": str})
        sns.stripplot(data=rows, x="image", y="value", hue="row", hue_order=list(labels.values()), order=images,
                      dodge=True, jitter=False, size=5, ax=axes)
        axes.set_ylabel(METRIC_LABELS[metric])
        axes.set_xlabel("test image")
        axes.tick_params(axis="x", labelrotation=90 if len(images) > 12 else 0)
        axes.get_legend().remove()
    panels[0, 0].legend(*panels[0, 0].get_legend_handles_labels(), fontsize="small", loc="upper left",
                        bbox_to_anchor=(1.01, 1.0))
    panels[0, 0].set_title("Per-image metrics (mean over sampling seeds)")
    save_figure(figure, [output])
