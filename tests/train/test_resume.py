"""End to end through the CLI: a training process killed with SIGKILL and started again ends with
weights bit-identical to an uninterrupted run, and logs that hold every iteration once."""

import csv
import json
import signal
import subprocess
import time

import pytest

from irsde.train.checkpoint import RunLayout
from tests.support.train import (assert_same_tensors, irsde_command, load_tensors, run_irsde, subprocess_env,
                                 tiny_config, write_config)

ITERATIONS = 80


def rows(path, *columns):
    with open(path, newline="") as stream:
        return [tuple(row[c] for c in columns) for row in csv.DictReader(stream)]


def start_and_kill_after_first_checkpoint(config_path, layout: RunLayout, timeout: float = 60) -> None:
    process = subprocess.Popen(
        irsde_command("train", "--config", str(config_path)),
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not layout.state.exists():
            assert process.poll() is None, f"training exited early: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no checkpoint appeared in time"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not layout.weights("net", ITERATIONS).exists(), "the run finished before it was killed"


@pytest.mark.slow
def test_killed_run_resumes_bit_identical(tmp_path):
    config = tiny_config(
        tmp_path,
        train={"iterations": ITERATIONS, "checkpoint_every": 10, "log_every": 10, "val_every": 30},
    )
    whole = RunLayout(tmp_path / "whole")
    killed = RunLayout(tmp_path / "killed")
    whole_config = write_config(tmp_path / "whole.yaml", dict(config, output_dir=str(whole.root)))
    killed_config = write_config(tmp_path / "killed.yaml", dict(config, output_dir=str(killed.root)))

    start_and_kill_after_first_checkpoint(killed_config, killed)
    resumed = run_irsde("train", "--config", str(killed_config))
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = run_irsde("train", "--config", str(whole_config))
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    for kind in ("net", "ema"):
        assert_same_tensors(load_tensors(whole.weights(kind, "latest")), load_tensors(killed.weights(kind, "latest")))
    assert rows(killed.train_log, "iteration", "loss", "lr") == rows(whole.train_log, "iteration", "loss", "lr")
    assert rows(killed.val_log, "iteration", "image", "metric", "value") == rows(
        whole.val_log, "iteration", "image", "metric", "value"
    )
    assert rows(killed.timestep_log, "iteration", "t", "metric", "value") == rows(
        whole.timestep_log, "iteration", "t", "metric", "value"
    )
    sessions = json.loads(killed.run_record.read_text())["sessions"]
    assert len(sessions) == 2 and sessions[0]["status"] == "running"  # the killed one never ended
    assert sessions[1]["resumed_from_iteration"] >= 10 and sessions[1]["status"] == "finished"


@pytest.mark.slow
def test_cli_reports_a_bad_config_key_without_traceback(tmp_path):
    path = write_config(tmp_path / "bad.yaml", tiny_config(tmp_path))
    result = run_irsde("train", "--config", str(path), "--set", "train.iteratons=5")
    assert result.returncode == 2
    assert "train.iteratons" in result.stderr and "Traceback" not in result.stderr
    result = run_irsde("train", "--config", str(path), "--set", "network.nf=0")
    assert result.returncode == 2 and "'network.nf'" in result.stderr
    assert not (tmp_path / "run").exists()
