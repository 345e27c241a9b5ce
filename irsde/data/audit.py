"""Train/test overlap audit: which test images show a background that is also in training.

PReNet reports that 546 of RainTrainH's 1,800 training images share backgrounds with the
Rain100H test set. The audit finds such near-duplicates among the **ground-truth** images (the
rain differs, the background does not) of a prepared dataset:

1. every GT image becomes a small greyscale fingerprint (area-averaged to ``size x size``,
   aspect ignored, so copies at another resolution match), band-passed by subtracting a
   Gaussian blur of it (the smooth shading that unrelated photos share would otherwise
   correlate them);
2. each test fingerprint is compared with every training fingerprint by normalised
   cross-correlation (NCC) and the best ``candidates`` are kept;
3. each candidate is refined over small translations (up to ``max_shift`` fingerprint pixels)
   and central zooms of either image (``zooms``), so slightly shifted, cropped or rescaled
   copies still score close to 1.

A test image whose best score reaches ``threshold`` is reported as a duplicate. The CSV lists
every test image with its best training match and score, so the threshold can be revisited.
"""

from __future__ import annotations

import csv
import itertools
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from irsde.images import list_images, read_uint8

_WORK_FACTOR = 4  # working greyscale images are this many times the fingerprint size


@dataclass(frozen=True)
class Overlap:
    """The best training match of one test image."""

    test_image: str
    train_match: str
    score: float
    test_zoom: float
    train_zoom: float
    shift_y: int
    shift_x: int
    duplicate: bool


def _grey(path: Path, side: int) -> np.ndarray:
    grey = Image.fromarray(read_uint8(path)).convert("L").resize((side, side), Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32)


def _view(grey: np.ndarray, zoom: float, size: int) -> np.ndarray:
    """The band-passed fingerprint of the central ``zoom`` fraction of a working image."""
    side = grey.shape[0]
    keep = max(size, int(round(side * zoom)))
    start = (side - keep) // 2
    crop = grey[start:start + keep, start:start + keep]
    view = np.asarray(Image.fromarray(crop, mode="F").resize((size, size), Image.Resampling.BOX), dtype=np.float64)
    return view - ndimage.gaussian_filter(view, size / 8, mode="reflect")


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = rows - rows.mean(axis=-1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-8)


def _best_shift(test: np.ndarray, train: np.ndarray, max_shift: int) -> tuple[float, int, int]:
    """Best NCC between the central part of ``test`` and shifted windows of ``train``."""
    size = test.shape[0]
    inner = size - 2 * max_shift
    probe = _normalise(test[max_shift:max_shift + inner, max_shift:max_shift + inner].ravel())
    best = (-2.0, 0, 0)
    for dy, dx in itertools.product(range(-max_shift, max_shift + 1), repeat=2):
        window = train[max_shift + dy:max_shift + dy + inner, max_shift + dx:max_shift + dx + inner]
        score = float(probe @ _normalise(window.ravel()))
        if score > best[0]:
            best = (score, dy, dx)
    return best


def find_overlaps(train_dir: str | os.PathLike, test_dir: str | os.PathLike, threshold: float = 0.9,
                  size: int = 32, max_shift: int = 3, zooms: tuple[float, ...] = (1.0, 0.95, 0.9, 0.85, 0.8),
                  candidates: int = 5, progress: bool = True) -> list[Overlap]:
    """The best training match of every test image (folders of GT images), sorted by test name."""
    train_paths, test_paths = list_images(train_dir), list_images(test_dir)
    if not train_paths or not test_paths:
        raise ValueError(f"no images to compare in {train_dir if not train_paths else test_dir}")
    if 2 * max_shift >= size:
        raise ValueError(f"max_shift {max_shift} is too large for fingerprints of size {size}")
    side = size * _WORK_FACTOR
    bar = dict(unit="image", disable=not progress)
    train = [_grey(path, side) for path in tqdm(train_paths, desc="audit: train GT", **bar)]
    test = [_grey(path, side) for path in tqdm(test_paths, desc="audit: test GT", **bar)]
    train_prints = _normalise(np.stack([_view(image, 1.0, size).ravel() for image in train]))
    test_prints = _normalise(np.stack([_view(image, 1.0, size).ravel() for image in test]))
    coarse = test_prints @ train_prints.T
    zoom_pairs = [(zt, zr) for zt in zooms for zr in zooms if zt == 1.0 or zr == 1.0]
    results = []
    for row, test_path in enumerate(tqdm(test_paths, desc="audit: refine", **bar)):
        best = (float(coarse[row].max()), int(coarse[row].argmax()), 1.0, 1.0, 0, 0)
        for column in np.argsort(-coarse[row])[:candidates]:
            for test_zoom, train_zoom in zoom_pairs:
                score, dy, dx = _best_shift(_view(test[row], test_zoom, size), _view(train[column], train_zoom, size), max_shift)
                if score > best[0]:
                    best = (score, int(column), test_zoom, train_zoom, dy, dx)
        score, column, test_zoom, train_zoom, dy, dx = best
        results.append(Overlap(test_path.name, train_paths[column].name, round(score, 6), test_zoom, train_zoom,
                               dy, dx, score >= threshold))
    return results


def write_overlap_csv(overlaps: list[Overlap], path: str | os.PathLike) -> Path:
    """Write the audit as a CSV with one row per test image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=[field.name for field in fields(Overlap)])
        writer.writeheader()
        for overlap in overlaps:
            writer.writerow(asdict(overlap))
    return path


def audit_overlap(name: str, root: str | os.PathLike, out_csv: str | os.PathLike, threshold: float = 0.9,
                  progress: bool = True) -> list[Overlap]:
    """Audit prepared dataset ``name`` (``<root>/<name>/{train,test}/GT``), write ``out_csv``
    and return the rows; ``duplicate`` marks the rows at or above ``threshold``."""
    folder = Path(root) / name
    overlaps = find_overlaps(folder / "train" / "GT", folder / "test" / "GT", threshold, progress=progress)
    write_overlap_csv(overlaps, out_csv)
    return overlaps
