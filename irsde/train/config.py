"""Training configuration: schema, paper defaults, validation and ``key.sub=value`` overrides.

A config is a nested mapping (a YAML file or a dict). :func:`load_config` fills every missing key
with its default, checks every value, and returns a plain nested dict (easy to dump, compare and
store in a checkpoint). An unknown key or a bad value raises ``ValueError`` naming the dotted key
before any work is done.

Keys (default in brackets; "paper" marks the IR-SDE paper's / authors' deraining setting):

``name``                 run name (required)
``seed``                 [0] seeds network init, data order/crops and the (t, noise) draws
``method``               [irsde] ``irsde`` or ``cnn_baseline`` (see :mod:`irsde.train.methods`)
``device``               [auto] ``auto`` (CUDA when available), ``cpu`` or ``cuda``
``output_dir``           [runs/<name>] where weights, state, logs and the run record go
``data.train``           split folder holding ``GT/`` and ``LQ/`` (required)
``data.val``             [null] split folder for validation; null disables validation
``data.crop_size``       [128, paper] random square training crop
``data.batch_size``      [16, paper; later configs 4] global batch, split evenly across ranks
``data.num_workers``     [0] DataLoader worker processes per rank
``data.val_images``      [4] validate on the first N images (sorted by name) of ``data.val``
``data.val_crop_size``   [null] centre-crop validation images to this size (null: full images)
``network.nf``           [64, paper] base width of the U-Net (nf * 2**depth <= 2048)
``network.depth``        [4, paper] number of U-Net levels (at most 6)
``network.attn_head_dim`` [32, paper] features per attention head (4 heads); smaller is faster on a CPU
``sde.schedule``         [cosine, paper] theta schedule: cosine, linear or constant  (irsde only)
``sde.T``                [100, paper] number of steps                                 (irsde only)
``sde.max_sigma``        [10, paper] stationary std lambda; >= 1 means the 0-255 scale (irsde only)
``sde.eps``              [0.005, paper] exp(-thetabar_T dt)                           (irsde only)
``loss.name``            [maximum_likelihood, paper] or ``noise_matching``           (irsde only)
``loss.kind``            [l1, paper] ``l1`` or ``l2`` (the CNN baseline uses it too)
``loss.timestep_weights`` [uniform, paper] per-step weights gamma_t of the loss: uniform or x0
                         (see :mod:`irsde.losses`)                                     (irsde only)
``optim.lr``             [1.0e-4, paper] Adam learning rate
``optim.betas``          [[0.9, 0.99], paper] Adam betas
``optim.weight_decay``   [0.0, paper]
``optim.milestones``     [[200000, 400000, 600000], paper] MultiStepLR iterations
``optim.gamma``          [0.5, paper] MultiStepLR factor
``train.iterations``     [700000, paper] optimiser steps
``train.ema_decay``      [0.995, paper] EMA of the weights, updated after every step
``train.checkpoint_every`` [5000] checkpoint period in iterations (always also at the end)
``train.log_every``      [100] training-log period (mean loss over the period)
``train.val_every``      [5000] validation period (also at the end); 0 disables it
``train.val_sampler``    [sde, paper] sampler used to validate IR-SDE
``train.val_steps``      [null] its network evaluations per image, 1..sde.T (null: sde.T, every step)
``train.val_seed``       [0] seed of the validation sampler (same for every validation)
``train.val_weights``    [ema] validate the ``ema`` or the raw ``net`` weights
``train.protocol``       [irsde-derain, paper] metric protocol of the validation PSNR/SSIM
``train.rank_digests``   [false] debug: each rank writes a digest of its parameters at the end

Relative paths are resolved against the current working directory.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from irsde.train.distributed import DEVICE_CHOICES

LOSS_KINDS = ("l1", "l2")
VAL_WEIGHTS = ("ema", "net")

# Keys whose value may change when a run is resumed: they change neither the trained weights
# nor the meaning of the logs already written (iterations may grow to extend a finished run).
RESUMABLE_CHANGES = frozenset(
    {"device", "output_dir", "data.num_workers", "train.iterations", "train.checkpoint_every", "train.log_every"}
)


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


@dataclass(frozen=True)
class Option:
    """One leaf of the schema: its default and a checker ``check(value, key) -> value``."""

    default: Any
    check: Callable[[Any, str], Any]


# ----------------------------------------------------------------------------------- checkers


def _fail(key: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"config key '{key}': expected {expected}, got {value!r}")


def _number_from_text(value: Any, parse: Callable[[str], Any]) -> Any:
    """A string ``parse`` can read becomes that number (YAML leaves ``1e-4`` and quoted numbers
    as text); anything else is returned unchanged for the checker to judge."""
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            return value
    return value


def integer(minimum: int | None = None) -> Callable[[Any, str], int]:
    def check(value, key):
        value = _number_from_text(value, int)
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise _fail(key, "an integer" + (f" >= {minimum}" if minimum is not None else ""), value)
        return value

    return check


def real(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """A float in [low, high] (ends excluded when ``*_open``); YAML strings like ``1e-4`` accepted."""

    def check(value, key):
        value = _number_from_text(value, float)
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise _fail(key, f"a finite number in {bounds}", value)
        return float(value)

    return check


def choice(*names: str) -> Callable[[Any, str], str]:
    def check(value, key):
        if value not in names:
            raise ValueError(f"config key '{key}': {value!r} is not one of {', '.join(names)}")
        return value

    return check


def registered(module: str, attribute: str) -> Callable[[Any, str], str]:
    """A name registered in the mapping ``module.attribute`` (imported when first checked), so the
    valid names are always those of the registry itself."""

    def check(value, key):
        names = list(getattr(importlib.import_module(module), attribute))
        return choice(*names)(value, key)

    return check


def text(value, key) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "a non-empty string", value)
    return value


def boolean(value, key) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, "true or false", value)
    return value


def optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    def optional_check(value, key):
        return None if value is None else check(value, key)

    return optional_check


def path(value, key) -> str:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise _fail(key, "a path", value)
    return str(Path(value).expanduser())


def sequence_of(check: Callable[[Any, str], Any], length: int | None = None, increasing: bool = False):
    def check_sequence(value, key):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise _fail(key, "a list", value)
        if length is not None and len(value) != length:
            raise _fail(key, f"a list of {length} values", value)
        items = [check(item, f"{key}[{i}]") for i, item in enumerate(value)]
        if increasing and any(b <= a for a, b in zip(items, items[1:])):
            raise _fail(key, "a strictly increasing list", value)
        return items

    return check_sequence


# ----------------------------------------------------------------------------------- schema

SCHEMA: dict[str, Any] = {
    "name": Option(REQUIRED, text),
    "seed": Option(0, integer(0)),
    "method": Option("irsde", registered("irsde.train.methods", "METHODS")),
    "device": Option("auto", choice(*DEVICE_CHOICES)),
    "output_dir": Option(None, optional(path)),
    "data": {
        "train": Option(REQUIRED, path),
        "val": Option(None, optional(path)),
        "crop_size": Option(128, integer(1)),
        "batch_size": Option(16, integer(1)),
        "num_workers": Option(0, integer(0)),
        "val_images": Option(4, integer(1)),
        "val_crop_size": Option(None, optional(integer(1))),
    },
    "network": {
        "nf": Option(64, integer(1)),
        "depth": Option(4, integer(1)),
        "attn_head_dim": Option(32, integer(1)),
    },
    "sde": {
        "schedule": Option("cosine", registered("irsde.schedules", "SCHEDULES")),
        "T": Option(100, integer(1)),
        "max_sigma": Option(10.0, real(0, None, low_open=True)),
        "eps": Option(0.005, real(0, 1, low_open=True, high_open=True)),
    },
    "loss": {
        "name": Option("maximum_likelihood", registered("irsde.losses", "LOSSES")),
        "kind": Option("l1", choice(*LOSS_KINDS)),
        "timestep_weights": Option("uniform", registered("irsde.losses", "TIMESTEP_WEIGHTS")),
    },
    "optim": {
        "lr": Option(1.0e-4, real(0, None, low_open=True)),
        "betas": Option([0.9, 0.99], sequence_of(real(0, 1, high_open=True), length=2)),
        "weight_decay": Option(0.0, real(0)),
        "milestones": Option([200000, 400000, 600000], sequence_of(integer(1), increasing=True)),
        "gamma": Option(0.5, real(0, None, low_open=True)),
    },
    "train": {
        "iterations": Option(700000, integer(1)),
        "ema_decay": Option(0.995, real(0, 1)),
        "checkpoint_every": Option(5000, integer(1)),
        "log_every": Option(100, integer(1)),
        "val_every": Option(5000, integer(0)),
        "val_sampler": Option("sde", registered("irsde.samplers", "SAMPLERS")),
        "val_steps": Option(None, optional(integer(1))),
        "val_seed": Option(0, integer(0)),
        "val_weights": Option("ema", choice(*VAL_WEIGHTS)),
        "protocol": Option("irsde-derain", registered("irsde.metrics", "PROTOCOLS")),
        "rank_digests": Option(False, boolean),
    },
}


def defaults() -> dict:
    """The schema's defaults as a nested dict (required keys are absent)."""

    def collect(schema: Mapping) -> dict:
        out = {}
        for name, entry in schema.items():
            if isinstance(entry, Mapping):
                out[name] = collect(entry)
            elif entry.default is not REQUIRED:
                out[name] = copy.deepcopy(entry.default)
        return out

    return collect(SCHEMA)


def schema_keys() -> list[str]:
    """Every dotted leaf key of the schema, in schema order."""

    def walk(schema: Mapping, prefix: str) -> list[str]:
        keys = []
        for name, entry in schema.items():
            dotted = f"{prefix}{name}"
            keys += walk(entry, dotted + ".") if isinstance(entry, Mapping) else [dotted]
        return keys

    return walk(SCHEMA, "")


# ----------------------------------------------------------------------------------- validation


def validate_config(config: Mapping) -> dict:
    """Check ``config`` against the schema; return a new nested dict with every default filled in.

    Raises ValueError naming the dotted key of the first unknown key, missing required key or
    bad value.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"a config must be a mapping of keys to values, got {type(config).__name__}")
    resolved = _validate_section(config, SCHEMA, prefix="")
    _check_network_size(resolved["network"])
    if resolved["output_dir"] is None:
        resolved["output_dir"] = str(Path("runs") / resolved["name"])
    return resolved


def _validate_section(section: Mapping, schema: Mapping, prefix: str) -> dict:
    for name in section:
        if name not in schema:
            raise ValueError(_unknown_key_message(f"{prefix}{name}", name, schema))
    resolved = {}
    for name, entry in schema.items():
        key = f"{prefix}{name}"
        if isinstance(entry, Mapping):
            value = section.get(name, {})
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise _fail(key, "a mapping of keys to values", value)
            resolved[name] = _validate_section(value, entry, prefix=key + ".")
        elif name in section:
            resolved[name] = entry.check(section[name], key)
        elif entry.default is REQUIRED:
            raise ValueError(f"config key '{key}' is required")
        else:
            resolved[name] = copy.deepcopy(entry.default)
    return resolved


def _check_network_size(network: Mapping) -> None:
    """nf/depth within the bounds of irsde.nets.check_architecture, before any allocation."""
    from irsde.nets import ArchitectureTooLarge, check_architecture

    try:
        check_architecture(network["nf"], network["depth"])
    except ArchitectureTooLarge as error:
        raise ValueError(f"config key 'network.{error.parameter}': {error}") from None


def _unknown_key_message(key: str, name: str, schema: Mapping) -> str:
    close = difflib.get_close_matches(name, list(schema), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown config key '{key}'{hint} (valid here: {', '.join(schema)})"


# ----------------------------------------------------------------------------------- overrides


def parse_override(text_: str) -> tuple[str, Any]:
    """``"train.iterations=100"`` -> ``("train.iterations", 100)``; the value is parsed as YAML."""
    key, sep, raw = text_.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"override {text_!r} is not of the form key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ValueError(f"override for config key '{key}': cannot parse {raw!r}: {error}") from error
    return key, value


def apply_overrides(config: Mapping, overrides: Sequence[str]) -> dict:
    """Return a copy of ``config`` with each ``key.sub=value`` override set (keys checked later)."""
    config = copy.deepcopy(dict(config))
    for item in overrides:
        key, value = parse_override(item)
        _check_override_key(key)
        section = config
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(section.get(part), Mapping):
                section[part] = {}
            section = section[part]
        section[parts[-1]] = value
    return config


def _check_override_key(key: str) -> None:
    if key in schema_keys():
        return
    close = difflib.get_close_matches(key, schema_keys(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"unknown config key '{key}' in override{hint}")


# ----------------------------------------------------------------------------------- loading


def read_config_file(path_: str | os.PathLike) -> dict:
    """Parse a YAML config file into a mapping (not yet validated)."""
    path_ = Path(path_)
    if not path_.is_file():
        raise FileNotFoundError(f"config file not found: {path_}")
    try:
        loaded = yaml.safe_load(path_.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"config file {path_}: invalid YAML: {error}") from error
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, Mapping):
        raise ValueError(f"config file {path_}: the top level must be a mapping, got {type(loaded).__name__}")
    return dict(loaded)


def load_config(source: str | os.PathLike | Mapping, overrides: Sequence[str] = ()) -> dict:
    """Read (from a YAML file or a mapping), apply overrides, validate; return the resolved config."""
    config = dict(source) if isinstance(source, Mapping) else read_config_file(source)
    return validate_config(apply_overrides(config, overrides))


def config_differences(old: Mapping, new: Mapping) -> list[str]:
    """Dotted keys whose values differ between two resolved configs."""
    differences = []

    def walk(a, b, prefix):
        for name in sorted(set(a) | set(b)):
            key = f"{prefix}{name}"
            x, y = a.get(name), b.get(name)
            if isinstance(x, Mapping) and isinstance(y, Mapping):
                walk(x, y, key + ".")
            elif x != y:
                differences.append(key)

    walk(old, new, "")
    return differences


def dump_config(config: Mapping) -> str:
    """The resolved config as YAML (block style, schema order), loadable by :func:`load_config`."""
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
