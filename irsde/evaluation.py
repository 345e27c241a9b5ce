"""Restore a test set and score it under a named metric protocol.

Restoration writes one folder per run::

    <out>/png/<stem>.png     the clamped, rounded uint8 output: nothing else lives here (FID reads it)
    <out>/float/<stem>.npy   the unclamped float32 HxWx3 output (LPIPS-on-float protocols read it)
    <out>/restore.json       how it was made: seed, sampler, batch size, tiling, sources, ...
                             (written last: its presence marks a complete folder)

One process at a time writes a folder (``irsde.fileio.exclusive_folder``); a network output
holding NaN/inf stops the run before that image is written, and the images this run had written
are removed, so a folder is either complete or holds nothing of the failed run. Evaluation
refuses a folder with ``png/`` but no ``restore.json`` (a killed or failed restore) and float
outputs holding NaN/inf. A folder restored with ``limit`` records it, and is then scored on the
images it holds only.

Any method restores through the same code: a :class:`Restorer` is a callable
``(lq_batch, generator) -> restored_batch`` on Bx3xHxW float tensors in [0,1]. IR-SDE's is
:class:`SDERestorer` (network + SDE + sampler); the CNN baseline's is its one-step network.

Evaluation yields a tidy per-image table (dataset, method, image, seed, protocol, metric, value,
note); FID, a property of the whole set, has one row with ``image == SET_IMAGE``. A metric whose
pretrained weights are unavailable is NaN with a ``note`` naming the missing file, when the
caller allowed it; otherwise it is an error.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from irsde.fileio import atomic_write_bytes, atomic_write_text, exclusive_folder, remove_stale_parts
from irsde.finite import NonFiniteError, check_finite_images
from irsde.images import list_images, read_image, read_uint8, to_tensor, write_png
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

logger = logging.getLogger(__name__)

PNG_SUBDIR = "png"
FLOAT_SUBDIR = "float"
MANIFEST = "restore.json"
SET_IMAGE = "(set)"
COLUMNS = ["dataset", "method", "image", "seed", "protocol", "metric", "value", "note"]
MAX_LISTED = 5


# ----------------------------------------------------------------------------------- restorers


class Restorer(Protocol):
    """Maps a batch of degraded images to restored ones (Bx3xHxW float, [0,1] scale).

    All randomness must come from ``generator``; the output need not be clamped.
    """

    def __call__(self, lq: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class SDERestorer:
    """IR-SDE restoration: ``steps`` reverse steps (None: ``sde.T``) of ``sampler`` driven by ``net``."""

    net: torch.nn.Module
    sde: object  # irsde.sde.MeanRevertingSDE
    sampler: str = "sde"
    steps: int | None = None

    @property
    def nfe(self) -> int:
        """Network evaluations per image (batch, or tile)."""
        return self.sde.T if self.steps is None else self.steps

    def __call__(self, lq: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        from irsde.samplers import restore

        return restore(self.net, self.sde, lq, sampler=self.sampler, generator=generator, steps=self.steps)


# ----------------------------------------------------------------------------------- tiling


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with >= ``overlap`` shared
    pixels between neighbours; the last tile ends exactly at the border."""
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def blend_weights(size: int, overlap: int) -> torch.Tensor:
    """1-D blending ramp: rises linearly over ``overlap`` pixels at both ends, 1 in between,
    and positive everywhere (so a lone tile at a border is weighted correctly after normalising)."""
    position = torch.arange(size, dtype=torch.float32)
    ramp = torch.minimum(position + 1, size - position) / (overlap + 1)
    return ramp.clamp(max=1.0)


def restore_tiled(
    restorer: Restorer, lq: torch.Tensor, generator: torch.Generator, tile: int, overlap: int, batch_size: int = 1
) -> torch.Tensor:
    """Restore one image (1x3xHxW) tile by tile and blend the overlaps with linear ramps."""
    if lq.shape[0] != 1:
        raise ValueError(f"tiled restoration takes one image at a time, got a batch of {lq.shape[0]}")
    height, width = lq.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    corners = [(top, left) for top in tile_starts(height, tile, overlap) for left in tile_starts(width, tile, overlap)]
    weight = torch.outer(blend_weights(tile_h, overlap), blend_weights(tile_w, overlap)).to(lq.device)
    total = torch.zeros_like(lq)
    norm = torch.zeros((1, 1, height, width), dtype=lq.dtype, device=lq.device)
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        tiles = torch.cat([lq[..., top : top + tile_h, left : left + tile_w] for top, left in chunk])
        restored = restorer(tiles, generator)
        for (top, left), output in zip(chunk, restored):
            total[0, :, top : top + tile_h, left : left + tile_w] += output * weight
            norm[0, :, top : top + tile_h, left : left + tile_w] += weight
    return total / norm


# ----------------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class RestoredSet:
    """A restoration output folder (see the module docstring)."""

    root: Path

    @property
    def png_dir(self) -> Path:
        return self.root / PNG_SUBDIR

    @property
    def float_dir(self) -> Path:
        return self.root / FLOAT_SUBDIR

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict:
        """The ``restore.json`` record ({} when absent, e.g. PNGs from elsewhere)."""
        if not self.manifest_path.is_file():
            return {}
        return json.loads(self.manifest_path.read_text())


def restore_folder(
    restorer: Restorer,
    lq_paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    seed: int = 0,
    batch_size: int = 1,
    tile: int | None = None,
    tile_overlap: int = 32,
    device: str | torch.device = "cpu",
    metadata: dict | None = None,
    progress: bool = True,
) -> RestoredSet:
    """Restore every image of ``lq_paths`` with ``restorer`` into ``out_dir`` (module docstring).

    Same-size images are restored ``batch_size`` at a time (or, with ``tile``, each image in
    ``tile`` x ``tile`` tiles overlapping by ``tile_overlap`` pixels, ``batch_size`` tiles at a
    time). One CPU ``torch.Generator`` seeded with ``seed`` drives all noise, so the output
    depends on (seed, batch size, tiling, image list) only. ``metadata`` is added to the
    manifest (weights, method, network and SDE settings...).
    """
    lq_paths = [Path(path) for path in lq_paths]
    if not lq_paths:
        raise ValueError("no images to restore")
    restored = RestoredSet(Path(out_dir))
    if restored.root.exists() and not restored.root.is_dir():
        raise ValueError(
            f"output folder {restored.root} is a file; give a folder (it receives png/, float/, {MANIFEST})"
        )
    with exclusive_folder(restored.root, f"irsde restore, seed {seed}"):
        remove_stale_parts(restored.root, restored.png_dir, restored.float_dir)
        _check_output_folder(restored, lq_paths)
        restored.manifest_path.unlink(missing_ok=True)  # written last: it marks a complete folder
        restored.png_dir.mkdir(parents=True, exist_ok=True)
        restored.float_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        _restore_images(restorer, lq_paths, restored, seed, batch_size, tile, tile_overlap, device, progress)
        record = {
            "images": [path.stem for path in lq_paths],
            "lq_dir": str(lq_paths[0].parent.resolve()),
            "seed": seed,
            "batch_size": batch_size,
            "tile": tile,
            "tile_overlap": tile_overlap if tile else None,
            "device": str(device),
            "seconds": round(time.time() - started, 3),
            **(metadata or {}),
        }
        _write_json(restored.manifest_path, record)
    return restored


def _restore_images(restorer: Restorer, lq_paths: list[Path], restored: RestoredSet, seed: int, batch_size: int,
                    tile: int | None, tile_overlap: int, device, progress: bool) -> None:
    """The restoration loop of :func:`restore_folder`; on any error the files it wrote are removed."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    batches = list(same_size_batches(lq_paths, 1 if tile else batch_size))
    written: list[Path] = []
    try:
        with tqdm(total=len(lq_paths), desc="restore", unit="img", disable=not progress) as bar:
            for batch in batches:
                lq = torch.stack([to_tensor(read_image(path)) for path in batch]).to(device)
                if tile:
                    output = restore_tiled(restorer, lq, generator, tile, tile_overlap, batch_size)
                else:
                    output = restorer(lq, generator)
                try:
                    check_finite_images(output.detach(), [str(path) for path in batch], "the network's output")
                except NonFiniteError as error:
                    raise NonFiniteError(
                        f"{error}; nothing of this run is kept in {restored.root}: check the weights "
                        f"(a diverged training?) and the sampler settings"
                    ) from None
                written += _write_outputs(restored, batch, output)
                bar.update(len(batch))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def restore_dataset(
    net: torch.nn.Module,
    sde,
    split_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    sampler: str = "sde",
    seed: int = 0,
    batch_size: int = 1,
    tile: int | None = None,
    tile_overlap: int = 32,
    limit: int | None = None,
    metadata: dict | None = None,
    progress: bool = True,
    steps: int | None = None,
) -> RestoredSet:
    """Restore the LQ images of a prepared split (``<split>/{GT,LQ}``) with IR-SDE.

    ``net`` must be in eval mode on the device to use; ``limit`` keeps the first N images by
    name; ``steps`` network evaluations per image (None: ``sde.T``). See :func:`restore_folder`
    for the output and the other arguments.
    """
    from irsde.data.loaders import paired_files

    lq_paths = [lq for _, lq in paired_files(split_dir)][:limit]
    device = next(net.parameters()).device
    restorer = SDERestorer(net, sde, sampler, steps)
    record = {"split_dir": str(Path(split_dir).resolve()), "sampler": sampler, "nfe": restorer.nfe,
              "sde": sde_settings(sde), "limit": limit}
    record.update(metadata or {})
    return restore_folder(restorer, lq_paths, out_dir, seed, batch_size, tile, tile_overlap, device, record, progress)


def sde_settings(sde) -> dict:
    """The constructor settings of a MeanRevertingSDE, for manifests."""
    return {name: getattr(sde, name) for name in ("schedule", "T", "max_sigma", "eps") if hasattr(sde, name)}


def _check_output_folder(restored: RestoredSet, lq_paths: list[Path]) -> None:
    """The PNG folder must end up holding exactly this run's images: refuse foreign files."""
    if not restored.png_dir.is_dir():
        return
    expected = {f"{path.stem}.png" for path in lq_paths}
    foreign = sorted(entry.name for entry in restored.png_dir.iterdir() if entry.name not in expected)
    if foreign:
        raise ValueError(
            f"output folder {restored.png_dir} holds files of another run ({', '.join(foreign[:MAX_LISTED])}); "
            f"use an empty --out folder"
        )


def _write_outputs(restored: RestoredSet, batch: list[Path], output: torch.Tensor) -> list[Path]:
    output = output.detach().to("cpu", torch.float32)
    written = []
    for path, image in zip(batch, output):
        array = image.permute(1, 2, 0).numpy()
        written.append(_save_npy(restored.float_dir / f"{path.stem}.npy", array))
        written.append(write_png(restored.png_dir / f"{path.stem}.png", image))
    return written


def _save_npy(path: Path, array: np.ndarray) -> Path:
    return atomic_write_bytes(path, lambda stream: np.save(stream, np.ascontiguousarray(array, dtype=np.float32)))


def _write_json(path: Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")


# ----------------------------------------------------------------------------------- evaluate


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

    ``restored_dir`` is a :func:`restore_folder` output (``png/`` + ``float/``) or a plain folder
    of images: the outputs of a method that only delivers 8-bit images (another method's PNGs,
    or the degraded input itself), whose LPIPS is then computed on those images. Images are matched to
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
    if float_dir is not None:
        _check_float_outputs(float_dir, pairs)
    scores = _Scores(dataset, method, seed, protocol.name)
    if {"psnr", "ssim"} & set(metrics):
        _score_fidelity(scores, pairs, protocol, metrics, progress)
    if "lpips" in metrics:
        # A plain image folder (not the png/ of a restore output, whose floats must be used).
        plain_folder = png_dir == Path(restored_dir) and not (png_dir.parent / MANIFEST).is_file()
        inputs = _lpips_inputs(pairs, protocol, float_dir, plain_folder)
        _with_weights(scores, "lpips", pairs, allow_missing_weights,
                      lambda: _score_lpips(scores, inputs, device, download_weights, batch_size, progress))
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


def _score_fidelity(scores: _Scores, pairs, protocol: MetricProtocol, metrics: list[str], progress: bool) -> None:
    for restored_path, gt_path in tqdm(pairs, desc="psnr/ssim", unit="img", disable=not progress):
        restored, gt = read_uint8(restored_path), read_uint8(gt_path)
        if restored.shape != gt.shape:
            raise ValueError(f"{restored_path} is {restored.shape} but its ground truth {gt_path} is {gt.shape}")
        for name, function in (("psnr", psnr), ("ssim", ssim)):
            if name in metrics:
                scores.add(gt_path.name, name, function(restored, gt, protocol.crop_border, protocol.y_channel))


def _lpips_inputs(pairs, protocol: MetricProtocol, float_dir: Path | None, plain_folder: bool = False) -> dict[Path, Path]:
    """GT path -> the restored-side LPIPS input: the float .npy (LPIPS-on-float protocols) or the
    image itself (other protocols, and plain image folders, which have no float output)."""
    if not protocol.lpips_on_float or plain_folder:
        if protocol.lpips_on_float:
            logger.info("%s holds 8-bit images only: LPIPS is computed on them", pairs[0][0].parent)
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
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"cannot read the float output {path} ({error}): restore again") from error
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"{path}: expected an HxWx3 float array, got shape {array.shape}")
        return array.astype(np.float32)
    return read_image(path)


def _score_lpips(scores: _Scores, inputs: dict[Path, Path], device, download: bool, batch_size: int, progress: bool) -> None:
    metric = LPIPSMetric(device=device, download=download)
    with tqdm(total=len(inputs), desc="lpips", unit="img", disable=not progress) as bar:
        for gt_batch in same_size_batches(list(inputs), batch_size):
            restored = torch.stack([to_tensor(_load_restored_float(inputs[path])) for path in gt_batch])
            gt = torch.stack([to_tensor(read_image(path)) for path in gt_batch])
            if restored.shape != gt.shape:
                raise ValueError(f"LPIPS input {inputs[gt_batch[0]]} does not match the size of {gt_batch[0]}")
            for path, value in zip(gt_batch, metric.batch(restored, gt)):
                scores.add(path.name, "lpips", value)
            bar.update(len(gt_batch))


def _score_fid(scores: _Scores, png_dir: Path, gt_dir: Path, device, download: bool, cache_dir) -> None:
    metric = FIDMetric(device=device, download=download, cache_dir=cache_dir)
    scores.add(SET_IMAGE, "fid", metric(png_dir, gt_dir))


# ----------------------------------------------------------------------------------- summary


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, protocol, method, metric): mean over images per seed, then the mean and
    (when several seeds) the sample std over seeds; plus the image and seed counts and the note.
    """
    from irsde.report import summarize_methods

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
