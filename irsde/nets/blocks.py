"""The building blocks of :class:`irsde.nets.unet.ConditionalUNet`: sinusoidal time embedding,
FiLM-modulated residual blocks, channel layer norm, linear and full softmax attention (pre-norm,
residual), and the down/up-sampling convolutions. Attribute names reproduce the parameter names
of the authors' checkpoints (``block1.proj``, ``mlp.1``, ``fn.fn.to_qkv``, ``to_out.1.g`` ...).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_HEADS = 4
ATTENTION_HEAD_DIM = 32
LAYER_NORM_EPS = 1e-5
TIME_EMBEDDING_MAX_PERIOD = 10000.0


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
