"""Helpers shared by the tests/train/ files: a tiny paired dataset and a tiny config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from irsde.images import write_png

REPO = Path(__file__).resolve().parents[2]


def make_paired_split(folder: Path, count: int, size: int, seed: int) -> Path:
    """``folder/{GT,LQ}/img_<i>.png``: smooth random GT, LQ = GT + bright streaks + noise."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        coarse = rng.random((4, 4, 3))
        gt = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
        lq = gt.copy()
        lq[:, rng.integers(0, size, 3)] = 1.0
        lq = np.clip(lq + rng.normal(0, 0.05, lq.shape), 0, 1)
        write_png(folder / "GT" / f"img_{index:02d}.png", gt.astype(np.float32))
        write_png(folder / "LQ" / f"img_{index:02d}.png", lq.astype(np.float32))
    return folder


def tiny_dataset(root: Path) -> tuple[Path, Path]:
    """A training split of 6 pairs 24x24 and a validation split of 3 pairs 20x20."""
    return make_paired_split(root / "train", 6, 24, seed=1), make_paired_split(root / "val", 3, 20, seed=2)


def tiny_config(root: Path, **sections) -> dict:
    """A config that trains in well under a second per few iterations on one CPU thread."""
    train_dir, val_dir = tiny_dataset(root / "data")
    config = {
        "name": "tiny",
        "seed": 3,
        "method": "irsde",
        "device": "cpu",
        "output_dir": str(root / "run"),
        "data": {"train": str(train_dir), "val": str(val_dir), "crop_size": 16, "batch_size": 2, "val_images": 2},
        "network": {"nf": 8, "depth": 2},
        "sde": {"schedule": "cosine", "T": 10, "max_sigma": 10, "eps": 0.005},
        "optim": {"lr": 1.0e-3, "milestones": [4], "gamma": 0.5},
        "train": {"iterations": 6, "checkpoint_every": 2, "log_every": 2, "val_every": 3},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def load_tensors(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def subprocess_env() -> dict:
    """Environment for child training processes: one thread, the repo importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def irsde_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "irsde", *arguments]


def run_irsde(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        irsde_command(*arguments), capture_output=True, text=True, env=subprocess_env(), timeout=timeout
    )
