"""The pipeline's configuration (``config/*.yaml``): its validation and the training runs it describes.

The pipeline's JSON Schema (``workflow/schemas/config.schema.yaml``) describes its own keys and
references the training schema of :mod:`irsde.train.config` for ``network``, ``sde``, ``loss``
and ``training``, so a training key is described and bounded in one place.
:func:`validate_pipeline_config` applies that schema (defaults filled in) and the few checks that
relate keys to one another or to the published numbers (every ``methods`` entry, a registered
id or a class named ``package.module:Class``, is imported then; every ``method_options`` entry
is validated by its method). :func:`run_config` and
:func:`curve_run_config` translate the validated config into the training config of one run
(validated by :func:`irsde.train.train` when it starts). :func:`table_rows` and
:func:`table_row_facts` list a benchmark's rows by id: the methods, their sampler variants, the
``user_outputs`` (a user's folders of precomputed restorations, checked against the test images
by :func:`check_user_outputs`) and the rows restored with released checkpoints (``released:``,
:func:`released_rows`).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from irsde import deviations
from irsde import paper as irsde_paper
from irsde import schema, user_outputs
from irsde.checkpoints import CHECKPOINTS, checkpoint_location
from irsde.data import ALL_DATASETS, SYNTHETIC
from irsde.documents import read_yaml_file
from irsde.images import list_images
from irsde.data.layout import marker_path, sha256_file
from irsde.data.synthetic import planned_images, recipe_key
from irsde.methods import INPUT, METHODS, USER_OUTPUTS, Method, RowFacts, build_method, method_class, row_facts
from irsde.methods.ir_sde import IRSDEMethod
from irsde.sampling import check_step_count
from irsde.train.config import schema_registries, validate_config

TRAINING_PARTS = ("data", "optim", "train")
"""The sections of ``training`` a benchmark may override (``benchmarks.<name>.training``)."""
TRAINING_SECTIONS = ("network", "loss", "training")
"""Top-level sections a config needs when it trains a method (and only then)."""


def check_config_files(paths: Iterable[str | os.PathLike]) -> None:
    """Read each config file again with irsde's one YAML loader (:mod:`irsde.documents`), which
    Snakemake does not use: a key given twice (Snakemake keeps the last silently) or an alias
    bomb (which would keep validation busy for hours) fails here, naming the file and line."""
    for path in dict.fromkeys(map(str, paths)):
        read_yaml_file(path, "config file")


def validate_pipeline_config(config: Mapping, schema_file: str | os.PathLike, published_csv: str | os.PathLike) -> dict:
    """The checked config with defaults filled in; ValueError naming the key at fault otherwise."""
    resolved = schema.validate(config, schema_file, schema_registries())
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
    if "curves" in config:
        _check_choice("curves.benchmark", config["curves"]["benchmark"], benchmarks)
    _check_rows(config, benchmarks)
    _check_training_sections(config)
    _check_method_options(config)
    missing = [metric for metric in config["metrics"] if metric not in config["regress"]["tolerances"]]
    if missing:
        raise ValueError(f"config key 'regress.tolerances': no tolerance for metric(s) {', '.join(missing)}")
    for name in config["benchmarks"]:
        _check_restorers(config, name)


def _check_restorers(config: Mapping, benchmark: str) -> None:
    """Every row of the benchmark restored with a sampler, or from a training run, can be built
    as configured: its training config is valid and its sampler's steps fit the SDE (the error
    names the benchmark, the row and the key at fault)."""
    for row in table_rows(config, benchmark):
        try:
            if row in CHECKPOINTS:
                if METHODS[CHECKPOINTS[row].method].samples and config["sampler_steps"] is not None:
                    check_step_count(config["sampler_steps"], benchmark_sde(config, benchmark)["T"])
            elif row in method_classes(config) or row in sampler_variants(config):
                restoring_method(config, benchmark, row)
        except ValueError as error:
            raise ValueError(f"{_row_key(config, row)}benchmark {benchmark}, row {row}: {error}") from None


def _row_key(config: Mapping, row: str) -> str:
    """The config key that sets a row's sampler steps, as the start of an error message."""
    variants = list(configured_variants(config))
    if row in variants:
        return f"config key 'extra_samplers[{variants.index(row)}].steps': "
    return "config key 'sampler_steps': " if config["sampler_steps"] is not None else ""


def _check_training_sections(config: Mapping) -> None:
    """The network, sde, loss and training sections must be there when some benchmark trains a method."""
    trained = {name: methods_of(config, name) for name in config["benchmarks"]}
    trained = {name: methods for name, methods in trained.items() if methods}
    missing = [section for section in TRAINING_SECTIONS if section not in config]
    if trained and missing:
        name, methods = next(iter(trained.items()))
        raise ValueError(f"config key '{missing[0]}' is required: benchmark {name} trains {', '.join(methods)} "
                         f"(a config that trains nothing needs none of {', '.join(TRAINING_SECTIONS)})")


def _check_method_options(config: Mapping) -> None:
    """Each ``method_options`` entry names a method and passes its validation, alone and on top of
    the options of every released checkpoint of that method the config restores."""
    known = {**METHODS, **method_classes(config)}
    for method, options in config["method_options"].items():
        _check_choice("method_options", method, sorted(known))
        known[method].resolve_options(options, f"config key 'method_options.{method}'")
    for benchmark in config["benchmarks"]:
        for row in config["benchmarks"][benchmark]["released"]:
            released_options(config, row)


def _check_rows(config: Mapping, benchmarks: list[str]) -> None:
    """Every method importable, and every row id (methods, sampler variants, user outputs,
    released checkpoints) used once."""
    taken = {INPUT.id: "the degraded input"}
    taken.update({name: f"released checkpoint {name}" for name in CHECKPOINTS})
    taken.update({row: f"methods entry {spec!r}" for row, spec in method_specs(config).items()})
    taken.update({row: f"a sampler variant of {method}" for row, (method, _, _) in sampler_variants(config).items()})
    for method in config["method_sections"]:
        _check_choice("method_sections", method, sorted({*METHODS, *method_specs(config)}))
    for row, entry in config["user_outputs"].items():
        if row in taken:
            raise ValueError(f"config key 'user_outputs.{row}': the id {row!r} is taken by {taken[row]}; choose another")
        for benchmark in entry["folders"]:
            _check_choice(f"user_outputs.{row}.folders", benchmark, benchmarks)


def _method_entries(config: Mapping) -> list[tuple[str, list[str]]]:
    """(config key, entries) of every ``methods`` list: the top-level one, then each benchmark's own."""
    own = [(f"benchmarks.{name}.methods", bench["methods"]) for name, bench in config["benchmarks"].items()
           if bench.get("methods")]
    return [("methods", config["methods"]), *own]


def _listed_methods(config: Mapping) -> dict[str, tuple[str, type[Method]]]:
    """Row id -> (entry, class) of every method some ``methods`` list names, top-level ones first;
    ValueError naming the entry that cannot be imported or repeats an id within its list or with
    another spec."""
    found = {}
    for key, entries in _method_entries(config):
        ids = set()
        for index, spec in enumerate(entries):
            try:
                method = method_class(spec)
            except ValueError as error:
                raise ValueError(f"config key '{key}[{index}]': {error}") from None
            if method.id in ids or found.get(method.id, (spec,))[0] != spec:
                raise ValueError(f"config key '{key}[{index}]': {spec!r} has the id {method.id!r} of an earlier entry")
            ids.add(method.id)
            found.setdefault(method.id, (spec, method))
    return found


def method_classes(config: Mapping) -> dict[str, type[Method]]:
    """Row id -> class of each method some ``methods`` list names (a registered id or
    ``package.module:Class``), in config order."""
    return {row: method for row, (_, method) in _listed_methods(config).items()}


def method_specs(config: Mapping) -> dict[str, str]:
    """Row id -> the ``methods`` entry naming it (what its training run's config records)."""
    return {row: spec for row, (spec, _) in _listed_methods(config).items()}


def methods_of(config: Mapping, benchmark: str) -> list[str]:
    """Row ids of the methods trained and tabled on ``benchmark``: its own list, else the top-level one."""
    return [method_class(spec).id for spec in config["benchmarks"][benchmark].get("methods") or config["methods"]]


def user_output_rows(config: Mapping) -> dict[str, RowFacts]:
    """The facts of every ``user_outputs`` row: its label, one (deterministic) result, source
    "user outputs"."""
    return {row: RowFacts(row, entry["label"], paper_row=None, stochastic=False, source=USER_OUTPUTS)
            for row, entry in config["user_outputs"].items()}


def user_outputs_folder(config: Mapping, row: str, benchmark: str) -> str:
    """The folder of user outputs ``row`` for ``benchmark``."""
    return config["user_outputs"][row]["folders"][benchmark]


def as_input_path(path: str | os.PathLike) -> str:
    """A configured file or folder as a rule input: a bare name (``my_outputs``) gets ``./``, so that
    Snakemake takes it for a file and never for a target's name (the workflow's catch-all rule for
    misspelled targets)."""
    path = str(path)
    return path if "/" in path else f"./{path}"


def user_outputs_inputs(config: Mapping, row: str, benchmark: str) -> list[str]:
    """What importing user outputs ``row`` for ``benchmark`` reads: every image of its folder, so that an
    image replaced in place reruns the import (the folder's own time stamp does not change then); the
    folder itself while it is no folder (the import then names it)."""
    folder = Path(user_outputs_folder(config, row, benchmark))
    if not folder.is_dir():
        return [as_input_path(folder)]
    return [as_input_path(path) for path in list_images(folder)]


def scored_source_digest(config: Mapping, row: str, benchmark: str) -> str:
    """What the scores of ``row`` on ``benchmark`` depend on beyond its restored folder: the contents
    of a user's outputs (:func:`user_outputs_digest`; "" for every other row). A parameter of the
    scoring job, so that new outputs are scored again even when their imported copy is gone (deleted
    to free disk, or removed by Snakemake after a clock-skew error) and Snakemake would otherwise keep
    the old scores."""
    folders = config["user_outputs"].get(row, {}).get("folders", {})
    return user_outputs_digest(config, row, benchmark) if benchmark in folders else ""


def user_outputs_digest(config: Mapping, row: str, benchmark: str) -> str:
    """sha256 over the names and contents of the images of user outputs ``row`` for ``benchmark``
    ("" while the folder is missing): a rule parameter, so that new content under old time stamps
    (copied or unpacked with its times kept) also reruns the import."""
    folder = Path(user_outputs_folder(config, row, benchmark))
    if not folder.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in list_images(folder):
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def expected_test_images(config: Mapping, benchmark: str) -> dict[str, tuple[int, int]] | None:
    """Name -> (height, width) of the test images of ``benchmark``: planned from the recipe of a
    synthetic stand-in, read from a prepared split; None when neither is known yet."""
    dataset, split = dataset_of(config, benchmark, "test"), config["benchmarks"][benchmark]["test_split"]
    if dataset in SYNTHETIC:
        return planned_images(split, **synthetic_recipe(config, dataset))
    if marker_path(prepared_root(config, dataset), dataset).is_file():
        return user_outputs.split_images(split_dir(config, benchmark, "test"))
    return None


def check_user_outputs(config: Mapping) -> None:
    """Check every ``user_outputs`` folder of an enabled benchmark against its test images
    (:func:`irsde.user_outputs.check_outputs`: an error names every missing, extra or wrongly
    sized file). A benchmark whose test split is not prepared yet is checked when its folder is
    imported (:func:`irsde.user_outputs.import_outputs`)."""
    for row, entry in config["user_outputs"].items():
        for benchmark, folder in entry["folders"].items():
            expected = expected_test_images(config, benchmark)
            if config["benchmarks"][benchmark].get("enabled", True) and expected is not None:
                user_outputs.check_outputs(folder, expected, f"config key 'user_outputs.{row}.folders.{benchmark}'")


def dataset_of(config: Mapping, benchmark: str, split: str) -> str:
    """The dataset a benchmark trains on (split ``train``) or is tested on (split ``test``)."""
    bench = config["benchmarks"][benchmark]
    return bench["train_dataset"] if split == "train" and bench.get("train_dataset") else bench["dataset"]


def benchmarks_using(config: Mapping, dataset: str) -> list[str]:
    return [name for name in config["benchmarks"] if dataset in (dataset_of(config, name, "train"), dataset_of(config, name, "test"))]


def prepared_root(config: Mapping, dataset: str) -> str:
    """The folder ``irsde data prepare`` builds ``dataset`` into (as ``<root>/<dataset>/``):
    ``paths.data`` for a registered dataset, ``<paths.data>/synthetic/<recipe key>`` for a
    synthetic stand-in, keyed by what it is built from (:func:`irsde.data.synthetic.recipe_key`),
    so that configurations with different recipes keep their data, and their trained models,
    side by side."""
    if dataset in SYNTHETIC:
        return f"{config['paths']['data']}/synthetic/{recipe_key(dataset, **synthetic_recipe(config, dataset))}"
    return config["paths"]["data"]


def prepared_dir(config: Mapping, dataset: str) -> str:
    """The prepared folder of ``dataset`` (its splits and ``dataset.json``)."""
    return f"{prepared_root(config, dataset)}/{dataset}"


def split_dir(config: Mapping, benchmark: str, split: str) -> str:
    """The prepared folder (holding GT/ and LQ/) of a benchmark's ``train`` or ``test`` split."""
    dataset = dataset_of(config, benchmark, split)
    return f"{prepared_dir(config, dataset)}/{config['benchmarks'][benchmark][f'{split}_split']}"


def local_source(config: Mapping, dataset: str) -> str | None:
    """A user's folder or archive used for a registered dataset (``benchmarks.<name>.path``), or None."""
    return next((config["benchmarks"][b]["path"] for b in benchmarks_using(config, dataset)
                 if config["benchmarks"][b].get("path")), None)


def prepare_options(config: Mapping, dataset: str) -> list[str]:
    """``irsde data prepare`` options of a dataset: its local source, or the recipe of a synthetic
    stand-in (from the first benchmark using it; keys left out get the library's defaults), in
    the order of the keys' names, so that the job's parameters do not depend on how a config
    file orders them (Snakemake reruns a job whose parameters changed)."""
    if local_source(config, dataset):
        return ["--path", local_source(config, dataset)]
    recipe = synthetic_recipe(config, dataset)
    return [part for key, value in sorted(recipe.items()) for part in (f"--{key.replace('_', '-')}", str(value))]


def synthetic_recipe(config: Mapping, dataset: str) -> dict:
    """The recipe of a synthetic stand-in: that of the first benchmark using it with one (keys
    left out get the library's defaults)."""
    recipes = [config["benchmarks"][b].get("synthetic") for b in benchmarks_using(config, dataset)]
    return dict(next(filter(None, recipes), {}))


def benchmark_section(config: Mapping, benchmark: str, section: str) -> dict:
    """``sde`` or ``network`` of a benchmark: the top-level section with the benchmark's own keys on top."""
    return {**config.get(section, {}), **(config["benchmarks"][benchmark].get(section) or {})}


def benchmark_sde(config: Mapping, benchmark: str) -> dict:
    """The SDE of a benchmark, with the paper's values for keys no section sets (as a run's)."""
    return {**irsde_paper.PAPER_SDE, **benchmark_section(config, benchmark, "sde")}


def method_section(config: Mapping, benchmark: str, method: str, section: str) -> dict:
    """``sde`` or ``network`` of ``method``'s run on ``benchmark``: the benchmark's section with the
    method's own keys (``method_sections.<method>.<section>``) on top."""
    own = config.get("method_sections", {}).get(method, {}).get(section) or {}
    return {**benchmark_section(config, benchmark, section), **own}


def training_part(config: Mapping, benchmark: str, part: str) -> dict:
    """``data``, ``optim`` or ``train`` of ``training``, with the benchmark's own keys on top."""
    own = (config["benchmarks"][benchmark].get("training") or {}).get(part) or {}
    return {**config["training"][part], **own}


def run_config(
    config: Mapping, benchmark: str, method: str, train_dir: str, val_dir: str, output_dir: str
) -> dict:
    """The training config of ``method`` on ``benchmark`` (split folders and output folder given)."""
    training = config["training"]
    return {
        "name": f"{config['name']}-{benchmark}-{method}",
        "seed": training["seed"],
        "method": method_specs(config)[method],
        "device": training["device"],
        "output_dir": output_dir,
        "options": dict(config["method_options"].get(method, {})),
        "data": {"train": train_dir, "val": val_dir, **training_part(config, benchmark, "data")},
        "network": method_section(config, benchmark, method, "network"),
        "sde": {**irsde_paper.PAPER_SDE, **method_section(config, benchmark, method, "sde")},
        "loss": dict(config["loss"]),
        "optim": training_part(config, benchmark, "optim"),
        "train": {**training_part(config, benchmark, "train"), "protocol": config["benchmarks"][benchmark]["protocol"]},
    }


def training_ranks(gpu: object = None, gres: object = None) -> int:
    """Processes of one training job: its GPUs, from the job's ``gpu`` resource (an integer, the
    executor's ``--gpus``) or its ``gres`` resource (``gpu:N`` or ``gpu:TYPE:N``); 1 when it asks
    for at most one GPU or none. More than 1 trains under torchrun (:mod:`irsde.train.launch`)."""
    count = gpu
    if not count and gres:
        parts = str(gres).split(":")
        count = parts[-1] if parts[0] == "gpu" and len(parts) > 1 else 0
    try:
        count = int(count or 0)
    except ValueError:
        raise ValueError(f"resource gpu/gres: expected a GPU count, got gpu={gpu!r} gres={gres!r}") from None
    if count < 0:
        raise ValueError(f"resource gpu: expected a GPU count >= 0, got {count}")
    return max(1, count)


def configured_variants(config: Mapping) -> dict[str, tuple[str, str, int]]:
    """More rows of every sampling method (:attr:`irsde.methods.Method.samples`), one per
    ``extra_samplers`` entry, restored from the method's trained model with that sampler and
    number of steps: row id (e.g. ``irsde-fast-sde-10``) -> (method id, sampler, steps)."""
    variants = {}
    for method, cls in method_classes(config).items():
        if cls.samples:
            for entry in config["extra_samplers"]:
                facts = cls.sampler_variant(entry["sampler"], entry["steps"])
                variants[facts.id] = (method, entry["sampler"], entry["steps"])
    return variants


def sampler_variants(config: Mapping) -> dict[str, tuple[str, str, int | None]]:
    """Every row restored from another row's trained model: the configured variants and the rows
    methods always add (:attr:`irsde.methods.Method.sampler_rows`, steps None: the method's own):
    row id -> (method id, sampler, steps)."""
    declared = {row.facts.id: (method, row.sampler, None)
                for method, cls in method_classes(config).items() for row in cls.sampler_rows}
    return {**configured_variants(config), **declared}


def table_rows(config: Mapping, benchmark: str) -> list[str]:
    """The restored rows of a benchmark's table by id: every method of the benchmark, their sampler
    variants, the user outputs with a folder for the benchmark, and its released checkpoints
    (:func:`released_rows`)."""
    methods = methods_of(config, benchmark)
    variants = [row for row, (method, *_) in sampler_variants(config).items() if method in methods]
    users = [row for row, entry in config["user_outputs"].items() if benchmark in entry["folders"]]
    return [*methods, *variants, *users, *released_rows(config, benchmark)]


def released_rows(config: Mapping, benchmark: str) -> list[str]:
    """The ``released`` checkpoints of a benchmark that it restores: every one that can be
    downloaded, and each browser-only one whose file is already in ``resources/weights/`` (the
    others are named in the table's footnotes, :func:`omitted_released`)."""
    return [name for name in config["benchmarks"][benchmark]["released"] if not _awaits_the_user(config, name)]


def omitted_released(config: Mapping, benchmark: str) -> list[str]:
    """One footnote per browser-only checkpoint of a benchmark whose file is not there yet."""
    from irsde.checkpoints import missing_message

    notes = []
    for name in config["benchmarks"][benchmark]["released"]:
        if _awaits_the_user(config, name):
            checkpoint = CHECKPOINTS[name]
            location = checkpoint_location(checkpoint, config["paths"]["resources"])
            notes.append(f"{checkpoint.label}: not in this table. "
                         + missing_message(checkpoint, location, "browser download"))
    return notes


def _awaits_the_user(config: Mapping, name: str) -> bool:
    checkpoint = CHECKPOINTS[name]
    return checkpoint.source.browser and not checkpoint_location(checkpoint, config["paths"]["resources"]).is_file()


def released_options(config: Mapping, row: str) -> dict:
    """The options a released checkpoint restores with (validated by its method): those it was
    released for (facts of its weights, e.g. PReNet's 6 stages, IR-SDE's noise prediction), the
    config's ``method_options`` of its method for the others (e.g. FFDNet's noise level), then
    the method's defaults. (A trained run's ``method_options`` do not change released weights.)"""
    checkpoint = CHECKPOINTS[row]
    options = {**config["method_options"].get(checkpoint.method, {}), **checkpoint.options}
    return METHODS[checkpoint.method].resolve_options(options, f"config key 'method_options.{checkpoint.method}'")


def released_restore_options(config: Mapping, benchmark: str, row: str) -> list[str]:
    """The ``irsde restore --checkpoint`` options of a released row: every option it restores with
    (:func:`released_options`), and for a method that samples the configured sampler and the
    benchmark's SDE."""
    checkpoint = CHECKPOINTS[row]
    method = METHODS[checkpoint.method]
    options = [part for key, value in released_options(config, row).items()
               for part in ("--option", f"{key}={'null' if value is None else value}")]
    if method.samples:
        options += ["--sampler", config["sampler"]] + (["--steps", str(config["sampler_steps"])] if config["sampler_steps"] else [])
    if method.default_sde is not None:
        sde = benchmark_section(config, benchmark, "sde")
        options += [part for key, value in sde.items() for part in (f"--{key.replace('_', '-')}", str(value))]
    return options


def released_sources(config: Mapping, benchmark: str) -> list[str]:
    """For a table caption: each released row of the benchmark, its checkpoint, source and git blob id."""
    return [f"{CHECKPOINTS[row].label}: checkpoint {row}, {CHECKPOINTS[row].source.describe()}"
            for row in released_rows(config, benchmark)]


def variant_of(config: Mapping, row: str) -> tuple[str, str | None, int | None]:
    """(the trained method whose run restores ``row``, its sampler and steps; None: the method's
    own). A sampling method's own row restores with the configured ``sampler`` and
    ``sampler_steps``: a restoration choice, never part of the training run."""
    if row in sampler_variants(config):
        return sampler_variants(config)[row]
    if row in method_classes(config) and method_classes(config)[row].samples:
        return row, config["sampler"], config["sampler_steps"]
    return row, None, None


def restored_with(config: Mapping, row: str) -> tuple[str, list[str]]:
    """(the trained method whose run restores ``row``, the ``irsde restore`` sampler options)."""
    method, sampler, steps = variant_of(config, row)
    options = ["--sampler", sampler] if sampler is not None else []
    return method, options + (["--steps", str(steps)] if steps is not None else [])


def row_sampling(config: Mapping, benchmark: str) -> dict[str, tuple[str, int]]:
    """Row id -> (sampler, network evaluations per image) of every sampled row of a benchmark's
    table (the methods that sample, their variants, released checkpoints of such methods), for its caption: as
    the row's method, configured for this benchmark, reports it (:meth:`Method.settings`)."""
    main = (config["sampler"], config["sampler_steps"] or benchmark_sde(config, benchmark)["T"])
    trained = set(method_classes(config)) | set(sampler_variants(config))
    sampling = {}
    for row in table_rows(config, benchmark):
        if row in CHECKPOINTS and METHODS[CHECKPOINTS[row].method].samples:
            sampling[row] = main
        elif row in trained:
            settings = restoring_method(config, benchmark, row).settings()
            if "sampler" in settings:
                sampling[row] = (settings["sampler"], settings["nfe"])
    return sampling


def restoring_method(config: Mapping, benchmark: str, row: str) -> Method:
    """The method that restores ``row`` on ``benchmark``, as its run builds it (the run's folders
    play no part: placeholders stand for them)."""
    method, sampler, steps = variant_of(config, row)
    built = build_method(validate_config(run_config(config, benchmark, method, "train", "test", "run")))
    return built if sampler is None else built.with_sampler(sampler, steps)


def table_row_facts(config: Mapping):
    """The facts (label, paper row, stochastic flag, source) of every row id this config can produce."""
    return row_facts(configured_variants(config).values(), method_classes(config).values(),
                     user_output_rows(config).values())


def schedule_variants(config: Mapping) -> list[str]:
    """Runs of the theta-schedule comparison, ``<schedule>-<loss>``: every schedule, the configured loss."""
    return [f"{schedule}-{config['loss']['name']}" for schedule in config["curves"]["schedules"]]


def loss_variants(config: Mapping) -> list[str]:
    """Runs of the loss comparison, ``<schedule>-<loss>``: every loss, the configured schedule."""
    return [f"{_curves_schedule(config)}-{loss}" for loss in config["curves"]["losses"]]


def curve_variants(config: Mapping) -> list[str]:
    """Every run of the curves, each once."""
    return list(dict.fromkeys(schedule_variants(config) + loss_variants(config)))


def paper_variant(config: Mapping) -> str:
    """The curves' run of the configured schedule and loss (whose timestep errors are plotted)."""
    return f"{_curves_schedule(config)}-{config['loss']['name']}"


def _curves_schedule(config: Mapping) -> str:
    """The theta schedule the curves' benchmark trains with (the loss comparison's)."""
    return benchmark_sde(config, config["curves"]["benchmark"])["schedule"]


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
    """How the IR-SDE run of ``benchmark`` differs from the paper's setting for its task, in words
    (:func:`irsde.deviations.paper_deviations`); none when IR-SDE is not trained. The run's folders
    play no part in this, so placeholders stand for them."""
    if IRSDEMethod.id not in methods_of(config, benchmark):
        return []
    run = run_config(config, benchmark, IRSDEMethod.id, "train", "test", "run")
    task = ALL_DATASETS[dataset_of(config, benchmark, "test")].task
    return deviations.paper_deviations(validate_config(run), task=task)
