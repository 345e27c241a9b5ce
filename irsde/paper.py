"""The paper's IR-SDE setting, and what a training config changes from it (for table captions).

The training config's defaults (:func:`irsde.train.config.defaults`) are the paper's deraining
setting (DESIGN §2): cosine schedule, T = 100, max_sigma 10, eps 0.005, maximum-likelihood L1
loss with uniform timestep weights, nf 64 / depth 4 with 4 x 32 attention predicting the noise, Adam 1e-4, batch 16
of 128x128 crops, EMA 0.995, 700k iterations. :func:`paper_deviations` lists, in words, every key
in :data:`PAPER_KEYS` whose value differs, so that a table built from a cheaper or modified
recipe says so in its caption.
"""

from __future__ import annotations

from collections.abc import Mapping

PAPER_SDE = {"schedule": "cosine", "T": 100, "max_sigma": 10.0, "eps": 0.005}
"""The paper's SDE (deraining, deblurring, denoising with IR-SDE): cosine theta, T 100, max_sigma 10, eps 0.005."""
DENOISING_SDE = {**PAPER_SDE, "max_sigma": 70.0, "eps": 0.04}
"""The authors' Denoising-SDE/ODE setting: max_sigma 70, eps (their delta) 0.04, with T 100."""

PAPER_KEYS = (
    "sde.schedule",
    "sde.T",
    "sde.max_sigma",
    "sde.eps",
    "loss.name",
    "loss.kind",
    "loss.timestep_weights",
    "network.nf",
    "network.depth",
    "network.attn_head_dim",
    "network.prediction",
    "data.crop_size",
    "data.batch_size",
    "optim.lr",
    "train.ema_decay",
    "train.iterations",
)
"""Dotted keys of the training config that define the paper's method and budget."""


def _lookup(config: Mapping, dotted: str):
    value = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def paper_setting() -> dict[str, object]:
    """``{dotted key: the paper's value}`` for every key of :data:`PAPER_KEYS`."""
    from irsde.train.config import defaults

    paper = defaults()
    return {key: _lookup(paper, key) for key in PAPER_KEYS}


def paper_deviations(config: Mapping, keys: tuple[str, ...] = PAPER_KEYS) -> list[str]:
    """``["sde.eps 0.1 (paper 0.005)", ...]`` for each key of ``keys`` whose value in the resolved
    training ``config`` differs from the paper's (keys absent from ``config`` are skipped)."""
    paper = paper_setting()
    deviations = []
    for key in keys:
        ours = _lookup(config, key)
        if ours is not None and ours != paper[key]:
            deviations.append(f"{key} {_format(ours)} (paper {_format(paper[key])})")
    return deviations


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return str(value)
