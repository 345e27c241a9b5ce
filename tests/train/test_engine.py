"""In-process tests of the training engine on a tiny generated dataset (nf 8, depth 2, T 10)."""

import csv
import json

import pytest
import torch

from baselines.cnn import CNNBaseline, regress
from irsde.data import PairedTrainDataset
from irsde.losses import draw_training_batch
from irsde.nets import ConditionalUNet, build_net_from_checkpoint, load_weights
from irsde.sde import MeanRevertingSDE
from irsde.train import train, validate_config
from irsde.train.batches import BatchPlan, iterate_batches
from irsde.train.checkpoint import RunLayout, load_training_state
from irsde.methods import Shard
from irsde.methods.ir_sde import IRSDEMethod, draw_shard_batch
from irsde.train.validation import Validator
from tests.support.train import assert_same_tensors, load_tensors, make_paired_split, tiny_config, tiny_dataset


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture
def config(tmp_path):
    return tiny_config(tmp_path)


def test_irsde_run_writes_the_documented_layout(config):
    result = train(config, progress=False)
    layout = RunLayout(result.output_dir)
    assert result.iteration == 6 and result.resumed_from is None
    names = sorted(p.name for p in layout.weights_dir.iterdir())
    assert names == sorted(f"{kind}_{it}.pth" for kind in ("net", "ema") for it in (2, 4, 6, "latest"))
    # weights are plain state_dicts that load strictly into the paper's network class
    net = load_weights(ConditionalUNet(nf=8, depth=2), layout.weights("net", "latest"))
    ema = load_tensors(layout.weights("ema", "latest"))
    assert set(ema) == set(net.state_dict())
    assert not torch.equal(ema["init_conv.weight"], net.state_dict()["init_conv.weight"])
    assert_same_tensors(load_tensors(layout.weights("net", 6)), load_tensors(layout.weights("net", "latest")))

    train_log = read_csv(layout.train_log)
    assert list(train_log[0]) == ["iteration", "loss", "lr", "wall_time"]
    assert [int(r["iteration"]) for r in train_log] == [2, 4, 6]
    assert [float(r["lr"]) for r in train_log] == [1e-3, 1e-3, 5e-4]  # MultiStepLR halves after 4
    assert all(float(r["loss"]) > 0 for r in train_log)
    assert [float(r["wall_time"]) for r in train_log] == sorted(float(r["wall_time"]) for r in train_log)

    val_log = read_csv(layout.val_log)
    assert list(val_log[0]) == ["iteration", "image", "metric", "value"]
    assert sorted({int(r["iteration"]) for r in val_log}) == [3, 6]
    at_3 = [r for r in val_log if r["iteration"] == "3"]
    assert {(r["image"], r["metric"]) for r in at_3} == {
        (image, metric) for image in ("img_00.png", "img_01.png", "mean") for metric in ("psnr", "ssim")
    }
    psnr = {r["image"]: float(r["value"]) for r in at_3 if r["metric"] == "psnr"}
    assert psnr["mean"] == pytest.approx((psnr["img_00.png"] + psnr["img_01.png"]) / 2)

    timesteps = read_csv(layout.timestep_log)  # noise-prediction error by t at every validation
    assert list(timesteps[0]) == ["iteration", "t", "metric", "value"]
    assert sorted({int(r["iteration"]) for r in timesteps}) == [3, 6]
    probed = sorted({int(r["t"]) for r in timesteps})
    assert probed[0] == 1 and probed[-1] == config["sde"]["T"]
    assert {r["metric"] for r in timesteps} == {"noise_error", "x0_error"}
    assert all(float(r["value"]) > 0 for r in timesteps)

    record = json.loads(layout.run_record.read_text())
    assert record["finished"] is True and record["seed"] == 3 and record["iteration"] == 6
    assert record["config"]["network"] == {"nf": 8, "depth": 2, "attn_head_dim": 32}
    assert record["config"]["options"] == {"prediction": "noise"}
    assert record["sessions"][0]["world_size"] == 1
    assert layout.config.is_file() and load_training_state(layout)["iteration"] == 6
    assert not (layout.root / "debug").exists()


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, config):
    first = train(config, progress=False)
    again = tiny_config(tmp_path / "again", seed=3)
    other = tiny_config(tmp_path / "other", seed=4)
    assert_same_tensors(load_tensors(first.net_weights), load_tensors(train(again, progress=False).net_weights))
    other_weights = load_tensors(train(other, progress=False).net_weights)
    assert not torch.equal(other_weights["init_conv.weight"], load_tensors(first.net_weights)["init_conv.weight"])


def test_resuming_a_shorter_run_matches_the_uninterrupted_one(tmp_path, config):
    whole = train(config, progress=False)
    split = tiny_config(tmp_path / "split", train={"iterations": 3})
    assert train(split, progress=False).iteration == 3
    split["train"]["iterations"] = 6  # extending a run is an allowed change
    resumed = train(split, progress=False)
    assert resumed.resumed_from == 3  # the short run's final checkpoint
    for kind in ("net", "ema"):
        assert_same_tensors(load_tensors(whole.output_dir / f"weights/{kind}_6.pth"),
                            load_tensors(resumed.output_dir / f"weights/{kind}_6.pth"))
    whole_state = load_training_state(RunLayout(whole.output_dir))
    resumed_state = load_training_state(RunLayout(resumed.output_dir))
    for a, b in zip(whole_state["optimizer"]["state"].values(), resumed_state["optimizer"]["state"].values()):
        assert_same_tensors(a, b)


def test_finished_run_is_not_trained_again(config):
    train(config, progress=False)
    layout = RunLayout(config["output_dir"])
    before = layout.weights("net", 6).stat().st_mtime_ns
    assert train(config, progress=False).resumed_from == 6
    assert layout.weights("net", 6).stat().st_mtime_ns == before
    assert len(read_csv(layout.train_log)) == 3


def test_resume_refuses_a_changed_config_or_never_mode(config):
    train(config, progress=False)
    with pytest.raises(RuntimeError, match="already holds a checkpoint"):
        train(config, resume="never", progress=False)
    changed = dict(config, optim=dict(config["optim"], lr=0.5))
    with pytest.raises(ValueError, match="optim.lr"):
        train(changed, progress=False)
    shorter = dict(config, train=dict(config["train"], iterations=4))
    with pytest.raises(ValueError, match="train.iterations"):
        train(shorter, progress=False)


def test_nan_loss_stops_naming_the_iteration_and_keeps_the_last_checkpoint(config, monkeypatch):
    real_loss = IRSDEMethod.loss
    calls = []

    def failing_loss(self, *args):
        calls.append(1)
        loss = real_loss(self, *args)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(IRSDEMethod, "loss", failing_loss)
    with pytest.raises(RuntimeError, match="iteration 5"):
        train(config, progress=False)
    layout = RunLayout(config["output_dir"])
    state = load_training_state(layout)
    assert state["iteration"] == 4
    assert all(torch.isfinite(t).all() for t in state["net"].values())
    assert not layout.weights("net", 6).exists()
    record = json.loads(layout.run_record.read_text())
    assert record["finished"] is False and "iteration 5" in record["sessions"][-1]["status"]


@pytest.mark.parametrize(
    "change, key",
    [
        ({"data": {"train": "/nonexistent/split"}}, "data.train"),
        ({"data": {"val_images": 9}}, "data.val_images"),
        ({"data": {"batch_size": 7}}, "data.batch_size"),
        ({"train": {"protocol": "nope"}}, "train.protocol"),
        ({"data": {"val_crop_size": 12}}, "data.val_crop_size"),
    ],
)
def test_bad_config_fails_before_any_work(tmp_path, change, key):
    config = tiny_config(tmp_path)
    for section, values in change.items():
        config[section].update(values)
    with pytest.raises((ValueError, FileNotFoundError), match=key):
        train(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_cnn_baseline_learns_and_its_weights_rebuild(tmp_path):
    config = tiny_config(
        tmp_path, method="cnn_baseline",
        train={"iterations": 40, "log_every": 10, "checkpoint_every": 40, "val_every": 40},
    )
    result = train(config, progress=False)
    losses = [float(r["loss"]) for r in read_csv(RunLayout(result.output_dir).train_log)]
    assert losses[-1] < losses[0]
    net = build_net_from_checkpoint(result.net_weights)
    assert not net.time_conditioned  # no time MLP keys in the baseline's weights
    lq = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        expected = lq + net(lq, lq, None)
    torch.testing.assert_close(CNNBaseline({"nf": 8, "depth": 2}).restore(net, lq), expected)
    torch.testing.assert_close(regress(net, lq), expected)


def test_rank_shards_draw_exactly_the_single_process_random_numbers():
    sde = MeanRevertingSDE("cosine", T=10)
    gt, lq = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    whole = draw_training_batch(sde, gt, lq, torch.Generator().manual_seed(1))
    for start in (0, 2):
        rows = slice(start, start + 2)
        part = draw_shard_batch(sde, gt[rows], lq[rows], torch.Generator().manual_seed(1), Shard(start, start + 2, 4))
        assert torch.equal(part.t, whole.t[start:start + 2])
        assert torch.equal(part.noise, whole.noise[start:start + 2])
        assert torch.equal(part.xt, whole.xt[start:start + 2])
        assert torch.equal(part.x0, gt[start:start + 2])


def test_validation_is_repeatable_with_its_fixed_seed(config):
    method = IRSDEMethod.from_config(validate_config(config))
    validator = Validator(config["data"]["val"], 2, None, "irsde-derain", seed=0)
    torch.manual_seed(0)
    net = ConditionalUNet(nf=8, depth=2)
    first = validator(method, net, torch.device("cpu"), iteration=1)
    torch.rand(5)  # global RNG use in between must not matter
    assert validator(method, net, torch.device("cpu"), iteration=1) == first
    assert net.training  # mode restored


def test_validation_sampler_runs_with_its_configured_steps(config):
    config["train"].update(val_sampler="fast-sde", val_steps=4)
    method = IRSDEMethod.from_config(validate_config(config))
    calls = []

    def net(xt, mu, t):
        calls.append(int(t[0]))
        return torch.zeros_like(xt)

    method.restore(net, torch.rand(1, 3, 8, 8), torch.Generator().manual_seed(0))
    assert len(calls) == 4 and calls[0] == 10
    config["train"]["val_steps"] = 11
    with pytest.raises(ValueError, match=r"'train.val_steps': steps \(network evaluations per image\) must be an integer in 1..T=10, got 11"):
        IRSDEMethod.from_config(validate_config(config))


def test_batches_depend_only_on_seed_and_iteration(tmp_path):
    train_dir = make_paired_split(tmp_path / "train", 6, 24, seed=1)
    dataset = PairedTrainDataset(train_dir, 16, seed=3)
    plan = BatchPlan(len(dataset), 4, seed=3)
    whole = list(iterate_batches(dataset, plan, Shard.whole(4), 1, 5))
    assert [it for it, _, _ in whole] == [1, 2, 3, 4, 5]
    assert whole[0][1].shape == (4, 3, 16, 16)
    late = list(iterate_batches(dataset, plan, Shard.whole(4), 4, 5, num_workers=2))  # resumed, workers
    for (_, gt, lq), (_, gt_late, lq_late) in zip(whole[3:], late):
        assert torch.equal(gt, gt_late) and torch.equal(lq, lq_late)
    halves = [list(iterate_batches(dataset, plan, Shard(s, s + 2, 4), 1, 5)) for s in (0, 2)]
    for iteration in range(5):
        assert torch.equal(torch.cat([halves[0][iteration][1], halves[1][iteration][1]]), whole[iteration][1])


def test_input_scores_are_the_degraded_images_own_scores(tmp_path):
    from irsde.data import PairedTestDataset
    from irsde.images import to_uint8
    from irsde.metrics import psnr
    from irsde.train.validation import input_scores

    _, val_dir = tiny_dataset(tmp_path)
    scores = input_scores(str(val_dir), 2, None, "irsde-derain")
    pairs = [PairedTestDataset(val_dir)[i] for i in range(2)]
    expected = [psnr(to_uint8(p["lq"]), to_uint8(p["gt"]), crop_border=4, y_channel=True) for p in pairs]
    assert scores["psnr"] == pytest.approx(sum(expected) / 2)
    assert 0 < scores["ssim"] < 1
