"""What a training config changes from the paper's setting, in words (for table captions).

:func:`paper_setting` reads the paper's values of :data:`irsde.paper.PAPER_KEYS` where they are
stated (the training schema's defaults, IR-SDE's method options, :data:`irsde.paper.TASK_SETTINGS`);
:func:`paper_deviations` names each key of a resolved training config that differs.
"""

from __future__ import annotations

from collections.abc import Mapping

from irsde.methods.ir_sde import IRSDEMethod
from irsde.paper import BUDGET_KEYS, PAPER_KEYS, TASK_SETTINGS
from irsde.train.config import defaults


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
    paper = {**defaults(), "options": IRSDEMethod.resolve_options({}, "the paper's IR-SDE")}
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
