"""The paper's IR-SDE setting, and what a training config changes from it (for table captions).

The paper's setting is stated once: as the defaults of the training schema
(``irsde/train/config.schema.yaml``, each marked "paper" in its description), read here by
:func:`paper_setting`. It is the deraining setting of Luo et al. (ICML 2023): cosine schedule,
T = 100, max_sigma 10, eps 0.005, maximum-likelihood L1 loss with uniform timestep weights,
nf 64 / depth 4 with 4 x 32 attention predicting the noise, Adam 1e-4 with betas (0.9, 0.99),
batch 16 of 128x128 crops, EMA 0.995, and the training budget :data:`BUDGET_SOURCE` names.
Super-resolution and inpainting use max_sigma 30 (:data:`TASK_SETTINGS`).

:func:`paper_deviations` lists, in words, every key of :data:`PAPER_KEYS` whose value differs
from the paper's for the benchmark's task, so that a table built from a cheaper or modified
recipe says so in its caption; ``config/paper.yaml`` has none.
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
    "optim.milestones",
    "train.ema_decay",
    "train.iterations",
)
"""Dotted keys of the training config that define the paper's method and budget."""

BUDGET_KEYS = ("train.iterations", "optim.milestones", "optim.gamma", "optim.lr", "data.batch_size", "data.crop_size")
"""The keys of the paper's training budget (:func:`budget_statement` puts them in words)."""

BUDGET_SOURCE = (
    "the paper's description of its training (Luo et al., ICML 2023, arXiv:2301.11699): 500k iterations, "
    "the learning rate halved at 200k and 400k. The authors' later training files "
    "(codes/config/*/options/train/ir-sde.yml in github.com/Algolzw/image-restoration-sde) train 700k "
    "iterations with a third halving at 600k and batches of 4; we follow the paper"
)
"""Where the paper's training budget (the training schema's defaults) comes from."""

TASK_SETTINGS: dict[str, dict[str, object]] = {
    "sr": {"sde.max_sigma": 30.0},
    "inpaint": {"sde.max_sigma": 30.0},
}
"""Keys in which the paper's setting for a task (a dataset's ``task``) differs from deraining's."""


def _lookup(config: Mapping, dotted: str):
    value = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def paper_setting(task: str | None = None) -> dict[str, object]:
    """``{dotted key: the paper's value}`` for every key of :data:`PAPER_KEYS` (and of
    :data:`BUDGET_KEYS`), for ``task`` (None: deraining, the training defaults)."""
    from irsde.train.config import defaults

    paper = defaults()
    setting = {key: _lookup(paper, key) for key in dict.fromkeys(PAPER_KEYS + BUDGET_KEYS)}
    return {**setting, **TASK_SETTINGS.get(task, {})}


def budget_statement() -> str:
    """The paper's training budget in words, as the README states it."""
    paper = paper_setting()
    milestones = " and ".join(f"{step // 1000}k" for step in paper["optim.milestones"])
    return (f"{paper['train.iterations'] // 1000}k iterations of batch {paper['data.batch_size']} "
            f"({paper['data.crop_size']}x{paper['data.crop_size']} crops), learning rate {_format(paper['optim.lr'])} "
            f"multiplied by {_format(paper['optim.gamma'])} at {milestones}")


def paper_deviations(config: Mapping, keys: tuple[str, ...] = PAPER_KEYS, task: str | None = None) -> list[str]:
    """``["sde.eps 0.1 (paper 0.005)", ...]`` for each key of ``keys`` whose value in the resolved
    training ``config`` differs from the paper's for ``task`` (keys absent from ``config`` are
    skipped)."""
    paper = paper_setting(task)
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
