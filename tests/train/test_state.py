"""Unit tests of the pieces a resumable run is made of: RNG capture, EMA, checkpoint files,
CSV logs, run record and the (seed, iteration) -> batch plan."""

import csv
import json
import random

import numpy as np
import pytest
import torch

from irsde.train.batches import BatchPlan
from irsde.train.checkpoint import RunLayout, atomic_torch_save, load_training_state, save_checkpoint
from irsde.devices import resolve_device
from irsde.methods import Shard
from irsde.train.distributed import rank_shard
from irsde.train.ema import build_ema, ema_state_dict
from irsde.train.records import CsvLog, end_session, start_session, state_dict_digest
from irsde.train.rng import capture_rng_state, restore_rng_state


def draw_everything(generator):
    return (
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        [random.random() for _ in range(3)],
        torch.rand(3, generator=generator).tolist(),
        float(np.random.normal()),  # exercises numpy's cached gaussian
    )


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(5)
    draw_everything(generator)
    np.random.normal()  # leave a cached gaussian in numpy's state
    atomic_torch_save(capture_rng_state({"train": generator}), tmp_path / "rng.pt")
    expected = draw_everything(generator)
    draw_everything(generator)  # move every generator on
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), {"train": generator})
    assert draw_everything(generator) == expected


def test_rng_restore_requires_every_named_generator():
    state = capture_rng_state({})
    with pytest.raises(KeyError, match="'train'"):
        restore_rng_state(state, {"train": torch.Generator()})


def test_ema_starts_at_the_weights_and_follows_the_decay():
    net = torch.nn.Linear(2, 1)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    ema = build_ema(net, decay=0.9)
    for name, value in ema_state_dict(ema).items():
        assert torch.equal(value, start[name])
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update_parameters(net)
    expected = 0.9 * start["weight"] + 0.1 * (start["weight"] + 1.0)
    torch.testing.assert_close(ema_state_dict(ema)["weight"], expected)
    assert set(ema_state_dict(ema)) == set(net.state_dict())  # plain network keys
    assert not any(p.requires_grad for p in ema.parameters())


def weights(value: float) -> dict:
    return {"conv.weight": torch.full((2, 2), value), "step": torch.tensor(3)}


def test_checkpoint_writes_plain_state_dicts_and_a_self_contained_state(tmp_path):
    layout = RunLayout(tmp_path)
    save_checkpoint(layout, 4, weights(1.0), weights(2.0), {"optimizer": {"lr": 0.1}})
    save_checkpoint(layout, 8, weights(3.0), weights(4.0), {"optimizer": {"lr": 0.2}})
    net4 = torch.load(layout.weights("net", 4), weights_only=True)
    assert set(net4) == {"conv.weight", "step"} and float(net4["conv.weight"][0, 0]) == 1.0
    assert float(torch.load(layout.weights("ema", "latest"), weights_only=True)["conv.weight"][0, 0]) == 4.0
    state = load_training_state(layout)
    assert state["iteration"] == 8 and state["optimizer"] == {"lr": 0.2}
    assert float(state["net"]["conv.weight"][0, 0]) == 3.0
    assert not list(tmp_path.rglob("*.part"))  # no temporary left behind


def test_checkpoint_refuses_nan_weights_and_keeps_the_last_good_one(tmp_path):
    layout = RunLayout(tmp_path)
    save_checkpoint(layout, 2, weights(1.0), weights(1.0), {})
    with pytest.raises(RuntimeError, match="iteration 4.*conv.weight"):
        save_checkpoint(layout, 4, weights(float("nan")), weights(1.0), {})
    assert load_training_state(layout)["iteration"] == 2
    assert not layout.weights("net", 4).exists()


def test_failed_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "file.pt"
    atomic_torch_save({"a": torch.ones(1)}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"a": Unpicklable()}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(1))
    assert list(tmp_path.iterdir()) == [target]


def test_corrupt_or_foreign_state_file_is_an_error_naming_it(tmp_path):
    layout = RunLayout(tmp_path)
    assert load_training_state(layout) is None
    layout.state.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="training_state.pt"):
        load_training_state(layout)
    atomic_torch_save({"iteration": 3}, layout.state)
    with pytest.raises(RuntimeError, match="format"):
        load_training_state(layout)


def test_csv_log_truncates_rows_beyond_the_resumed_iteration(tmp_path):
    log = CsvLog(tmp_path / "log.csv", ("iteration", "image", "value"))
    log.append([{"iteration": i, "image": f"a,{i}", "value": i / 10} for i in range(1, 6)])
    with log.path.open("a") as stream:
        stream.write("6,torn")  # a row cut short by a kill
    log.truncate_after(3)
    log.append([{"iteration": 4, "image": "b", "value": 9}])
    rows = list(csv.DictReader(log.path.open()))
    assert [r["iteration"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["image"] == "a,1" and rows[3]["image"] == "b"


def test_run_record_keeps_sessions_and_versions(tmp_path):
    path = tmp_path / "run.json"
    config = {"name": "r", "method": "irsde", "seed": 7}
    record = start_session(path, config, None, world_size=1, device="cpu")
    end_session(path, record, "failed: x", iteration=4, wall_time=1.5)
    record = start_session(path, config, 4, world_size=2, device="cpu")
    end_session(path, record, "finished", iteration=10, wall_time=3.0)
    saved = json.loads(path.read_text())
    assert saved["seed"] == 7 and saved["config"] == config and saved["finished"] is True
    assert [s["resumed_from_iteration"] for s in saved["sessions"]] == [None, 4]
    assert [s["status"] for s in saved["sessions"]] == ["failed: x", "finished"]
    assert saved["versions"]["torch"].startswith("2.13.0")
    assert saved["versions"]["irsde-bench"] is not None
    assert saved["hostname"] and saved["command"]


def test_digest_depends_on_values_and_names():
    a = {"w": torch.zeros(2), "b": torch.ones(1)}
    assert state_dict_digest(a) == state_dict_digest(dict(reversed(list(a.items()))))
    assert state_dict_digest(a) != state_dict_digest({"w": torch.zeros(2), "b": torch.full((1,), 1.0001)})
    assert state_dict_digest(a) != state_dict_digest({"v": torch.zeros(2), "b": torch.ones(1)})


def test_batch_plan_is_a_pure_function_of_seed_and_iteration():
    plan = BatchPlan(num_pairs=10, batch_size=3, seed=4)
    assert plan.batches_per_epoch == 3
    epoch0 = [plan.global_batch(i) for i in (1, 2, 3)]
    used = sorted(sum(epoch0, []))
    assert len(used) == 9 and len(set(used)) == 9  # disjoint within an epoch, one pair left out
    assert plan.epoch_of(4) == 1 and plan.global_batch(4) != plan.global_batch(1)
    assert BatchPlan(10, 3, 4).global_batch(7) == plan.global_batch(7)
    assert BatchPlan(10, 3, 5).epoch_order(0).tolist() != plan.epoch_order(0).tolist()
    with pytest.raises(ValueError, match="data.batch_size"):
        BatchPlan(num_pairs=2, batch_size=3, seed=0)


def test_rank_shards_split_the_global_batch():
    assert [rank_shard(4, r, 2) for r in range(2)] == [Shard(0, 2, 4), Shard(2, 4, 4)]
    assert rank_shard(4, 0, 1).is_whole
    with pytest.raises(ValueError, match="data.batch_size"):
        rank_shard(3, 0, 2)


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")
