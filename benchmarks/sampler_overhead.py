"""How much a full ``restore`` costs beyond its network evaluations.

Times a complete T-step :func:`irsde.sampling.sample` against T bare forwards of the same
network on the same input (the same steps ``t = T..1``) and prints their ratio; the target is
<= 1.03, i.e. the SDE arithmetic is free next to the network. Runs a small CPU configuration
(flags below) and, when CUDA is present, the paper's configuration (nf=64, depth=4, 128x128).
Each measurement is the median of ``--repeats`` runs after a warm-up; the runs are interleaved
so that load from other processes hits all alike. On CPU the clock is this process's CPU time
(``time.process_time``; time spent waiting for a core shared with other processes is not
counted), on CUDA wall-clock time with the device synchronised. The script also times the sampler
alone (restore with a network that costs nothing) and prints ``1 + sampler alone / forwards``,
an estimate of the ratio that is insensitive to noise in the network's timings.

    python benchmarks/sampler_overhead.py [--nf 16 --depth 3 --size 64 --batch 1 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import torch

from irsde.nets import ConditionalUNet
from irsde.sampling import SAMPLERS, sample
from irsde.sde import MeanRevertingSDE
from timing import clock_for, timed

PAPER_CONFIG = {"nf": 64, "depth": 4, "size": 128}


@dataclass(frozen=True)
class Setting:
    label: str
    nf: int
    depth: int
    size: int
    batch: int
    device: torch.device


def bare_forwards(net: torch.nn.Module, xt: torch.Tensor, mu: torch.Tensor, steps: int) -> None:
    """The network alone, once per step ``t = steps..1``, on a fixed input."""
    with torch.no_grad():
        for t in range(steps, 0, -1):
            net(xt, mu, torch.full((mu.shape[0],), t, dtype=torch.long, device=mu.device))


def free_network(xt: torch.Tensor, mu: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A stand-in network that costs nothing, to time the sampler's own arithmetic."""
    return xt


def measure(setting: Setting, sde: MeanRevertingSDE, sampler: str, repeats: int) -> dict[str, float]:
    """Median seconds of a full restore, of T bare forwards and of the sampler alone; the ratio
    restore / forwards and its estimate 1 + sampler alone / forwards."""
    device = setting.device
    generator = torch.Generator(device=device).manual_seed(0)
    net = ConditionalUNet(nf=setting.nf, depth=setting.depth).to(device).eval()
    shape = (setting.batch, 3, setting.size, setting.size)
    mu = torch.rand(shape, generator=generator, device=device)
    xt = mu + sde.lam * torch.randn(shape, generator=generator, device=device)

    def fresh_generator() -> torch.Generator:
        return torch.Generator(device=device).manual_seed(1)

    def run_restore() -> None:
        sample(net, sde, mu, sampler=sampler, generator=fresh_generator()).images

    def run_forwards() -> None:
        bare_forwards(net, xt, mu, sde.T)

    def run_sampler_alone() -> None:
        sample(free_network, sde, mu, sampler=sampler, generator=fresh_generator()).images

    runs = {"restore_s": run_restore, "forwards_s": run_forwards, "sampler_alone_s": run_sampler_alone}
    for run in runs.values():  # warm-up: allocator, kernels, caches
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed(run, device, clock_for(device)))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio"] = result["restore_s"] / result["forwards_s"]
    result["estimated_ratio"] = 1 + result["sampler_alone_s"] / result["forwards_s"]
    return result


def settings_to_run(args: argparse.Namespace) -> list[Setting]:
    cpu = torch.device("cpu")
    chosen = [Setting("small (CPU)", args.nf, args.depth, args.size, args.batch, cpu)]
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        chosen.append(Setting("small (CUDA)", args.nf, args.depth, args.size, args.batch, cuda))
        chosen.append(Setting("paper (CUDA)", batch=args.batch, device=cuda, **PAPER_CONFIG))
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nf", type=int, default=16, help="U-Net width of the CPU configuration")
    parser.add_argument("--depth", type=int, default=3, help="U-Net depth of the CPU configuration")
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--batch", type=int, default=1, help="images per batch")
    parser.add_argument("--steps", type=int, default=100, help="SDE steps T (network evaluations)")
    parser.add_argument("--sampler", default="sde", choices=sorted(SAMPLERS))
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sde = MeanRevertingSDE(T=args.steps)
    print(
        f"sampler={args.sampler} T={args.steps} repeats={args.repeats} threads={args.threads} "
        f"torch={torch.__version__}"
    )
    print(
        f"{'configuration':<16} {'nf':>3} {'depth':>5} {'input':>14} {'restore s':>10} {'forwards s':>10} "
        f"{'ratio':>7} {'sampler alone s':>15} {'1+alone/fwd':>11}"
    )
    for setting in settings_to_run(args):
        result = measure(setting, sde, args.sampler, args.repeats)
        shape = f"{setting.batch}x3x{setting.size}x{setting.size}"
        print(
            f"{setting.label:<16} {setting.nf:>3} {setting.depth:>5} {shape:>14} "
            f"{result['restore_s']:>10.3f} {result['forwards_s']:>10.3f} {result['ratio']:>7.3f} "
            f"{result['sampler_alone_s']:>15.4f} {result['estimated_ratio']:>11.4f}"
        )
    if not torch.cuda.is_available():
        print("no CUDA device: the paper configuration (nf=64, depth=4, 128x128) was not run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
