# Shared helpers: config validation, names, paths and target lists. Rules stay declarative.
import csv
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")

PATHS = config["paths"]
NAME = config["name"]
# How each method is labelled in tables, and which published row it reproduces.
METHOD_LABELS = {
    "irsde": "IR-SDE (ours)",
    "cnn_baseline": "CNN-baseline (our reconstruction)",
    "published": "IR-SDE (published weights)",
}
PAPER_ROWS = {
    "IR-SDE (ours)": "IR-SDE",
    "CNN-baseline (our reconstruction)": "CNN-baseline",
    "IR-SDE (published weights)": "IR-SDE",
}
INPUT_LABEL = "Input (degraded, no restoration)"
STOCHASTIC_METHODS = ("irsde", "published")
# The irsde CLI of the Python running Snakemake (works without an activated virtualenv).
IRSDE = f"{shlex.quote(sys.executable)} -m irsde"
# Committed inputs live in the repository, wherever the workflow runs (`snakemake -d DIR`).
REPOSITORY = Path(workflow.basedir)
PUBLISHED_CSV = str(REPOSITORY / "results" / "published" / "published_results.csv")


def _registry():
    from irsde.data import DATASETS

    return DATASETS


def _source_owners(kind):
    """Source name (archive file or git-tree folder) -> the first registered dataset using it."""
    owners = {}
    for dataset in _registry().values():
        for source in dataset.sources:
            if type(source).__name__ == kind:
                owners.setdefault(source.name, dataset.name)
    return owners


def alternatives_regex(names):
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


def _synthetic_names():
    from irsde.data import SYNTHETIC

    return tuple(SYNTHETIC)


SYNTHETIC_DATASETS = _synthetic_names()
SOURCE_OWNERS = {**_source_owners("ArchiveSource"), **_source_owners("GitTreeSource")}
REGISTRY_PATTERN = alternatives_regex(_registry())
ARCHIVE_PATTERN = alternatives_regex(_source_owners("ArchiveSource"))
FOLDER_PATTERN = alternatives_regex(_source_owners("GitTreeSource"))


def _published_benchmarks():
    with open(PUBLISHED_CSV) as handle:
        return sorted({row["benchmark"] for row in csv.DictReader(handle)})


def _check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"config key {key}: '{value}' is not valid; choose one of: {', '.join(choices)}")


def _check_config():
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    datasets = [*SYNTHETIC_DATASETS, *sorted(_registry())]
    published = _published_benchmarks()
    for name, bench in config["benchmarks"].items():
        _check_choice(f"benchmarks.{name}.dataset", bench["dataset"], datasets)
        if bench.get("train_dataset"):
            _check_choice(f"benchmarks.{name}.train_dataset", bench["train_dataset"], datasets)
        if bench["dataset"] in SYNTHETIC_DATASETS and bench.get("published"):
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


def irsde_paper_deviations(benchmark):
    """How this config's IR-SDE run of a benchmark differs from the paper's setting, in words."""
    from irsde.paper import paper_deviations
    from irsde.train import validate_config

    if "irsde" not in config["methods"]:
        return []
    return paper_deviations(validate_config(train_config(benchmark, "irsde")))


def curve_train_config(variant, seed):
    """An IR-SDE run of the curves: the table run's settings with this schedule, loss and seed."""
    schedule, loss = variant.split("-", 1)
    curves = config["curves"]
    run = train_config(curves["benchmark"], "irsde")
    run["name"] = f"{NAME}-curves-{variant}-seed{seed}"
    run["seed"] = int(seed)
    run["output_dir"] = curve_run_dir(variant, seed)
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
            _validated(validate_config, curve_train_config(variant, 0), f"curves run {variant}")


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
    return bench(name)["dataset"] in SYNTHETIC_DATASETS


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
    return f"{PATHS['data']}/{dataset_of(name, split)}/{bench(name).get(split + '_split', split)}"


def benchmarks_using(dataset):
    return [name for name in config["benchmarks"] if dataset in (dataset_of(name, "train"), dataset_of(name, "test"))]


def synthetic_spec(dataset):
    """Generation settings of a synthetic dataset (from the first benchmark that uses it)."""
    defaults = {"seed": 0, "train_count": 100, "test_count": 10, "size": 128}
    for name in benchmarks_using(dataset):
        return {**defaults, **(bench(name).get("synthetic") or {})}
    return defaults


def local_source(dataset):
    """A user-provided folder/archive for a registry dataset (benchmarks.<name>.path), or None."""
    for name in benchmarks_using(dataset):
        if bench(name).get("path"):
            return bench(name)["path"]
    return None


def source_paths(dataset):
    """Where the archives / git-tree folders of a registry dataset live in resources/."""
    return [f"{PATHS['resources']}/{source.name}" for source in _registry()[dataset].sources]


def run_dir(benchmark, method):
    return f"{PATHS['runs']}/{NAME}/{benchmark}/{method}"


def final_weights(benchmark, method):
    if method == "published":
        return config["published_weights"][benchmark]
    return f"{run_dir(benchmark, method)}/final/net_ema.pth"


def curve_run_dir(variant, seed):
    return f"{PATHS['runs']}/{NAME}/curves/{variant}/seed{seed}"


def curve_seeds():
    return config["curves"].get("seeds", [0])


def curve_logs(variants, log="val_log"):
    """The final ``log`` CSV of every curve run of ``variants``, all seeds (variant-major)."""
    return [f"{curve_run_dir(v, s)}/final/{log}.csv" for v in variants for s in curve_seeds()]


def curve_labels(variants, label):
    """One label per entry of :func:`curve_logs`: runs of one variant share its label."""
    return [label(v) for v in variants for _ in curve_seeds()]


def methods_for(benchmark):
    methods = list(config["methods"])
    if benchmark in config.get("published_weights", {}):
        methods.append("published")
    return methods


def seeds_for(method):
    return config["seeds"] if method in STOCHASTIC_METHODS else config["seeds"][:1]


def restored_dir(benchmark, method, seed):
    return f"{PATHS['results']}/restored/{NAME}/{benchmark}/{method}/seed{seed}"


def metrics_csv(benchmark, method, seed):
    return f"{PATHS['results']}/metrics/{NAME}/{benchmark}/{method}/seed{seed}.csv"


def benchmark_metric_csvs(benchmark):
    """Metric CSVs of a benchmark's table: the degraded input, then every method and seed."""
    methods = [metrics_csv(benchmark, m, s) for m in methods_for(benchmark) for s in seeds_for(m)]
    return [metrics_csv(benchmark, "input", 0), *methods]


def table_outputs():
    return [
        f"{PATHS['results']}/tables/{b}.{ext}" for b in enabled_benchmarks() for ext in ("csv", "md", "tex")
    ]


def curve_variants():
    curves = config["curves"]
    return list(dict.fromkeys(schedule_curve_variants() + loss_curve_variants()))


def schedule_curve_variants():
    """Theta-schedule comparison: every schedule, trained with the configured loss."""
    return [f"{schedule}-{config['loss']['name']}" for schedule in config["curves"]["schedules"]]


def loss_curve_variants():
    """Loss comparison: every loss, trained with the configured theta schedule."""
    return [f"{config['sde']['schedule']}-{loss}" for loss in config["curves"]["losses"]]


def paper_curve_variant():
    """The curve run of the configured schedule and loss (whose timestep errors are plotted)."""
    return f"{config['sde']['schedule']}-{config['loss']['name']}"


def curve_input_reference():
    """What the validation PSNR of the curves is compared with: the degraded input itself."""
    curves, training = config["curves"], config["training"]
    return {
        "split_dir": split_dir(curves["benchmark"], "test"),
        "count": curves.get("val_images", training["data"].get("val_images", 4)),
        "crop_size": training["data"].get("val_crop_size"),
        "protocol": bench(curves["benchmark"])["protocol"],
    }


def curve_outputs():
    if "curves" not in config:
        return []
    base = f"{PATHS['results']}/figures"
    plots = ("theta_schedules", "loss_comparison", "timestep_errors")
    return [f"{base}/{plot}.{ext}" for plot in plots for ext in ("png", "pdf")]


def figure_outputs():
    return [f"{PATHS['results']}/figures/qualitative_{b}.png" for b in enabled_benchmarks()]


def reference_csv():
    return str(REPOSITORY / "results" / "reference" / f"{NAME}.csv")


def regress_output():
    return f"{PATHS['results']}/regress/{NAME}.txt"


# Every check runs when the workflow is parsed, before any job: errors name the key at fault.
_check_config()
_check_run_configs()


wildcard_constraints:
    benchmark="[a-z0-9][a-z0-9_-]*",
    method="irsde|cnn_baseline|published",
    seed=r"\d+",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    variant="[a-z]+-[a-z_]+",
