"""Run folder layout, atomic checkpoint files, resume, and reopening a finished run.

Layout of a run's ``output_dir``::

    config.yaml                  the resolved config (loadable with ``irsde train --config``)
    run.json                     reproducibility record (see irsde.train.records)
    train_log.csv                iteration, loss, lr, wall_time
    val_log.csv                  iteration, image, metric, value   (image "mean" = mean row)
    val_timesteps.csv            iteration, t, metric, value: noise-prediction error by timestep
                                 at each validation (IR-SDE only; see irsde.diagnostics)
    events.out.tfevents.*        TensorBoard event files, one per session (train.tensorboard;
                                 see irsde.train.tensorboard)
    weights/net_<iter>.pth       network weights, plain state_dict (the authors' format)
    weights/ema_<iter>.pth       EMA weights, plain state_dict
    weights/net_latest.pth       copies of the newest of the two above
    weights/ema_latest.pth
    training_state.pt            everything needed to resume (see save_checkpoint)
    debug/rank<r>.sha256         only with train.rank_digests: digest of each rank's weights

Every file is written to a temporary name in the same folder and renamed into place, so a
process killed at any moment leaves either the previous or the new complete file. The training
state is written last and is self-contained (it repeats the network and EMA weights): resuming
reads only ``training_state.pt``, so a kill between the weight files and the state file resumes
from the previous checkpoint with nothing lost but time.

A finished run is reopened with :class:`FinishedRun`: its method rebuilt from ``config.yaml``
and its network loaded with the final EMA weights (``weights/ema_latest.pth``, which the
pipeline also copies to ``final/net_ema.pth``) — what ``irsde restore --run`` restores with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from irsde.fileio import atomic_write_bytes
from irsde.finite import non_finite_tensors
from irsde.methods import Method, build_method
from irsde.nets import load_weights
from irsde.torchfile import TorchFileError, load_torch_file
from irsde.train.config import load_config
from irsde.train.records import read_run_record

STATE_FORMAT_VERSION = 1
NO_RESUME_ADVICE = "put a good copy back, or train into another output_dir"


@dataclass(frozen=True)
class RunLayout:
    """File names inside a run's output folder."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def run_record(self) -> Path:
        return self.root / "run.json"

    @property
    def train_log(self) -> Path:
        return self.root / "train_log.csv"

    @property
    def val_log(self) -> Path:
        return self.root / "val_log.csv"

    @property
    def timestep_log(self) -> Path:
        return self.root / "val_timesteps.csv"

    @property
    def weights_dir(self) -> Path:
        return self.root / "weights"

    @property
    def state(self) -> Path:
        return self.root / "training_state.pt"

    def weights(self, kind: str, iteration: int | str) -> Path:
        """``weights/<kind>_<iteration>.pth``; kind is ``net`` or ``ema``, iteration may be ``latest``."""
        return self.weights_dir / f"{kind}_{iteration}.pth"

    def rank_digest(self, rank: int) -> Path:
        return self.root / "debug" / f"rank{rank}.sha256"


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` that never leaves a partial file at ``path``."""
    return atomic_write_bytes(path, lambda stream: torch.save(obj, stream))


def cpu_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state_dict (what goes into a checkpoint file)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state_dict.items()}


def save_checkpoint(
    layout: RunLayout,
    iteration: int,
    net_weights: Mapping[str, torch.Tensor],
    ema_weights: Mapping[str, torch.Tensor],
    training_state: Mapping,
) -> None:
    """Write the weight files of ``iteration`` and then the training state, each atomically.

    ``training_state`` holds whatever else resuming needs (optimizer, scheduler, EMA, RNG
    states, config ...); the network weights are added to it under ``net`` and the iteration
    under ``iteration``. Refuses (RuntimeError naming the tensors) to write weights holding NaN
    or inf, so the last good checkpoint is never replaced by a broken one.
    """
    for kind, weights in (("net", net_weights), ("ema", ema_weights)):
        broken = non_finite_tensors(weights)
        if broken:
            raise RuntimeError(
                f"not writing the checkpoint of iteration {iteration}: {kind} weights hold NaN/inf in "
                f"{', '.join(broken[:5])}; the last good checkpoint is kept in {layout.root}"
            )
    net_weights, ema_weights = cpu_state_dict(net_weights), cpu_state_dict(ema_weights)
    for kind, weights in (("net", net_weights), ("ema", ema_weights)):
        atomic_torch_save(weights, layout.weights(kind, iteration))
        atomic_torch_save(weights, layout.weights(kind, "latest"))
    state = dict(training_state)
    state.update(format_version=STATE_FORMAT_VERSION, iteration=iteration, net=net_weights)
    atomic_torch_save(state, layout.state)


def load_training_state(layout: RunLayout, required: tuple[str, ...] = ()) -> dict | None:
    """The saved training state of the run in ``layout`` (None when it has no checkpoint yet);
    a RuntimeError naming the file when it is damaged or lacks one of the ``required`` keys."""
    if not layout.state.is_file():
        return None
    try:
        state = load_torch_file(layout.state, "training state")
    except TorchFileError as error:  # a corrupt file: say which, never start over silently
        raise RuntimeError(f"{error}; or {NO_RESUME_ADVICE}") from None
    version = state.get("format_version") if isinstance(state, Mapping) else None
    if version != STATE_FORMAT_VERSION:
        raise RuntimeError(
            f"{layout.state} has training-state format {version!r}, this version reads {STATE_FORMAT_VERSION}"
        )
    missing = [key for key in ("iteration", "net", *required) if key not in state]
    if missing:
        raise RuntimeError(
            f"training state {layout.state} lacks {', '.join(missing)}: it cannot be resumed; {NO_RESUME_ADVICE}"
        )
    return state


def checkpoint_iterations(layout: RunLayout) -> list[int]:
    """The iterations whose weight files ``weights/{net,ema}_<iteration>.pth`` the run folder holds."""
    found = {path.stem.split("_", 1)[1] for path in layout.weights_dir.glob("*_*.pth")}
    return sorted(int(name) for name in found if name.isdigit())


def refuse_run_without_state(layout: RunLayout) -> None:
    """A folder without a training state is trained from iteration 0, unless it holds what a
    finished run or one past its first checkpoint left (its ``run.json`` says finished, or
    weights of several iterations): that is refused, naming what is there, since training again
    would overwrite its weights and logs (and a kill part-way would leave old and new weights
    mixed). A run killed before or during its first checkpoint starts over."""
    record = read_run_record(layout.run_record)
    iterations = checkpoint_iterations(layout)
    if not record.get("finished") and len(iterations) < 2:
        return
    held = [f"{layout.run_record.name}: {'finished' if record.get('finished') else 'stopped'} at iteration "
            f"{record.get('iteration', '?')}"] if record else []
    if iterations:
        held.append(f"weights of iteration(s) {', '.join(map(str, iterations[-5:]))} in {layout.weights_dir.name}/")
    raise RuntimeError(
        f"{layout.root} holds a {'finished ' if record.get('finished') else ''}training run ({'; '.join(held)}) but no "
        f"{layout.state.name}, so it cannot be resumed, and training into it again would overwrite its weights and "
        f"logs: to train it further, put {layout.state.name} back; to train anew, choose another output_dir "
        f"(or move {layout.root} away)"
    )


@dataclass(frozen=True)
class FinishedRun:
    """A finished training run: its resolved config, its method and its final EMA weights."""

    layout: RunLayout
    config: dict

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> "FinishedRun":
        """The run in ``run_dir``; an error naming the file when it is no run or has not finished."""
        layout = RunLayout(Path(run_dir))
        if not layout.config.is_file():
            raise FileNotFoundError(
                f"{layout.root} is not a training run folder: it has no {layout.config.name} "
                "(give the output_dir of `irsde train`, or a pipeline run such as runs/<config>/<benchmark>/<method>)"
            )
        config = load_config(layout.config)
        record = read_run_record(layout.run_record)
        weights = layout.weights("ema", "latest")
        if record.get("finished") and not weights.is_file():
            raise FileNotFoundError(
                f"run {layout.root} finished training (iteration {record.get('iteration')}) but its final EMA weights "
                f"{weights} are missing: copy them back (a pipeline run keeps a copy in final/net_ema.pth), or "
                f"train again into another output_dir"
            )
        if not record.get("finished"):
            raise RuntimeError(
                f"run {layout.root} has not finished training ({layout.run_record.name}: iteration "
                f"{record.get('iteration', 0)} of {config['train']['iterations']}); finish it first with "
                f"`irsde train --config {layout.config}`"
            )
        return cls(layout, config)

    @property
    def weights(self) -> Path:
        """The final EMA weights."""
        return self.layout.weights("ema", "latest")

    def method(self) -> Method:
        return build_method(self.config)

    def network(self, method: Method, device: torch.device | str = "cpu") -> nn.Module:
        """``method``'s network with the final EMA weights loaded (strict), in eval mode on ``device``."""
        return load_weights(method.build_net(), self.weights).eval().to(device)
