"""IR-SDE (the paper's method): a conditional U-Net under the mean-reverting SDE, trained with
the maximum-likelihood (or noise-matching) loss, restoring with a reverse-time sampler of
:mod:`irsde.samplers` (``sde``, the paper's, by default).

What the network outputs is the config key ``network.prediction`` (:data:`PREDICTIONS`):
``noise``, the paper's, is the noise of ``x_t``; ``data`` (the embedded recipe's) is the clean
image as a residual on the degraded input, which :class:`DataPrediction` turns into the noise it
implies. Either way the SDE, the losses and the samplers see a noise prediction ``eps_hat``, so
they are the paper's (docs/sde.md#what-the-network-predicts).

The authors' released weights (noise prediction) restore through the same method
(:meth:`IRSDEMethod.from_weights`: ``irsde restore --weights`` / ``--checkpoint``, or a
``released:`` entry of a pipeline benchmark).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from irsde.diagnostics import noise_prediction_errors, probe_steps
from irsde.losses import LOSSES, TrainingBatch, draw_training_batch, timestep_weights
from irsde.methods.base import Method, Shard, unet_network_from_weights
from irsde.nets import ConditionalUNet, unet_options
from irsde.paper import PAPER_SDE
from irsde.samplers import SAMPLERS, restore
from irsde.sampling_steps import validate_step_count
from irsde.sde import MeanRevertingSDE

def draw_shard_batch(
    sde: MeanRevertingSDE, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard
) -> TrainingBatch:
    """Draw (t, noise, x_t) for a whole global batch and keep this shard's part.

    Every rank holds the same generator state, draws the times and noise of all ``shard.total``
    samples exactly as a single process would, and keeps rows ``shard.start:shard.stop``; so
    training on N ranks sees the very same random numbers as training in one process. Rows of
    other ranks are formed from zero images and discarded (x_t is elementwise per sample).
    """
    if shard.is_whole:
        return draw_training_batch(sde, gt, lq, generator)
    full_shape = (shard.total, *gt.shape[1:])
    gt_full, lq_full = gt.new_zeros(full_shape), lq.new_zeros(full_shape)
    gt_full[shard.start : shard.stop] = gt
    lq_full[shard.start : shard.stop] = lq
    full = draw_training_batch(sde, gt_full, lq_full, generator)
    rows = slice(shard.start, shard.stop)
    return TrainingBatch(t=full.t[rows], noise=full.noise[rows], xt=full.xt[rows], x0=gt, mu=lq)


PREDICTIONS = ("noise", "data")
"""What the network's output means: ``noise`` (the paper's: eps_hat of x_t) or ``data`` (the clean
image, as a residual on mu: x0_hat = mu + output, read as the noise it implies)."""


def network_prediction(network: Mapping) -> str:
    """The ``prediction`` of a config's ``network`` section (default ``noise``), checked against
    :data:`PREDICTIONS` (a ValueError naming the key otherwise)."""
    prediction = network.get("prediction", "noise")
    if prediction not in PREDICTIONS:
        raise ValueError(f"config key 'network.prediction': {prediction!r} is not one of {list(PREDICTIONS)}")
    return prediction


class DataPrediction(nn.Module):
    """A network that predicts the clean image, seen through the noise it implies:
    ``eps_hat = (x_t - m_t(mu + net(x_t, mu, t))) / sigmabar_t``.

    The SDE, the losses and the samplers are unchanged (they all consume eps_hat); only what the
    network has to output changes. Predicting the noise, the network must be exact to
    ``exp(-thetabar_t dt) / sigmabar_t`` (down to eps / lambda at t = T) for its clean-image
    estimate to be right; predicting the clean image, an error is an error on the image.
    Not a stored module: the wrapped network's state_dict is the checkpoint.
    """

    def __init__(self, net: nn.Module, sde: MeanRevertingSDE):
        super().__init__()
        self.net = net
        self.sde = sde

    def forward(self, xt: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        return self.sde.noise_from_x0(xt, mu, mu + self.net(xt, mu, t), t)


class IRSDEMethod(Method):
    """IR-SDE with a ``network`` config (``nf``, ``depth``: :class:`ConditionalUNet` keys, and
    ``prediction``: one of :data:`PREDICTIONS`), an SDE, a loss (name, ``l1``/``l2`` kind and
    timestep weighting) and the sampler it restores with, with ``steps`` network evaluations per
    image (None: ``sde.T``)."""

    id = "irsde"
    label = "IR-SDE (ours)"
    paper_row = "IR-SDE"
    stochastic = True
    samples = True
    default_sde = PAPER_SDE

    def __init__(
        self,
        network: Mapping,
        sde: MeanRevertingSDE,
        loss: str = "maximum_likelihood",
        kind: str = "l1",
        sampler: str = "sde",
        weighting: str = "uniform",
        steps: int | None = None,
    ):
        self.network = dict(network)
        self.architecture = unet_options(self.network)
        self.prediction = network_prediction(self.network)
        self.sde = sde
        self.loss_name, self.kind = loss, kind
        self.loss_fn = LOSSES[loss]
        self.sampler = SAMPLERS[sampler].name
        self.steps = None if steps is None else validate_step_count(steps, sde.T)
        self.weighting = weighting
        gamma = timestep_weights(sde, weighting, loss)
        self.weights = None if weighting == "uniform" else torch.as_tensor(gamma, dtype=torch.float32)

    @classmethod
    def from_config(cls, config: Mapping) -> "IRSDEMethod":
        sde = MeanRevertingSDE(**config["sde"])
        return cls(
            network=config["network"],
            sde=sde,
            loss=config["loss"]["name"],
            kind=config["loss"]["kind"],
            sampler=config["train"]["val_sampler"],
            weighting=config["loss"]["timestep_weights"],
            steps=_checked_steps(config["train"]["val_steps"], sde),
        )

    @classmethod
    def from_weights(cls, state_dict: Mapping[str, Tensor], options: Mapping, sde: Mapping | None) -> "IRSDEMethod":
        """The authors' released weights (a noise-predicting conditional U-Net, size read off the
        file) with ``sde``, restoring with the paper's ``sde`` sampler."""
        return cls(unet_network_from_weights(state_dict, cls.id, conditional=True), MeanRevertingSDE(**sde))

    def to(self, device: torch.device) -> "IRSDEMethod":
        self.sde = self.sde.to(device)
        if self.weights is not None:
            self.weights = self.weights.to(device)
        return self

    def build_net(self) -> nn.Module:
        return ConditionalUNet(**self.architecture, time_conditioned=True)

    def noise_predictor(self, net: nn.Module) -> nn.Module:
        """``net`` as the noise predictor that the losses, samplers and diagnostics call."""
        return DataPrediction(net, self.sde) if self.prediction == "data" else net

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        batch = draw_shard_batch(self.sde, gt, lq, generator, shard)
        eps_hat = self.noise_predictor(net)(batch.xt, batch.mu, batch.t)
        return self.loss_fn(self.sde, eps_hat, batch, self.kind, self.weights)

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return restore(self.noise_predictor(net), self.sde, lq, sampler=self.sampler, generator=generator, steps=self.steps)

    def settings(self) -> dict:
        nfe = self.sde.T if self.steps is None else self.steps
        return {"sampler": self.sampler, "steps": self.steps, "nfe": nfe, "prediction": self.prediction,
                "sde": self.sde.settings(), "network": self.architecture}

    def timestep_errors(self, net: nn.Module, gt: Tensor, lq: Tensor, seed: int) -> list[dict]:
        """Noise-prediction error by timestep (:mod:`irsde.diagnostics`), written at validation."""
        return noise_prediction_errors(self.noise_predictor(net), self.sde, gt, lq, probe_steps(self.sde.T), seed=seed)

    def with_sampler(self, sampler: str | None = None, steps: int | None = None) -> "IRSDEMethod":
        sampler = self.sampler if sampler is None else sampler
        steps = self.steps if steps is None else steps
        return type(self)(self.network, self.sde, self.loss_name, self.kind, sampler, self.weighting, steps)


def _checked_steps(steps: int | None, sde: MeanRevertingSDE) -> int | None:
    """``train.val_steps`` checked against ``sde.T`` (a ValueError naming the key otherwise)."""
    if steps is not None and steps > sde.T:
        raise ValueError(f"config key 'train.val_steps': {steps} network evaluations, but sde.T is {sde.T}")
    return steps
