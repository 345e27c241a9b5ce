"""Denoising-SDE and Denoising-ODE (the paper's denoising variant, docs/sde.md#denoising-sde-and-denoising-ode;
:mod:`irsde.sampling.denoising` has the steps): one trained model, two table rows.

The unconditional network (:class:`irsde.nets.ConditionalUNet` with ``conditional=False`` and
full softmax middle attention, the authors' layout) learns the noise of ``x_t = x0 + sigmabar_t z``
from clean images alone: every iteration draws fresh ``t`` and noise from the run's generator
(the degraded training images are not used). The noisy test image is the state at
``t* = start_step(sde, data.noise_sigma)``; the method restores from there with its ``sde``
sampler (row ``denoising_sde``, Denoising-SDE) or, in the row it adds, with its ``ode`` sampler
(``denoising_ode``, Denoising-ODE), ``t*`` network evaluations each. The IR-SDE samplers
(``train.val_sampler``, ``extra_samplers``) do not apply to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from irsde.losses import denoising_loss
from irsde.methods.base import (PREDICTION_OPTION, Method, RowFacts, SamplerRow, Shard, draw_shard_batch,
                                unet_network_from_weights)
from irsde.nets import ConditionalUNet
from irsde.paper import DENOISING_SDE
from irsde.sampling import SAMPLERS, denoise
from irsde.sde import MeanRevertingSDE, start_step

DENOISING_ODE = SamplerRow(RowFacts("denoising_ode", "Denoising-ODE (ours)", paper_row="Denoising-ODE",
                                    stochastic=False), sampler="ode")
"""The row restored from a Denoising-SDE run with the probability-flow ODE."""
DEFAULT_NOISE_SIGMA = 25.0
"""The noise level released weights restore from when neither the user nor the data says (the paper's)."""


class CleanPrediction(nn.Module):
    """An unconditional network that predicts the clean image as a residual on ``x_t``, seen
    through the noise it implies: ``eps_hat = (x_t - (x_t + net(x_t, t))) / sigmabar_t``.
    Not a stored module: the wrapped network's state_dict is the checkpoint."""

    def __init__(self, net: nn.Module, sde: MeanRevertingSDE):
        super().__init__()
        self.net = net
        self.sde = sde

    def forward(self, xt: Tensor, mu: None, t: Tensor) -> Tensor:
        return -self.net(xt, None, t) / self.sde.marginal_std(t)


class DenoisingSDEMethod(Method):
    """Denoising-SDE/ODE with a ``network`` config (``nf``, ``depth``, ``attn_head_dim``), an SDE,
    the loss kind, the noise level ``sigma`` of the test inputs (0-255 scale if >= 1), its sampler
    (``sde``/``ode``) and its option ``prediction`` (one of :data:`~irsde.methods.base.PREDICTIONS`)."""

    id = "denoising_sde"
    label = "Denoising-SDE (ours)"
    paper_row = "Denoising-SDE"
    stochastic = True
    sampler_rows = (DENOISING_ODE,)
    default_sde = DENOISING_SDE
    options_schema = {**PREDICTION_OPTION, "noise_sigma": {
        "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 255, "default": None,
        "description": ("released weights: noise std of the inputs, 0-255 scale if >= 1 (null: the test "
                        f"split's recorded noise level, else {DEFAULT_NOISE_SIGMA:g}); training uses data.noise_sigma")}}

    def __init__(self, network: Mapping, sde: MeanRevertingSDE, sigma: float, kind: str = "l1", sampler: str = "sde",
                 prediction: str = "noise"):
        self.network = dict(network)
        self.prediction = self.resolve_options({"prediction": prediction}, f"method {self.id!r}")["prediction"]
        self.sde, self.sigma, self.kind = sde, sigma, kind
        self.sampler = SAMPLERS[sampler].with_denoising_form().name
        self.first_step = start_step(sde, sigma)

    @classmethod
    def from_config(cls, config: Mapping) -> "DenoisingSDEMethod":
        """From a resolved training config; ``data.noise_sigma`` is required (the noise of the
        test inputs); ``loss.kind`` is used, ``loss.name``/``timestep_weights`` and the IR-SDE
        sampler keys are not (the loss is the paper's unweighted maximum likelihood)."""
        sigma = config["data"].get("noise_sigma")
        if sigma is None:
            raise ValueError(
                "config key 'data.noise_sigma': method denoising_sde needs the noise level of the test "
                "inputs (e.g. 25 on the 0-255 scale) to know the step it restores from"
            )
        try:
            return cls(network=config["network"], sde=MeanRevertingSDE(**config["sde"]), sigma=sigma,
                       kind=config["loss"]["kind"], prediction=config["options"]["prediction"])
        except ValueError as error:
            raise ValueError(f"config keys 'data.noise_sigma' and 'sde': {error}") from None

    @classmethod
    def from_weights(cls, state_dict: Mapping[str, Tensor], options: Mapping, sde: Mapping | None) -> "DenoisingSDEMethod":
        """The authors' Denoising-SDE layout (an unconditional U-Net with full middle attention,
        predicting the noise) restoring as Denoising-ODE, their test script's sampler, from the
        step of ``noise_sigma``."""
        network = unet_network_from_weights(state_dict, cls.id, conditional=False)
        sigma = options.get("noise_sigma") or DEFAULT_NOISE_SIGMA
        return cls(network, MeanRevertingSDE(**sde), sigma, sampler=DENOISING_ODE.sampler,
                   prediction=options.get("prediction", "noise"))

    def to(self, device: torch.device) -> "DenoisingSDEMethod":
        self.sde = self.sde.to(device)
        return self

    def build_net(self) -> nn.Module:
        return ConditionalUNet(**dict(self.network), conditional=False, mid_attention="full")

    def noise_predictor(self, net: nn.Module) -> nn.Module:
        """``net`` as the noise predictor ``eps_hat(x_t, None, t)`` the loss and samplers call."""
        return CleanPrediction(net, self.sde) if self.prediction == "data" else net

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        """Clean images only (``lq`` unused): fresh ``t`` and noise from ``generator``."""
        batch = draw_shard_batch(self.sde, gt, gt, generator, shard)
        eps_hat = self.noise_predictor(net)(batch.xt, None, batch.t)
        return denoising_loss(self.sde, eps_hat, batch, self.kind)

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return denoise(self.noise_predictor(net), self.sde, lq, self.sigma, self.sampler, generator).images

    def settings(self) -> dict:
        return {"sampler": self.sampler, "steps": self.first_step, "nfe": self.first_step,
                "noise_sigma": self.sigma, "prediction": self.prediction, "sde": self.sde.settings(),
                "network": dict(self.network)}

    def with_sampler(self, sampler: str | None = None, steps: int | None = None) -> "DenoisingSDEMethod":
        """The same model restoring with the other sampler (``sde`` or ``ode``); the number of
        steps is ``t*``, set by the noise level, so ``steps`` must be None or ``t*``."""
        if steps is not None and steps != self.first_step:
            raise ValueError(
                f"method {self.id!r} restores in t* = {self.first_step} steps (set by the noise level "
                f"{self.sigma}); --steps/sampler_steps cannot change that"
            )
        return type(self)(self.network, self.sde, self.sigma, self.kind, sampler or self.sampler, self.prediction)
