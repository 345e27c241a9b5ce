"""The conditional U-Net of IR-SDE (DESIGN §3), checkpoint-compatible with the published weights.

``ConditionalUNet(in_nc, out_nc, nf, depth)`` predicts the noise ``eps_hat = net(x_t, mu, t)``.
Its ``state_dict()`` has exactly the parameter names and shapes of the authors' released
checkpoints (``shared/reference/conditional_unet_nf{64,32}_depth4.json``), so those files load
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

Two options give the authors' Denoising-SDE/ODE network (DESIGN §2b; layout in
``shared/reference/denoising_unet_nf64_depth4.json``) from the same class: ``conditional=False``
(the input is ``x_t`` alone, ``in_nc`` channels, and ``mu`` is not passed) and
``mid_attention="full"`` (the middle block's attention is full softmax self-attention over the
positions with a plain 1x1 output conv, :class:`SoftmaxAttention`, instead of linear attention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_HEADS = 4
ATTENTION_HEAD_DIM = 32
LAYER_NORM_EPS = 1e-5
TIME_EMBEDDING_MAX_PERIOD = 10000.0

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


# ---------------------------------------------------------------------------- building blocks


class SinusoidalTimeEmbedding(nn.Module):
    """Maps integer times (B,) to (B, dim): ``[sin(t f_k), cos(t f_k)]`` with
    ``f_k = exp(-ln(1e4) k / (dim/2 - 1))`` for ``k = 0 .. dim/2 - 1``."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"time embedding dimension must be even and >= 4, got {dim}")
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        exponent = torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1)
        frequencies = torch.exp(-math.log(TIME_EMBEDDING_MAX_PERIOD) * exponent)
        angles = t.to(torch.float32)[:, None] * frequencies[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ConvBlock(nn.Module):
    """3x3 conv (no bias), optional FiLM ``x * (1 + scale) + shift``, then SiLU."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Conv2d(dim_in, dim_out, 3, padding=1, bias=False)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, scale_shift=None) -> torch.Tensor:
        x = self.proj(x)
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (1 + scale) + shift
        return self.act(x)


class ResBlock(nn.Module):
    """Two ConvBlocks, FiLM-modulated by the time embedding, plus a shortcut.

    The shortcut is a 1x1 conv (no bias) when the channel count changes, else the identity.
    ``time_dim=None`` builds the block without its FiLM layer (``mlp``).
    """

    def __init__(self, dim_in: int, dim_out: int, time_dim: int | None):
        super().__init__()
        if time_dim is not None:
            self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * dim_out))
        self.block1 = ConvBlock(dim_in, dim_out)
        self.block2 = ConvBlock(dim_out, dim_out)
        if dim_in != dim_out:
            self.res_conv = nn.Conv2d(dim_in, dim_out, 1, bias=False)
        else:
            self.res_conv = nn.Identity()

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None) -> torch.Tensor:
        scale_shift = None
        if hasattr(self, "mlp"):
            film = self.mlp(time_emb)[:, :, None, None]
            scale_shift = film.chunk(2, dim=1)
        h = self.block1(x, scale_shift)
        h = self.block2(h)
        return h + self.res_conv(x)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of (B,C,H,W), with a gain ``g`` and no bias."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) * torch.rsqrt(var + LAYER_NORM_EPS) * self.g


class LinearAttention(nn.Module):
    """Linear attention over spatial positions: 4 heads of 32 features (the paper's; configurable).

    Queries are softmax-normalised over features and scaled by head_dim**-0.5, keys over positions,
    values divided by H*W; the result goes through a 1x1 conv and a channel LayerNorm.
    """

    def __init__(self, dim: int, heads: int = ATTENTION_HEADS, head_dim: int = ATTENTION_HEAD_DIM):
        super().__init__()
        self.heads = heads
        self.scale = head_dim**-0.5
        hidden = heads * head_dim
        self.to_qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), ChannelLayerNorm(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        positions = height * width
        q, k, v = (part.reshape(batch, self.heads, -1, positions) for part in self.to_qkv(x).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        v = v / positions
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(out.reshape(batch, -1, height, width))


class SoftmaxAttention(nn.Module):
    """Full softmax dot-product self-attention over spatial positions (4 heads of 32 features):
    ``softmax(q k^T / sqrt(head_dim)) v`` per head, then a 1x1 conv (with bias), no LayerNorm."""

    def __init__(self, dim: int, heads: int = ATTENTION_HEADS, head_dim: int = ATTENTION_HEAD_DIM):
        super().__init__()
        self.heads = heads
        hidden = heads * head_dim
        self.to_qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        q, k, v = (
            part.reshape(batch, self.heads, -1, height * width).transpose(-1, -2)
            for part in self.to_qkv(x).chunk(3, dim=1)
        )
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, positions, head_dim)
        return self.to_out(out.transpose(-1, -2).reshape(batch, -1, height, width))


class PreNorm(nn.Module):
    """``fn(norm(x))`` with a channel LayerNorm."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = ChannelLayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class Residual(nn.Module):
    """``fn(x) + x``."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def attention_block(dim: int, head_dim: int = ATTENTION_HEAD_DIM, kind: str = "linear") -> Residual:
    """The residual pre-norm attention (4 heads): linear at every level, linear or ``full``
    (:class:`SoftmaxAttention`) in the middle."""
    attention = SoftmaxAttention if kind == "full" else LinearAttention
    return Residual(PreNorm(dim, attention(dim, ATTENTION_HEADS, head_dim)))


def conv3x3(dim_in: int, dim_out: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(dim_in, dim_out, 3, padding=1, bias=bias)


def downsample(dim_in: int, dim_out: int, deepest: bool) -> nn.Module:
    """4x4 stride-2 conv (with bias); at the deepest level a 3x3 conv (no bias), same size."""
    if deepest:
        return conv3x3(dim_in, dim_out, bias=False)
    return nn.Conv2d(dim_in, dim_out, 4, stride=2, padding=1)


def upsample(dim_in: int, dim_out: int, top: bool) -> nn.Module:
    """Nearest x2 + 3x3 conv (with bias); at the top level a 3x3 conv (no bias), same size."""
    if top:
        return conv3x3(dim_in, dim_out, bias=False)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(dim_in, dim_out, bias=True))


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


OUTPUT_MEANING_KEYS = ("prediction",)
"""Keys of a config's ``network`` section that tell a method how to read the network's output
(:data:`irsde.methods.ir_sde.PREDICTIONS`) rather than how to build it."""


def unet_options(network: Mapping) -> dict:
    """The :class:`ConditionalUNet` keyword arguments of a config's ``network`` section."""
    return {key: value for key, value in network.items() if key not in OUTPUT_MEANING_KEYS}


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
