"""IR-SDE validation PSNR against iterations and wall time: the embedded recipe vs the paper's.

    python benchmarks/irsde_recipe.py [--config config/config.yaml] [--iterations N]
        [--val-every K] [--recipes embedded paper ...] [--train-seed S] [--data-seed S]
        [--train-count N]

Builds the embedded synthetic benchmark of the config (offline, seconds), then trains IR-SDE once
per recipe with the config's network, data and optimiser settings and validates on every test
image every ``--val-every`` iterations with the run's validation sampler (``training.train.val_sampler``,
the paper's ``sde`` by default). Recipes:

- ``embedded``: the config as it is (its `sde:`, `loss:`, `training:` keys);
- ``paper``: the same budget and network size with the paper's SDE, loss and network output
  (eps 0.005, max_sigma 10, uniform timestep weights, noise prediction, EMA 0.995);
- ``<key>=<value>[,<key>=<value>...]``: the embedded recipe with training-config overrides, e.g.
  ``sde.eps=0.05`` or ``loss.timestep_weights=uniform,train.ema_decay=0.9``.

Prints one row per validation: recipe, iteration, training wall time (s, the engine's own clock,
validation included), validation PSNR/SSIM, and the input's PSNR/SSIM on the same images; then
the final PSNR of each recipe above the input. Wall times depend on the machine's load: compare
recipes within one run. ``--csv`` also writes the rows.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path


REPOSITORY = Path(__file__).resolve().parents[1]
PAPER_OVERRIDES = (
    "sde.eps=0.005",
    "sde.max_sigma=10",
    "loss.timestep_weights=uniform",
    "options.prediction=noise",
    "train.ema_decay=0.995",
)


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPOSITORY / "config" / "config.yaml"))
    parser.add_argument("--benchmark", default="synthetic-rain")
    parser.add_argument("--iterations", type=int, help="default: the config's training.train.iterations")
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--recipes", nargs="+", default=["embedded", "paper"])
    parser.add_argument("--train-seed", type=int, help="default: the config's training.seed")
    parser.add_argument("--data-seed", type=int, help="default: the benchmark's synthetic.seed")
    parser.add_argument("--train-count", type=int,
                        help="training crops of the synthetic benchmark (default: its synthetic.train_count)")
    parser.add_argument("--workdir", help="where data and runs go (default: a temporary folder)")
    parser.add_argument("--csv", help="also write the rows to this CSV")
    return parser.parse_args(argv)


def recipe_overrides(recipe: str) -> list[str]:
    if recipe == "embedded":
        return []
    if recipe == "paper":
        return list(PAPER_OVERRIDES)
    return recipe.split(",")


def build_data(pipeline: dict, benchmark: str, root: Path, seed: int | None, train_count: int | None = None) -> Path:
    """The benchmark's synthetic data in ``root``, with ``seed`` / ``train_count`` replacing its recipe's."""
    from irsde.data import build_synthetic

    spec = dict(pipeline["benchmarks"][benchmark].get("synthetic") or {})
    if seed is not None:
        spec["seed"] = seed
    if train_count is not None:
        spec["train_count"] = train_count
    dataset = pipeline["benchmarks"][benchmark]["dataset"]
    build_synthetic(
        dataset, root, seed=spec.get("seed", 0), size=spec.get("size", 128),
        train_count=spec.get("train_count", 100), test_count=spec.get("test_count", 10), progress=False,
    )
    return root / dataset


def validated(pipeline: dict) -> dict:
    """The pipeline config validated as the workflow does (defaults filled in)."""
    from irsde.pipeline_config import validate_pipeline_config

    return validate_pipeline_config(pipeline, REPOSITORY / "workflow" / "schemas" / "config.schema.yaml",
                                    REPOSITORY / "results" / "published" / "published_results.csv")


def training_config(pipeline: dict, benchmark: str, data: Path, output: Path, iterations: int,
                    val_every: int, seed: int) -> dict:
    """The IR-SDE run of the (validated) pipeline config, exactly as the workflow builds it
    (:func:`irsde.pipeline_config.run_config`), with this script's budget, validating every test image."""
    from irsde.data import PairedTestDataset
    from irsde.pipeline_config import run_config

    run = run_config(pipeline, benchmark, "irsde", str(data / "train"), str(data / "test"), str(output))
    run.update(name=f"recipe-{output.name}", seed=seed)
    run["train"].update(iterations=iterations, val_every=val_every, checkpoint_every=iterations)
    run["data"]["val_images"] = len(PairedTestDataset(data / "test"))
    return run


def final_rows(output: Path, recipe: str) -> list[dict]:
    from irsde.train.checkpoint import RunLayout

    layout = RunLayout(output)
    with open(layout.train_log) as stream:
        wall = {int(row["iteration"]): float(row["wall_time"]) for row in csv.DictReader(stream)}
    with open(layout.val_log) as stream:
        means = [row for row in csv.DictReader(stream) if row["image"] == "mean"]
    rows = {}
    for row in means:
        iteration = int(row["iteration"])
        entry = rows.setdefault(iteration, {"recipe": recipe, "iteration": iteration})
        entry["wall_s"] = wall.get(iteration, float("nan"))
        entry[row["metric"]] = float(row["value"])
    return [rows[i] for i in sorted(rows)]


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    arguments = parse_arguments(argv)
    from irsde.data import paired_files
    from irsde.documents import read_yaml_file
    from irsde.train import train
    from irsde.train.config import apply_overrides
    from irsde.train.validation import input_scores

    pipeline = validated(read_yaml_file(arguments.config, "config file"))
    training = pipeline["training"]
    iterations = arguments.iterations or training["train"]["iterations"]
    seed = training["seed"] if arguments.train_seed is None else arguments.train_seed
    workdir = Path(arguments.workdir or tempfile.mkdtemp(prefix="irsde-recipe-"))
    data = build_data(pipeline, arguments.benchmark, workdir / "data", arguments.data_seed, arguments.train_count)
    protocol = pipeline["benchmarks"][arguments.benchmark]["protocol"]
    crop = training["data"].get("val_crop_size")
    count = training_config(pipeline, arguments.benchmark, data, workdir, 1, 1, seed)["data"]["val_images"]
    reference = input_scores(str(data / "test"), count, crop, protocol)
    pairs = len(paired_files(data / "train"))
    print(f"# {arguments.config} [{arguments.benchmark}], {iterations} iterations, train seed {seed}, "
          f"{pairs} training pairs in {data}; input PSNR {reference['psnr']:.2f} dB SSIM {reference['ssim']:.4f} "
          f"({count} test images, protocol {protocol})", flush=True)
    print(f"{'recipe':40s} {'iteration':>9s} {'wall_s':>8s} {'psnr':>7s} {'ssim':>7s} {'Δpsnr':>7s}", flush=True)
    rows = []
    for recipe in arguments.recipes:
        output = workdir / "runs" / recipe.replace("=", "_").replace(",", "+").replace("/", "_")
        config = training_config(pipeline, arguments.benchmark, data, output, iterations, arguments.val_every, seed)
        train(apply_overrides(config, recipe_overrides(recipe)), resume="auto", progress=False)
        for row in final_rows(output, recipe):
            row.update(input_psnr=reference["psnr"], input_ssim=reference["ssim"])
            rows.append(row)
            print(f"{recipe:40s} {row['iteration']:9d} {row['wall_s']:8.1f} {row['psnr']:7.2f} "
                  f"{row['ssim']:7.4f} {row['psnr'] - reference['psnr']:+7.2f}", flush=True)
    print("# final PSNR above the input: " + ", ".join(
        f"{recipe} {[r for r in rows if r['recipe'] == recipe][-1]['psnr'] - reference['psnr']:+.2f} dB"
        for recipe in arguments.recipes))
    if arguments.csv:
        with open(arguments.csv, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
