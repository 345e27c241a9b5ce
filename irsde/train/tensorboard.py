"""TensorBoard event files of a training run (``train.tensorboard``, on by default).

Written by rank 0 into the run folder itself, so that ``tensorboard --logdir runs/`` lists every
run under its folder's name (e.g. ``embedded/synthetic-rain/irsde``). Tags:

* ``train/loss`` (the method's training loss, the mean since the previous row of
  ``train_log.csv``: each method here has one loss term) and ``train/lr``, every ``train.log_every``;
* ``val/psnr``, ``val/ssim`` (the mean over the validation images, as in ``val_log.csv``) at
  every validation;
* ``timestep/<metric>/t<step>``: the noise-prediction error and its clean-image equivalent at
  each probed timestep (``val_timesteps.csv``; methods with a noise prediction);
* ``val_images/<image>``: the first ``train.tensorboard_images`` validation images side by side,
  degraded input | restoration | ground truth, at every validation.

A resumed run opens its writer with ``purge_step`` = the checkpoint's iteration + 1, so TensorBoard
drops what the interrupted session had logged beyond the checkpoint (it is logged again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from irsde.images import to_uint8


class TensorBoardLog:
    """A ``torch.utils.tensorboard.SummaryWriter`` on the run folder, with the run's tags."""

    def __init__(self, folder: str | Path, resumed_from: int | None, images: int):
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when on

        purge_step = None if resumed_from is None else resumed_from + 1
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)
        self.images = images

    def training(self, iteration: int, loss: float, lr: float) -> None:
        self.writer.add_scalar("train/loss", loss, iteration)
        self.writer.add_scalar("train/lr", lr, iteration)

    def validation(self, iteration: int, rows: Sequence[Mapping], timestep_rows: Sequence[Mapping]) -> None:
        """The mean rows of a validation (``image == "mean"``) and its per-timestep errors."""
        for row in rows:
            if row["image"] == "mean":
                self.writer.add_scalar(f"val/{row['metric']}", row["value"], iteration)
        for row in timestep_rows:
            self.writer.add_scalar(f"timestep/{row['metric']}/t{int(row['t']):03d}", row["value"], iteration)

    def restorations(self, iteration: int, names: Sequence[str], lq: Sequence[torch.Tensor],
                     restored: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> None:
        """The first ``images`` validation images: input | restoration | ground truth (HxWx3 uint8)."""
        for name, degraded, output, truth in list(zip(names, lq, restored, gt))[: self.images]:
            strip = np.concatenate([to_uint8(degraded), output, truth], axis=1)
            self.writer.add_image(f"val_images/{Path(name).stem}", strip, iteration, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
