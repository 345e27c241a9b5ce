"""Paired datasets over a prepared split folder ``<split_dir>/{GT,LQ}/`` (identical names).

:class:`PairedTrainDataset` yields aligned random crops with the paper's augmentation (random
horizontal flip, vertical flip and transpose, the same transform on GT and LQ); with
``noise_sigma`` it makes the LQ crop itself, ``GT + noise_sigma N(0, I)`` in float (not clipped),
with noise drawn afresh for every sample and epoch (the stored LQ images are not used).
The sample at index ``i`` in epoch ``e`` is a pure function of ``(seed, e, i)``, not of call
order, worker processes or global RNG state: a training run resumed at any iteration gets
exactly the samples the uninterrupted run got, as long as the engine calls
:meth:`PairedTrainDataset.set_epoch` and draws the same indices.
:class:`PairedTestDataset` yields full images with their names; an LQ image with a lossless float
companion (``LQ/<name>.npy``, e.g. a denoising input with its unclipped noise) is read from it
(:func:`irsde.images.read_degraded`).

Both yield ``dict(gt=Tensor 3xHxW float32 in [0,1], lq=..., name=str)`` (LQ values may leave
[0, 1] when it is float).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from irsde.data.seeding import derive_rng
from irsde.images import image_size, list_images, read_degraded, read_uint8, to_tensor
from irsde.sde import lambda_from_max_sigma


def paired_files(split_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """``(GT, LQ)`` paths of a split folder, sorted by name; raises naming every unpaired file."""
    split_dir = Path(split_dir)
    gts = {path.name: path for path in list_images(split_dir / "GT")}
    lqs = {path.name: path for path in list_images(split_dir / "LQ")}
    problems = [f"{gts[name]} has no LQ partner" for name in sorted(gts.keys() - lqs.keys())]
    problems += [f"{lqs[name]} has no GT partner" for name in sorted(lqs.keys() - gts.keys())]
    if problems:
        raise ValueError(f"{split_dir}: GT and LQ names differ:\n  " + "\n  ".join(problems))
    if not gts:
        raise ValueError(f"{split_dir}: no images in GT/ and LQ/")
    return [(gts[name], lqs[name]) for name in sorted(gts)]


def augment(images: list[np.ndarray], rng: np.random.Generator, crop_size: int) -> list[np.ndarray]:
    """Apply one random aligned crop, h/v flip and transpose to every image of the list."""
    height, width = images[0].shape[:2]
    top = int(rng.integers(0, height - crop_size + 1))
    left = int(rng.integers(0, width - crop_size + 1))
    hflip, vflip, transpose = (bool(flag) for flag in rng.random(3) < 0.5)
    out = []
    for image in images:
        patch = image[top:top + crop_size, left:left + crop_size]
        if hflip:
            patch = patch[:, ::-1]
        if vflip:
            patch = patch[::-1]
        if transpose:
            patch = patch.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(patch))
    return out


class PairedTrainDataset(Dataset):
    """Random aligned ``crop_size`` crops of the pairs in ``split_dir`` with flips/transpose.

    ``cache=True`` keeps the decoded images in memory (small datasets). Every image must be at
    least ``crop_size`` on both sides; the constructor raises naming each one that is not, and
    each pair whose GT and LQ sizes differ. ``noise_sigma`` (0-255 scale if >= 1; None: off):
    LQ = the GT crop + Gaussian noise of that std, drawn from ``(seed, "lq-noise", epoch, index)``.
    """

    def __init__(self, split_dir: str | os.PathLike, crop_size: int, seed: int = 0, cache: bool = False,
                 noise_sigma: float | None = None):
        if crop_size < 1:
            raise ValueError(f"crop_size must be positive, got {crop_size}")
        self.noise_std = None if noise_sigma is None else lambda_from_max_sigma(noise_sigma)
        self.split_dir = Path(split_dir)
        self.crop_size = int(crop_size)
        self.seed = int(seed)
        self.epoch = 0
        self.pairs = paired_files(self.split_dir)
        self._check_sizes()
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def _check_sizes(self) -> None:
        problems = []
        for gt, lq in self.pairs:
            (gt_h, gt_w), (lq_h, lq_w) = image_size(gt), image_size(lq)
            if (gt_w, gt_h) != (lq_w, lq_h):
                problems.append(f"{gt} is {gt_w}x{gt_h} but {lq} is {lq_w}x{lq_h}")
            elif min(gt_w, gt_h) < self.crop_size:
                problems.append(f"{gt} ({gt_w}x{gt_h}) is smaller than the crop size {self.crop_size}")
        if problems:
            raise ValueError(f"{self.split_dir}: {len(problems)} unusable pair(s):\n  " + "\n  ".join(problems))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns (call before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        gt_path, lq_path = self.pairs[index]
        images = (read_uint8(gt_path), read_uint8(lq_path))
        if self._cache is not None:
            self._cache[index] = images
        return images

    def sample(self, index: int, epoch: int) -> dict:
        """The sample at ``index`` in ``epoch``: a pure function of (seed, epoch, index)."""
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"index {index} out of range for {len(self.pairs)} pairs in {self.split_dir}")
        gt, lq = augment(list(self._load(index)), derive_rng(self.seed, epoch, index), self.crop_size)
        gt = to_tensor(gt)
        lq = to_tensor(lq) if self.noise_std is None else gt + self._noise(gt.shape, index, epoch)
        return {"gt": gt, "lq": lq, "name": self.pairs[index][0].name}

    def _noise(self, shape, index: int, epoch: int):
        """Gaussian noise of std ``noise_std`` for the sample at ``index`` in ``epoch``."""
        rng = derive_rng(self.seed, "lq-noise", epoch, index)
        return to_tensor(rng.standard_normal((shape[1], shape[2], shape[0]), dtype=np.float32) * self.noise_std)

    def __getitem__(self, index: int) -> dict:
        return self.sample(int(index), self.epoch)


class PairedTestDataset(Dataset):
    """Full-size pairs of ``split_dir`` in name order, each ``dict(gt, lq, name)``."""

    def __init__(self, split_dir: str | os.PathLike):
        self.split_dir = Path(split_dir)
        self.pairs = paired_files(self.split_dir)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        gt_path, lq_path = self.pairs[index]
        gt, lq = read_uint8(gt_path), read_degraded(lq_path)
        if gt.shape != lq.shape:
            raise ValueError(f"{gt_path} is {gt.shape[1]}x{gt.shape[0]} but {lq_path} is {lq.shape[1]}x{lq.shape[0]}")
        return {"gt": to_tensor(gt), "lq": to_tensor(lq), "name": gt_path.name}

    @property
    def names(self) -> list[str]:
        return [gt.name for gt, _ in self.pairs]
