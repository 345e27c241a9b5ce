"""FID through the real ``pytorch-fid``: Inception-v3 (the TensorFlow FID port), pool3, 2048-d.

FID is computed between two clean folders (image files only, nothing else): the restored PNGs
and the ground truth (docs/protocols.md#fid). The ground truth's statistics (mean and covariance of the
pool3 activations) are cached per test set, keyed by a hash of the folder's content (file
names and bytes) together with the identity of the Inception weight file, so that a changed
folder or changed weights never reuse stale statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from irsde.devices import resolve_device
from irsde.fileio import atomic_write_bytes
from irsde.images import image_size, is_image_file, list_images
from irsde.metrics.batching import same_size_batches
from irsde.metrics.weights import FID_INCEPTION_WEIGHTS, ensure_weight_file

logger = logging.getLogger(__name__)

FID_DIMS = 2048
MAX_LISTED = 5


def clean_image_folder(folder: str | os.PathLike) -> list[Path]:
    """The image files of ``folder`` (sorted); ValueError if it holds anything else or < 2 images."""
    folder = Path(folder)
    images = list_images(folder)
    strays = sorted(entry.name for entry in folder.iterdir() if not (entry.is_file() and is_image_file(entry)))
    if strays:
        raise ValueError(
            f"FID folder {folder} must hold image files only; found {len(strays)} other "
            f"entr{'y' if len(strays) == 1 else 'ies'}: {', '.join(strays[:MAX_LISTED])}"
        )
    if len(images) < 2:
        raise ValueError(f"FID needs at least 2 images, {folder} has {len(images)}")
    for path in images:
        image_size(path)  # the refusals of irsde's image loader (e.g. 16-bit), header only
    return images


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/irsde/fid-stats`` (``~/.cache/irsde/fid-stats``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "irsde" / "fid-stats"


class FIDMetric:
    """Fréchet Inception Distance between folders, with pretrained Inception weights only.

    The weight file is located (downloaded when missing and ``download``) before the network is
    built; when it cannot be had, :class:`PerceptualWeightsMissing` is raised. ``dims`` picks
    pytorch-fid's feature layer (64, 192, 768 or 2048); FID as reported is 2048 (pool3).
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        download: bool = True,
        batch_size: int = 50,
        cache_dir: str | os.PathLike | None = None,
        dims: int = FID_DIMS,
    ):
        self.weights_path = ensure_weight_file(FID_INCEPTION_WEIGHTS, download=download)
        from pytorch_fid.inception import InceptionV3

        self.device = torch.device(device) if device is not None else resolve_device("auto")
        if dims not in InceptionV3.BLOCK_INDEX_BY_DIM:
            raise ValueError(f"FID dims must be one of {sorted(InceptionV3.BLOCK_INDEX_BY_DIM)}, got {dims}")
        self.dims = dims
        self.model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval().to(self.device)
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def __call__(self, restored_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> float:
        """FID between the images of ``restored_dir`` and those of ``gt_dir`` (statistics of the
        latter cached)."""
        mu_restored, sigma_restored = self.statistics(restored_dir)
        mu_gt, sigma_gt = self.reference_statistics(gt_dir)
        from pytorch_fid.fid_score import calculate_frechet_distance

        return float(calculate_frechet_distance(mu_restored, sigma_restored, mu_gt, sigma_gt))

    def statistics(self, folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """Mean (dims,) and covariance (dims, dims) of the Inception activations of a folder's images."""
        from pytorch_fid.fid_score import get_activations

        files = clean_image_folder(folder)
        # pytorch-fid batches with the default collate, so one batch must hold one image size;
        # mean and covariance do not depend on the order of the activations.
        activations = np.concatenate(
            [
                get_activations(batch, self.model, len(batch), self.dims, self.device, num_workers=0)
                for batch in same_size_batches(files, self.batch_size)
            ]
        )
        return np.mean(activations, axis=0), np.cov(activations, rowvar=False)

    def reference_statistics(self, folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`statistics` of a reference folder, read from / written to the cache."""
        key = self.cache_key(folder)
        path = self.cache_dir / f"{key}.npz"
        if path.is_file():
            logger.info("FID reference statistics of %s from cache %s", folder, path)
            with np.load(path) as stored:
                return stored["mu"], stored["sigma"]
        mu, sigma = self.statistics(folder)
        _save_statistics(path, mu, sigma, {"folder": str(Path(folder).resolve()), "key": key})
        return mu, sigma

    def cache_key(self, folder: str | os.PathLike) -> str:
        """SHA-256 over the folder's file names and contents, the weight file and the feature size."""
        from irsde.data.layout import sha256_file

        digest = hashlib.sha256()
        stat = self.weights_path.stat()
        digest.update(f"pytorch-fid dims {self.dims}; {self.weights_path.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        for path in clean_image_folder(folder):
            digest.update(f"{path.name}\n".encode())
            digest.update(sha256_file(path).encode())
        return digest.hexdigest()


def _save_statistics(path: Path, mu: np.ndarray, sigma: np.ndarray, metadata: dict) -> None:
    """Write ``mu``/``sigma`` to ``path`` atomically."""
    atomic_write_bytes(path, lambda stream: np.savez(stream, mu=mu, sigma=sigma, metadata=json.dumps(metadata)))
