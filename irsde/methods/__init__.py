"""Restoration methods: what is trained, how it restores, and the facts tables need about it.

:class:`Method` (:mod:`irsde.methods.base`) is the interface. :data:`METHODS` holds the methods
by id: IR-SDE (:mod:`irsde.methods.ir_sde`), Denoising-SDE/ODE
(:mod:`irsde.methods.denoising_sde`) and the comparison methods that restore from released
weights only (PReNet, DnCNN, FFDNet: :mod:`irsde.methods.released`) are built in; a method outside this package (the CNN
baseline in ``baselines/``, or a user's) registers through the ``irsde.methods`` entry-point
group of its installed package, e.g. in its ``pyproject.toml``::

    [project.entry-points."irsde.methods"]
    cnn_baseline = "baselines.cnn:CNNBaseline"

:func:`method_class` also accepts a class named ``package.module:Class`` without registering
it. :func:`row_facts` gives the facts of every kind of table row by id: the methods, the
degraded input and the authors' published weights.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from irsde.checkpoints import CHECKPOINTS, Checkpoint, fetch_checkpoint
from irsde.data.download import DownloadPolicy
from irsde.methods.base import Method, MethodOutputError, SamplerRow, Shard, check_method_class, restore_batch
from irsde.methods.denoising_sde import DenoisingSDEMethod
from irsde.methods.ir_sde import IRSDEMethod
from irsde.methods.released import DnCNNMethod, FFDNetMethod, PReNetMethod
from irsde.nets import load_state, read_state_dict
from irsde.registry import Registry
from irsde.rows import INPUT, RELEASED_WEIGHTS, THIS_RUN, USER_OUTPUTS, RowFacts

ENTRY_POINT_GROUP = "irsde.methods"


def _installed_methods() -> dict[str, type[Method]]:
    """Methods registered by installed packages under the ``irsde.methods`` entry points."""
    found = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name} = {entry.value!r} ({ENTRY_POINT_GROUP})"
        method = check_method_class(entry.load(), origin)
        if method.id != entry.name:
            raise ValueError(f"{origin}: the class declares id {method.id!r}; name the entry point after it")
        found[method.id] = method
    return found


METHODS: Registry[type[Method]] = Registry(
    "method",
    {method.id: method for method in (IRSDEMethod, DenoisingSDEMethod, PReNetMethod, DnCNNMethod, FFDNetMethod)},
    discover=_installed_methods,
    hint=(
        f"Methods outside irsde register through the {ENTRY_POINT_GROUP!r} entry points of an installed "
        "package (after editing a pyproject.toml, reinstall it: pip install -e .), or are named "
        "package.module:Class"
    ),
)
"""Methods by id: built-in ones and those of installed packages."""


def method_class(spec: str) -> type[Method]:
    """The method class of ``spec``: a registered id, or ``package.module:Class``."""
    if ":" not in spec:
        return METHODS[spec]
    module_name, _, attribute = spec.partition(":")
    try:
        candidate = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"method {spec!r}: cannot import {attribute} from {module_name}: {error} (install the package "
            "holding it, or add the folder above its top-level package to PYTHONPATH)"
        ) from error
    return check_method_class(candidate, f"method {spec!r}")


def build_method(config: Mapping) -> Method:
    """The method named by ``config["method"]``, configured from the resolved training config."""
    return method_class(config["method"]).from_config(config)


def row_facts(
    variants: Iterable[tuple[str, str, int]] = (),
    classes: Iterable[type[Method]] = (),
    extra: Iterable[RowFacts] = (),
) -> Registry[RowFacts]:
    """Every kind of table row by id: the degraded input, each method (the registered ones and
    ``classes``, methods named ``package.module:Class``) and the rows it always adds
    (:attr:`Method.sampler_rows`), each released checkpoint (:mod:`irsde.checkpoints`, id its
    name), for each
    ``(method id, sampler, steps)`` of ``variants`` that method restored with another sampler
    (:meth:`Method.sampler_variant`), and the ``extra`` rows (a user's precomputed outputs)."""
    known = {**METHODS, **{method.id: method for method in classes}}
    methods = {facts.id: facts for method in known.values()
               for facts in (method.facts(), *(row.facts for row in method.sampler_rows))}
    sampled = [known[method].sampler_variant(sampler, steps) for method, sampler, steps in variants]
    return Registry("table row", {INPUT.id: INPUT, **methods, **released_row_facts(),
                                  **{facts.id: facts for facts in [*sampled, *extra]}})


def released_row_facts() -> dict[str, RowFacts]:
    """The facts of the rows of every released checkpoint, by checkpoint name."""
    return {name: METHODS[checkpoint.method].released_facts(name, checkpoint.label)
            for name, checkpoint in CHECKPOINTS.items()}


def loads_into_its_method(checkpoint: Checkpoint, path: Path) -> None:
    """The file is weights of ``checkpoint``'s method: its method reads the architecture off it
    and the network loads it strictly (ValueError / CheckpointMismatchError naming the file
    otherwise)."""
    method = METHODS[checkpoint.method]
    state = read_state_dict(path)
    options = method.resolve_options(checkpoint.options, f"checkpoint {checkpoint.name}")
    try:
        restorer = method.from_weights(state, options, method.default_sde)
    except ValueError as error:
        raise ValueError(f"{path} is not {checkpoint.name} ({checkpoint.label}): {error}") from None
    load_state(restorer.build_net(), state, path)


def fetch_weights(checkpoint: Checkpoint, resources: str | os.PathLike | None = None, offline: bool = False,
                  mirrors: str | list[str] | None = None, policy: DownloadPolicy = DownloadPolicy()) -> Path:
    """:func:`irsde.checkpoints.fetch_checkpoint` for restoring: a browser-only file must load
    into its method's network (:func:`loads_into_its_method`) before its first-use digest is
    recorded."""
    return fetch_checkpoint(checkpoint, resources, offline, policy, mirrors,
                            validate=functools.partial(loads_into_its_method, checkpoint))


__all__ = [
    "ENTRY_POINT_GROUP", "INPUT", "METHODS", "Method", "MethodOutputError", "RELEASED_WEIGHTS", "RowFacts", "SamplerRow",
    "Shard", "THIS_RUN", "USER_OUTPUTS",
    "build_method", "check_method_class", "fetch_weights", "loads_into_its_method", "method_class", "released_row_facts",
    "restore_batch", "row_facts",
]
