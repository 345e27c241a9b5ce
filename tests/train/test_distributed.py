"""``torchrun --nproc_per_node=2`` on the CPU (gloo): ranks stay in sync, rank 0 alone writes,
and the result matches single-process training up to float reduction order; the pipeline's
training job with 2 GPUs runs the same torchrun."""

import csv
import json
import subprocess
import sys

import pytest
import torch
import yaml

from irsde.train.checkpoint import RunLayout
from tests.support.pipeline import snakemake, tiny_ci
from tests.support.pipeline import write_config as write_pipeline_config
from tests.support.train import assert_same_tensors, load_tensors, run_irsde, subprocess_env, tiny_config, write_config


def torchrun_command(nproc: int, *arguments: str) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "irsde", *arguments,
    ]


@pytest.mark.slow
def test_two_cpu_ranks_stay_in_sync_and_write_once(tmp_path):
    config = tiny_config(
        tmp_path,
        data={"batch_size": 4},
        train={"iterations": 8, "checkpoint_every": 4, "log_every": 2, "val_every": 4, "rank_digests": True},
    )
    ddp = RunLayout(tmp_path / "ddp")
    single = RunLayout(tmp_path / "single")
    ddp_config = write_config(tmp_path / "ddp.yaml", dict(config, output_dir=str(ddp.root)))
    single_config = write_config(tmp_path / "single.yaml", dict(config, output_dir=str(single.root)))

    result = subprocess.run(
        torchrun_command(2, "train", "--config", str(ddp_config)),
        capture_output=True, text=True, env=subprocess_env(), timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert run_irsde("train", "--config", str(single_config)).returncode == 0

    digests = [ddp.rank_digest(rank).read_text() for rank in (0, 1)]
    assert digests[0] == digests[1]  # both ranks ended with the same network and EMA

    # rank 0 alone wrote: every log row once, every checkpoint file once, one session of 2 ranks
    with open(ddp.train_log, newline="") as stream:
        assert [row["iteration"] for row in csv.DictReader(stream)] == ["2", "4", "6", "8"]
    assert sorted(p.name for p in ddp.weights_dir.iterdir()) == sorted(
        f"{kind}_{it}.pth" for kind in ("net", "ema") for it in (4, 8, "latest")
    )
    sessions = json.loads(ddp.run_record.read_text())["sessions"]
    assert len(sessions) == 1 and sessions[0]["world_size"] == 2
    assert result.stdout.count("trained tiny to iteration 8") == 1

    # same data, same random draws, gradients averaged over ranks: single-process math
    ddp_weights, single_weights = load_tensors(ddp.weights("net", 8)), load_tensors(single.weights("net", 8))
    for name, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], value, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_pipeline_trains_on_two_gloo_ranks_like_irsde_train_under_torchrun(tmp_path):
    """A training job given 2 GPUs (resource `gpu`, as the SLURM profile sets it) runs under
    torchrun with 2 ranks (gloo on the CPU) and ends with the weights of `irsde train` under
    `torchrun --nproc_per_node=2` with the same config, bit for bit."""
    config = write_pipeline_config(tmp_path, "ci.yaml", tiny_ci)
    run = tmp_path / "runs" / "tiny" / "synthetic-rain" / "irsde"
    result = snakemake("--cores", "2", str(run.relative_to(tmp_path) / "final" / "net_ema.pth"),
                       "--configfile", str(config), "--set-resources", "train:gpu=2", workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    log = (tmp_path / "logs" / "tiny" / "train" / "synthetic-rain" / "irsde.log").read_text()
    assert "on 2 ranks" in log and log.count("joined the gloo process group") == 2, log
    sessions = json.loads(RunLayout(run).run_record.read_text())["sessions"]
    assert [session["world_size"] for session in sessions] == [2]

    # the same config by hand, into another folder (its paths are relative to the pipeline's folder)
    by_hand = yaml.safe_load((run / "torchrun.yaml").read_text())
    by_hand["output_dir"] = str(tmp_path / "by-hand")
    hand_config = write_config(tmp_path / "by-hand.yaml", by_hand)
    manual = subprocess.run(torchrun_command(2, "train", "--config", str(hand_config)), cwd=tmp_path,
                            capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert manual.returncode == 0, manual.stderr[-3000:]
    assert_same_tensors(load_tensors(run / "final" / "net_ema.pth"),
                        load_tensors(RunLayout(tmp_path / "by-hand").weights("ema", "latest")))
    assert (run / "final" / "val_log.csv").read_bytes() == RunLayout(tmp_path / "by-hand").val_log.read_bytes()
