"""Cost of one engine training step vs a bare forward+backward+Adam step, and its peak memory.

    python benchmarks/train_step.py [--repeats 20] [--crops 24 48] [--nf 8] [--depth 2] [--batch 16]

For each method (IR-SDE, CNN baseline) and crop size, a child process builds the engine's
``TrainingRun`` (irsde.train.engine) and times ``TrainingRun.step`` on a fixed in-memory batch
(data loading excluded). The engine step includes drawing (t, noise), forming x_t, the loss,
backward, Adam, MultiStepLR, the EMA update and the finite-loss check. The bare step is the
same network (same initial weights) and the same batch: forward, the same loss, backward, Adam
step — nothing else (for IR-SDE the (t, noise, x_t) of one draw are reused). Engine and bare
steps alternate (which one goes first alternates too) so that machine load hits both alike. Two
ratios are printed: of the minimum times (the intrinsic cost, least disturbed by other load) and
the median of the per-pair ratios. On the CPU the times are the process's CPU time (run with
OMP_NUM_THREADS=1 for a single-core figure), so other processes competing for the cores
disturb them much less than wall time; on CUDA they are wall times after synchronisation.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` around the steps. On the CPU,
``tracemalloc`` cannot see torch's allocations (they bypass Python's allocator), so the figure
is the growth of the process's peak resident set (``resource.getrusage(...).ru_maxrss``) from
after set-up to after the first steps: activations, gradients and Adam's state, plus allocator
slack. Each configuration runs in its own process so that peaks do not mix.
Defaults: the embedded default's network (every key of `network:` in config/config.yaml: nf 8,
depth 2, 4 x 2 attention, clean-image prediction), batch and crop (16 crops of 24 px), and 48 px.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

from timing import clock_for, timed

METHODS = ("irsde", "cnn_baseline")
EMBEDDED_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "config.yaml")


def embedded_config() -> dict:
    from irsde.documents import read_yaml_file

    return read_yaml_file(EMBEDDED_CONFIG, "config file")


def embedded_recipe() -> tuple[dict, int, int]:
    """(network section, batch size, crop size) of the embedded default configuration."""
    config = embedded_config()
    data = config["training"]["data"]
    return dict(config["network"]), data["batch_size"], data["crop_size"]


def child_config(method: str, network: dict, batch: int, crop: int, data_dir: str) -> dict:
    from irsde.train.config import validate_config

    return validate_config(
        {
            "name": f"bench-{method}",
            "method": method,
            "device": "auto",
            "output_dir": os.path.join(data_dir, "run"),
            "options": embedded_config().get("method_options", {}).get(method, {}),
            "data": {"train": data_dir, "batch_size": batch, "crop_size": crop},
            "network": network,
            "optim": {"lr": 1.0e-4},
        }
    )


def bare_step_function(method, net, gt, lq, generator):
    """A closure doing forward + loss + backward + Adam step on ``net`` and nothing else."""
    import torch

    from baselines.cnn import regress
    from irsde.losses import distance, draw_training_batch

    optimizer = torch.optim.Adam(net.parameters(), lr=1.0e-4, betas=(0.9, 0.99))
    if method.id == "irsde":
        batch = draw_training_batch(method.sde, gt, lq, generator)

        def loss():
            eps_hat = method.noise_predictor(net)(batch.xt, batch.mu, batch.t)
            return method.loss_fn(method.sde, eps_hat, batch, method.kind)
    else:

        def loss():
            return distance(regress(net, lq), gt, method.kind)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def run_child(arguments) -> dict:
    import copy

    import torch

    from irsde.train.distributed import setup
    from irsde.train.engine import TrainingRun
    from irsde.methods import build_method

    config = child_config(
        arguments.method, json.loads(arguments.network), arguments.batch, arguments.crop, tempfile.mkdtemp()
    )
    context = setup(config["device"])
    run = TrainingRun(config, build_method(config), context, progress=False)
    device = context.device
    generator = torch.Generator(device=device).manual_seed(0)
    gt = torch.rand(arguments.batch, 3, arguments.crop, arguments.crop, generator=generator, device=device)
    lq = (gt + 0.1 * torch.rand(gt.shape, generator=generator, device=device)).clamp(0, 1)
    bare_net = copy.deepcopy(run.model)
    bare = bare_step_function(run.method, bare_net, gt, lq, generator)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    allocated_before = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    for warmup in range(1, 4):
        run.step(warmup, gt, lq)
    peak = (
        torch.cuda.max_memory_allocated(device) - allocated_before
        if device.type == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    )
    for _ in range(3):
        bare()
    engine_times, bare_times = [], []
    for iteration in range(4, 4 + arguments.repeats):
        pair = [lambda: engine_times.append(timed(lambda: run.step(iteration, gt, lq), device, clock_for(device))),
                lambda: bare_times.append(timed(bare, device, clock_for(device)))]
        for measure in pair if iteration % 2 else reversed(pair):
            measure()
    return {
        "method": arguments.method,
        "crop": arguments.crop,
        "device": str(device),
        "engine_s": min(engine_times),
        "bare_s": min(bare_times),
        "ratio": min(engine_times) / min(bare_times),
        "pair_ratio": statistics.median(e / b for e, b in zip(engine_times, bare_times)),
        "peak_mib": peak / 2**20,
        "peak_kind": "cuda max_memory_allocated" if device.type == "cuda" else "CPU ru_maxrss growth",
    }


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--crops", type=int, nargs="+", help="default: the embedded crop and 48")
    parser.add_argument("--nf", type=int, help="default: the embedded network's")
    parser.add_argument("--depth", type=int, help="default: the embedded network's")
    parser.add_argument("--batch", type=int, help="default: the embedded batch size")
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--crop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--network", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.method is None:
        network, batch, crop = embedded_recipe()
        network.update({key: getattr(arguments, key) for key in ("nf", "depth") if getattr(arguments, key) is not None})
        arguments.network = json.dumps(network)
        arguments.batch = arguments.batch or batch
        arguments.crops = arguments.crops or [crop, 48]
    return arguments


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    if arguments.method:
        print(json.dumps(run_child(arguments)))
        return 0
    print(
        f"{'method':<13}{'crop':>5}  {'engine ms':>10}{'bare ms':>10}{'ratio':>7}{'paired':>8}{'peak MiB':>10}"
        "  device, memory"
    )
    worst = 0.0
    for crop in arguments.crops:
        for method in METHODS:
            command = [
                sys.executable, __file__, "--method", method, "--crop", str(crop),
                "--repeats", str(arguments.repeats), "--network", arguments.network,
                "--batch", str(arguments.batch),
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = json.loads(output.splitlines()[-1])
            worst = max(worst, result["ratio"])
            print(
                f"{method:<13}{crop:>5}  {1e3 * result['engine_s']:>10.1f}{1e3 * result['bare_s']:>10.1f}"
                f"{result['ratio']:>7.3f}{result['pair_ratio']:>8.3f}{result['peak_mib']:>10.1f}"
                f"  {result['device']}, {result['peak_kind']}"
            )
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(
        f"network {arguments.network}, batch {arguments.batch}, OMP threads={threads}; times are minima "
        f"over {arguments.repeats} steps; worst engine/bare ratio {worst:.3f} (target <= 1.05)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
