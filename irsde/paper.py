"""The paper's IR-SDE setting: its SDEs, the keys that define its method and budget, and where
the budget comes from (facts only; :mod:`irsde.deviations` compares a training config with them).

The paper's setting is stated once: :data:`PAPER_SDE` here, the rest as the defaults of the
training schema (``irsde/train/config.schema.yaml``, each marked "paper" in its description) and
of IR-SDE's method options (``prediction: noise``), which :func:`irsde.deviations.paper_setting`
reads. It is the deraining setting of Luo et al. (ICML 2023): cosine schedule,
T = 100, max_sigma 10, eps 0.005, maximum-likelihood L1 loss with uniform timestep weights,
nf 64 / depth 4 with 4 x 32 attention predicting the noise, Adam 1e-4 with betas (0.9, 0.99),
batch 16 of 128x128 crops, EMA 0.995, and the training budget :data:`BUDGET_SOURCE` names.
Super-resolution and inpainting use max_sigma 30 (:data:`TASK_SETTINGS`).

:func:`irsde.deviations.paper_deviations` lists, in words, every key of :data:`PAPER_KEYS` whose
value differs from the paper's for the benchmark's task, so that a table built from a cheaper or
modified recipe says so in its caption; ``config/paper.yaml`` has none.
"""

from __future__ import annotations

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
    "options.prediction",
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
