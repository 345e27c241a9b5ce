"""Validation during training: PSNR and SSIM on a fixed subset under a named metric protocol.

The subset is the first ``data.val_images`` pairs (sorted by name) of ``data.val``, optionally
centre-cropped to ``data.val_crop_size``. Every validation restores them with a generator seeded
with ``train.val_seed``, so the sampler's noise is the same at every iteration and in every run
and validation curves differ only because the weights do. Restored images are clamped and
rounded to uint8 as in the paper's test script before PSNR/SSIM (``irsde.metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from irsde.data import PairedTestDataset
from irsde.images import to_uint8
from irsde.metrics import get_protocol, psnr, ssim
from irsde.restoration import check_whole_image_size
from irsde.methods import Method, restore_batch

VALIDATION_METRICS = {"psnr": psnr, "ssim": ssim}


def center_crop(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central ``size x size`` window of a 3xHxW tensor (unchanged if ``size`` is None or
    not smaller than the image)."""
    if size is None:
        return image
    height, width = image.shape[-2:]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[..., top : top + size, left : left + size]


class Validator:
    """Restores the fixed validation subset and scores it; see the module docstring."""

    def __init__(self, split_dir: str, count: int, crop_size: int | None, protocol: str, seed: int):
        dataset = PairedTestDataset(split_dir)
        if len(dataset) < count:
            raise ValueError(
                f"config key 'data.val_images': {count} images requested, {split_dir} holds {len(dataset)} pairs"
            )
        items = [dataset[index] for index in range(count)]
        self.names = [str(item["name"]) for item in items]
        self.lq = [center_crop(item["lq"], crop_size) for item in items]
        self.gt_float = [center_crop(item["gt"], crop_size) for item in items]
        self.gt = [to_uint8(gt) for gt in self.gt_float]
        for name, lq in zip(self.names, self.lq):
            check_whole_image_size(*lq.shape[-2:], f"validation image {split_dir}/LQ/{name}",
                                   "set config key 'data.val_crop_size' (e.g. 256) to validate on its centre")
        self.protocol = get_protocol(protocol)
        self.seed = seed
        self._check_metrics_apply(split_dir)

    def _check_metrics_apply(self, split_dir: str) -> None:
        """Score each ground truth against itself now, so that an image too small for the
        protocol (e.g. for SSIM's window after the border crop) fails before training."""
        for name, gt in zip(self.names, self.gt):
            for metric, function in VALIDATION_METRICS.items():
                try:
                    function(gt, gt, **self._metric_arguments())
                except ValueError as error:
                    raise ValueError(
                        f"config keys 'data.val' / 'data.val_crop_size': {metric} cannot score "
                        f"{split_dir}/GT/{name} ({gt.shape[1]}x{gt.shape[0]}) under protocol "
                        f"'{self.protocol.name}': {error}"
                    ) from error

    @classmethod
    def from_config(cls, config: Mapping) -> "Validator | None":
        """The run's validator, or None when validation is off (no ``data.val`` or ``val_every: 0``)."""
        if config["data"]["val"] is None or config["train"]["val_every"] == 0:
            return None
        data, train = config["data"], config["train"]
        return cls(data["val"], data["val_images"], data["val_crop_size"], train["protocol"], train["val_seed"])

    def __call__(self, method: Method, net: nn.Module, device: torch.device, iteration: int) -> list[dict]:
        """Tidy rows ``(iteration, image, metric, value)``: one per image and metric, plus the means."""
        return self.score(self.restore(method, net, device), iteration)

    def restore(self, method: Method, net: nn.Module, device: torch.device) -> list[np.ndarray]:
        """The validation images restored with the fixed sampler seed, as HxWx3 uint8 arrays."""
        was_training = net.training
        net.eval()
        generator = torch.Generator(device=device).manual_seed(self.seed)
        try:
            with torch.no_grad():
                return [to_uint8(restore_batch(method, net, lq[None].to(device), generator)[0]) for lq in self.lq]
        finally:
            net.train(was_training)

    def score(self, restored: list[np.ndarray], iteration: int) -> list[dict]:
        """The rows of :meth:`__call__` for restorations of the validation images (in their order)."""
        per_metric = {name: [] for name in VALIDATION_METRICS}
        rows = []
        for name, output, gt in zip(self.names, restored, self.gt):
            for metric, function in VALIDATION_METRICS.items():
                value = float(function(output, gt, **self._metric_arguments()))
                per_metric[metric].append(value)
                rows.append(dict(iteration=iteration, image=name, metric=metric, value=value))
        for metric, values in per_metric.items():
            rows.append(dict(iteration=iteration, image="mean", metric=metric, value=_mean(values)))
        return rows

    def timestep_rows(self, method: Method, net: nn.Module, device: torch.device, iteration: int) -> list[dict]:
        """The method's noise-prediction error by timestep on the validation images (rows of
        :data:`irsde.diagnostics.TIMESTEP_COLUMNS`), or no rows for a method without a noise
        prediction. Images of different sizes are probed one at a time."""
        was_training = net.training
        net.eval()
        per_image = []
        try:
            for lq, gt in zip(self.lq, self.gt_float):
                per_image.append(method.timestep_errors(net, gt[None].to(device), lq[None].to(device), seed=self.seed))
        finally:
            net.train(was_training)
        return [
            dict(iteration=iteration, t=row["t"], metric=row["metric"], value=_mean([rows[i]["value"] for rows in per_image]))
            for i, row in enumerate(per_image[0])
        ]

    def _metric_arguments(self) -> dict:
        return {"crop_border": self.protocol.crop_border, "y_channel": self.protocol.y_channel}


def input_scores(split_dir: str, count: int, crop_size: int | None, protocol: str) -> dict[str, float]:
    """Mean PSNR/SSIM of the degraded inputs themselves on the validation subset a
    :class:`Validator` with these settings scores (the floor a restoration should beat)."""
    validator = Validator(split_dir, count, crop_size, protocol, seed=0)
    arguments = validator._metric_arguments()
    return {
        metric: _mean([float(function(to_uint8(lq), gt, **arguments)) for lq, gt in zip(validator.lq, validator.gt)])
        for metric, function in VALIDATION_METRICS.items()
    }


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
