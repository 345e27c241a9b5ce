"""Helpers shared by the tests that run the Snakemake workflow (no tests here): running
``snakemake`` on this repository's Snakefile in a folder, shipped configs with edits, and the tiny
CI config of the cluster and multi-rank tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args, workdir: Path, timeout: int = 900, **popen) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **popen)


def write_config(tmp_path: Path, source: str, edit) -> Path:
    config = yaml.safe_load((REPO / "config" / source).read_text())
    edit(config)
    path = tmp_path / f"edited-{source}"
    path.write_text(yaml.safe_dump(config))
    return path


def tiny_ci(config: dict) -> None:
    """config/ci.yaml cut to seconds of work per job: 16 training crops and 2 test images of 48 px,
    20 iterations of batch 4, 10 sampler steps, PSNR/SSIM only, no curves."""
    config["name"] = "tiny"
    config["benchmarks"]["synthetic-rain"]["synthetic"].update(train_count=16, test_count=2, size=48)
    config.update(metrics=["psnr", "ssim"], sampler_steps=10, figures={"images": 2, "crop": 32})
    config.pop("curves")
    config["training"]["data"].update(batch_size=4, val_images=1)
    config["training"]["optim"]["milestones"] = [15]
    config["training"]["train"].update(iterations=20, checkpoint_every=20, val_every=20, log_every=10)
