"""Restoration quality and time of every sampler against its number of network evaluations.

    python benchmarks/sampler_nfe.py --run runs/embedded/synthetic-rain/irsde \\
        [--nfe 5 10 20 50 100] [--seeds 0 1 2] [--samplers sde ode posterior fast-ode fast-sde fast-ode-1] \\
        [--spacings logsnr] [--test-dir DIR] [--limit N] [--batch-size 8] [--out results/benchmarks/sampler_nfe]

Restores every test image of a trained IR-SDE run (its EMA weights, its SDE, its validation
split and metric protocol, all read from the run folder) with each sampler at each NFE, and
prints PSNR / SSIM (uint8, under the run's protocol) / LPIPS (when its weights are in
``$TORCH_HOME/hub/checkpoints``; never downloaded here) / seconds per image, averaged over the
test images and then over the sampling seeds (every sampler and NFE sees the same seeds). The
100-NFE ``sde`` (the paper's) and ``posterior`` rows are the references: the last lines say how
far the best fast sampler at 10 NFE is from the best 100-NFE sampler (the goal is within 0.1 dB).
``fast-ode-1`` is the first-order exponential integrator of the ODE (``fast-sde``'s first-order
version is ``posterior`` itself). With several ``--spacings`` the samplers run with each rule
for choosing the visited steps (``irsde.sampling.steps``). For the deterministic samplers
(``ode``, ``fast-ode``, ``fast-ode-1``) the last column is the PSNR between the K-step output and
the same sampler's T-step output from the same start ``x_T``: how closely K steps solve the ODE
(independent of how good the network is). Same-size images are restored ``--batch-size`` at a
time, with one generator per batch seeded from the seed and the batch's index; seconds per
image are the batch's time divided by its images. Writes ``<out>.csv`` (one row per sampler, spacing, NFE, seed) and
``<out>.png`` (quality against NFE).
Times are wall-clock on this machine (set OMP_NUM_THREADS for a fixed thread count).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from irsde.data import PairedTestDataset
from irsde.sampling.exponential import ExponentialIntegrator
from irsde.images import to_uint8
from irsde.metrics import LPIPSMetric, PerceptualWeightsMissing, get_protocol, psnr, ssim
from irsde.sampling import SAMPLERS, Sampler, sample
from irsde.sampling import DEFAULT_SPACING, SPACINGS
from irsde.train.checkpoint import FinishedRun

REFERENCE_SAMPLERS = ("sde", "posterior")
GOAL_NFE, GOAL_DB = 10, 0.1
EXTRA_SAMPLERS = {
    "fast-ode-1": Sampler("fast-ode-1", partial(ExponentialIntegrator, stochastic=False, order=1), False,
                          "probability-flow ODE, 1st-order exponential integrator"),
}


def sampler_by_name(name: str) -> Sampler:
    return EXTRA_SAMPLERS[name] if name in EXTRA_SAMPLERS else SAMPLERS[name]


def load_run(run_dir: Path):
    """(noise predictor in eval mode, SDE, run config) of a finished IR-SDE training run folder:
    rebuilt from its config and final EMA weights as ``irsde restore --run`` does."""
    try:
        finished = FinishedRun.open(run_dir)
    except (FileNotFoundError, RuntimeError) as error:
        raise SystemExit(str(error)) from None
    method = finished.method()
    if not getattr(method, "samples", False) or not hasattr(method, "sde"):
        raise SystemExit(f"{run_dir}: method {method.id!r} does not sample; the samplers need an IR-SDE run")
    net = method.noise_predictor(finished.network(method))
    print(f"run {run_dir}: weights {finished.weights}, sde {finished.config['sde']}, network {finished.config['network']}")
    return net, method.sde, finished.config


def lpips_metric():
    try:
        return LPIPSMetric(device="cpu", download=False)
    except PerceptualWeightsMissing as error:
        print(f"LPIPS not computed: {error.short_note()}")
        return None


def score(restored: torch.Tensor, gt: torch.Tensor, protocol, lpips) -> dict[str, float]:
    """PSNR/SSIM on the clamped uint8 image; LPIPS on the float output or the uint8 image."""
    restored_uint8, gt_uint8 = to_uint8(restored), to_uint8(gt)
    options = {"crop_border": protocol.crop_border, "y_channel": protocol.y_channel}
    scores = {"psnr": psnr(restored_uint8, gt_uint8, **options), "ssim": ssim(restored_uint8, gt_uint8, **options)}
    if lpips is not None:
        lpips_input = restored if protocol.lpips_on_float else torch.from_numpy(restored_uint8).permute(2, 0, 1) / 255.0
        scores["lpips"] = float(lpips.batch(lpips_input[None], gt[None])[0])
    return scores


def run_setting(net, sde, batches, sampler: Sampler, nfe: int, spacing: str, seed: int, protocol, lpips):
    """Mean scores and seconds per image of one sampler/NFE/spacing/seed over the test images
    (restored a batch of same-size images at a time, one generator per batch seeded from
    ``seed`` and the batch's index), and the restored images."""
    rows, outputs, seconds = [], [], 0.0
    for index, (lq, gt) in enumerate(batches):
        generator = torch.Generator().manual_seed(1000 * seed + index)
        started = time.perf_counter()
        restored = sample(net, sde, lq, sampler, generator, steps=nfe, spacing=spacing).images
        seconds += time.perf_counter() - started
        rows.extend(score(image, reference, protocol, lpips) for image, reference in zip(restored, gt))
        outputs.extend(restored.clamp(0, 1))
    means = pd.DataFrame(rows).mean().to_dict()
    row = {"sampler": sampler.name, "spacing": spacing, "nfe": nfe, "seed": seed, **means,
           "seconds_per_image": seconds / len(rows)}
    return row, outputs


def same_size_batches(pairs: list[dict], batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(LQ batch, GT batch) of up to ``batch_size`` same-size test pairs, in name order per size."""
    by_size: dict[tuple, list[dict]] = {}
    for item in pairs:
        by_size.setdefault(tuple(item["lq"].shape), []).append(item)
    batches = []
    for items in by_size.values():
        for first in range(0, len(items), batch_size):
            chunk = items[first : first + batch_size]
            batches.append((torch.stack([i["lq"] for i in chunk]), torch.stack([i["gt"] for i in chunk])))
    return batches


def add_distance_to_full_solution(rows: list[dict], outputs: list[list[torch.Tensor]], T: int) -> None:
    """``psnr_to_T``: PSNR between a deterministic sampler's output and its own ``T``-step output
    from the same start ``x_T`` (same seed): how well K steps solve the ODE that T steps solve.
    Stochastic samplers draw other noise with other step counts, so they get NaN."""
    full = {(r["sampler"], r["seed"]): out for r, out in zip(rows, outputs) if r["nfe"] == T}
    for row, restored in zip(rows, outputs):
        reference = full.get((row["sampler"], row["seed"]))
        if sampler_by_name(row["sampler"]).stochastic or reference is None:
            row["psnr_to_T"] = math.nan
            continue
        errors = [torch.mean((a - b) ** 2).item() for a, b in zip(restored, reference)]
        row["psnr_to_T"] = sum(10 * math.log10(1 / max(e, 1e-20)) for e in errors) / len(errors)


def settings(samplers: list[str], nfes: list[int], spacings: list[str], T: int):
    """(sampler, nfe, spacing) to run: every spacing below T, one run at T (spacing unused)."""
    for name in samplers:
        for nfe in nfes:
            for spacing in spacings if nfe < T else [DEFAULT_SPACING]:
                yield name, nfe, spacing


def print_table(summary: pd.DataFrame, T: int) -> None:
    metrics = [m for m in ("psnr", "ssim", "lpips") if m in summary.columns]
    header = (f"{'sampler':<11} {'spacing':<9} {'NFE':>4} " + " ".join(f"{m.upper():>7}" for m in metrics)
              + f" {'s/img':>8} {'PSNR to T-step':>15}")
    print(header)
    print("-" * len(header))
    for row in summary.itertuples(index=False):
        values = " ".join(f"{getattr(row, m):>7.{2 if m == 'psnr' else 4}f}" for m in metrics)
        to_full = "" if math.isnan(row.psnr_to_T) or row.nfe == T else f"{row.psnr_to_T:.2f}"
        print(f"{row.sampler:<11} {row.spacing:<9} {row.nfe:>4} {values} {row.seconds_per_image:>8.3f} {to_full:>15}")


def print_goal(summary: pd.DataFrame, T: int) -> None:
    full = summary[(summary["nfe"] == T) & summary["sampler"].isin(REFERENCE_SAMPLERS)]
    fast = summary[(summary["nfe"] == GOAL_NFE) & summary["sampler"].str.startswith("fast-")]
    if full.empty or fast.empty:
        print(f"(goal not evaluated: needs NFE {T} of {'/'.join(REFERENCE_SAMPLERS)} and NFE {GOAL_NFE} of a fast sampler)")
        return
    best_full, best_fast = full.loc[full["psnr"].idxmax()], fast.loc[fast["psnr"].idxmax()]
    gap = best_full["psnr"] - best_fast["psnr"]
    verdict = "met" if gap <= GOAL_DB else "NOT met"
    print(f"best {T}-NFE reference: {best_full['sampler']} {best_full['psnr']:.2f} dB; "
          f"best fast sampler at {GOAL_NFE} NFE: {best_fast['sampler']} ({best_fast['spacing']}) "
          f"{best_fast['psnr']:.2f} dB; gap {gap:+.2f} dB (goal <= {GOAL_DB} dB: {verdict}); "
          f"time per image {best_full['seconds_per_image']:.3f} s -> {best_fast['seconds_per_image']:.3f} s")


def plot(summary: pd.DataFrame, T: int, path: Path) -> None:
    """Quality against NFE: one colour per sampler, one line style per spacing; each line ends
    at the sampler's T-step value; dashed grey lines: the references at T steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in ("psnr", "ssim", "lpips") if m in summary.columns]
    samplers = list(dict.fromkeys(summary["sampler"]))
    spacings = list(dict.fromkeys(summary.loc[summary["nfe"] < T, "spacing"])) or [DEFAULT_SPACING]
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(samplers)}
    styles = dict(zip(spacings, ["-", "--", ":", "-."] * 4))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics) + 1.8, 3.6), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for name in samplers:
            full = summary[(summary["sampler"] == name) & (summary["nfe"] == T)]
            for spacing in spacings:
                line = summary[(summary["sampler"] == name) & (summary["spacing"] == spacing) & (summary["nfe"] < T)]
                line = pd.concat([line, full]).sort_values("nfe")
                label = name if len(spacings) == 1 else f"{name} ({spacing})"
                axis.plot(line["nfe"], line[metric], marker="o", markersize=3, color=colours[name],
                          linestyle=styles[spacing], label=label)
        for name in REFERENCE_SAMPLERS:
            reference = summary[(summary["sampler"] == name) & (summary["nfe"] == T)]
            if not reference.empty:
                axis.axhline(reference[metric].iloc[0], linestyle="--", linewidth=0.8, color="grey")
        axis.set_xscale("log")
        axis.set_xlabel("network evaluations (NFE)")
        axis.set_ylabel(metric.upper())
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(f"quality vs NFE (dashed grey: {'/'.join(REFERENCE_SAMPLERS)} at {T} NFE)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="IR-SDE training run folder (config.yaml + weights)")
    parser.add_argument("--test-dir", help="split folder with GT/ and LQ/ (default: the run's data.val)")
    parser.add_argument("--limit", type=int, help="use the first N test images")
    parser.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samplers", nargs="+", default=[*SAMPLERS, *EXTRA_SAMPLERS])
    parser.add_argument("--spacings", nargs="+", default=[DEFAULT_SPACING], choices=sorted(SPACINGS))
    parser.add_argument("--batch-size", type=int, default=8, help="same-size test images restored together")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/sampler_nfe"),
                        help="prefix of the .csv and .png written")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, sde, config = load_run(args.run)
    samplers = [sampler_by_name(name) for name in args.samplers]
    test_dir = args.test_dir or config["data"]["val"]
    protocol = get_protocol(config["train"]["protocol"])
    dataset = PairedTestDataset(test_dir)
    pairs = [dataset[i] for i in range(min(len(dataset), args.limit or len(dataset)))]
    print(f"{len(pairs)} test images from {test_dir}, protocol {protocol.name}, seeds {args.seeds}, "
          f"{args.threads} thread(s)")
    lpips = lpips_metric()
    jobs = [(s, n, sp, seed) for s, n, sp in settings([s.name for s in samplers], args.nfe, args.spacings, sde.T)
            for seed in args.seeds]  # deterministic samplers too: their start x_T is random
    batches = same_size_batches(pairs, args.batch_size)
    results = [run_setting(net, sde, batches, sampler_by_name(name), nfe, spacing, seed, protocol, lpips)
               for name, nfe, spacing, seed in tqdm(jobs, desc="settings", file=sys.stderr)]
    rows, outputs = [row for row, _ in results], [out for _, out in results]
    add_distance_to_full_solution(rows, outputs, sde.T)
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby(["sampler", "spacing", "nfe"], sort=False).mean(numeric_only=True).reset_index()
    summary = summary.drop(columns="seed")
    print_table(summary, sde.T)
    print_goal(summary, sde.T)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    per_seed.to_csv(args.out.with_suffix(".csv"), index=False)
    plot(summary, sde.T, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
