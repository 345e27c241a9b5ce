"""Watching a training: TensorBoard event files in the run folder and progress lines in a log."""

import csv
import logging

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from irsde.train import train
from irsde.train import engine
from irsde.train.progress import ProgressLines, format_duration, progress_line
from tests.support.train import tiny_config


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def scalars(folder, tag):
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    steps = [event.step for event in events.Scalars(tag)]
    assert len(steps) == len(set(steps)), f"{tag}: a step logged twice: {steps}"
    return {event.step: event.value for event in events.Scalars(tag)}


def test_durations_read_in_two_units():
    assert format_duration(4.4) == "4 s"
    assert format_duration(184) == "3 min 4 s"
    assert format_duration(2 * 3600 + 5 * 60 + 59) == "2 h 5 min"
    assert format_duration(4 * 86400 + 3 * 3600 + 10) == "4 d 3 h"


def test_progress_line_has_iteration_speed_eta_and_loss():
    assert progress_line(1200, 3000, 10.0, 0.012345) == "iteration 1200/3000 (40.0%), 10 it/s, ETA 3 min 0 s, loss 0.01235"
    assert "ETA unknown" in progress_line(0, 10, 0.0, 1.0)


def test_progress_lines_come_every_n_seconds_and_at_the_end(caplog):
    now = [100.0]
    lines = ProgressLines(total=50, start=10, every=5.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="irsde.train.progress"):
        for iteration in range(11, 51):
            now[0] += 1.0  # one iteration per second
            lines.step(iteration, loss=0.5)
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(" (")[0] for m in messages] == [f"iteration {i}/50" for i in (15, 20, 25, 30, 35, 40, 45, 50)]
    assert messages[0] == "iteration 15/50 (30.0%), 1 it/s, ETA 35 s, loss 0.5"  # resumed at 10: 5 its in 5 s
    assert messages[-1].startswith("iteration 50/50 (100.0%), 1 it/s, ETA 0 s")


def test_no_progress_lines_when_progress_every_is_zero(caplog):
    lines = ProgressLines(total=3, start=0, every=0, clock=lambda: 0.0)
    with caplog.at_level(logging.INFO, logger="irsde.train.progress"):
        for iteration in (1, 2, 3):
            lines.step(iteration, 1.0)
    assert lines.lines == 0 and not caplog.records


def test_training_without_a_terminal_logs_progress_lines(tmp_path, caplog):
    config = tiny_config(tmp_path, train={"progress_every": 1e-9})
    with caplog.at_level(logging.INFO, logger="irsde.train.progress"):
        train(config, progress=False)
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(" (")[0] for m in messages] == [f"iteration {i}/6" for i in range(1, 7)]
    assert all(" it/s, ETA " in m and ", loss " in m for m in messages)


def test_event_files_hold_the_logs_scalars_timestep_errors_and_images(tmp_path):
    result = train(tiny_config(tmp_path, train={"tensorboard_images": 1}), progress=False)
    folder = result.output_dir
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "val/psnr", "val/ssim"} <= set(tags["scalars"])
    assert any(tag.startswith("timestep/x0_error/t") for tag in tags["scalars"])
    assert any(tag.startswith("timestep/noise_error/t") for tag in tags["scalars"])
    train_log = read_csv(folder / "train_log.csv")
    assert scalars(folder, "train/loss") == pytest.approx({int(r["iteration"]): float(r["loss"]) for r in train_log})
    assert scalars(folder, "train/lr") == pytest.approx({int(r["iteration"]): float(r["lr"]) for r in train_log})
    means = {int(r["iteration"]): float(r["value"]) for r in read_csv(folder / "val_log.csv")
             if r["image"] == "mean" and r["metric"] == "psnr"}
    assert scalars(folder, "val/psnr") == pytest.approx(means)
    # one strip (input | restoration | ground truth) of the first validation image per validation
    assert tags["images"] == ["val_images/img_00"]
    images = events.Images("val_images/img_00")
    assert [image.step for image in images] == [3, 6]
    assert (images[0].width, images[0].height) == (3 * 20, 20)


def test_tensorboard_logdir_discovers_every_run_below_it(tmp_path):
    for name in ("a", "b"):
        config = tiny_config(tmp_path / name)
        config["output_dir"] = str(tmp_path / "runs" / "demo" / name)
        train(config, progress=False)
    multiplexer = EventMultiplexer()  # what `tensorboard --logdir runs/` uses to find runs
    multiplexer.AddRunsFromDirectory(str(tmp_path / "runs"))
    multiplexer.Reload()
    runs = multiplexer.Runs()
    assert set(runs) == {"demo/a", "demo/b"}
    assert all({"train/loss", "val/psnr", "val/ssim"} <= set(run["scalars"]) for run in runs.values())


def test_tensorboard_off_writes_no_event_file(tmp_path):
    result = train(tiny_config(tmp_path, train={"tensorboard": False}), progress=False)
    assert not list(result.output_dir.glob("events.out.tfevents.*"))


def test_resumed_run_replaces_what_the_interrupted_session_logged_after_its_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, train={"checkpoint_every": 4, "log_every": 1})
    checkpoint = engine.TrainingRun._checkpoint

    def killed_at_6(self, iteration):
        if iteration == 6:
            raise KeyboardInterrupt  # after the log rows of 5 and 6, before their checkpoint
        checkpoint(self, iteration)

    monkeypatch.setattr(engine.TrainingRun, "_checkpoint", killed_at_6)
    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False)
    interrupted = scalars(tmp_path / "run", "train/loss")
    assert sorted(interrupted) == [1, 2, 3, 4, 5, 6]
    monkeypatch.setattr(engine.TrainingRun, "_checkpoint", checkpoint)
    train(config, progress=False)  # resumes from iteration 4
    logged = read_csv(tmp_path / "run" / "train_log.csv")
    assert scalars(tmp_path / "run", "train/loss") == pytest.approx({int(r["iteration"]): float(r["loss"]) for r in logged})
