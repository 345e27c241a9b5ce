# Config loading and validation, and the paths of the files rules read and write.
import os
import re
import shlex
import sys
from pathlib import Path

from irsde import pipeline_config
from irsde.report import landing
from irsde.checkpoints import CHECKPOINTS
from irsde.data import ALL_DATASETS, DATASETS, SYNTHETIC, source_owners
from irsde.report.job_params import Listing, Settings
from irsde.methods import INPUT
from irsde.metrics.protocols import PROTOCOLS
from irsde.metrics.weights import WEIGHT_FILES, checkpoints_dir, weights_for

# Committed inputs live in the repository, wherever the workflow runs (`snakemake -d DIR`).
REPOSITORY = Path(workflow.basedir)
PUBLISHED_CSV = str(REPOSITORY / "results" / "published" / "published_results.csv")
SCHEMA = REPOSITORY / "workflow" / "schemas" / "config.schema.yaml"
# Snakemake reads the config files with its own YAML loader: read them again with irsde's first,
# so that a key given twice or an alias bomb fails naming the file and line.
pipeline_config.check_config_files([*workflow.overwrite_configfiles, *workflow.configfiles])
# Every check runs now, before any job: an error names the key at fault and the valid choices.
config.update(pipeline_config.validate_pipeline_config(config, SCHEMA, PUBLISHED_CSV))
pipeline_config.check_user_outputs(config)  # each folder of user outputs against its test images
# What the report's landing page (workflow/report/workflow.rst, rendered with the config only) says.
config["report_landing"] = landing.landing_facts(config, workflow.overwrite_configfiles, workflow.basedir)
# Jobs import from the repository as Snakemake does while parsing (e.g. examples.tiny_cnn:TinyCNN).
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])))

PATHS = config["paths"]
NAME = config["name"]
# The irsde CLI of the Python running Snakemake (works without an activated virtualenv).
IRSDE = f"{shlex.quote(sys.executable)} -m irsde"
TARGET_RULES = ("tables", "curves", "figures", "regress", "all", "fetch")
# Where LPIPS and FID find their pretrained weights: torch.hub's folder ($TORCH_HOME/hub/checkpoints).
METRIC_WEIGHTS_DIR = str(checkpoints_dir())


def alternatives_regex(names):
    """A regex matching exactly one of ``names`` (nothing at all when there are none)."""
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)) or "(?!)"


SOURCE_OWNERS = {**source_owners(folders=False), **source_owners(folders=True)}
ARCHIVE_PATTERN = alternatives_regex(source_owners(folders=False))
FOLDER_PATTERN = alternatives_regex(source_owners(folders=True))
# A prepared dataset's folder under paths.data: a registered dataset by name, a synthetic
# stand-in under synthetic/<recipe key>/ (irsde.pipeline_config.prepared_root).
PREPARED_PATTERN = f"(?:{alternatives_regex(DATASETS)})|(?:synthetic/[0-9a-f]+/(?:{alternatives_regex(SYNTHETIC)}))"
METHOD_IDS = list(pipeline_config.method_classes(config))
TRAINED_PATTERN = alternatives_regex(METHOD_IDS)
USER_OUTPUTS_PATTERN = alternatives_regex(config["user_outputs"])
# Rows restored from a sampling method's run with another sampler: row id -> (method, sampler, steps).
VARIANTS = pipeline_config.sampler_variants(config)
RESTORED_FROM_RUNS_PATTERN = alternatives_regex([*METHOD_IDS, *VARIANTS])
# Rows restored with released checkpoints (`released:`), by checkpoint name.
RELEASED = sorted({row for b in config["benchmarks"] for row in pipeline_config.released_rows(config, b)})
RELEASED_PATTERN = alternatives_regex(RELEASED)
WEIGHT_FILE_PATTERN = alternatives_regex([CHECKPOINTS[row].file for row in RELEASED])
ROWS = pipeline_config.table_row_facts(config)


def train_config(benchmark, method):
    """The training config of one table run (irsde.pipeline_config.run_config)."""
    test, train = split_dir(benchmark, "test"), split_dir(benchmark, "train")
    return pipeline_config.run_config(config, benchmark, method, train, test, run_dir(benchmark, method))


def training_ranks(wildcards, resources):
    """Processes of a training job: one per GPU the job is given (resources, set in the profile)."""
    return pipeline_config.training_ranks(resources.get("gpu"), resources.get("gres"))


def curve_train_config(variant, seed):
    """The training config of one run of the curves (irsde.pipeline_config.curve_run_config)."""
    benchmark = config["curves"]["benchmark"]
    test, train = split_dir(benchmark, "test"), split_dir(benchmark, "train")
    return pipeline_config.curve_run_config(config, variant, int(seed), train, test, curve_run_dir(variant, seed))


def enabled_benchmarks():
    return [name for name, bench in config["benchmarks"].items() if bench.get("enabled", True)]


def dataset_marker(name, split):
    return f"{pipeline_config.prepared_dir(config, pipeline_config.dataset_of(config, name, split))}/dataset.json"


def prepared_dataset(prepared):
    """The dataset name of a prepared folder (``Rain100H``, ``synthetic/<key>/synthetic-rain``)."""
    return prepared.rsplit("/", 1)[-1]


def split_dir(name, split):
    return pipeline_config.split_dir(config, name, split)


def prepare_inputs(dataset):
    """The archives / git-tree folders in resources/ a dataset is prepared from (none: a local
    source, or a synthetic stand-in)."""
    if pipeline_config.local_source(config, dataset):
        return []
    return [f"{PATHS['resources']}/{source.name}" for source in ALL_DATASETS[dataset].sources]


def used_benchmarks():
    """The enabled benchmarks and the benchmark of the training curves."""
    curves = [config["curves"]["benchmark"]] if "curves" in config else []
    return sorted({*enabled_benchmarks(), *curves})


def dataset_sources():
    """The archives and git-tree folders in resources/ that the config's datasets are prepared from."""
    datasets = {pipeline_config.dataset_of(config, b, split) for b in used_benchmarks() for split in ("train", "test")}
    return sorted({source for dataset in datasets for source in prepare_inputs(dataset)})


def metric_weight_files():
    """The pretrained files of the configured metrics (LPIPS, FID) in torch.hub's folder."""
    return [f"{METRIC_WEIGHTS_DIR}/{weight.filename}" for weight in weights_for(config["metrics"])]


def scoring_weights():
    """Inputs of the scoring jobs: the metric weights, when a missing one must stop the run
    (`allow_missing_weights: false`), so that a local rule fetches them first (on a cluster, on
    the login node); otherwise a scoring job records a metric it cannot compute as unavailable."""
    return [] if config.get("allow_missing_weights", True) else metric_weight_files()


def released_weights(row):
    """The file of a released checkpoint in resources/ (fetched by rule fetch_checkpoint)."""
    return f"{PATHS['resources']}/{CHECKPOINTS[row].resources_path}"


def fetch_outputs():
    """Everything the config downloads, for the `fetch` target (run it on a cluster's login
    node, then no compute job needs the internet): the datasets' sources, the metric weights and
    the released checkpoints of the enabled benchmarks."""
    released = {row for b in enabled_benchmarks() for row in pipeline_config.released_rows(config, b)}
    return [*dataset_sources(), *metric_weight_files(), *(released_weights(row) for row in sorted(released))]


def run_dir(benchmark, row):
    """The training run of a method, which also restores its sampler variants."""
    return f"{PATHS['runs']}/{NAME}/{benchmark}/{pipeline_config.restored_with(config, row)[0]}"


def curve_run_dir(variant, seed):
    return f"{PATHS['runs']}/{NAME}/curves/{variant}/seed{seed}"


def methods_for(benchmark):
    return pipeline_config.table_rows(config, benchmark)


def seeds_for(row):
    return config["seeds"] if ROWS[row].stochastic else config["seeds"][:1]


def restored_dir(benchmark, method, seed):
    return f"{PATHS['results']}/restored/{NAME}/{benchmark}/{method}/seed{seed}"


def scored_folder(benchmark, row, seed):
    """What a row's metrics are computed from: its restored folder (the input row: the test LQ)."""
    return f"{split_dir(benchmark, 'test')}/LQ" if row == INPUT.id else restored_dir(benchmark, row, seed)


def metrics_csv(benchmark, method, seed, protocol=None):
    """A row's per-image metrics (under another protocol than the benchmark's: ``protocol``)."""
    variant = f"-{protocol}" if protocol else ""
    return f"{PATHS['results']}/metrics/{NAME}/{benchmark}/{method}/seed{seed}{variant}.csv"


def benchmark_metric_csvs(benchmark, protocol=None):
    """Metric CSVs of a benchmark's table: the degraded input, then every method and seed
    (under another protocol than the benchmark's: ``protocol``)."""
    methods = [metrics_csv(benchmark, m, s, protocol) for m in methods_for(benchmark) for s in seeds_for(m)]
    return [metrics_csv(benchmark, INPUT.id, 0, protocol), *methods]


def protocol_variants(benchmark):
    return config["benchmarks"][benchmark]["protocol_variants"]


def protocol_table_csvs(benchmark):
    """Every row's metric CSVs under the benchmark's protocol and under each of its variants."""
    protocols = [None, *protocol_variants(benchmark)]
    return [path for protocol in protocols for path in benchmark_metric_csvs(benchmark, protocol)]


def table_file(benchmark, ext):
    """A benchmark's table as ``ext``: csv, md, tex, or caption.json (its caption and footnotes),
    under this config's name (configurations side by side; "{benchmark}": the rule's pattern)."""
    return f"{PATHS['results']}/tables/{NAME}/{benchmark}.{ext}"


def figure_path(figure):
    """A figure (file name) under this config's name."""
    return f"{PATHS['results']}/figures/{NAME}/{figure}"


def table_outputs():
    tables = [table_file(b, ext) for b in enabled_benchmarks() for ext in ("csv", "md", "tex")]
    sensitivity = [table_file(b, f"protocols.{ext}") for b in enabled_benchmarks() if protocol_variants(b)
                   for ext in ("csv", "md")]
    return tables + sensitivity


def report_file(benchmark, name):
    """A page or figure of a benchmark's part of the Snakemake report."""
    return f"{PATHS['results']}/report/{NAME}/{benchmark}/{name}"


REPORT_PAGES = ("table.html", "training_curves.png", "per_image.png", "seeds.html", "provenance.html")


def report_outputs():
    return [report_file(b, page) for b in enabled_benchmarks() for page in REPORT_PAGES]


def report_page(name, caption, subcategory, page):
    """A page of a benchmark's category of the report (a report() output; caption relative to rules/)."""
    return report(
        report_file("{benchmark}", name),
        caption=f"../report/{caption}",
        category="{benchmark}",
        subcategory=subcategory,
        labels={"benchmark": "{benchmark}", "page": page},
    )


def trained_run_logs(benchmark):
    """The final training logs of the runs behind a benchmark's trained rows."""
    return [f"{run_dir(benchmark, m)}/final/train_log.csv" for m in pipeline_config.methods_of(config, benchmark)]


def benchmark_restored_dirs(benchmark):
    """Every restoration folder of a benchmark's table (each row, each of its seeds)."""
    return [restored_dir(benchmark, m, s) for m in methods_for(benchmark) for s in seeds_for(m)]


def curve_logs(variants, log="val_log"):
    """The final ``log`` CSV of every curve run of ``variants``, all training seeds (variant-major)."""
    return [f"{curve_run_dir(v, s)}/final/{log}.csv" for v in variants for s in config["curves"]["seeds"]]


def curve_labels(labels):
    """One label per entry of :func:`curve_logs`: the runs of one variant share its label."""
    return [label for label in labels for _ in config["curves"]["seeds"]]


def curve_validation_subset():
    """The validation images of the curves' runs (their degraded inputs give the reference line)."""
    variant, seed = pipeline_config.paper_variant(config), config["curves"]["seeds"][0]
    return pipeline_config.validation_subset(curve_train_config(variant, seed))


def curve_outputs():
    if "curves" not in config:
        return []
    plots = ("theta_schedules", "loss_comparison", "timestep_errors")
    return [figure_path(f"{plot}.{ext}") for plot in plots for ext in ("png", "pdf")]


def figure_outputs():
    return [figure_path(f"qualitative_{b}.png") for b in enabled_benchmarks()]


def reference_csv():
    return config["regress"]["reference"] or str(REPOSITORY / "results" / "reference" / f"{NAME}.csv")


def regress_output():
    return f"{PATHS['results']}/regress/{NAME}.txt"


def regress_page():
    """The regress verdict as a report page."""
    return f"{PATHS['results']}/regress/{NAME}.html"


def unknown_target(wildcards):
    raise WorkflowError(f"unknown target '{wildcards.target}'; choose one of: {', '.join(TARGET_RULES)}")


wildcard_constraints:
    benchmark="[a-z0-9][a-z0-9_-]*",
    method=alternatives_regex([*METHOD_IDS, *VARIANTS, *config["user_outputs"], *RELEASED]),
    protocol=alternatives_regex(PROTOCOLS),
    seed=r"\d+",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    variant="[a-z]+-[a-z_]+",
