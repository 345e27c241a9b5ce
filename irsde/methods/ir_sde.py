"""IR-SDE (the paper's method): a conditional U-Net under the mean-reverting SDE, trained with
the maximum-likelihood (or noise-matching) loss, restoring with a reverse-time sampler of
:mod:`irsde.sampling` (``sde``, the paper's, by default).

What the network outputs is the method option ``prediction`` (:data:`PREDICTIONS`; config
``method_options: {irsde: {prediction: ...}}``):
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
from irsde.losses import LOSSES, timestep_weights
from irsde.methods.base import PREDICTION_OPTION, Method, Shard, draw_shard_batch, unet_network_from_weights
from irsde.nets import ConditionalUNet
from irsde.paper import PAPER_SDE
from irsde.sampling import SAMPLERS, check_step_count, sample
from irsde.sde import MeanRevertingSDE


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
    """IR-SDE with a ``network`` config (:class:`ConditionalUNet` keys: ``nf``, ``depth`` ...), an
    SDE, a loss (name, ``l1``/``l2`` kind and timestep weighting), the sampler it restores with,
    with ``steps`` network evaluations per image (None: ``sde.T``), and its option ``prediction``
    (one of :data:`~irsde.methods.base.PREDICTIONS`: what the network outputs)."""

    id = "irsde"
    label = "IR-SDE (ours)"
    paper_row = "IR-SDE"
    stochastic = True
    samples = True
    default_sde = PAPER_SDE
    options_schema = PREDICTION_OPTION

    def __init__(
        self,
        network: Mapping,
        sde: MeanRevertingSDE,
        loss: str = "maximum_likelihood",
        kind: str = "l1",
        sampler: str = "sde",
        weighting: str = "uniform",
        steps: int | None = None,
        prediction: str = "noise",
    ):
        self.network = dict(network)
        self.prediction = self.resolve_options({"prediction": prediction}, f"method {self.id!r}")["prediction"]
        self.sde = sde
        self.loss_name, self.kind = loss, kind
        self.loss_fn = LOSSES[loss]
        self.sampler = SAMPLERS[sampler].name
        self.steps = None if steps is None else check_step_count(steps, sde.T)
        self.weighting = weighting
        gamma = timestep_weights(sde, weighting, loss)
        self.weights = None if weighting == "uniform" else torch.as_tensor(gamma, dtype=torch.float32)

    @classmethod
    def from_config(cls, config: Mapping) -> "IRSDEMethod":
        """From a resolved training config; restores (and validates) with ``train.val_sampler``
        in ``train.val_steps`` network evaluations unless :meth:`with_sampler` says otherwise."""
        sde = MeanRevertingSDE(**config["sde"])
        try:
            return cls(
                network=config["network"],
                sde=sde,
                loss=config["loss"]["name"],
                kind=config["loss"]["kind"],
                sampler=config["train"]["val_sampler"],
                weighting=config["loss"]["timestep_weights"],
                steps=config["train"]["val_steps"],
                prediction=config["options"]["prediction"],
            )
        except ValueError as error:
            raise ValueError(f"config key 'train.val_steps': {error}") from None

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
        return ConditionalUNet(**self.network, time_conditioned=True)

    def noise_predictor(self, net: nn.Module) -> nn.Module:
        """``net`` as the noise predictor that the losses, samplers and diagnostics call."""
        return DataPrediction(net, self.sde) if self.prediction == "data" else net

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        batch = draw_shard_batch(self.sde, gt, lq, generator, shard)
        eps_hat = self.noise_predictor(net)(batch.xt, batch.mu, batch.t)
        return self.loss_fn(self.sde, eps_hat, batch, self.kind, self.weights)

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return sample(self.noise_predictor(net), self.sde, lq, self.sampler, generator, steps=self.steps).images

    def settings(self) -> dict:
        nfe = self.sde.T if self.steps is None else self.steps
        return {"sampler": self.sampler, "steps": self.steps, "nfe": nfe, "prediction": self.prediction,
                "sde": self.sde.settings(), "network": self.network}

    def timestep_errors(self, net: nn.Module, gt: Tensor, lq: Tensor, seed: int) -> list[dict]:
        """Noise-prediction error by timestep (:mod:`irsde.diagnostics`), written at validation."""
        return noise_prediction_errors(self.noise_predictor(net), self.sde, gt, lq, probe_steps(self.sde.T), seed=seed)

    def with_sampler(self, sampler: str | None = None, steps: int | None = None) -> "IRSDEMethod":
        sampler = self.sampler if sampler is None else sampler
        steps = self.steps if steps is None else steps
        return type(self)(self.network, self.sde, self.loss_name, self.kind, sampler, self.weighting, steps, self.prediction)
