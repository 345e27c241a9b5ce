"""Scoring restored images against their ground truth under a named metric protocol.

Input: a restoration output folder (:mod:`irsde.restoration`: ``png/``, ``float/``,
``restore.json``) or a plain folder of images (another method's outputs, or the degraded input
itself). Output: a tidy per-image table (dataset, method, image, seed, protocol, metric, value,
note); FID, a property of the whole set, has one row with ``image == SET_IMAGE``. ``method`` is
a method id (:func:`irsde.methods.row_facts`); labels are applied only when tables are drawn. A
metric whose pretrained weights are unavailable is NaN with a ``note`` naming the missing file,
when the caller allowed it; otherwise it is an error.

Evaluation refuses a restoration folder with ``png/`` but no ``restore.json`` (a killed or failed
restore), float outputs holding NaN/inf, and a set whose every image has the pixels of its ground
truth (the ground truth scored against itself). A single image identical to its ground truth
keeps its infinite PSNR, with a note and a warning; tables print such a mean as n/a with a footnote. A folder restored with ``limit`` records it, and is
then scored on the images it holds only.

LPIPS under a protocol that reads the unclamped float output (``irsde-derain`` ...) needs the
set's ``float/`` arrays. A set that never had any (a plain folder of images, such as the
degraded input, or imported user outputs, whose record says ``"float_outputs": false``) is
scored on its 8-bit images instead, because they are all the method delivered; each of its LPIPS
rows then carries :data:`LPIPS_ON_IMAGES` as its note, and tables mark those values. A restore
output whose float arrays are missing is an error: they were written, so they must be used.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from irsde.finite import check_finite_images
from irsde.images import FLOAT_IMAGE_SUFFIX, image_size, list_images, read_float_image, read_image, read_uint8, to_tensor
from irsde.metrics import (
    METRIC_NAMES,
    FIDMetric,
    LPIPSMetric,
    MetricProtocol,
    PerceptualWeightsMissing,
    get_protocol,
    psnr,
    ssim,
)
from irsde.metrics.batching import same_size_batches
from irsde.restoration import FLOAT_SUBDIR, MANIFEST, PNG_SUBDIR, RestoredSet, check_whole_image_size

logger = logging.getLogger(__name__)

SET_IMAGE = "(set)"
LPIPS_ON_IMAGES = "computed on the 8-bit images: the set has no float output"
COLUMNS = ["dataset", "method", "image", "seed", "protocol", "metric", "value", "note"]
MAX_LISTED = 5
IDENTICAL_NOTE = "identical to its ground truth: PSNR is infinite"
LPIPS_BYTES_PER_PIXEL = 200  # measured: AlexNet's features of both images, one 2048x2048 pair on the CPU
LPIPS_HINT = "leave lpips out of --metrics (PSNR, SSIM and FID have no such bound)"


@dataclass
class _Scores:
    """Rows of the tidy table being built for one (dataset, method, seed, protocol)."""

    dataset: str
    method: str
    seed: int
    protocol: str
    rows: list[dict] = field(default_factory=list)

    def add(self, image: str, metric: str, value: float, note: str = "") -> None:
        self.rows.append(
            dict(dataset=self.dataset, method=self.method, image=image, seed=self.seed,
                 protocol=self.protocol, metric=metric, value=float(value), note=note)
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)


def resolve_restored_dir(restored_dir: str | os.PathLike) -> tuple[Path, Path | None]:
    """(PNG folder, float folder or None) of a :func:`restore_folder` output or of a plain PNG
    folder; ValueError for a restore output without its ``restore.json`` (it never finished)."""
    restored_dir = Path(restored_dir)
    layout = RestoredSet(restored_dir)
    if layout.png_dir.is_dir():
        if not layout.manifest_path.is_file():
            raise ValueError(
                f"{restored_dir} has {PNG_SUBDIR}/ but no {MANIFEST}: that restore did not finish (killed or "
                f"failed), so its images are not a complete set; run `irsde restore` into it again"
            )
        return layout.png_dir, layout.float_dir if layout.float_dir.is_dir() else None
    if not restored_dir.is_dir():
        raise FileNotFoundError(f"restored folder not found: {restored_dir}")
    return restored_dir, None


def match_pairs(restored_dir: Path, gt_dir: Path, subset: Iterable[str] | None = None) -> list[tuple[Path, Path]]:
    """(restored, GT) pairs matched by file stem; ValueError naming images missing on either side.
    ``subset``: the stems a limited restoration covered; the other GT images are left out."""
    restored = {path.stem: path for path in list_images(restored_dir)}
    gts = {path.stem: path for path in list_images(gt_dir)}
    if subset is not None:
        subset = set(subset)
        gts = {stem: path for stem, path in gts.items() if stem in subset}
        logger.info("scoring the %d images a limited restoration covered (not every image of %s)", len(gts), gt_dir)
    missing = sorted(gts.keys() - restored.keys())
    extra = sorted(restored.keys() - gts.keys())
    if missing or extra or not gts:
        raise ValueError(
            f"restored images in {restored_dir} do not match the ground truth in {gt_dir}: "
            f"{len(missing)} missing ({', '.join(missing[:MAX_LISTED])}), "
            f"{len(extra)} without ground truth ({', '.join(extra[:MAX_LISTED])}), {len(gts)} GT images"
        )
    return [(restored[stem], gts[stem]) for stem in sorted(gts)]


def evaluate(
    restored_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    protocol: str | MetricProtocol,
    method: str,
    dataset: str,
    seed: int,
    metrics: Iterable[str] = METRIC_NAMES,
    allow_missing_weights: bool = False,
    download_weights: bool = True,
    device: str | torch.device | None = None,
    fid_cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> pd.DataFrame:
    """Score a restored set against its ground truth under ``protocol``; tidy per-image rows.

    ``restored_dir`` is a :func:`restore_folder` output (``png/`` + ``float/``), imported user
    outputs (``png/`` only) or a plain folder of images (another method's PNGs, the degraded
    input itself): a set without float output by nature gets its LPIPS computed on its images,
    noted on each row (see the module docstring). Images are matched to
    ``gt_dir`` by file stem. LPIPS and FID need pretrained weights: when they are unavailable the
    call raises :class:`PerceptualWeightsMissing`, unless ``allow_missing_weights``, in which
    case the metric's rows are NaN with a note naming the missing file.
    """
    protocol = get_protocol(protocol)
    metrics = _check_metric_names(metrics)
    png_dir, float_dir = resolve_restored_dir(restored_dir)
    manifest = RestoredSet(Path(restored_dir)).manifest()
    subset = manifest.get("images") if manifest.get("limit") else None
    pairs = match_pairs(png_dir, Path(gt_dir), subset)
    if "lpips" in metrics:  # before any image is decoded
        for _, gt in pairs:
            check_whole_image_size(*image_size(gt), str(gt), LPIPS_HINT, "LPIPS scores", "its AlexNet",
                                   LPIPS_BYTES_PER_PIXEL)
    refuse_copies_of_ground_truth(pairs, png_dir, Path(gt_dir))
    if float_dir is not None:
        _check_float_outputs(float_dir, pairs)
    scores = _Scores(dataset, method, seed, protocol.name)
    if {"psnr", "ssim"} & set(metrics):
        _score_fidelity(scores, pairs, protocol, metrics, float_dir, progress)
    if "lpips" in metrics:
        eight_bit_only = _eight_bit_only(Path(restored_dir), png_dir)
        inputs = _lpips_inputs(pairs, protocol, float_dir, eight_bit_only)
        note = LPIPS_ON_IMAGES if protocol.lpips_on_float and eight_bit_only else ""
        _with_weights(scores, "lpips", pairs, allow_missing_weights,
                      lambda: _score_lpips(scores, inputs, note, device, download_weights, batch_size, progress))
    if "fid" in metrics:
        _with_weights(scores, "fid", None, allow_missing_weights,
                      lambda: _score_fid(scores, png_dir, Path(gt_dir), device, download_weights, fid_cache_dir))
    return scores.frame()


def _check_metric_names(metrics: Iterable[str]) -> list[str]:
    metrics = list(dict.fromkeys(metrics))
    unknown = [name for name in metrics if name not in METRIC_NAMES]
    if unknown or not metrics:
        raise ValueError(f"unknown or no metrics {unknown}; valid: {', '.join(METRIC_NAMES)}")
    return metrics


def refuse_copies_of_ground_truth(pairs, restored_dir: Path, gt_dir: Path) -> None:
    """Refuse a restored set whose every image holds the pixels of its ground truth (the ground
    truth scored against itself: PSNR inf, SSIM 1). Stops at the first pair that differs, so a
    real restoration costs one image read."""
    for restored_path, gt_path in pairs:
        if not _same_pixels(restored_path, gt_path):
            return
    raise ValueError(
        f"every restored image in {restored_dir} ({len(pairs)}) holds exactly the pixels of its ground truth in "
        f"{gt_dir}: that is the ground truth itself (or a copy), not a restoration, and would score PSNR inf; "
        f"point the restored folder at the method's outputs"
    )


def _same_pixels(first: Path, second: Path) -> bool:
    if first.read_bytes() == second.read_bytes():
        return True
    one, other = read_uint8(first), read_uint8(second)
    return one.shape == other.shape and bool(np.array_equal(one, other))


def _score_fidelity(scores: _Scores, pairs, protocol: MetricProtocol, metrics: list[str], float_dir: Path | None,
                    progress: bool) -> None:
    perfect = []
    for restored_path, gt_path in tqdm(pairs, desc="psnr/ssim", unit="img", disable=not progress):
        restored, gt = _quantized_output(restored_path, float_dir, protocol), read_uint8(gt_path)
        if restored.shape != gt.shape:
            raise ValueError(f"{restored_path} is {restored.shape} but its ground truth {gt_path} is {gt.shape}")
        for name, function in (("psnr", psnr), ("ssim", ssim)):
            if name in metrics:
                value = function(restored, gt, protocol.crop_border, protocol.y_channel)
                note = IDENTICAL_NOTE if not math.isfinite(value) else ""
                scores.add(gt_path.name, name, value, note)
                perfect += [restored_path.name] if note else []
    if perfect:
        logger.warning("%d of %d restored images are identical to their ground truth under protocol %s (PSNR inf): "
                       "%s; their rows are marked %r and tables print n/a for the mean", len(perfect), len(pairs),
                       protocol.name, ", ".join(perfect[:MAX_LISTED]), IDENTICAL_NOTE)


def _eight_bit_only(restored_dir: Path, png_dir: Path) -> bool:
    """Whether a set has no float output by nature: a plain image folder (not the ``png/`` of a
    restore output, whose floats must be used) or a set whose record says so (user outputs)."""
    plain_folder = png_dir == restored_dir and not (png_dir.parent / MANIFEST).is_file()
    return plain_folder or RestoredSet(restored_dir).eight_bit_only()


def _quantized_output(restored_path: Path, float_dir: Path | None, protocol: MetricProtocol) -> np.ndarray:
    """The uint8 output PSNR/SSIM see: the PNG (rounded), or under a ``truncate`` protocol the
    clamped float output truncated (a plain 8-bit image is already what it is)."""
    if protocol.quantize == "round" or float_dir is None:
        return read_uint8(restored_path)
    output = _load_restored_float(float_dir / f"{restored_path.stem}.npy")
    return np.floor(np.clip(output, 0.0, 1.0) * 255.0).astype(np.uint8)


def _lpips_inputs(pairs, protocol: MetricProtocol, float_dir: Path | None, eight_bit_only: bool = False) -> dict[Path, Path]:
    """GT path -> the restored-side LPIPS input: the float .npy (LPIPS-on-float protocols) or the
    image itself (other protocols, and sets that have no float output by nature)."""
    if not protocol.lpips_on_float or eight_bit_only:
        if protocol.lpips_on_float:
            logger.info("%s holds 8-bit images only: LPIPS is %s", pairs[0][0].parent, LPIPS_ON_IMAGES)
        return {gt: restored for restored, gt in pairs}
    arrays = {gt: (float_dir or Path(FLOAT_SUBDIR)) / f"{restored.stem}.npy" for restored, gt in pairs}
    missing = [path for path in arrays.values() if not path.is_file()]
    if float_dir is None or missing:
        example = missing[0] if missing else f"<restored>/{FLOAT_SUBDIR}/*.npy"
        raise FileNotFoundError(
            f"protocol {protocol.name!r} computes LPIPS on the unclamped float output, but "
            f"{len(missing) or len(arrays)} float array(s) are missing, e.g. {example}; restore with "
            f"`irsde restore` (which writes <out>/{FLOAT_SUBDIR}/), or leave lpips out of the metrics"
        )
    return arrays


def _with_weights(scores: _Scores, metric: str, pairs, allow_missing: bool, compute) -> None:
    """Run ``compute``; if its pretrained weights are missing, record NaN rows (allowed) or raise."""
    try:
        compute()
    except PerceptualWeightsMissing as error:
        if not allow_missing:
            raise
        logger.warning("%s unavailable: %s", metric, error)
        images = [gt.name for _, gt in pairs] if pairs is not None else [SET_IMAGE]
        for image in images:
            scores.add(image, metric, float("nan"), error.short_note())


def _check_float_outputs(float_dir: Path, pairs) -> None:
    """Every float output of the pairs must be finite (PNGs of NaN are black, and scored)."""
    for restored, _ in pairs:
        path = float_dir / f"{restored.stem}.npy"
        if path.is_file():
            check_finite_images(_load_restored_float(path)[None], [str(path)],
                                f"restored float output {path} (restore it again with good weights)")


def _load_restored_float(path: Path) -> np.ndarray:
    if path.suffix == FLOAT_IMAGE_SUFFIX:
        try:
            return read_float_image(path)
        except ValueError as error:
            raise ValueError(f"{error} (a restored float output: restore again)") from error
    return read_image(path)


def _score_lpips(scores: _Scores, inputs: dict[Path, Path], note: str, device, download: bool, batch_size: int,
                 progress: bool) -> None:
    metric = LPIPSMetric(device=device, download=download)
    with tqdm(total=len(inputs), desc="lpips", unit="img", disable=not progress) as bar:
        for gt_batch in same_size_batches(list(inputs), batch_size):
            restored = torch.stack([to_tensor(_load_restored_float(inputs[path])) for path in gt_batch])
            gt = torch.stack([to_tensor(read_image(path)) for path in gt_batch])
            if restored.shape != gt.shape:
                raise ValueError(f"LPIPS input {inputs[gt_batch[0]]} does not match the size of {gt_batch[0]}")
            for path, value in zip(gt_batch, metric.batch(restored, gt)):
                scores.add(path.name, "lpips", value, note)
            bar.update(len(gt_batch))


def _score_fid(scores: _Scores, png_dir: Path, gt_dir: Path, device, download: bool, cache_dir) -> None:
    metric = FIDMetric(device=device, download=download, cache_dir=cache_dir)
    scores.add(SET_IMAGE, "fid", metric(png_dir, gt_dir))


# ----------------------------------------------------------------------------------- summary


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, protocol, method, metric): mean over images per seed, then the mean and
    (when several seeds) the sample std over seeds; plus the image and seed counts and the note.
    """
    from irsde.report.tables import summarize_methods

    parts = []
    for (dataset, protocol), group in per_image.groupby(["dataset", "protocol"], sort=False):
        summary = summarize_methods(group)
        images = group[group["image"] != SET_IMAGE].groupby(["method", "metric"], sort=False)["image"].nunique()
        summary["images"] = [int(images.get((m, k), 0)) for m, k in zip(summary["method"], summary["metric"])]
        parts.append(summary.assign(dataset=dataset, protocol=protocol))
    columns = ["dataset", "method", "protocol", "metric", "mean", "std", "seeds", "images", "note"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
