"""The comparison methods of the paper's tables that restore from released weights only:
PReNet (deraining), DnCNN and FFDNet (denoising). Their networks are in :mod:`irsde.nets`
(written from the papers' descriptions, laid out so the released state dicts load strictly);
here is how each restores. None is trained by irsde (``trainable = False``) and none draws
random numbers (one sampling seed is a result).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from irsde.methods.base import Method
from irsde.nets.dncnn import DnCNN, dncnn_layout
from irsde.nets.ffdnet import FFDNet, ffdnet_layout
from irsde.nets.prenet import PReNet, prenet_layout
from irsde.sde import lambda_from_max_sigma


class ReleasedWeightsMethod(Method):
    """A deterministic method restoring in one forward pass of a network whose architecture is
    read off its released weights (``layout``: state dict -> network arguments)."""

    stochastic = False
    trainable = False

    def __init__(self, architecture: Mapping, options: Mapping):
        self.architecture = dict(architecture)
        self.options = dict(options)

    @classmethod
    def layout(cls, state_dict: Mapping[str, Tensor]) -> dict:
        raise NotImplementedError

    def build_net(self) -> nn.Module:
        """The network in channels-last memory layout: plain 3x3 convolutions run ~2x faster on
        a CPU that way (``benchmarks/released_models.py``); loading weights keeps the layout."""
        return self.network().to(memory_format=torch.channels_last)

    def network(self) -> nn.Module:
        raise NotImplementedError

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return self.forward(net, lq.contiguous(memory_format=torch.channels_last)).contiguous()

    def forward(self, net: nn.Module, lq: Tensor) -> Tensor:
        return net(lq)

    @classmethod
    def from_weights(cls, state_dict: Mapping[str, Tensor], options: Mapping, sde: Mapping | None) -> "Method":
        try:
            architecture = cls.layout(state_dict)
        except KeyError as error:
            raise ValueError(f"method {cls.id!r}: {error.args[0]}") from None
        return cls(architecture, options)

    def settings(self) -> dict:
        return {"nfe": 1, "network": self.architecture, "options": self.options}


class PReNetMethod(ReleasedWeightsMethod):
    """PReNet (Ren et al., CVPR 2019) with ``stages`` recurrent stages."""

    id = "prenet"
    label = "PReNet"
    paper_row = "PReNet"
    options_schema = {"stages": {"type": "integer", "minimum": 1, "maximum": 100, "default": 6,
                                 "description": "recurrent stages (the released models: 6)"}}

    @classmethod
    def layout(cls, state_dict):
        return prenet_layout(state_dict)

    def network(self) -> nn.Module:
        return PReNet(stages=self.options["stages"], **self.architecture)


class DnCNNMethod(ReleasedWeightsMethod):
    """DnCNN (Zhang et al., TIP 2017): the noisy image minus the predicted noise; blind models
    need no noise level."""

    id = "dncnn"
    label = "DnCNN"
    paper_row = "DnCNN"

    @classmethod
    def layout(cls, state_dict):
        return dncnn_layout(state_dict)

    def network(self) -> nn.Module:
        return DnCNN(**self.architecture)


class FFDNetMethod(ReleasedWeightsMethod):
    """FFDNet (Zhang et al., TIP 2018), told the noise level of its inputs (``noise_sigma``)."""

    id = "ffdnet"
    label = "FFDNet"
    paper_row = "FFDNet"
    options_schema = {"noise_sigma": {
        "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 255, "default": None,
        "description": "noise std of the inputs, 0-255 scale if >= 1 (null: the test split's recorded noise level)"}}

    def __init__(self, architecture: Mapping, options: Mapping):
        super().__init__(architecture, options)
        self.sigma = None if options.get("noise_sigma") is None else lambda_from_max_sigma(options["noise_sigma"])

    @classmethod
    def layout(cls, state_dict):
        return ffdnet_layout(state_dict)

    def network(self) -> nn.Module:
        return FFDNet(**self.architecture)

    def forward(self, net: nn.Module, lq: Tensor) -> Tensor:
        if self.sigma is None:
            raise ValueError(
                "method 'ffdnet' needs option noise_sigma, the noise level of its inputs: the test split "
                "records none, so give it (e.g. `--option noise_sigma=25`, or method_options.ffdnet.noise_sigma)"
            )
        return net(lq, self.sigma)
