"""The pretrained weight files LPIPS and FID need, where they live, and what to do when missing.

Both libraries fetch their weights through torch.hub into ``$TORCH_HOME/hub/checkpoints``
(``~/.cache/torch/hub/checkpoints`` by default; ``torch.hub.get_dir()`` decides):

- LPIPS (``lpips`` 0.1.4, ``net='alex'``) builds torchvision's AlexNet with its ImageNet weights,
  ``alexnet-owt-7be5be79.pth``; its own linear-layer weights ship inside the ``lpips`` package
  (``lpips/weights/v0.1/alex.pth``).
- FID (``pytorch-fid`` 0.3.0) loads the TensorFlow Inception port ``pt_inception-2015-12-05-6726825d.pth``.

Before a metric network is built, :func:`ensure_weight_file` makes sure the file is there: if
it is missing it tries to download it, from the mirrors first (``<mirror>/<file name>``, the
``mirror`` config key or ``$IRSDE_MIRROR``, as for the datasets), then from the URL the library
would use; if that is impossible it raises :class:`PerceptualWeightsMissing` naming the file,
the folder and the URL. A metric is therefore never computed with randomly initialised weights.
:func:`weights_for` lists the files a set of metrics needs (what the pipeline's ``fetch`` target
downloads on a cluster's login node).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from irsde.data.download import mirror_bases, on_mirrors

logger = logging.getLogger(__name__)

CHECKPOINTS_FOLDER = "$TORCH_HOME/hub/checkpoints"
DEFAULT_CHECKPOINTS_FOLDER = "~/.cache/torch/hub/checkpoints"


class PerceptualWeightsMissing(RuntimeError):
    """A pretrained weight file needed by LPIPS or FID is absent and cannot be downloaded."""

    def __init__(self, weight: "WeightFile", folder: Path, reason: str):
        self.weight = weight
        self.folder = Path(folder)
        self.reason = reason
        super().__init__(
            f"{weight.used_by} needs {weight.filename} in {self.folder} ({reason}). "
            f"Download {weight.url} and put it there as {self.folder / weight.filename} "
            f"(or set TORCH_HOME to a folder whose hub/checkpoints holds it)."
        )

    def short_note(self) -> str:
        """One line for a table footnote. It names the folder as ``$TORCH_HOME/hub/checkpoints``,
        not as resolved on this machine (a committed table must not name someone's home folder);
        the full message, with the resolved folder, is what gets logged."""
        return (f"{self.weight.used_by} weights missing: put {self.weight.filename} ({self.weight.url}) into "
                f"{CHECKPOINTS_FOLDER} (default {DEFAULT_CHECKPOINTS_FOLDER})")


@dataclass(frozen=True)
class WeightFile:
    """A pretrained file fetched through torch.hub.

    ``sha256_prefix``: the leading hex digits of the file's SHA-256 when its publisher
    documents them (torchvision names its files ``<name>-<sha256 prefix>.pth``); a download is
    checked against it. None when no checksum is published.
    """

    filename: str
    url: str
    used_by: str
    sha256_prefix: str | None = None


ALEXNET_WEIGHTS = WeightFile(
    filename="alexnet-owt-7be5be79.pth",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    used_by="LPIPS (torchvision AlexNet, ImageNet)",
    sha256_prefix="7be5be79",
)
FID_INCEPTION_WEIGHTS = WeightFile(
    filename="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    used_by="FID (pytorch-fid Inception-v3)",
)
WEIGHT_FILES = (ALEXNET_WEIGHTS, FID_INCEPTION_WEIGHTS)
METRIC_WEIGHTS = {"lpips": ALEXNET_WEIGHTS, "fid": FID_INCEPTION_WEIGHTS}


def weights_for(metrics: Iterable[str]) -> list[WeightFile]:
    """The pretrained files the metrics named in ``metrics`` need (LPIPS and FID; none for PSNR/SSIM)."""
    return [METRIC_WEIGHTS[name] for name in metrics if name in METRIC_WEIGHTS]


def weight_file(filename: str) -> WeightFile:
    """The metric weight file called ``filename``."""
    for weight in WEIGHT_FILES:
        if weight.filename == filename:
            return weight
    raise KeyError(f"{filename} is no metric weight file; known: {', '.join(w.filename for w in WEIGHT_FILES)}")


def checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch.hub resolves it right now."""
    import torch.hub

    return (Path(torch.hub.get_dir()) / "checkpoints").absolute()


def ensure_weight_file(weight: WeightFile, download: bool = True,
                       mirrors: str | list[str] | None = None) -> Path:
    """Path of ``weight`` in :func:`checkpoints_dir`, downloading it first when missing (from
    ``mirrors``, default ``$IRSDE_MIRROR``, then its own URL).

    Raises :class:`PerceptualWeightsMissing` when the file is absent and ``download`` is False
    or every download fails (no network, HTTP error, checksum mismatch).
    """
    folder = checkpoints_dir()
    path = folder / weight.filename
    if path.is_file():
        return path
    if not download:
        raise PerceptualWeightsMissing(weight, folder, "file not found, downloads disabled")
    _download(weight, path, [*on_mirrors(mirror_bases(mirrors), weight.filename), weight.url])
    return path


def _download(weight: WeightFile, path: Path, urls: list[str]) -> None:
    import torch.hub

    path.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        logger.info("downloading %s for %s to %s", url, weight.used_by, path)
        try:
            # Writes to a temporary file next to ``path`` and renames it only when complete and,
            # with a hash prefix, verified.
            torch.hub.download_url_to_file(url, os.fspath(path), hash_prefix=weight.sha256_prefix, progress=True)
            return
        except (OSError, RuntimeError, ValueError) as error:  # URLError/HTTPError are OSErrors
            failures.append(f"{url}: {error}")
    raise PerceptualWeightsMissing(weight, path.parent, "file not found and download failed: " + "; ".join(failures))


def lpips_linear_weights(version: str = "0.1", net: str = "alex") -> Path:
    """The LPIPS linear-layer weights shipped inside the ``lpips`` package (must exist)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        raise RuntimeError("the lpips package is not installed (pip install lpips==0.1.4)")
    path = Path(spec.origin).parent / "weights" / f"v{version}" / f"{net}.pth"
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS linear weights missing from the lpips package: {path}; reinstall lpips")
    return path
