"""The conditional U-Net of IR-SDE (docs/network.md), checkpoint-compatible with the published weights.

``ConditionalUNet(in_nc, out_nc, nf, depth)`` maps ``(x_t, mu, t)`` to an image-shaped output (what
that output means, the noise ``eps_hat`` or a clean image, is the method's business).
Its ``state_dict()`` has exactly the parameter names and shapes of the authors' released
checkpoints (``tests/reference/conditional_unet_nf{64,32}_depth4.json``), so those files load
with ``strict=True``; the module attribute names below (``init_conv``, ``time_mlp``, ``downs``,
``mid_block1``, ``mid_attn``, ``ups``, ``final_res_block``, ``final_conv``, ``block1.proj``,
``mlp.1``, ``fn.fn.to_qkv``, ``to_out.1.g`` ...) exist to reproduce that layout.

Computation, in order:

1. input ``concat(x_t - mu, mu)``, padded right/bottom to a multiple of ``2**depth``
   (see :func:`pad_to_multiple`), cropped back to the input size at the end;
2. 7x7 stem conv (no bias); its output is kept for a long skip to the head;
3. sinusoidal embedding of the integer ``t`` -> Linear(nf, 4nf) -> GELU -> Linear(4nf, 4nf);
4. per encoder level: two residual blocks (output of the first is a skip), residual pre-norm
   linear attention (its output is the second skip), then a 4x4 stride-2 conv doubling the
   channels (deepest level: a 3x3 conv doubling the channels, no downsampling);
5. middle: residual block, attention, residual block at ``nf * 2**depth`` channels;
6. decoder, mirrored: concatenate a skip before each of the two residual blocks, attention,
   then nearest x2 upsampling + 3x3 conv halving the channels (top level: 3x3 conv only);
7. head: concatenate with the stem output, residual block 2nf -> nf, 3x3 conv to ``out_nc``.

With ``time_conditioned=False`` the network has no time MLP and no FiLM layers and ignores
``t``: the CNN baseline uses this body as a plain one-step regressor.

Two options give the authors' Denoising-SDE/ODE network (docs/network.md#the-denoising-network; layout in
``tests/reference/denoising_unet_nf64_depth4.json``) from the same class: ``conditional=False``
(the input is ``x_t`` alone, ``in_nc`` channels, and ``mu`` is not passed) and
``mid_attention="full"`` (the middle block's attention is full softmax self-attention over the
positions with a plain 1x1 output conv, :class:`SoftmaxAttention`, instead of linear attention).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from irsde.nets.blocks import (
    ATTENTION_HEAD_DIM,
    ResBlock,
    SinusoidalTimeEmbedding,
    attention_block,
    conv3x3,
    downsample,
    upsample,
)

# Size bounds, checked before any allocation (:func:`check_architecture`): the paper's model is
# nf 64, depth 4 (widest layer 1024 channels, 137 M parameters); the parameter count grows with
# the square of the widest layer, so the bound of 2048 channels is ~550 M parameters (2.2 GB of
# float32 weights, about 4 times that to train with Adam and EMA).
MAX_DEPTH = 6
MAX_WIDTH = 2048
BUILD_KEYS_REQUIRED = ("nf", "depth")
BUILD_KEYS_OPTIONAL = ("in_nc", "out_nc", "time_conditioned", "attn_head_dim", "conditional", "mid_attention")
MID_ATTENTIONS = ("linear", "full")
"""The middle block's attention: ``linear`` (IR-SDE's) or ``full`` softmax (Denoising-SDE's)."""


# ----------------------------------------------------------------------------------- padding


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``x`` (B,C,H,W) on the right and bottom so that H and W are multiples of ``multiple``.

    Reflect padding, as in the published model. Reflect padding by ``p`` needs ``p < size``;
    when the image is too small for that, reflection is applied repeatedly (each round pads by at
    most ``size - 1`` and the padded result is reflected again), which equals a single reflect
    pad whenever that one is possible. A side of length 1 cannot be reflected and is replicated.
    """
    height, width = x.shape[-2:]
    x = _pad_side(x, dim=-1, target=_round_up(width, multiple))
    return _pad_side(x, dim=-2, target=_round_up(height, multiple))


def _round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _pad_side(x: torch.Tensor, dim: int, target: int) -> torch.Tensor:
    """Pad dimension ``dim`` (-1 width, -2 height) at its end up to ``target`` entries."""
    while x.shape[dim] < target:
        size = x.shape[dim]
        mode = "reflect" if size > 1 else "replicate"
        amount = min(target - size, max(size - 1, 1))
        padding = (0, amount, 0, 0) if dim == -1 else (0, 0, 0, amount)
        x = F.pad(x, padding, mode=mode)
    return x


# -------------------------------------------------------------------------------- the network


class ConditionalUNet(nn.Module):
    """The paper's conditional U-Net: ``forward(xt, mu, t) -> eps_hat`` of the shape of ``xt``.

    Args:
        in_nc: image channels of ``xt`` and ``mu`` (the stem sees ``2 * in_nc``).
        out_nc: output channels.
        nf: base width; level ``i`` works at ``nf * 2**i`` channels, the middle at ``nf * 2**depth``.
        depth: number of encoder/decoder levels (inputs are padded to a multiple of ``2**depth``).
        time_conditioned: False drops the time MLP and every FiLM layer; ``t`` is then ignored.
        attn_head_dim: features per head of every attention (4 heads each). The paper's
            network uses 32 whatever ``nf`` (the published checkpoints need it); small CPU models
            can use fewer (the attention's width is ``4 * attn_head_dim``).
        conditional: False makes the input ``x_t`` alone (``in_nc`` channels; ``forward`` takes
            ``mu=None``), the unconditional network of Denoising-SDE/ODE.
        mid_attention: ``linear`` (IR-SDE's) or ``full`` (softmax; Denoising-SDE/ODE's).
    """

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        nf: int = 64,
        depth: int = 4,
        time_conditioned: bool = True,
        attn_head_dim: int = ATTENTION_HEAD_DIM,
        conditional: bool = True,
        mid_attention: str = "linear",
    ):
        super().__init__()
        _check_positive_int("in_nc", in_nc)
        _check_positive_int("out_nc", out_nc)
        check_architecture(nf, depth)
        _check_positive_int("attn_head_dim", attn_head_dim)
        if mid_attention not in MID_ATTENTIONS:
            raise ValueError(f"mid_attention must be one of {', '.join(MID_ATTENTIONS)}, got {mid_attention!r}")
        self.conditional = bool(conditional)
        self.mid_attention = mid_attention
        self.in_nc, self.out_nc, self.nf, self.depth = in_nc, out_nc, nf, depth
        self.attn_head_dim = attn_head_dim
        self.time_conditioned = bool(time_conditioned)

        time_dim = 4 * nf if self.time_conditioned else None
        stem_channels = 2 * in_nc if self.conditional else in_nc
        self.init_conv = nn.Conv2d(stem_channels, nf, 7, padding=3, bias=False)
        if self.time_conditioned:
            self.time_mlp = nn.Sequential(
                SinusoidalTimeEmbedding(nf), nn.Linear(nf, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
            )

        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level in range(depth):
            dim_in, dim_out = nf * 2**level, nf * 2 ** (level + 1)
            self.downs.append(
                nn.ModuleList(
                    [
                        ResBlock(dim_in, dim_in, time_dim),
                        ResBlock(dim_in, dim_in, time_dim),
                        attention_block(dim_in, attn_head_dim),
                        downsample(dim_in, dim_out, deepest=level == depth - 1),
                    ]
                )
            )
            self.ups.insert(
                0,
                nn.ModuleList(
                    [
                        ResBlock(dim_out + dim_in, dim_out, time_dim),
                        ResBlock(dim_out + dim_in, dim_out, time_dim),
                        attention_block(dim_out, attn_head_dim),
                        upsample(dim_out, dim_in, top=level == 0),
                    ]
                ),
            )

        mid_dim = nf * 2**depth
        self.mid_block1 = ResBlock(mid_dim, mid_dim, time_dim)
        self.mid_attn = attention_block(mid_dim, attn_head_dim, mid_attention)
        self.mid_block2 = ResBlock(mid_dim, mid_dim, time_dim)

        self.final_res_block = ResBlock(2 * nf, nf, time_dim)
        self.final_conv = conv3x3(nf, out_nc, bias=True)

    def config(self) -> dict:
        """The constructor arguments, as accepted by :func:`build_net`."""
        return dict(
            in_nc=self.in_nc,
            out_nc=self.out_nc,
            nf=self.nf,
            depth=self.depth,
            time_conditioned=self.time_conditioned,
            attn_head_dim=self.attn_head_dim,
            conditional=self.conditional,
            mid_attention=self.mid_attention,
        )

    def forward(self, xt: torch.Tensor, mu: torch.Tensor | None, t=None) -> torch.Tensor:
        """Predict the noise in ``xt`` given the degraded image ``mu`` at integer time ``t``.

        ``xt`` and ``mu`` are (B, in_nc, H, W) for any H, W >= 1; ``mu`` is None for an
        unconditional network. ``t`` is a python int, a 0-d tensor or a tensor of shape (B,) (one
        time per sample); a single time is broadcast to the batch. Ignored (may be None) when the
        network is not time-conditioned.
        """
        height, width = xt.shape[-2:]
        time_emb = self._embed_time(t, batch=xt.shape[0], device=xt.device, dtype=xt.dtype)

        x = self._stem_input(xt, mu)
        x = pad_to_multiple(x, 2**self.depth)
        x = self.init_conv(x)
        stem = x

        skips = []
        for block1, block2, attn, down in self.downs:
            x = block1(x, time_emb)
            skips.append(x)
            x = attn(block2(x, time_emb))
            skips.append(x)
            x = down(x)

        x = self.mid_block1(x, time_emb)
        x = self.mid_attn(x)
        x = self.mid_block2(x, time_emb)

        for block1, block2, attn, up in self.ups:
            x = block1(torch.cat([x, skips.pop()], dim=1), time_emb)
            x = block2(torch.cat([x, skips.pop()], dim=1), time_emb)
            x = up(attn(x))

        x = self.final_res_block(torch.cat([x, stem], dim=1), time_emb)
        x = self.final_conv(x)
        return x[..., :height, :width]

    def _stem_input(self, xt: torch.Tensor, mu: torch.Tensor | None) -> torch.Tensor:
        """``concat(x_t - mu, mu)``, or ``x_t`` alone for an unconditional network."""
        if not self.conditional:
            if mu is not None:
                raise ValueError("this network is unconditional (it sees x_t alone): call forward(xt, None, t)")
            return xt
        if mu is None or xt.shape != mu.shape:
            found = None if mu is None else tuple(mu.shape)
            raise ValueError(f"xt and mu must have the same shape, got {tuple(xt.shape)} and {found}")
        return torch.cat([xt - mu, mu], dim=1)

    def _embed_time(self, t, batch: int, device, dtype) -> torch.Tensor | None:
        """Time embedding of shape (batch, 4nf), or None for a network without time input."""
        if not self.time_conditioned:
            return None
        if t is None:
            raise ValueError("this network is time-conditioned: forward(xt, mu, t) needs t")
        times = torch.as_tensor(t, device=device).reshape(-1)
        if times.numel() == 1:
            times = times.expand(batch)
        elif times.numel() != batch:
            raise ValueError(f"t has {times.numel()} entries for a batch of {batch}")
        return self.time_mlp(times).to(dtype)


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class ArchitectureTooLarge(ValueError):
    """nf/depth beyond the bounds; ``parameter`` names the one to lower."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


def check_architecture(nf, depth) -> None:
    """Refuse (before anything is allocated) a width/depth that is not a positive integer,
    ``depth > MAX_DEPTH``, or a widest layer ``nf * 2**depth`` above ``MAX_WIDTH`` channels.
    Pure arithmetic: usable wherever nf/depth enter (configs, command lines, weight files)."""
    _check_positive_int("nf", nf)
    _check_positive_int("depth", depth)
    if depth > MAX_DEPTH:
        raise ArchitectureTooLarge(
            "depth", f"depth must be at most {MAX_DEPTH}, got {depth} (the paper uses 4; each level "
            f"doubles the widest layer and quadruples its parameters)"
        )
    if nf * 2**depth > MAX_WIDTH:
        raise ArchitectureTooLarge(
            "nf", f"nf={nf} with depth={depth} makes a {nf * 2**depth}-channel widest layer (nf * 2**depth), "
            f"more than {MAX_WIDTH} (the paper: nf 64, depth 4 -> 1024); lower nf or depth"
        )


def build_net(cfg: Mapping) -> ConditionalUNet:
    """Build a ConditionalUNet from a config mapping.

    Required keys: ``nf``, ``depth``; optional: ``in_nc``, ``out_nc``, ``time_conditioned``,
    ``attn_head_dim``, ``conditional``, ``mid_attention``.
    Any other key raises ValueError naming it.
    """
    unknown = sorted(set(cfg) - set(BUILD_KEYS_REQUIRED) - set(BUILD_KEYS_OPTIONAL))
    if unknown:
        allowed = ", ".join(BUILD_KEYS_REQUIRED + BUILD_KEYS_OPTIONAL)
        raise ValueError(f"unknown network config key(s) {', '.join(unknown)}; allowed: {allowed}")
    missing = [key for key in BUILD_KEYS_REQUIRED if key not in cfg]
    if missing:
        raise KeyError(f"network config is missing required key(s): {', '.join(missing)}")
    return ConditionalUNet(**dict(cfg))
