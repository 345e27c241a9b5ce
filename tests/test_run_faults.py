"""Faults and hostile inputs around restoring, scoring and training: each fails closed with one
error line naming the file, key or folder, and nothing half-made passes for a result."""

import errno
import json
import os
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch

from irsde import fileio
from irsde.cli import main
from irsde.evaluation import evaluate
from irsde.finite import NonFiniteError
from irsde.nets import ConditionalUNet
from irsde.train import train
from tests.support.cli import error_line, restore, save_net
from tests.support.metrics import restore_with, write_split
from tests.support.train import irsde_command, subprocess_env, tiny_config


@pytest.fixture
def split(tmp_path):
    return write_split(tmp_path / "data" / "toy" / "test")


def pngs(folder):
    return sorted(path.name for path in folder.rglob("*.png"))


# -- 2. one restore at a time per output folder -----------------------------------------------------


@pytest.mark.slow
def test_a_second_restore_into_a_busy_folder_is_refused_and_nothing_mixes(split, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth")
    out = tmp_path / "restored"
    first = subprocess.Popen(  # seed 0, slow enough (T=80, seconds) to be caught in the act
        irsde_command("restore", "--weights", str(weights), "--dataset", str(split), "--out", str(out),
                      "--seed", "0", "--T", "80"),
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out / fileio.LOCK_NAME
    deadline = time.monotonic() + 600  # generous: start-up alone takes long on a loaded machine
    while not (lock.is_file() and "seed 0" in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    assert restore(weights, split, out, "--seed", "1") == 2
    error = error_line(capsys.readouterr().err)
    assert str(out) in error and f"pid {first.pid} (irsde restore, seed 0)" in error
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    manifest = json.loads((out / "restore.json").read_text())
    assert manifest["seed"] == 0 and manifest["sde"]["T"] == 80
    assert pngs(out) == [f"img-{i}.png" for i in range(5)]
    # once the folder is free, a later run replaces it whole: every image and the record agree
    assert restore(weights, split, out, "--seed", "1") == 0
    assert json.loads((out / "restore.json").read_text())["seed"] == 1
    assert restore(weights, split, tmp_path / "fresh", "--seed", "1") == 0
    for name in pngs(out):
        assert (out / "png" / name).read_bytes() == (tmp_path / "fresh" / "png" / name).read_bytes()


def test_an_output_folder_that_is_a_file_or_a_csv_path_that_is_a_folder(split, tmp_path, capsys):
    weights = save_net(tmp_path / "net.pth")
    (tmp_path / "taken").write_text("x")
    assert restore(weights, split, tmp_path / "taken") == 2
    assert f"output folder {tmp_path / 'taken'} is a file" in error_line(capsys.readouterr().err)
    (tmp_path / "metrics").mkdir()
    code = main(["evaluate", "--restored", str(split / "LQ"), "--gt", str(split / "GT"), "--protocol", "rgb-full",
                 "--metrics", "psnr", "--method", "input", "--dataset", "toy", "--seed", "0",
                 "--out", str(tmp_path / "metrics")])
    assert code == 2
    assert f"--out {tmp_path / 'metrics'} is a folder; give the CSV file" in error_line(capsys.readouterr().err)


# -- 3. NaN never becomes a black PNG that gets scored ------------------------------------------------


def test_nan_weights_are_refused_before_any_png(split, tmp_path, capsys):
    state = ConditionalUNet(nf=8, depth=2).state_dict()
    state["final_conv.weight"][0, 0, 0, 0] = float("nan")
    weights = save_net(tmp_path / "nan.pth", state)
    assert restore(weights, split, tmp_path / "out") == 2
    error = error_line(capsys.readouterr().err)
    assert str(weights) in error and "final_conv.weight" in error and "NaN/inf" in error
    assert pngs(tmp_path / "out") == []


class NaNOnSecondBatch:
    """A restorer whose output turns NaN from its second call on (a diverging sampler)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, lq, generator):
        self.calls += 1
        return lq if self.calls == 1 else lq * float("nan")


def test_a_non_finite_output_stops_the_run_and_leaves_nothing_to_score(split, tmp_path):
    out = tmp_path / "out"
    lq = sorted((split / "LQ").iterdir())
    with pytest.raises(NonFiniteError, match="img-3.png") as caught:
        restore_with(NaNOnSecondBatch(), lq, out, batch_size=3, progress=False)
    assert "nothing of this run is kept" in str(caught.value)
    assert pngs(out) == [] and not list((out / "float").iterdir()) and not (out / "restore.json").exists()


def test_evaluate_refuses_an_unfinished_restore_and_nan_float_outputs(split, tmp_path):
    out = tmp_path / "out"
    restore_with(lambda lq, generator: lq, sorted((split / "LQ").iterdir()), out, progress=False)
    scores = evaluate(out, split / "GT", "irsde-derain", "m", "toy", 0, metrics=["psnr"], progress=False)
    assert len(scores) == 5
    np.save(out / "float" / "img-2.npy", np.full((40, 40, 3), np.nan, np.float32))  # from an older version
    with pytest.raises(NonFiniteError, match="img-2.npy"):
        evaluate(out, split / "GT", "irsde-derain", "m", "toy", 0, metrics=["psnr"], progress=False)
    (out / "restore.json").unlink()  # a killed restore never writes it
    with pytest.raises(ValueError, match="no restore.json: that restore did not finish"):
        evaluate(out, split / "GT", "irsde-derain", "m", "toy", 0, metrics=["psnr"], progress=False)


# -- 8. weight files, devices, disks, limits ----------------------------------------------------------


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def hostile_pickle(path):
    torch.save({"net": Payload()}, path)
    return path


@pytest.mark.parametrize("make, expected", [
    (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    (lambda p: p.write_text("this is not a checkpoint\n"), "is not a PyTorch file or is truncated"),
    (lambda p: (save_net(p), p.write_bytes(p.read_bytes()[:4000])), "is not a PyTorch file or is truncated"),
    (hostile_pickle, "holds the Python object posix.system, which irsde does not unpickle"),
    (lambda p: torch.save({"backbone.weight": torch.zeros(3, 3)}, p), "not a ConditionalUNet state_dict"),
], ids=["empty", "text", "truncated", "pickle", "unrelated"])
def test_unusable_weight_files_are_one_line_naming_the_file(split, tmp_path, capsys, make, expected, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "w.pth"
    make(weights)
    assert restore(weights, split, tmp_path / "out") == 2
    error = error_line(capsys.readouterr().err)
    assert str(weights) in error and expected in error
    assert "weights_only" not in error
    assert not (tmp_path / "pwned").exists()


def test_a_run_training_state_is_accepted_as_weights(tmp_path, split):
    result = train(tiny_config(tmp_path), progress=False)
    state, ema = result.output_dir / "training_state.pt", result.ema_weights
    assert restore(state, split, tmp_path / "from-state") == 0
    assert restore(ema, split, tmp_path / "from-ema") == 0
    for name in pngs(tmp_path / "from-ema"):
        assert (tmp_path / "from-state" / "png" / name).read_bytes() == (tmp_path / "from-ema" / "png" / name).read_bytes()
    assert restore(state, split, tmp_path / "raw", "--key", "net") == 0


def test_killed_checkpoint_temp_files_are_cleaned_when_a_run_starts(tmp_path):
    config = tiny_config(tmp_path)
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    leftovers = [run / ".training_state.pt.k1llx.part", run / "weights" / ".net_2.pth.abcd.part"]
    for path in leftovers:
        path.write_bytes(b"half a checkpoint")
    train(config, progress=False)
    assert not [path for path in leftovers if path.exists()]
    assert not list(run.rglob("*.part"))


def test_cuda_without_a_gpu_is_one_line(split, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert restore(save_net(tmp_path / "net.pth"), split, tmp_path / "out", "--device", "cuda") == 2
    error = error_line(capsys.readouterr().err)
    assert "device 'cuda' was requested but torch" in error and "use device 'cpu'" in error


def test_a_full_disk_during_restore_names_the_file_and_keeps_no_partial_files(split, tmp_path, capsys, monkeypatch):
    def no_space(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", no_space)
    out = tmp_path / "out"
    assert restore(save_net(tmp_path / "net.pth"), split, out) == 2
    error = error_line(capsys.readouterr().err)
    assert f"cannot write {out}" in error and "No space left on device; free some space" in error
    assert not list(out.rglob("*.part")) and pngs(out) == [] and not (out / "restore.json").exists()


def test_a_limited_restore_is_scored_on_its_images(split, tmp_path, capsys):
    out = tmp_path / "out"
    assert restore(save_net(tmp_path / "net.pth"), split, out, "--limit", "2") == 0
    assert json.loads((out / "restore.json").read_text())["limit"] == 2
    csv = tmp_path / "m.csv"
    assert main(["evaluate", "--restored", str(out), "--gt", str(split / "GT"), "--protocol", "irsde-derain",
                 "--metrics", "psnr", "--out", str(csv)]) == 0
    assert sorted(pd.read_csv(csv)["image"]) == ["img-0.png", "img-1.png"]
    assert (pd.read_csv(tmp_path / "m.summary.csv")["images"] == 2).all()
    assert set(pd.read_csv(csv)["method"]) == {"irsde"}  # the method id restore.json records for a bare weight file


@pytest.mark.parametrize("option", ["--limit", "--tile", "--batch-size"])
@pytest.mark.parametrize("value", ["-1", "0"])
def test_non_positive_counts_are_refused_not_reinterpreted(split, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as caught:
        restore(save_net(tmp_path / "net.pth"), split, tmp_path / "out", option, value)
    assert caught.value.code == 2
    assert f"argument {option}: expected a whole number >= 1, got '{value}'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_pickled_weights_never_run_code_even_through_the_library(tmp_path, monkeypatch):
    from irsde.nets import read_state_dict
    from irsde.torchfile import TorchFileError

    path = hostile_pickle(tmp_path / "evil.pth")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TorchFileError, match="evil.pth holds the Python object posix.system"):
        read_state_dict(path)
    assert not (tmp_path / "pwned").exists()
