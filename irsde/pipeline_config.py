"""The pipeline's configuration (``config/*.yaml``): its validation and the training runs it describes.

The pipeline's JSON Schema (``workflow/schemas/config.schema.yaml``) describes its own keys and
references the training schema of :mod:`irsde.train.config` for ``network``, ``sde``, ``loss``
and ``training``, so a training key is described and bounded in one place.
:func:`validate_pipeline_config` applies that schema (defaults filled in) and the few checks that
relate keys to one another or to the published numbers. :func:`run_config` and
:func:`curve_run_config` translate the validated config into the training config of one run
(validated by :func:`irsde.train.train` when it starts).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from irsde import paper as irsde_paper
from irsde import schema
from irsde.data import SYNTHETIC
from irsde.methods import METHODS, PUBLISHED_WEIGHTS, build_method, row_facts
from irsde.methods.ir_sde import IRSDEMethod
from irsde.train.config import validate_config

TRAINING_PARTS = ("data", "optim", "train")
"""The sections of ``training`` a benchmark may override (``benchmarks.<name>.training``)."""


def validate_pipeline_config(config: Mapping, schema_file: str | os.PathLike, published_csv: str | os.PathLike) -> dict:
    """The checked config with defaults filled in; ValueError naming the key at fault otherwise."""
    resolved = schema.validate(config, schema_file)
    _check_cross_keys(resolved, published_benchmarks(published_csv))
    return resolved


def published_benchmarks(published_csv: str | os.PathLike) -> list[str]:
    """The benchmarks that have published rows in the published-results CSV."""
    with open(published_csv, newline="") as handle:
        return sorted({row["benchmark"] for row in csv.DictReader(handle)})


def _check_choice(key: str, value: str, choices: list[str]) -> None:
    if value not in choices:
        raise ValueError(f"config key '{key}': {value!r} is not valid; choose one of: {', '.join(choices)}")


def _check_cross_keys(config: Mapping, published: list[str]) -> None:
    """What the schema cannot express: keys naming other keys' entries or the published rows."""
    benchmarks = sorted(config["benchmarks"])
    for name, bench in config["benchmarks"].items():
        if bench.get("published") and bench["dataset"] in SYNTHETIC:
            raise ValueError(
                f"config key 'benchmarks.{name}.published': a synthetic stand-in is never compared "
                "with the paper's numbers; set it to null"
            )
        if bench.get("published"):
            _check_choice(f"benchmarks.{name}.published", bench["published"], published)
    for name in config["published_weights"]:
        _check_choice("published_weights", name, benchmarks)
    if "curves" in config:
        _check_choice("curves.benchmark", config["curves"]["benchmark"], benchmarks)
    missing = [metric for metric in config["metrics"] if metric not in config["regress"]["tolerances"]]
    if missing:
        raise ValueError(f"config key 'regress.tolerances': no tolerance for metric(s) {', '.join(missing)}")
    steps = {"sampler_steps": config["sampler_steps"]}
    steps.update({f"extra_samplers[{i}].steps": entry["steps"] for i, entry in enumerate(config["extra_samplers"])})
    for name in config["benchmarks"]:
        T = benchmark_section(config, name, "sde")["T"]
        for key, value in steps.items():
            if value is not None and value > T:
                raise ValueError(f"config key '{key}': {value} network evaluations, but benchmark {name} has T={T}")
        for method in methods_of(config, name):
            try:
                build_method(validate_config(run_config(config, name, method, "train", "test", "run")))
            except ValueError as error:
                raise ValueError(f"benchmark {name}, method {method}: {error}") from None


def dataset_of(config: Mapping, benchmark: str, split: str) -> str:
    """The dataset a benchmark trains on (split ``train``) or is tested on (split ``test``)."""
    bench = config["benchmarks"][benchmark]
    return bench["train_dataset"] if split == "train" and bench.get("train_dataset") else bench["dataset"]


def benchmarks_using(config: Mapping, dataset: str) -> list[str]:
    return [name for name in config["benchmarks"] if dataset in (dataset_of(config, name, "train"), dataset_of(config, name, "test"))]


def local_source(config: Mapping, dataset: str) -> str | None:
    """A user's folder or archive used for a registered dataset (``benchmarks.<name>.path``), or None."""
    return next((config["benchmarks"][b]["path"] for b in benchmarks_using(config, dataset)
                 if config["benchmarks"][b].get("path")), None)


def prepare_options(config: Mapping, dataset: str) -> list[str]:
    """``irsde data prepare`` options of a dataset: its local source, or the recipe of a synthetic
    stand-in (from the first benchmark using it; keys left out get the library's defaults)."""
    if local_source(config, dataset):
        return ["--path", local_source(config, dataset)]
    recipes = [config["benchmarks"][b].get("synthetic") for b in benchmarks_using(config, dataset)]
    recipe = next(filter(None, recipes), {})
    return [part for key, value in recipe.items() for part in (f"--{key.replace('_', '-')}", str(value))]


def benchmark_section(config: Mapping, benchmark: str, section: str) -> dict:
    """``sde`` or ``network`` of a benchmark: the top-level section with the benchmark's own keys on top."""
    return {**config[section], **(config["benchmarks"][benchmark].get(section) or {})}


def method_section(config: Mapping, benchmark: str, method: str, section: str) -> dict:
    """``sde`` or ``network`` of ``method``'s run on ``benchmark``: the benchmark's section with the
    method's own keys (``method_sections.<method>.<section>``) on top."""
    own = config.get("method_sections", {}).get(method, {}).get(section) or {}
    return {**benchmark_section(config, benchmark, section), **own}


def training_part(config: Mapping, benchmark: str, part: str) -> dict:
    """``data``, ``optim`` or ``train`` of ``training``, with the benchmark's own keys on top."""
    own = (config["benchmarks"][benchmark].get("training") or {}).get(part) or {}
    return {**config["training"][part], **own}


def methods_of(config: Mapping, benchmark: str) -> list[str]:
    """The methods trained and tabled on ``benchmark``: its own list, else the top-level one."""
    return list(config["benchmarks"][benchmark].get("methods") or config["methods"])


def all_methods(config: Mapping) -> list[str]:
    """Every method some benchmark trains (the top-level ones first), each once."""
    return list(dict.fromkeys([*config["methods"], *(m for b in config["benchmarks"] for m in methods_of(config, b))]))


def run_config(
    config: Mapping, benchmark: str, method: str, train_dir: str, val_dir: str, output_dir: str
) -> dict:
    """The training config of ``method`` on ``benchmark`` (split folders and output folder given)."""
    training = config["training"]
    return {
        "name": f"{config['name']}-{benchmark}-{method}",
        "seed": training["seed"],
        "method": method,
        "device": training["device"],
        "output_dir": output_dir,
        "data": {"train": train_dir, "val": val_dir, **training_part(config, benchmark, "data")},
        "network": method_section(config, benchmark, method, "network"),
        "sde": method_section(config, benchmark, method, "sde"),
        "loss": dict(config["loss"]),
        "optim": training_part(config, benchmark, "optim"),
        "train": {**training_part(config, benchmark, "train"), "protocol": config["benchmarks"][benchmark]["protocol"],
                  "val_sampler": config["sampler"], "val_steps": config["sampler_steps"]},
    }


def configured_variants(config: Mapping) -> dict[str, tuple[str, str, int]]:
    """More rows of every sampling method (:attr:`irsde.methods.Method.samples`), one per
    ``extra_samplers`` entry, restored from the method's trained model with that sampler and
    number of steps: row id (e.g. ``irsde-fast-sde-10``) -> (method id, sampler, steps)."""
    variants = {}
    for method in all_methods(config):
        if METHODS[method].samples:
            for entry in config["extra_samplers"]:
                facts = METHODS[method].sampler_variant(entry["sampler"], entry["steps"])
                variants[facts.id] = (method, entry["sampler"], entry["steps"])
    return variants


def sampler_variants(config: Mapping) -> dict[str, tuple[str, str, int | None]]:
    """Every row restored from another row's trained model: the configured variants and the rows
    methods always add (:attr:`irsde.methods.Method.sampler_rows`, steps None: the method's own):
    row id -> (method id, sampler, steps)."""
    declared = {row.facts.id: (method, row.sampler, None)
                for method in all_methods(config) for row in METHODS[method].sampler_rows}
    return {**configured_variants(config), **declared}


def table_rows(config: Mapping, benchmark: str) -> list[str]:
    """The restored rows of a benchmark's table by id: every method of the benchmark, their sampler
    variants, and the authors' published weights when they are configured for the benchmark."""
    methods = methods_of(config, benchmark)
    variants = [row for row, (method, *_) in sampler_variants(config).items() if method in methods]
    published = [PUBLISHED_WEIGHTS.id] if benchmark in config["published_weights"] else []
    return [*methods, *variants, *published]


def variant_of(config: Mapping, row: str) -> tuple[str, str | None, int | None]:
    """(the trained method whose run restores ``row``, its sampler and steps; None: the run's own)."""
    return sampler_variants(config).get(row, (row, None, None))


def restored_with(config: Mapping, row: str) -> tuple[str, list[str]]:
    """(the trained method whose run restores ``row``, the ``irsde restore`` sampler options)."""
    method, sampler, steps = variant_of(config, row)
    options = ["--sampler", sampler] if sampler is not None else []
    return method, options + (["--steps", str(steps)] if steps is not None else [])


def row_sampling(config: Mapping, benchmark: str) -> dict[str, tuple[str, int]]:
    """Row id -> (sampler, network evaluations per image) of every sampled row of a benchmark's
    table (the methods that sample, their variants, the published weights), for its caption: as
    the row's method, configured for this benchmark, reports it (:meth:`Method.settings`)."""
    main = (config["sampler"], config["sampler_steps"] or benchmark_section(config, benchmark, "sde")["T"])
    sampling = {}
    for row in table_rows(config, benchmark):
        if row == PUBLISHED_WEIGHTS.id:
            sampling[row] = main
            continue
        settings = restoring_method(config, benchmark, row).settings()
        if "sampler" in settings:
            sampling[row] = (settings["sampler"], settings["nfe"])
    return sampling


def restoring_method(config: Mapping, benchmark: str, row: str):
    """The method (:class:`irsde.methods.Method`) that restores ``row`` on ``benchmark``, as its
    run builds it (the run's folders play no part: placeholders stand for them)."""
    method, sampler, steps = variant_of(config, row)
    built = build_method(validate_config(run_config(config, benchmark, method, "train", "test", "run")))
    return built if sampler is None else built.with_sampler(sampler, steps)


def table_row_facts(config: Mapping):
    """The facts (label, paper row, stochastic flag) of every row id this config can produce."""
    return row_facts(configured_variants(config).values())


def schedule_variants(config: Mapping) -> list[str]:
    """Runs of the theta-schedule comparison, ``<schedule>-<loss>``: every schedule, the configured loss."""
    return [f"{schedule}-{config['loss']['name']}" for schedule in config["curves"]["schedules"]]


def loss_variants(config: Mapping) -> list[str]:
    """Runs of the loss comparison, ``<schedule>-<loss>``: every loss, the configured schedule."""
    return [f"{config['sde']['schedule']}-{loss}" for loss in config["curves"]["losses"]]


def curve_variants(config: Mapping) -> list[str]:
    """Every run of the curves, each once."""
    return list(dict.fromkeys(schedule_variants(config) + loss_variants(config)))


def paper_variant(config: Mapping) -> str:
    """The curves' run of the configured schedule and loss (whose timestep errors are plotted)."""
    return f"{config['sde']['schedule']}-{config['loss']['name']}"


def curve_run_config(
    config: Mapping, variant: str, seed: int, train_dir: str, val_dir: str, output_dir: str
) -> dict:
    """An IR-SDE run of the curves (``<schedule>-<loss>``) with training seed ``seed``: the table
    run's settings on the curves' benchmark with this schedule and loss, the curves' budget and
    validation period."""
    schedule, loss = variant.split("-", 1)
    curves = config["curves"]
    run = run_config(config, curves["benchmark"], IRSDEMethod.id, train_dir, val_dir, output_dir)
    run["name"] = f"{config['name']}-curves-{variant}-seed{seed}"
    run["seed"] = seed
    run["sde"]["schedule"] = schedule
    run["loss"]["name"] = loss
    run["train"].update(iterations=curves["iterations"], val_every=curves["val_every"])
    run["train"]["checkpoint_every"] = min(run["train"].get("checkpoint_every", curves["iterations"]), curves["iterations"])
    if "val_images" in curves:
        run["data"]["val_images"] = curves["val_images"]
    return run


def validation_subset(run: Mapping) -> dict:
    """The images a run validates on, as :func:`irsde.train.validation.input_scores` takes them."""
    resolved = validate_config(run)
    data = resolved["data"]
    return {"split_dir": data["val"], "count": data["val_images"], "crop_size": data["val_crop_size"],
            "protocol": resolved["train"]["protocol"]}


def paper_deviations(config: Mapping, benchmark: str) -> list[str]:
    """How the IR-SDE run of ``benchmark`` differs from the paper's setting, in words
    (:func:`irsde.paper.paper_deviations`); none when IR-SDE is not trained. The run's folders
    play no part in this, so placeholders stand for them."""
    if IRSDEMethod.id not in methods_of(config, benchmark):
        return []
    run = run_config(config, benchmark, IRSDEMethod.id, "train", "test", "run")
    return irsde_paper.paper_deviations(validate_config(run))

