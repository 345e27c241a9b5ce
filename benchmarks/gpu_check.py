"""GPU readiness: training speed and memory of the paper's network, and seconds per restored image.

    python benchmarks/gpu_check.py                      # on the GPU (cuda:0), under 5 minutes
    python benchmarks/gpu_check.py --device cpu --tiny  # the same code paths in seconds, on a CPU

For the paper's network (nf 64, depth 4; ``--tiny``: nf 8, depth 2) and SDE (cosine, T 100,
max_sigma 10), prints:

1. Training: iterations/s and peak memory of an IR-SDE training step (draw t and noise, x_t,
   forward, maximum-likelihood L1 loss, backward, Adam, EMA update: the engine's step without
   its logging) at batch 16 of 128x128 crops (``--tiny``: 2 of 32x32), in fp32, with bf16
   autocast, with channels_last, and with both, and each one's speed-up and memory against fp32.
   The engine trains in fp32 today; the last column says whether a variant would help.
2. Restoration: seconds per 481x321 image (a Rain100H/BSD test image size; ``--tiny``: 67x45)
   for ``sde`` at 100 NFE (the paper's sampler) and ``fast-sde`` at 10 NFE, fp32.

On CUDA every timing is wall-clock between ``torch.cuda.synchronize`` calls, after warm-up steps,
and memory is ``torch.cuda.max_memory_allocated`` (reset before each variant; it includes the
network, gradients and Adam's state). On the CPU memory is not measured (n/a). ``--json PATH``
also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from irsde.methods import Shard
from irsde.methods.ir_sde import IRSDEMethod
from irsde.nets import ConditionalUNet
from irsde.sampling import sample
from irsde.sde import MeanRevertingSDE
from irsde.train.ema import build_ema
from timing import synchronize, timed


@dataclass(frozen=True)
class Scale:
    """Network and workload of one run of the check."""

    nf: int
    depth: int
    batch: int
    crop: int
    image: tuple[int, int]  # height, width
    train_steps: int
    warmup_steps: int


PAPER = Scale(nf=64, depth=4, batch=16, crop=128, image=(321, 481), train_steps=20, warmup_steps=3)
TINY = Scale(nf=8, depth=2, batch=2, crop=32, image=(45, 67), train_steps=2, warmup_steps=1)
VARIANTS = {  # name: (bf16 autocast, channels_last)
    "fp32": (False, False),
    "bf16 autocast": (True, False),
    "channels_last": (False, True),
    "bf16 + channels_last": (True, True),
}
RESTORATIONS = (("sde", 100), ("fast-sde", 10))


def build_method(scale: Scale, device: torch.device) -> IRSDEMethod:
    sde = MeanRevertingSDE("cosine", T=100, max_sigma=10, eps=0.005)
    network = {"nf": scale.nf, "depth": scale.depth}
    return IRSDEMethod(network, sde, loss="maximum_likelihood", kind="l1", sampler="sde").to(device)


def training_step(method: IRSDEMethod, scale: Scale, device: torch.device, bf16: bool, channels_last: bool):
    """A closure doing one IR-SDE training step, and the network it trains."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # the same initial weights for every variant
        torch.manual_seed(0)
        net = method.build_net().to(device).to(memory_format=memory_format)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
    ema = build_ema(net, 0.995)
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (scale.batch, 3, scale.crop, scale.crop)
    gt = torch.rand(shape, generator=generator, device=device).contiguous(memory_format=memory_format)
    lq = (gt + 0.1 * torch.rand(shape, generator=generator, device=device)).clamp(0, 1)
    lq = lq.contiguous(memory_format=memory_format)
    shard = Shard.whole(scale.batch)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with autocast:
            loss = method.loss(net, gt, lq, generator, shard)
        loss.float().backward()
        optimizer.step()
        ema.update_parameters(net)

    return step, net


def measure_training(method: IRSDEMethod, scale: Scale, device: torch.device) -> dict[str, dict]:
    results = {}
    for name, (bf16, channels_last) in VARIANTS.items():
        step, net = training_step(method, scale, device, bf16, channels_last)
        for _ in range(scale.warmup_steps):
            step()
        if device.type == "cuda":
            synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        seconds = timed(lambda: [step() for _ in range(scale.train_steps)], device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        results[name] = {"iterations_per_s": scale.train_steps / seconds, "peak_gib": peak}
        del step, net
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def measure_restoration(method: IRSDEMethod, scale: Scale, device: torch.device) -> dict[str, dict]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ConditionalUNet(nf=scale.nf, depth=scale.depth).to(device).eval()
    lq = torch.rand((1, 3, *scale.image), generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():  # warm-up: kernels and allocator for this image size
        net(lq, lq, torch.full((1,), method.sde.T, device=device))
    results = {}
    for sampler, nfe in RESTORATIONS:
        generator = torch.Generator(device=device).manual_seed(0)
        seconds = timed(lambda: sample(net, method.sde, lq, sampler, generator, steps=nfe).images, device)
        results[f"{sampler} ({nfe} NFE)"] = {"seconds_per_image": seconds, "nfe": nfe}
    return results


def report(training: dict, restoration: dict, scale: Scale, device: torch.device, elapsed: float) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}); network nf {scale.nf}, depth {scale.depth}; torch {torch.__version__}")
    print(f"\ntraining step, batch {scale.batch} of {scale.crop}x{scale.crop} crops "
          f"({scale.train_steps} timed steps after {scale.warmup_steps} warm-up)")
    base = training["fp32"]
    print(f"{'variant':<22}{'it/s':>9}{'peak GiB':>10}{'speed-up':>10}{'memory':>8}  helps?")
    for variant, figures in training.items():
        speedup = figures["iterations_per_s"] / base["iterations_per_s"]
        memory = figures["peak_gib"] / base["peak_gib"] if figures["peak_gib"] is not None else None
        helps = "reference" if variant == "fp32" else ("yes" if speedup > 1.1 or (memory or 1) < 0.9 else "no")
        peak_text = f"{figures['peak_gib']:.2f}" if figures["peak_gib"] is not None else "n/a"
        memory_text = f"{memory:.2f}x" if memory is not None else "n/a"
        print(f"{variant:<22}{figures['iterations_per_s']:>9.2f}{peak_text:>10}{speedup:>9.2f}x{memory_text:>8}  {helps}")
    height, width = scale.image
    print(f"\nrestoration of one {width}x{height} image (fp32)")
    for sampler, figures in restoration.items():
        print(f"{sampler:<22}{figures['seconds_per_image']:>9.3f} s/image")
    full, fast = (restoration[f"{s} ({n} NFE)"]["seconds_per_image"] for s, n in RESTORATIONS)
    print(f"fast-sde is {full / fast:.1f}x faster than sde")
    print(f"\ntotal {elapsed:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--tiny", action="store_true", help="a tiny network and workload (seconds on a CPU)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device is available here; run with --device cpu --tiny to check the code paths")
    scale = TINY if args.tiny else PAPER
    started = time.perf_counter()
    method = build_method(scale, device)
    training = measure_training(method, scale, device)
    restoration = measure_restoration(method, scale, device)
    elapsed = time.perf_counter() - started
    report(training, restoration, scale, device, elapsed)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"device": str(device), "scale": scale.__dict__, "training": training,
                       "restoration": restoration, "seconds": elapsed}, stream, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
