"""``torchrun --nproc_per_node=2`` on the CPU (gloo): ranks stay in sync, rank 0 alone writes,
and the result matches single-process training up to float reduction order."""

import csv
import json
import subprocess
import sys

import pytest
import torch
from train_support import load_tensors, run_irsde, subprocess_env, tiny_config, write_config

from irsde.train.checkpoint import RunLayout


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
