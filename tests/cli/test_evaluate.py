"""`irsde restore` (a training run, or published weights) and `irsde evaluate`, end to end on a
tiny split with tiny networks."""

import hashlib
import json

import pandas as pd
import pytest
import torch

from irsde.cli import build_parser, main
from irsde.metrics import ALEXNET_WEIGHTS
from irsde.nets import ConditionalUNet
from irsde.sde import MeanRevertingSDE, start_step
from irsde.train import train
from tests.support.train import tiny_config
from tests.support.metrics import write_split

SMALL_SDE = ["--T", "2", "--max-sigma", "10", "--schedule", "cosine", "--eps", "0.005"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny training runs (IR-SDE with T=4, and the CNN baseline)."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for method in ("irsde", "cnn_baseline"):
        config = tiny_config(root / method, method=method, sde={"T": 4}, train={"iterations": 2, "val_every": 0})
        folders[method] = train(config, progress=False).output_dir
    return folders


@pytest.fixture
def data_root(tmp_path):
    write_split(tmp_path / "data" / "toy" / "test")
    return tmp_path / "data"


def save_net(path, **config):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(ConditionalUNet(**config).state_dict(), path)
    return path


def png_digests(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted((folder / "png").iterdir())}


def test_restore_and_evaluate_commands_are_registered():
    help_text = build_parser().format_help()
    assert "restore" in help_text and "evaluate" in help_text


def test_restore_a_run_then_evaluate_writes_tidy_csv_keyed_by_method_id(runs, data_root, tmp_path, capsys):
    out = tmp_path / "restored"
    code = main(["restore", "--run", str(runs["irsde"]), "--dataset", "toy", "--root", str(data_root),
                 "--seed", "5", "--out", str(out), "--batch-size", "2"])
    assert code == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["method"] == "irsde" and manifest["seed"] == 5 and manifest["run"] == str(runs["irsde"].resolve())
    assert manifest["sde"] == {"schedule": "cosine", "T": 4, "max_sigma": 10.0, "eps": 0.005}  # the run's SDE
    assert manifest["sampler"] == "sde" and manifest["network"] == {"nf": 8, "depth": 2, "attn_head_dim": 32}
    assert manifest["weights"].endswith("weights/ema_latest.pth")
    assert sorted(p.name for p in (out / "png").iterdir()) == [f"img-{i}.png" for i in range(5)]

    csv = tmp_path / "metrics" / "toy.csv"
    code = main(["evaluate", "--restored", str(out), "--gt", str(data_root / "toy" / "test" / "GT"),
                 "--protocol", "irsde-derain", "--metrics", "psnr,ssim", "--out", str(csv)])
    assert code == 0
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["dataset", "method", "image", "seed", "protocol", "metric", "value", "note"]
    assert set(frame["method"]) == {"irsde"} and set(frame["seed"]) == {5} and set(frame["dataset"]) == {"toy"}
    assert len(frame) == 10
    summary = pd.read_csv(tmp_path / "metrics" / "toy.summary.csv")
    assert set(summary["metric"]) == {"psnr", "ssim"} and (summary["images"] == 5).all()
    assert "irsde" in capsys.readouterr().out


def test_a_run_restores_like_its_weights_with_its_sde_through_the_published_path(runs, data_root, tmp_path):
    """One restoration path: --run and --weights (+ the run's SDE as flags) give the same bytes."""
    split = str(data_root / "toy" / "test")
    assert main(["restore", "--run", str(runs["irsde"]), "--dataset", split, "--seed", "3",
                 "--out", str(tmp_path / "run")]) == 0
    weights = runs["irsde"] / "weights" / "ema_latest.pth"
    assert main(["restore", "--weights", str(weights), "--dataset", split, "--seed", "3", "--out", str(tmp_path / "w"),
                 "--T", "4", "--max-sigma", "10", "--schedule", "cosine", "--eps", "0.005"]) == 0
    assert png_digests(tmp_path / "run") == png_digests(tmp_path / "w")
    assert json.loads((tmp_path / "w" / "restore.json").read_text())["method"] == "irsde"
    assert main(["restore", "--run", str(runs["irsde"]), "--dataset", split, "--seed", "4",
                 "--out", str(tmp_path / "seed4")]) == 0
    assert png_digests(tmp_path / "seed4") != png_digests(tmp_path / "run")


def test_run_options_exclude_sde_method_and_option_flags(runs, data_root, tmp_path, capsys):
    code = main(["restore", "--run", str(runs["irsde"]), "--dataset", "toy", "--root", str(data_root),
                 "--out", str(tmp_path / "o"), "--T", "100", "--method", "irsde", "--option", "stages=2"])
    assert code == 2
    error = capsys.readouterr().err
    assert "--method, --T, --option: with --run the method, network and SDE come from the run's config.yaml" in error
    assert not (tmp_path / "o").exists()


def test_a_run_may_restore_with_another_sampler_when_its_method_samples(runs, data_root, tmp_path, capsys):
    args = ["restore", "--dataset", "toy", "--root", str(data_root), "--limit", "2"]
    assert main([*args, "--run", str(runs["irsde"]), "--sampler", "ode", "--out", str(tmp_path / "ode")]) == 0
    assert json.loads((tmp_path / "ode" / "restore.json").read_text())["sampler"] == "ode"
    assert main([*args, "--run", str(runs["irsde"]), "--sampler", "fast-sde", "--steps", "3", "--out", str(tmp_path / "f")]) == 0
    manifest = json.loads((tmp_path / "f" / "restore.json").read_text())
    assert manifest["sampler"] == "fast-sde" and manifest["steps"] == 3 and manifest["nfe"] == 3
    assert main([*args, "--run", str(runs["irsde"]), "--steps", "5", "--out", str(tmp_path / "g")]) == 2  # T is 4
    assert "steps (network evaluations per image) must be an integer in 1..T=4, got 5" in capsys.readouterr().err
    assert main([*args, "--run", str(runs["irsde"]), "--sampler", "ddim", "--out", str(tmp_path / "x")]) == 2
    assert "unknown sampler 'ddim'; choose one of: fast-ode, fast-sde, ode, posterior, sde" in capsys.readouterr().err
    assert main([*args, "--run", str(runs["cnn_baseline"]), "--sampler", "ode", "--out", str(tmp_path / "y")]) == 2
    assert "method 'cnn_baseline' restores without a sampler" in capsys.readouterr().err
    assert main([*args, "--run", str(runs["cnn_baseline"]), "--steps", "2", "--out", str(tmp_path / "z")]) == 2
    assert "method 'cnn_baseline' restores without a sampler" in capsys.readouterr().err


def test_the_cnn_baseline_restores_from_its_run_and_not_as_published_weights(runs, data_root, tmp_path, capsys):
    args = ["restore", "--dataset", "toy", "--root", str(data_root), "--batch-size", "3"]
    assert main([*args, "--run", str(runs["cnn_baseline"]), "--out", str(tmp_path / "cnn")]) == 0
    manifest = json.loads((tmp_path / "cnn" / "restore.json").read_text())
    assert manifest["method"] == "cnn_baseline" and "sampler" not in manifest and manifest["nfe"] == 1
    assert len(list((tmp_path / "cnn" / "png").iterdir())) == 5
    weights = runs["cnn_baseline"] / "weights" / "ema_latest.pth"
    assert main([*args, "--weights", str(weights), "--out", str(tmp_path / "w")]) == 2
    error = capsys.readouterr().err
    assert "has no time input: it is a CNN baseline's" in error and "restore its training run with --run RUN_DIR" in error


def test_an_unfinished_or_missing_run_is_named(runs, data_root, tmp_path, capsys):
    args = ["restore", "--dataset", "toy", "--root", str(data_root), "--out", str(tmp_path / "o")]
    assert main([*args, "--run", str(tmp_path / "nowhere")]) == 2
    assert "is not a training run folder: it has no config.yaml" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((runs["irsde"] / "config.yaml").read_text())
    record = json.loads((runs["irsde"] / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**record, "finished": False, "iteration": 1}))
    assert main([*args, "--run", str(unfinished)]) == 2
    assert "has not finished training (run.json: iteration 1 of 2)" in capsys.readouterr().err


def test_published_checkpoint_layout_is_inferred_and_recorded(data_root, tmp_path, reference_dir):
    # A file with exactly the published layout (names and shapes of the released nf=32 model).
    layout = json.loads((reference_dir / "conditional_unet_nf32_depth4.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state = {name: 0.01 * torch.randn(shape, generator=generator) for name, shape in layout["state_dict"]}
    torch.save(state, tmp_path / "published.pth")
    out = tmp_path / "published"
    code = main(["restore", "--weights", str(tmp_path / "published.pth"), "--dataset", str(data_root / "toy" / "test"),
                 "--out", str(out), "--limit", "2", *SMALL_SDE])
    assert code == 0
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["network"] == {"nf": 32, "depth": 4, "in_nc": 3, "out_nc": 3, "attn_head_dim": 32}
    assert manifest["sampler"] == "sde" and manifest["method"] == "irsde" and manifest["options"] == {"prediction": "noise"}
    assert manifest["sde"] == {"schedule": "cosine", "T": 2, "max_sigma": 10.0, "eps": 0.005}
    assert len(list((out / "png").iterdir())) == 2


def test_weights_that_do_not_fit_are_reported_without_traceback(data_root, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth", nf=8, depth=2)
    state = torch.load(weights, weights_only=True)
    torch.save({**state, "extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    code = main(["restore", "--weights", str(tmp_path / "extra.pth"), "--dataset", "toy", "--root", str(data_root),
                 "--out", str(tmp_path / "o"), *SMALL_SDE])
    assert code == 2
    error = capsys.readouterr().err
    assert "does not fit the network" in error and "unexpected keys (1): extra.weight" in error
    assert main(["restore", "--weights", str(weights), "--method", "prenet", "--dataset", "toy", "--root", str(data_root),
                 "--out", str(tmp_path / "p")]) == 2
    assert "method 'prenet': not a PReNet state dict" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()


def test_restore_with_a_fast_sampler_and_fewer_steps(data_root, tmp_path, capsys):
    from irsde.images import read_uint8, to_uint8
    from irsde.nets import load_weights
    from irsde.sampling import sample
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
    expected = sample(net, MeanRevertingSDE(T=10), lq, "fast-sde", torch.Generator().manual_seed(3), steps=4).images[0]
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
    assert "irsde data prepare Rain100H" in capsys.readouterr().err  # the name as registered, whatever its case


def test_evaluate_without_weights_fails_or_records_unavailable(runs, data_root, tmp_path, empty_torch_home, capsys):
    gt = data_root / "toy" / "test" / "GT"
    restored = tmp_path / "restored"
    assert main(["restore", "--run", str(runs["cnn_baseline"]), "--dataset", "toy", "--root", str(data_root),
                 "--out", str(restored)]) == 0
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
    code = main(["evaluate", "--restored", str(gt.parent / "LQ"), "--gt", str(gt), "--protocol", "rgb-full",
                 "--metrics", "ssim", "--method", "input", "--dataset", "toy", "--seed", "0", "--out", str(tmp_path / "x.csv")])
    frame = pd.read_csv(tmp_path / "x.csv")
    assert code == 0 and set(frame["method"]) == {"input"} and set(frame["dataset"]) == {"toy"}


def test_weights_with_the_denoising_layout_restore_as_denoising_ode_from_the_noise_level(data_root, tmp_path):
    weights = save_net(tmp_path / "denoising.pth", nf=8, depth=2, conditional=False, mid_attention="full")
    split = str(data_root / "toy" / "test")
    assert main(["restore", "--weights", str(weights), "--dataset", split, "--out", str(tmp_path / "ode"),
                 "--T", "20", "--noise-sigma", "25", "--limit", "1"]) == 0
    manifest = json.loads((tmp_path / "ode" / "restore.json").read_text())
    assert manifest["method"] == "denoising_sde" and manifest["sampler"] == "ode"
    assert manifest["sde"] == {"schedule": "cosine", "T": 20, "max_sigma": 70.0, "eps": 0.04}
    assert manifest["nfe"] == start_step(MeanRevertingSDE("cosine", 20, 70, 0.04), 25)
    assert main(["restore", "--weights", str(weights), "--dataset", split, "--out", str(tmp_path / "sde"),
                 "--T", "20", "--sampler", "sde", "--limit", "1"]) == 0
    assert json.loads((tmp_path / "sde" / "restore.json").read_text())["sampler"] == "sde"
