"""The benchmark scripts of the fast samplers run end to end at a tiny scale on the CPU."""

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from irsde.data import paired_files
from irsde.train import train
from tests.support.train import tiny_config

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name):
    if str(BENCHMARKS) not in sys.path:  # the scripts import their shared helpers (timing) as siblings
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_its_code_paths_on_the_cpu(tmp_path, capsys):
    figures_path = tmp_path / "gpu.json"
    assert load_script("gpu_check").main(["--device", "cpu", "--tiny", "--json", str(figures_path)]) == 0
    output = capsys.readouterr().out
    figures = json.loads(figures_path.read_text())
    assert list(figures["training"]) == ["fp32", "bf16 autocast", "channels_last", "bf16 + channels_last"]
    assert all(v["iterations_per_s"] > 0 and v["peak_gib"] is None for v in figures["training"].values())
    assert {k: v["nfe"] for k, v in figures["restoration"].items()} == {"sde (100 NFE)": 100, "fast-sde (10 NFE)": 10}
    assert "restoration of one 67x45 image" in output and "fast-sde is" in output and "n/a" in output


@pytest.mark.slow
def test_sampler_nfe_sweep_on_a_trained_run(tmp_path, capsys):
    config = tiny_config(tmp_path)
    train(config, progress=False)
    out = tmp_path / "sweep"
    arguments = ["--run", config["output_dir"], "--nfe", "2", "10", "--seeds", "0", "1", "--limit", "2",
                 "--samplers", "sde", "posterior", "fast-sde", "fast-ode-1", "--spacings", "logsnr", "time",
                 "--out", str(out)]
    assert load_script("sampler_nfe").main(arguments) == 0
    output = capsys.readouterr().out
    rows = pd.read_csv(out.with_suffix(".csv"))
    # at NFE 2 every spacing, at NFE 10 = T one run; both seeds each
    assert len(rows) == 4 * (2 + 1) * 2
    assert set(rows["spacing"]) == {"logsnr", "time"} and rows["psnr"].notna().all()
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "best 10-NFE reference" in output and "best fast sampler at 10 NFE" in output


def test_recipe_benchmark_builds_the_benchmark_with_another_training_count(tmp_path):
    recipe = load_script("irsde_recipe")
    pipeline = {"benchmarks": {"synthetic-rain": {
        "dataset": "synthetic-rain", "synthetic": {"seed": 0, "train_count": 2, "test_count": 1, "size": 24}}}}
    default = recipe.build_data(pipeline, "synthetic-rain", tmp_path / "default", None)
    more = recipe.build_data(pipeline, "synthetic-rain", tmp_path / "more", None, train_count=5)
    assert len(paired_files(default / "train")) == 2
    assert len(paired_files(more / "train")) == 5
    # the test split does not depend on how many training crops are drawn
    assert (default / "test" / "LQ" / "0000.png").read_bytes() == (more / "test" / "LQ" / "0000.png").read_bytes()


def test_released_models_benchmark_counts_flops_and_times_both_layouts(tmp_path, capsys):
    figures = tmp_path / "released.json"
    assert load_script("released_models").main(["--threads", "1", "--repeats", "1", "--sizes", "24x20",
                                                "--json", str(figures)]) == 0
    rows = json.loads(figures.read_text())
    assert [row["model"] for row in rows] == ["PReNet (6 stages)", "DnCNN (colour blind)", "FFDNet (colour)"]
    prenet = rows[0]
    # 6 stages x (conv0 6->32, four gates 64->32, ten 32->32, out 32->3) 3x3 convs, 2 FLOP per multiply-add
    per_pixel = 6 * 9 * (6 * 32 + 4 * 64 * 32 + 10 * 32 * 32 + 32 * 3) * 2
    assert prenet["gflop"] * 1e9 == pytest.approx(per_pixel * 24 * 20, rel=0.01)
    assert all(row["seconds_nchw"] > 0 and row["seconds_channels_last"] > 0 for row in rows)
    assert "GFLOP/s" in capsys.readouterr().out


def test_noise_draw_benchmark_reproduces_the_restore_path_per_seed(tmp_path, capsys, monkeypatch):
    """Seed 0 of the script is the registry's draw: its PSNR mean equals that of restoring the
    prepared split with `irsde restore --checkpoint` and scoring it with `irsde evaluate`."""
    import dataclasses

    import torch

    from irsde.checkpoints import CHECKPOINTS
    from irsde.cli import main as irsde
    from irsde.nets.ffdnet import FFDNet
    from tests.support.data import prepared_cbsd68

    torch.manual_seed(0)
    resources = tmp_path / "res"
    (resources / "weights").mkdir(parents=True)
    torch.save(FFDNet(features=6, depth=3).state_dict(), resources / "weights" / "tiny.pth")
    tiny = dataclasses.replace(CHECKPOINTS["ffdnet-color"], name="tiny", file="tiny.pth",
                               source=CHECKPOINTS["irsde-derain-rain100h"].source)  # trusted on first use
    monkeypatch.setitem(CHECKPOINTS._all(), "tiny", tiny)
    split = prepared_cbsd68(tmp_path, count=2, width=12, height=10, resources=resources)
    assert irsde(["restore", "--checkpoint", "tiny", "--resources", str(resources), "--dataset", str(split),
                  "--out", str(tmp_path / "restored")]) == 0
    assert irsde(["evaluate", "--restored", str(tmp_path / "restored"), "--gt", str(split / "GT"), "--protocol",
                  "irsde-denoise", "--metrics", "psnr", "--out", str(tmp_path / "m.csv")]) == 0
    expected = pd.read_csv(tmp_path / "m.csv")["value"].mean()
    capsys.readouterr()
    assert load_script("noise_draw").main(["--gt", str(split / "GT"), "--checkpoint", "tiny", "--resources",
                                           str(resources), "--seeds", "0", "1", "--threads", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("tiny") and f"seed 0: {expected:.3f}" in line and "seed 1:" in line and "range" in line
