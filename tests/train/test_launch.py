"""irsde.train.launch (a training on several ranks through torchrun) and the number of ranks a
pipeline training job gets from its GPU resources (irsde.pipeline_config.training_ranks)."""

import io
import sys

import pytest

from irsde.pipeline_config import training_ranks
from irsde.train.launch import LAUNCH_CONFIG, torchrun_command, train_on_ranks
from tests.support.train import tiny_config


def test_torchrun_command_starts_one_rank_per_gpu_on_this_node(tmp_path):
    command = torchrun_command(tmp_path / "run.yaml", 4)
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert command[5:] == ["-m", "irsde", "train", "--config", str(tmp_path / "run.yaml")]


def test_an_uneven_global_batch_is_refused_before_torchrun_starts(tmp_path):
    config = tiny_config(tmp_path, data={"batch_size": 3})
    with pytest.raises(ValueError, match="config key 'data.batch_size': 3 cannot be split evenly over 2 processes"):
        train_on_ranks(config, 2, output=io.StringIO())
    assert not (tmp_path / "run" / LAUNCH_CONFIG).exists()


def test_one_rank_is_no_torchrun_launch(tmp_path):
    with pytest.raises(ValueError, match="2 or more processes"):
        train_on_ranks(tiny_config(tmp_path), 1)


@pytest.mark.parametrize(
    "gpu, gres, ranks",
    [(None, None, 1), (0, None, 1), (1, None, 1), (4, None, 4), ("2", None, 2),
     (None, "gpu:2", 2), (None, "gpu:a100:3", 3), (None, "gpu", 1), (None, "shard:2", 1), (2, "gpu:8", 2)],
    ids=["none", "zero", "one", "four", "string", "gres", "gres-type", "gres-bare", "not-a-gpu", "gpu-first"],
)
def test_training_ranks_are_the_gpus_of_the_job(gpu, gres, ranks):
    assert training_ranks(gpu, gres) == ranks


@pytest.mark.parametrize("gpu, gres", [("two", None), (None, "gpu:a100:x"), (-1, None)], ids=["word", "gres-word", "negative"])
def test_a_gpu_resource_that_is_no_count_names_the_resource(gpu, gres):
    with pytest.raises(ValueError, match="resource gpu"):
        training_ranks(gpu, gres)
