# Config loading and validation, and the paths of the files rules read and write.
import csv
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from irsde.data import ALL_DATASETS, DATASETS, SYNTHETIC, GitTreeSource
from irsde.methods import INPUT as INPUT_ROW, PUBLISHED_WEIGHTS, row_facts


validate(config, "../schemas/config.schema.yaml")

PATHS = config["paths"]
NAME = config["name"]
INPUT = INPUT_ROW.id
PUBLISHED = PUBLISHED_WEIGHTS.id
# The irsde CLI of the Python running Snakemake (works without an activated virtualenv).
IRSDE = f"{shlex.quote(sys.executable)} -m irsde"
# Committed inputs live in the repository, wherever the workflow runs (`snakemake -d DIR`).
REPOSITORY = Path(workflow.basedir)
PUBLISHED_CSV = str(REPOSITORY / "results" / "published" / "published_results.csv")
TARGET_RULES = ("tables", "curves", "figures", "regress", "all")


def alternatives_regex(names):
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


def _source_owners(folders):
    """Archive (folders=False) or git-tree folder (True) source name -> first dataset using it."""
    owners = {}
    for dataset in DATASETS.values():
        for source in dataset.sources:
            if isinstance(source, GitTreeSource) == folders:
                owners.setdefault(source.name, dataset.name)
    return owners


SOURCE_OWNERS = {**_source_owners(False), **_source_owners(True)}
ARCHIVE_PATTERN = alternatives_regex(_source_owners(False))
FOLDER_PATTERN = alternatives_regex(_source_owners(True))
DATASET_PATTERN = alternatives_regex(ALL_DATASETS)
TRAINED_PATTERN = alternatives_regex(config["methods"])


def _published_benchmarks():
    with open(PUBLISHED_CSV) as handle:
        return sorted({row["benchmark"] for row in csv.DictReader(handle)})


def _check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"config key {key}: '{value}' is not valid; choose one of: {', '.join(choices)}")


def _check_config():
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    datasets = [*SYNTHETIC, *sorted(DATASETS)]
    published = _published_benchmarks()
    for name, bench in config["benchmarks"].items():
        _check_choice(f"benchmarks.{name}.dataset", bench["dataset"], datasets)
        if bench.get("train_dataset"):
            _check_choice(f"benchmarks.{name}.train_dataset", bench["train_dataset"], datasets)
        if bench["dataset"] in SYNTHETIC and bench.get("published"):
            raise ValueError(
                f"config key benchmarks.{name}.published: a synthetic stand-in is never compared "
                "with the paper's numbers; set it to null"
            )
        if bench.get("published"):
            _check_choice(f"benchmarks.{name}.published", bench["published"], published)
    for name in config.get("published_weights", {}):
        _check_choice("published_weights", name, sorted(config["benchmarks"]))
    if "curves" in config:
        _check_choice("curves.benchmark", config["curves"]["benchmark"], sorted(config["benchmarks"]))
    missing = sorted(set(config["metrics"]) - set(config["regress"]["tolerances"]))
    if missing:
        raise ValueError(f"config key regress.tolerances: no tolerance for metric(s) {missing}")


def train_config(benchmark, method):
    """The irsde training config of one table run (validated by irsde.train at parse time)."""
    training = config["training"]
    run = {
        "name": f"{NAME}-{benchmark}-{method}",
        "seed": training["seed"],
        "method": method,
        "device": training.get("device", "auto"),
        "output_dir": run_dir(benchmark, method),
        "data": {"train": split_dir(benchmark, "train"), "val": split_dir(benchmark, "test"), **training["data"]},
        "network": network_of(benchmark),
        "loss": dict(config["loss"]),
        "optim": dict(training["optim"]),
        "train": {**training["train"], "protocol": bench(benchmark)["protocol"], "val_sampler": config["sampler"]},
    }
    if method == "irsde":
        run["sde"] = sde_of(benchmark)
    return run


def curve_train_config(variant):
    """An IR-SDE run of the curves: the table run's settings with this schedule and loss."""
    schedule, loss = variant.split("-", 1)
    curves = config["curves"]
    run = train_config(curves["benchmark"], "irsde")
    run["name"] = f"{NAME}-curves-{variant}"
    run["output_dir"] = curve_run_dir(variant)
    run["sde"]["schedule"] = schedule
    run["loss"]["name"] = loss
    run["train"].update(iterations=curves["iterations"], val_every=curves["val_every"])
    run["train"]["checkpoint_every"] = min(run["train"].get("checkpoint_every", curves["iterations"]), curves["iterations"])
    if "val_images" in curves:
        run["data"]["val_images"] = curves["val_images"]
    return run


def _check_run_configs():
    from irsde.train import validate_config

    for benchmark in enabled_benchmarks():
        for method in config["methods"]:
            _validated(validate_config, train_config(benchmark, method), f"training of {benchmark}/{method}")
    if "curves" in config:
        for variant in curve_variants():
            _validated(validate_config, curve_train_config(variant), f"curves run {variant}")


def _validated(validate, run, what):
    try:
        validate(run)
    except ValueError as error:
        raise ValueError(f"{what}: {error} (set under `training:`, `network:`, `sde:` or `loss:` in the config)") from None


def enabled_benchmarks():
    return [name for name, bench in config["benchmarks"].items() if bench.get("enabled", True)]


def bench(name):
    return config["benchmarks"][name]


def is_synthetic(name):
    return bench(name)["dataset"] in SYNTHETIC


def sde_of(name):
    """The SDE of a benchmark: the global `sde:` with the benchmark's own `sde:` keys on top."""
    return {**config["sde"], **(bench(name).get("sde") or {})}


def network_of(name):
    return {**config["network"], **(bench(name).get("network") or {})}


def dataset_of(name, split):
    """The dataset a benchmark trains on (split 'train') or is tested on (split 'test')."""
    if split == "train" and bench(name).get("train_dataset"):
        return bench(name)["train_dataset"]
    return bench(name)["dataset"]


def dataset_marker(name, split):
    return f"{PATHS['data']}/{dataset_of(name, split)}/dataset.json"


def split_dir(name, split):
    return f"{PATHS['data']}/{dataset_of(name, split)}/{bench(name).get(f'{split}_split', split)}"


def benchmarks_using(dataset):
    return [name for name in config["benchmarks"] if dataset in (dataset_of(name, "train"), dataset_of(name, "test"))]


def local_source(dataset):
    """A user-provided folder/archive for a registry dataset (benchmarks.<name>.path), or None."""
    return next((bench(b)["path"] for b in benchmarks_using(dataset) if bench(b).get("path")), None)


def prepare_options(dataset):
    """`irsde data prepare` options: a local source, or the recipe of a synthetic stand-in (taken
    from the first benchmark using it; keys left out get the library's defaults)."""
    if local_source(dataset):
        return f"--path {shlex.quote(local_source(dataset))}"
    recipe = next((bench(b)["synthetic"] for b in benchmarks_using(dataset) if bench(b).get("synthetic")), {})
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in recipe.items())


def source_paths(dataset):
    """Where the archives / git-tree folders of a dataset live in resources/ (none: synthetic)."""
    return [f"{PATHS['resources']}/{source.name}" for source in ALL_DATASETS[dataset].sources]


def run_dir(benchmark, method):
    return f"{PATHS['runs']}/{NAME}/{benchmark}/{method}"


def final_weights(benchmark, method):
    return f"{run_dir(benchmark, method)}/final/net_ema.pth"


def curve_run_dir(variant):
    return f"{PATHS['runs']}/{NAME}/curves/{variant}"


def methods_for(benchmark):
    published = [PUBLISHED] if benchmark in config.get("published_weights", {}) else []
    return [*config["methods"], *published]


def seeds_for(method):
    return config["seeds"] if row_facts()[method].stochastic else config["seeds"][:1]


def restored_dir(benchmark, method, seed):
    return f"{PATHS['results']}/restored/{NAME}/{benchmark}/{method}/seed{seed}"


def metrics_csv(benchmark, method, seed):
    return f"{PATHS['results']}/metrics/{NAME}/{benchmark}/{method}/seed{seed}.csv"


def benchmark_metric_csvs(benchmark):
    """Metric CSVs of a benchmark's table: the degraded input, then every method and seed."""
    methods = [metrics_csv(benchmark, m, s) for m in methods_for(benchmark) for s in seeds_for(m)]
    return [metrics_csv(benchmark, INPUT, 0), *methods]


def table_outputs():
    return [f"{PATHS['results']}/tables/{b}.{ext}" for b in enabled_benchmarks() for ext in ("csv", "md", "tex")]


def curve_variants():
    return list(dict.fromkeys(schedule_curve_variants() + loss_curve_variants()))


def schedule_curve_variants():
    """Theta-schedule comparison: every schedule, trained with the configured loss."""
    return [f"{schedule}-{config['loss']['name']}" for schedule in config["curves"]["schedules"]]


def loss_curve_variants():
    """Loss comparison: every loss, trained with the configured theta schedule."""
    return [f"{config['sde']['schedule']}-{loss}" for loss in config["curves"]["losses"]]


def curve_outputs():
    if "curves" not in config:
        return []
    base = f"{PATHS['results']}/figures"
    return [f"{base}/{plot}.{ext}" for plot in ("theta_schedules", "loss_comparison") for ext in ("png", "pdf")]


def figure_outputs():
    return [f"{PATHS['results']}/figures/qualitative_{b}.png" for b in enabled_benchmarks()]


def reference_csv():
    return str(REPOSITORY / "results" / "reference" / f"{NAME}.csv")


def regress_output():
    return f"{PATHS['results']}/regress/{NAME}.txt"


def unknown_target(wildcards):
    raise WorkflowError(f"unknown target '{wildcards.target}'; choose one of: {', '.join(TARGET_RULES)}")


# Every check runs when the workflow is parsed, before any job: errors name the key at fault.
_check_config()
_check_run_configs()


wildcard_constraints:
    benchmark="[a-z0-9][a-z0-9_-]*",
    method=alternatives_regex([*config["methods"], PUBLISHED]),
    seed=r"\d+",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    variant="[a-z]+-[a-z_]+",
