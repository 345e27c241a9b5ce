"""`irsde restore` and `irsde evaluate` end to end on a tiny split and tiny networks."""

import json

import pandas as pd
import pytest
import torch

from irsde.cli import build_parser, main
from irsde.metrics import ALEXNET_WEIGHTS
from irsde.nets import ConditionalUNet
from metrics_support import empty_torch_home, write_split  # noqa: F401  (fixture)

SMALL_SDE = ["--T", "2", "--max-sigma", "10", "--schedule", "cosine", "--eps", "0.005"]


@pytest.fixture
def data_root(tmp_path):
    write_split(tmp_path / "data" / "toy" / "test")
    return tmp_path / "data"


def save_net(path, **config):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(ConditionalUNet(**config).state_dict(), path)
    return path


def test_restore_and_evaluate_commands_are_registered():
    help_text = build_parser().format_help()
    assert "restore" in help_text and "evaluate" in help_text


def test_restore_then_evaluate_writes_tidy_csv_and_summary(data_root, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth", nf=8, depth=2)
    out = tmp_path / "restored"
    code = main(["restore", "--weights", str(weights), "--dataset", "toy", "--root", str(data_root), "--sampler", "sde",
                 "--seed", "5", "--out", str(out), "--batch-size", "2", "--method", "IR-SDE (ours)", *SMALL_SDE])
    assert code == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["network"]["nf"] == 8 and manifest["network"]["depth"] == 2 and manifest["seed"] == 5
    assert sorted(p.name for p in (out / "png").iterdir()) == [f"img-{i}.png" for i in range(5)]

    csv = tmp_path / "metrics" / "toy.csv"
    code = main(["evaluate", "--restored", str(out), "--gt", str(data_root / "toy" / "test" / "GT"),
                 "--protocol", "irsde-derain", "--metrics", "psnr,ssim", "--out", str(csv)])
    assert code == 0
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["dataset", "method", "image", "seed", "protocol", "metric", "value", "note"]
    assert set(frame["method"]) == {"IR-SDE (ours)"} and set(frame["seed"]) == {5} and set(frame["dataset"]) == {"toy"}
    assert len(frame) == 10
    summary = pd.read_csv(tmp_path / "metrics" / "toy.summary.csv")
    assert set(summary["metric"]) == {"psnr", "ssim"} and (summary["images"] == 5).all()
    assert "IR-SDE (ours)" in capsys.readouterr().out


def test_published_checkpoint_layout_is_inferred_and_labelled(data_root, tmp_path, reference_dir):
    # A file with exactly the published layout (names and shapes of the released nf=32 model).
    layout = json.loads((reference_dir / "conditional_unet_nf32_depth4.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state = {name: 0.01 * torch.randn(shape, generator=generator) for name, shape in layout["state_dict"]}
    torch.save(state, tmp_path / "published.pth")
    out = tmp_path / "published"
    code = main(["restore", "--weights", str(tmp_path / "published.pth"), "--dataset", str(data_root / "toy" / "test"),
                 "--out", str(out), "--limit", "2", "--method", "IR-SDE (published weights)", *SMALL_SDE])
    assert code == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["network"] == {"nf": 32, "depth": 4, "in_nc": 3, "out_nc": 3, "time_conditioned": True,
                                   "attn_head_dim": 32}
    assert manifest["sampler"] == "sde" and manifest["method"] == "IR-SDE (published weights)"
    assert len(list((out / "png").iterdir())) == 2


def test_wrong_architecture_is_reported_without_traceback(data_root, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth", nf=8, depth=2)
    code = main(["restore", "--weights", str(weights), "--dataset", "toy", "--root", str(data_root),
                 "--nf", "16", "--out", str(tmp_path / "o"), *SMALL_SDE])
    assert code == 2
    assert "does not fit" in capsys.readouterr().err


def test_cnn_baseline_weights_restore_in_one_step_only(data_root, tmp_path, capsys):
    weights = save_net(tmp_path / "cnn.pth", nf=8, depth=2, time_conditioned=False)
    args = ["restore", "--weights", str(weights), "--dataset", "toy", "--root", str(data_root)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "--sampler one-step" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--sampler", "one-step", "--batch-size", "3"]) == 0
    assert len(list((tmp_path / "b" / "png").iterdir())) == 5


def test_restore_with_a_fast_sampler_and_fewer_steps(data_root, tmp_path, capsys):
    from irsde.images import read_uint8, to_uint8
    from irsde.nets import load_weights
    from irsde.samplers import restore
    from irsde.sde import MeanRevertingSDE

    weights = save_net(tmp_path / "net.pth", nf=8, depth=2)
    args = ["restore", "--weights", str(weights), "--dataset", "toy", "--root", str(data_root), "--limit", "1",
            "--T", "10", "--max-sigma", "10", "--seed", "3"]
    out = tmp_path / "fast"
    assert main([*args, "--sampler", "fast-sde", "--steps", "4", "--out", str(out)]) == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["sampler"] == "fast-sde" and manifest["nfe"] == 4 and manifest["sde"]["T"] == 10
    net = load_weights(ConditionalUNet(nf=8, depth=2), weights).eval()
    lq = torch.from_numpy(read_uint8(data_root / "toy" / "test" / "LQ" / "img-0.png")).permute(2, 0, 1)[None] / 255.0
    expected = restore(net, MeanRevertingSDE(T=10), lq, "fast-sde", torch.Generator().manual_seed(3), steps=4)[0]
    assert (read_uint8(out / "png" / "img-0.png") == to_uint8(expected)).all()

    assert main([*args, "--sampler", "sde", "--out", str(tmp_path / "full")]) == 0
    assert json.loads((tmp_path / "full" / "restore.json").read_text())["nfe"] == 10
    assert main([*args, "--sampler", "fast-sde", "--steps", "11", "--out", str(tmp_path / "o")]) == 2
    assert "steps (network evaluations per image) must be an integer in 1..T=10, got 11" in capsys.readouterr().err


def test_unknown_sampler_and_missing_dataset_are_errors(data_root, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth", nf=8, depth=2)
    assert main(["restore", "--weights", str(weights), "--dataset", "toy", "--root", str(data_root),
                 "--sampler", "ddim", "--out", str(tmp_path / "o")]) == 2
    assert "ddim" in capsys.readouterr().err
    assert main(["restore", "--weights", str(weights), "--dataset", "rain100h", "--root", str(data_root),
                 "--out", str(tmp_path / "o")]) == 2
    assert "irsde data prepare rain100h" in capsys.readouterr().err


def test_evaluate_without_weights_fails_or_records_unavailable(data_root, tmp_path, empty_torch_home, capsys):
    gt = data_root / "toy" / "test" / "GT"
    restored = tmp_path / "restored"
    assert main(["restore", "--weights", str(save_net(tmp_path / "n.pth", nf=8, depth=2)), "--dataset", "toy",
                 "--root", str(data_root), "--out", str(restored), "--method", "m", *SMALL_SDE]) == 0
    base = ["evaluate", "--restored", str(restored), "--gt", str(gt), "--protocol", "irsde-derain",
            "--metrics", "psnr,lpips", "--no-download"]
    assert main([*base, "--out", str(tmp_path / "fail.csv")]) == 2
    error = capsys.readouterr().err
    assert ALEXNET_WEIGHTS.filename in error and str(empty_torch_home / "hub" / "checkpoints") in error
    assert main([*base, "--out", str(tmp_path / "ok.csv"), "--allow-missing-weights"]) == 0
    frame = pd.read_csv(tmp_path / "ok.csv")
    lpips_rows = frame[frame["metric"] == "lpips"]
    assert lpips_rows["value"].isna().all() and lpips_rows["note"].str.contains(ALEXNET_WEIGHTS.filename).all()


def test_evaluate_needs_labels_for_a_plain_png_folder(data_root, tmp_path, capsys):
    gt = data_root / "toy" / "test" / "GT"
    code = main(["evaluate", "--restored", str(gt), "--gt", str(gt), "--protocol", "rgb-full",
                 "--metrics", "psnr", "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "--method, --dataset, --seed" in capsys.readouterr().err
    code = main(["evaluate", "--restored", str(gt), "--gt", str(gt), "--protocol", "rgb-full", "--metrics", "ssim",
                 "--method", "GT", "--dataset", "toy", "--seed", "0", "--out", str(tmp_path / "x.csv")])
    assert code == 0 and (pd.read_csv(tmp_path / "x.csv")["value"] == 1.0).all()
