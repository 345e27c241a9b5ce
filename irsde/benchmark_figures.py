"""The report's figures of one benchmark: the training curves of its trained rows and its
per-image metrics (where does a method win or lose?).

Drawn from the runs' tidy logs (``train_log.csv``: iteration, loss, lr, wall_time;
``val_log.csv``: iteration, image, metric, value) and the per-image metric CSVs of
``irsde evaluate`` (method, image, seed, metric, value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from irsde.report import METRIC_LABELS, pyplot, save_figure

VALIDATION_PANELS = ("psnr", "ssim")


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
