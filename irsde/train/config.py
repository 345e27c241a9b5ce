"""Training configuration: one JSON Schema, validation with defaults, ``key.sub=value`` overrides.

The keys, their defaults (the IR-SDE paper's setting, marked "paper") and their bounds are
described once, in :data:`SCHEMA_FILE` (``irsde/train/config.schema.yaml``), which the
pipeline's schema also references. :func:`load_config` reads a YAML file (or takes a mapping),
applies overrides and validates it with :mod:`irsde.schema`: every missing key gets its
default, an unknown key or a bad value raises ``ValueError`` naming the dotted key, before any
work is done. The result is a plain nested dict (easy to dump, compare and store in a
checkpoint); ``output_dir`` defaults to ``runs/<name>``. Relative paths are resolved against
the current working directory.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from irsde import schema
from irsde.documents import load_yaml, read_yaml_file
from irsde.nets import ArchitectureTooLarge, check_architecture
from irsde.paper import PAPER_SDE

SCHEMA_FILE = Path(__file__).with_name("config.schema.yaml")

# Keys whose value may change when a run is resumed: they change neither the trained weights
# nor the meaning of the logs already written (iterations may grow to extend a finished run).
RESUMABLE_CHANGES = frozenset(
    {"device", "output_dir", "data.num_workers", "train.iterations", "train.checkpoint_every", "train.log_every",
     "train.progress_every", "train.tensorboard", "train.tensorboard_images"}
)


def schema_registries() -> schema.Registries:
    """What the training and pipeline schemas' ``x-registry: NAME`` stand for (the names of the
    package's registries: methods, samplers, datasets ...), and their ``x-default: NAME`` (the
    paper's SDE, :data:`irsde.paper.PAPER_SDE`)."""
    from irsde.checkpoints import CHECKPOINTS
    from irsde.data import ALL_DATASETS
    from irsde.devices import DEVICE_CHOICES
    from irsde.losses import LOSS_KINDS, LOSSES, TIMESTEP_WEIGHTS
    from irsde.methods import METHODS
    from irsde.metrics import METRIC_NAMES, PROTOCOLS
    from irsde.sampling import SAMPLERS
    from irsde.schedules import SCHEDULES

    registries = {
        "checkpoints": CHECKPOINTS, "datasets": ALL_DATASETS, "devices": DEVICE_CHOICES, "loss kinds": LOSS_KINDS,
        "losses": LOSSES, "methods": METHODS, "metrics": METRIC_NAMES, "protocols": PROTOCOLS, "samplers": SAMPLERS,
        "schedules": SCHEDULES, "timestep weights": TIMESTEP_WEIGHTS,
        "trainable methods": [name for name, method in METHODS.items() if method.trainable],
    }
    paper = {f"paper sde.{key}": value for key, value in PAPER_SDE.items()}
    return {**registries, schema.DEFAULTS: paper}


def load_training_schema() -> dict:
    """The training schema, its registries filled in."""
    return schema.load_schema(SCHEMA_FILE, schema_registries())


def defaults() -> dict:
    """The schema's defaults as a nested dict (required keys are absent)."""
    return schema.schema_defaults(load_training_schema())


def schema_keys() -> list[str]:
    """Every dotted leaf key of the schema, in schema order."""
    return schema.leaf_keys(load_training_schema())


def validate_config(config: Mapping) -> dict:
    """Check ``config`` against the schema; return a new nested dict with every default filled in.

    Raises ValueError naming the dotted key of the first unknown key, missing required key or
    bad value.
    """
    resolved = schema.validate(_moved_keys(config), load_training_schema())
    resolved["options"] = _method_options(resolved["method"], resolved["options"])
    check_network_size(resolved["network"])
    if resolved["output_dir"] is None:
        resolved["output_dir"] = str(Path("runs") / resolved["name"])
    return resolved


def _method_options(method: str, options: Mapping) -> dict:
    """The run's ``options`` validated by its method, defaults filled in."""
    from irsde.methods import method_class

    return method_class(method).resolve_options(options, "config key 'options'")


def _moved_keys(config: Mapping) -> Mapping:
    """A run written before a key moved, read as it is now: ``network.prediction`` (what the
    network's output means) is the method option ``options.prediction``."""
    network = config.get("network")
    if not (isinstance(network, Mapping) and "prediction" in network):
        return config
    moved = {**config, "network": {k: v for k, v in network.items() if k != "prediction"}}
    moved["options"] = {"prediction": network["prediction"], **(config.get("options") or {})}
    return moved


def check_network_size(network: Mapping, key: str = "network") -> None:
    """nf and depth together within :func:`irsde.nets.check_architecture`'s bounds (the widest
    layer ``nf * 2**depth``), before any allocation; the error names the key to lower."""
    try:
        check_architecture(network["nf"], network["depth"])
    except ArchitectureTooLarge as error:
        raise ValueError(f"config key '{key}.{error.parameter}': {error}") from None


# ----------------------------------------------------------------------------------- overrides


def parse_override(text_: str) -> tuple[str, Any]:
    """``"train.iterations=100"`` -> ``("train.iterations", 100)``; the value is parsed as YAML."""
    key, sep, raw = text_.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"override {text_!r} is not of the form key.sub=value")
    value = load_yaml(raw, f"override for config key '{key}' ({raw!r})") if raw.strip() else None
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
    keys = schema_keys()
    if key in keys:
        return
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"unknown config key '{key}' in override{hint}")


# ----------------------------------------------------------------------------------- loading


def read_config_file(path_: str | os.PathLike) -> dict:
    """Parse a YAML config file into a mapping (not yet validated) with the project's one YAML
    loader (:func:`irsde.documents.read_yaml_file`: duplicate keys and alias bombs refused)."""
    return dict(read_yaml_file(path_, "config file"))


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
