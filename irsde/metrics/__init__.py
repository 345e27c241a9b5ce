"""Image-quality metrics under named protocols (docs/protocols.md).

- :func:`psnr`, :func:`ssim`: on HxWx3 uint8 RGB arrays, optional border crop and BT.601 Y.
- :data:`PROTOCOLS`, :func:`get_protocol`: the named presets (``irsde-derain``, ...).
- :class:`LPIPSMetric`, :class:`FIDMetric`: the ``lpips`` and ``pytorch-fid`` networks with their
  pretrained weights; :class:`PerceptualWeightsMissing` when those cannot be had.
"""

from irsde.metrics.fid import FIDMetric, clean_image_folder
from irsde.metrics.lpips import LPIPSMetric
from irsde.metrics.psnr_ssim import psnr, rgb_to_y, ssim
from irsde.metrics.protocols import METRIC_NAMES, PROTOCOLS, MetricProtocol, get_protocol
from irsde.metrics.weights import (
    ALEXNET_WEIGHTS,
    FID_INCEPTION_WEIGHTS,
    WEIGHT_FILES,
    PerceptualWeightsMissing,
    WeightFile,
    checkpoints_dir,
    ensure_weight_file,
)

__all__ = [
    "ALEXNET_WEIGHTS",
    "FID_INCEPTION_WEIGHTS",
    "FIDMetric",
    "LPIPSMetric",
    "METRIC_NAMES",
    "MetricProtocol",
    "PROTOCOLS",
    "PerceptualWeightsMissing",
    "WEIGHT_FILES",
    "WeightFile",
    "checkpoints_dir",
    "clean_image_folder",
    "ensure_weight_file",
    "get_protocol",
    "psnr",
    "rgb_to_y",
    "ssim",
]
