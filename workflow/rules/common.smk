# Shared helpers: config validation, names, paths and target lists. Rules stay declarative.
import csv
from pathlib import Path

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")

PATHS = config["paths"]
NAME = config["name"]
SYNTHETIC_DATASETS = (
    "synthetic-rain",
    "synthetic-noise",
    "synthetic-blur",
    "synthetic-sr4",
    "synthetic-inpaint",
    "synthetic-haze",
)
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
STOCHASTIC_METHODS = ("irsde", "published")
PUBLISHED_CSV = "results/published/published_results.csv"


def _registry_names():
    from irsde.data import DATASETS

    return sorted(DATASETS)


def _published_benchmarks():
    with open(PUBLISHED_CSV) as handle:
        return sorted({row["benchmark"] for row in csv.DictReader(handle)})


def _check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"config key {key}: '{value}' is not valid; choose one of: {', '.join(choices)}")


def _check_config():
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    datasets = [*SYNTHETIC_DATASETS, *_registry_names()]
    published = _published_benchmarks()
    for name, bench in config["benchmarks"].items():
        _check_choice(f"benchmarks.{name}.dataset", bench["dataset"], datasets)
        if bench.get("published"):
            _check_choice(f"benchmarks.{name}.published", bench["published"], published)
    for name in config.get("published_weights", {}):
        _check_choice("published_weights", name, sorted(config["benchmarks"]))
    if "curves" in config:
        _check_choice("curves.benchmark", config["curves"]["benchmark"], sorted(config["benchmarks"]))
    missing = sorted(set(config["metrics"]) - set(config["regress"]["tolerances"]))
    if missing:
        raise ValueError(f"config key regress.tolerances: no tolerance for metric(s) {missing}")


_check_config()


def enabled_benchmarks():
    return [name for name, bench in config["benchmarks"].items() if bench.get("enabled", True)]


def bench(name):
    return config["benchmarks"][name]


def is_synthetic(name):
    return bench(name)["dataset"] in SYNTHETIC_DATASETS


def dataset_dir(name):
    return f"{PATHS['data']}/{bench(name)['dataset']}"


def dataset_marker(name):
    return f"{dataset_dir(name)}/.prepared.json"


def split_dir(name, split):
    return f"{dataset_dir(name)}/{bench(name).get(split + '_split', split)}"


def run_dir(benchmark, method):
    return f"{PATHS['runs']}/{NAME}/{benchmark}/{method}"


def final_weights(benchmark, method):
    return f"{run_dir(benchmark, method)}/final/net_ema.pth"


def curve_run_dir(variant):
    return f"{PATHS['runs']}/{NAME}/curves/{variant}"


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
    return [metrics_csv(benchmark, m, s) for m in methods_for(benchmark) for s in seeds_for(m)]


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


def curve_outputs():
    if "curves" not in config:
        return []
    base = f"{PATHS['results']}/figures"
    return [f"{base}/{plot}.{ext}" for plot in ("theta_schedules", "loss_comparison") for ext in ("png", "pdf")]


def figure_outputs():
    return [f"{PATHS['results']}/figures/qualitative_{b}.png" for b in enabled_benchmarks()]


def reference_csv():
    return f"results/reference/{NAME}.csv"


def regress_output():
    return f"{PATHS['results']}/regress/{NAME}.txt"


wildcard_constraints:
    benchmark="[a-z0-9][a-z0-9_-]*",
    method="irsde|cnn_baseline|published",
    seed=r"\d+",
    dataset="[a-z0-9][a-z0-9_-]*",
    variant="[a-z]+-[a-z_]+",
