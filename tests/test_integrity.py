"""Integrity, round two (issue 23): nothing unusable is marked complete, a finished run is never
trained over, every config goes through one bounded YAML loader, downloads keep their deadline
and refuse what is not the file, and every refusal is one line naming the file or key. Sections
follow the issue's ten defect groups; each test fails on the code before the fix."""

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from snakemake.utils import update_config
from PIL import Image

from irsde import pipeline_config
from irsde.report import tables
from irsde.cli import main
from irsde.data import download
from irsde.data.archives import DamagedArchiveError, check_archive
from irsde.data.download import DownloadError, DownloadPolicy
from irsde.data.fetch import fetch_source
from irsde.data.git_trees import LISTING_NAME, verify_git_folder
from irsde.data.lock import ChecksumMismatch, user_lock_path
from irsde.data.prepare import prepare_dataset
from irsde.data.records import ArchiveSource, GitTreeSource
from irsde.documents import MAX_YAML_NODES, DocumentError
from irsde.evaluation import IDENTICAL_NOTE, evaluate, summarize
from irsde.images import read_uint8, write_png
from irsde.methods import MethodOutputError
from irsde.methods.ir_sde import IRSDEMethod
from irsde.restoration import MAX_WHOLE_IMAGE_PIXELS
from irsde.schedules import MAX_STEPS
from irsde.train import train
from irsde.train.checkpoint import FinishedRun, RunLayout
from irsde.train.config import load_config, validate_config
from tests.support.data import rain_files, registry_copy, tar_bytes, zip_bytes
from tests.support.metrics import restore_with, write_split
from tests.support.cli import error_line, restore, save_net
from tests.support.train import REPO, subprocess_env, tiny_config

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
FAST = DownloadPolicy(timeout=5, attempts=2, backoff=0.0, progress=False)


@pytest.fixture
def split(tmp_path):
    return write_split(tmp_path / "data" / "toy" / "test", sizes=(32, 32, 32, 24))


def lq_paths(split):
    return sorted((split / "LQ").glob("*.png"))


def snakemake_dry_run(workdir: Path, configfile: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "-n", "tables", "--configfile",
               str(configfile)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


# -- 1. method outputs are checked against the input before anything is written ----------------------


@pytest.mark.parametrize("bad_output, expected", [
    (lambda lq: lq[:1], "returned shape (1, 3, 32, 32) for an input batch of shape (3, 3, 32, 32)"),
    (lambda lq: lq[..., :16, :16], "returned shape (3, 3, 16, 16) for an input batch of shape (3, 3, 32, 32)"),
    (lambda lq: (lq * 255).to(torch.uint8), "returned a torch.uint8 tensor of shape (3, 3, 32, 32)"),
], ids=["fewer-images", "smaller-images", "uint8"])
def test_a_restoration_of_the_wrong_count_size_or_dtype_is_refused_naming_the_method(split, tmp_path, bad_output,
                                                                                      expected):
    out = tmp_path / "out"
    with pytest.raises(MethodOutputError) as caught:
        restore_with(lambda lq, generator: bad_output(lq), lq_paths(split), out, batch_size=3, progress=False)
    message = str(caught.value)
    assert "'stand_in' (tests.support.metrics.StandIn)" in message and expected in message
    assert not list(out.rglob("*.png")) and not list(out.rglob("*.npy")) and not (out / "restore.json").exists()


def test_tiles_are_checked_like_whole_images(split, tmp_path):
    with pytest.raises(MethodOutputError, match=r"returned shape \(1, 3, 8, 8\) for an input batch of shape \(1, 3, 16, 16\)"):
        restore_with(lambda lq, generator: lq[..., :8, :8], lq_paths(split), tmp_path / "out", tile=16,
                     tile_overlap=4, progress=False)


def test_validation_refuses_a_wrong_shaped_restoration_before_scoring_it(tmp_path, monkeypatch):
    monkeypatch.setattr(IRSDEMethod, "restore", lambda self, net, lq, generator: lq[..., :4, :4])
    with pytest.raises(MethodOutputError, match=r"'irsde' \(irsde.methods.ir_sde.IRSDEMethod\) returned shape"):
        train(tiny_config(tmp_path, train={"iterations": 1, "val_every": 1, "checkpoint_every": 1}), progress=False)


# -- 2. user outputs in the pipeline ----------------------------------------------------------------


def config_with_user_outputs(tmp_path: Path, folder: str, **extra) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    example = yaml.safe_load((REPO / "examples" / "config.yaml").read_text())
    example["methods"] = ["irsde"]
    example["user_outputs"]["median_filter"]["folders"]["synthetic-rain"] = folder
    update_config(config, example)  # as a later --configfile is laid over an earlier one
    config.update(extra)
    path = tmp_path / "user-outputs.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_user_outputs_in_a_bare_named_folder_are_imported_not_taken_for_a_target(tmp_path):
    shutil.copytree(REPO / "examples" / "outputs" / "synthetic-rain", tmp_path / "my_outputs")
    result = snakemake_dry_run(tmp_path, config_with_user_outputs(tmp_path, "my_outputs"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unknown target" not in result.stdout + result.stderr and "rule import_user_outputs:" in result.stdout


def test_the_import_reads_every_image_and_their_contents(tmp_path, monkeypatch):
    folder = shutil.copytree(REPO / "examples" / "outputs" / "synthetic-rain", tmp_path / "outs")
    monkeypatch.chdir(tmp_path)  # a bare name is relative to the working directory, as in the pipeline
    config = {"user_outputs": {"mine": {"folders": {"b": "outs"}}}}
    assert pipeline_config.user_outputs_inputs(config, "mine", "b") == [f"outs/000{i}.png" for i in range(6)]
    config["user_outputs"]["mine"]["folders"]["b"] = "."
    monkeypatch.chdir(folder)
    assert pipeline_config.user_outputs_inputs(config, "mine", "b")[0] == "./0000.png"  # never a bare name
    before = pipeline_config.user_outputs_digest(config, "mine", "b")
    stamp = os.stat("0001.png").st_mtime_ns
    write_png("0001.png", read_uint8("0002.png"))  # replaced in place, its old time stamp kept
    os.utime("0001.png", ns=(stamp, stamp))
    assert pipeline_config.user_outputs_digest(config, "mine", "b") != before
    # the scores depend on those contents too, even when the imported copy is gone
    assert pipeline_config.scored_source_digest(config, "mine", "b") == pipeline_config.user_outputs_digest(
        config, "mine", "b")
    assert pipeline_config.scored_source_digest(config, "irsde", "b") == ""


@pytest.mark.slow
def test_an_image_replaced_in_place_in_user_outputs_is_scored_again(tmp_path):
    """A real pipeline run of the user row's metrics, then one image replaced: once with a newer
    time stamp, once keeping the old one (an archive unpacked over it); both rerun the import."""
    shutil.copytree(REPO / "examples" / "outputs" / "synthetic-rain", tmp_path / "my_outputs")
    config = config_with_user_outputs(tmp_path, "my_outputs", metrics=["psnr", "ssim"])
    edited = yaml.safe_load(config.read_text())
    edited["benchmarks"]["synthetic-rain"]["synthetic"]["train_count"] = 4
    config.write_text(yaml.safe_dump(edited))
    target = "results/metrics/example/synthetic-rain/median_filter/seed0.csv"  # examples/config.yaml names it
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "2", target,
               "--configfile", str(config)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    before = pd.read_csv(tmp_path / target)
    image = tmp_path / "my_outputs" / "0001.png"
    stamp = image.stat().st_mtime_ns
    write_png(image, np.zeros_like(read_uint8(image)))
    os.utime(image, ns=(stamp, stamp))
    planned = subprocess.run([*command, "-n"], capture_output=True, text=True, timeout=300)
    assert "rule import_user_outputs:" in planned.stdout, planned.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    after = pd.read_csv(tmp_path / target)
    changed = after.merge(before, on=["image", "metric"], suffixes=("", "_before"))
    changed = changed[changed["value"] != changed["value_before"]]
    assert set(changed["image"]) == {"0001.png"}


# -- 3. a finished run is never trained over --------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    config = tiny_config(root, train={"iterations": 4, "checkpoint_every": 2, "val_every": 4})
    train(config, progress=False)
    return root, config


def copy_run(finished_run, tmp_path):
    root, config = finished_run
    shutil.copytree(root, tmp_path / "copy")
    moved = {**config, "output_dir": str(tmp_path / "copy" / "run")}
    moved["data"] = {**config["data"], "train": str(tmp_path / "copy" / "data" / "train"),
                     "val": str(tmp_path / "copy" / "data" / "val")}
    return RunLayout(tmp_path / "copy" / "run"), moved


def snapshot(folder: Path) -> dict:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()
            and path.name != ".irsde.lock"}


def test_a_finished_run_without_its_training_state_is_refused_not_retrained(finished_run, tmp_path):
    layout, config = copy_run(finished_run, tmp_path)
    layout.state.unlink()  # a user freeing disk: the state repeats the weights
    before = snapshot(layout.root)
    with pytest.raises(RuntimeError) as caught:
        train(config, progress=False)
    message = str(caught.value)
    assert f"{layout.root} holds a finished training run" in message and "finished at iteration 4" in message
    assert "weights of iteration(s) 2, 4" in message and "no training_state.pt" in message
    assert snapshot(layout.root) == before  # nothing rewritten


def test_a_run_killed_before_its_first_checkpoint_starts_over(finished_run, tmp_path):
    layout, config = copy_run(finished_run, tmp_path)
    for path in [layout.state, *layout.weights_dir.glob("*")]:
        if not path.name.startswith(("net_2", "ema_2")):
            path.unlink()
    record = json.loads(layout.run_record.read_text())
    layout.run_record.write_text(json.dumps({**record, "finished": False, "iteration": 1}))
    assert train(config, progress=False).iteration == 4


def test_a_training_state_missing_its_keys_is_refused_naming_them(finished_run, tmp_path):
    layout, config = copy_run(finished_run, tmp_path)
    state = torch.load(layout.state, weights_only=True)
    torch.save({key: value for key, value in state.items() if key not in ("config", "rng")}, layout.state)
    with pytest.raises(RuntimeError, match=f"training state {layout.state} lacks config, rng: it cannot be resumed"):
        train({**config, "train": {**config["train"], "iterations": 6}}, progress=False)


def test_a_finished_run_missing_its_final_weights_says_which_file(finished_run, tmp_path, capsys):
    layout, _ = copy_run(finished_run, tmp_path)
    layout.weights("ema", "latest").unlink()
    with pytest.raises(FileNotFoundError) as caught:
        FinishedRun.open(layout.root)
    message = str(caught.value)
    assert "finished training (iteration 4)" in message and "weights/ema_latest.pth are missing" in message
    assert "has not finished" not in message


# -- 4. one bounded YAML loader for every config ----------------------------------------------------

BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
               for previous, name in zip("abcdefgh", "bcdefghi"))
BOMB = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + BOMB


def test_the_anchor_bomb_is_under_700_bytes_and_fails_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "optim: {milestones: *i}\n")
    assert len(path.read_bytes()) < 700
    script = f"from irsde.train.config import load_config\nload_config({str(path)!r})"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env=subprocess_env())
    assert time.monotonic() - started < 30
    assert f"config file {path}: line " in result.stderr
    assert f"expand it to more than {MAX_YAML_NODES} values" in result.stderr


@pytest.mark.parametrize("text, expected", [
    ("name: a\ntrain: {iterations: 20}\ntrain: {iterations: 7}\n",
     "line 3: key 'train' appears twice in one mapping (first on line 2)"),
    ("name: a\nnetwork:\n  nf: 8\n  depth: 2\n  nf: 16\n", "line 5: key 'nf' appears twice in one mapping (first on line 3)"),
    ("name: !!python/object/apply:os.system ['echo pwned']\n",
     "line 1: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("", "the top level must be a mapping of keys to values, found nothing (the file is empty)"),
    ("a: &x [*x]\n", "line 1: an alias refers to a value that contains it"),
], ids=["duplicate-section", "duplicate-key", "python-tag", "empty", "self-reference"])
def test_irsde_train_refuses_a_bad_config_naming_file_and_line(tmp_path, capsys, text, expected):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert main(["train", "--config", str(path)]) == 2
    assert error_line(capsys.readouterr().err).startswith(f"irsde train: error: config file {path}: {expected}")


def test_a_set_value_goes_through_the_same_loader(tmp_path, capsys):
    with pytest.raises(DocumentError, match="override for config key 'optim.betas'.*appears twice"):
        load_config(tiny_config(tmp_path), ["optim.betas={a: 1, a: 2}"])


def test_a_run_config_with_a_duplicate_key_is_refused_by_restore(finished_run, tmp_path, capsys):
    layout, _ = copy_run(finished_run, tmp_path)
    layout.config.write_text(layout.config.read_text() + "seed: 4\n")
    assert main(["restore", "--run", str(layout.root), "--dataset", str(tmp_path / "copy" / "data" / "val"),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"config file {layout.config}: line " in error_line(capsys.readouterr().err)


def test_the_pipeline_reads_its_config_files_with_the_same_loader(tmp_path):
    """Snakemake keeps the last of two `seeds:` silently (and the schema passes it): the workflow
    reads every config file again with irsde's loader, which names the file and the line."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.pop("seeds")
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(config) + "seeds: [0]\nseeds: [0, 1, 2]\n")
    result = snakemake_dry_run(tmp_path, path, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"config file {path}: line " in output
    assert "key 'seeds' appears twice in one mapping" in output


def test_a_pipeline_config_with_an_anchor_bomb_is_refused_before_validation(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "seeds: *i\n")
    with pytest.raises(DocumentError, match=f"config file {path}: line .*more than {MAX_YAML_NODES} values"):
        pipeline_config.check_config_files([path])


def test_no_yaml_is_read_outside_the_one_loader():
    readers = []
    for folder in ("irsde", "workflow", "benchmarks", "examples", "baselines"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".smk") and path.name != "documents.py":
                text = path.read_text()
                readers += [f"{path.relative_to(REPO)}: {call}" for call in ("yaml.safe_load", "yaml.load(",
                                                                                "yaml.full_load") if call in text]
    assert readers == []


# -- 5. evaluate never overwrites what it reads or wrote ---------------------------------------------


def test_evaluate_refuses_a_summary_that_is_the_per_image_csv(split, tmp_path, capsys):
    out = tmp_path / "x.csv"
    options = ["evaluate", "--restored", str(split / "LQ"), "--gt", str(split / "GT"), "--protocol", "rgb-full",
               "--metrics", "psnr", "--method", "input", "--dataset", "toy", "--seed", "0"]
    assert main([*options, "--out", str(out), "--summary", str(out)]) == 2
    assert f"--summary {out} is the --out file" in error_line(capsys.readouterr().err) and not out.exists()
    assert main([*options, "--out", str(split / "GT" / "metrics.csv")]) == 2
    assert "is inside the --gt folder" in error_line(capsys.readouterr().err)


# -- 6. downloads: identity encoding, no empty or misnamed archive pinned, the CLI's flag -----------


def test_a_gzip_encoded_answer_is_refused_and_nothing_is_pinned(server, tmp_path):
    body = gzip.compress(bytes(10240))  # opens as an empty tar when stored undecoded
    route = server.add("/Rain100L.zip", body, content_encoding="gzip")
    with pytest.raises(DownloadError, match="Content-Encoding 'gzip' although asked for none"):
        fetch_source(ArchiveSource("Rain100L.zip", (server.url("/Rain100L.zip"),)), tmp_path, policy=FAST)
    assert route.encodings == ["identity"] and len(route.requests) == 1  # asked for none; not retried
    assert not (tmp_path / "Rain100L.zip").exists() and not user_lock_path(tmp_path).exists()


@pytest.mark.parametrize("body, expected", [
    (zip_bytes({}), "is an empty zip archive with no files"),
    (tar_bytes({}), "is named .zip but is a gzip-compressed tar archive"),
    (zip_bytes({"only/": b""}), r"is a zip archive with no files \(1 members\)"),
], ids=["empty-zip", "tar-named-zip", "folders-only"])
def test_an_archive_that_is_empty_or_not_what_its_name_says_is_never_pinned(server, tmp_path, body, expected):
    server.add("/Rain100L.zip", body)
    with pytest.raises(DamagedArchiveError, match=expected):
        fetch_source(ArchiveSource("Rain100L.zip", (server.url("/Rain100L.zip"),)), tmp_path, policy=FAST)
    assert not user_lock_path(tmp_path).exists() and (tmp_path / "Rain100L.zip.bad").read_bytes() == body


def test_a_tar_with_the_name_of_a_tar_is_accepted(tmp_path):
    for name, compression in (("x.tar.gz", "gz"), ("x.tgz", "gz"), ("x.tar", ""), ("x.tar.xz", "xz")):
        (tmp_path / name).write_bytes(tar_bytes({"a/1.png": b"1"}, compression=compression))
        assert check_archive(tmp_path / name)[0] == "tar"
    with pytest.raises(DamagedArchiveError, match="named .tar.gz but is a plain tar archive"):
        check_archive(tmp_path / "x.tar", file_name="x.tar.gz")


def test_a_count_mismatch_names_the_cli_flag(server, tmp_path):
    server.add("/Rain100H.zip", zip_bytes(rain_files("Rain100H", 2, padded=True, seed=0)))
    server.add("/RainTrainH.zip", zip_bytes(rain_files("RainTrainH", 3, padded=False, seed=100)))
    dataset = registry_copy("Rain100H", urls={"Rain100H.zip": server.url("/Rain100H.zip"),
                                              "RainTrainH.zip": server.url("/RainTrainH.zip")},
                            pairs={"train": 3, "test": 4})
    with pytest.raises(ValueError) as caught:
        prepare_dataset(dataset, tmp_path / "data", tmp_path / "res", policy=FAST, progress=False)
    assert "`irsde data prepare --allow-count-mismatch` accepts it" in str(caught.value)
    assert "strict_counts" not in str(caught.value)


# -- 7. the deadline holds during a stall and before every URL --------------------------------------


def test_the_download_deadline_holds_while_the_server_stalls(server, tmp_path, monkeypatch):
    monkeypatch.setenv(download.DEADLINE_ENV, "1")
    server.add("/x.zip", zip_bytes({"a/1.bin": bytes(4096)}), stall_after=100, stall_seconds=4.0)
    policy = DownloadPolicy(timeout=120, attempts=3, backoff=0.0, progress=False)  # each read may wait 120 s
    started = time.monotonic()
    with pytest.raises(DownloadError, match="overall deadline of 1 s with 100 bytes received"):
        fetch_source(ArchiveSource("x.zip", (server.url("/x.zip"),)), tmp_path, policy=policy)
    assert time.monotonic() - started < 2.5


def test_no_url_is_tried_after_the_deadline(server, tmp_path):
    first = server.add("/first/x.zip", zip_bytes({"a/1.bin": bytes(10)}))
    second = server.add("/second/x.zip", zip_bytes({"a/1.bin": bytes(10)}))

    def slow_refusal(part, url):  # e.g. a checksum of a large file, then a mismatch
        time.sleep(1.2)
        raise ChecksumMismatch(f"{url}: refused")

    policy = DownloadPolicy(timeout=120, attempts=1, backoff=0.0, progress=False, deadline=1.0)
    with pytest.raises(ChecksumMismatch, match="not tried, the overall deadline of 1 s had passed"):
        download.download([server.url("/first/x.zip"), server.url("/second/x.zip")], tmp_path / "x.zip", slow_refusal,
                          policy)
    assert len(first.requests) == 1 and second.requests == []


# -- 8. the ground truth scored against itself --------------------------------------------------------


def test_evaluating_the_ground_truth_against_itself_is_refused(split, tmp_path, capsys):
    gt = split / "GT"
    assert main(["evaluate", "--restored", str(gt), "--gt", str(gt), "--protocol", "rgb-full", "--method", "x",
                 "--dataset", "toy", "--seed", "0", "--out", str(tmp_path / "x.csv"), "--metrics", "psnr,ssim"]) == 2
    assert "holds exactly the pixels of its ground truth" in error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.csv").exists()


def test_one_image_identical_to_its_ground_truth_is_marked_and_never_inf_in_a_table(split, tmp_path):
    restored = shutil.copytree(split / "LQ", tmp_path / "restored")
    shutil.copy(split / "GT" / "img-1.png", restored / "img-1.png")
    frame = evaluate(restored, split / "GT", "rgb-full", "mine", "toy", 0, metrics=["psnr", "ssim"], progress=False)
    perfect = frame[(frame["image"] == "img-1.png") & (frame["metric"] == "psnr")]
    assert np.isinf(perfect["value"]).all() and (perfect["note"] == IDENTICAL_NOTE).all()
    table = tables.build_table("toy", summarize(frame), None, {}, "rgb-full", {}, synthetic=True)
    assert table.rows["psnr"].isna().all() and table.rows["ssim"].notna().all()
    markdown = tables.render_markdown(table)
    assert "| inf" not in markdown and "n/a*" in markdown and f"PSNR↑ unavailable: {IDENTICAL_NOTE}" in markdown


# -- 9. unclear refusals become one line naming the file or key -------------------------------------


@pytest.mark.parametrize("content", ['{"method": "x", "ima', "[1, 2]"], ids=["truncated", "not-an-object"])
def test_a_damaged_restore_record_is_named(split, tmp_path, capsys, content):
    out = tmp_path / "out"
    restore_with(lambda lq, generator: lq * 0.9, lq_paths(split), out, progress=False)
    (out / "restore.json").write_text(content)
    assert main(["evaluate", "--restored", str(out), "--gt", str(split / "GT"), "--protocol", "rgb-full",
                 "--metrics", "psnr", "--out", str(tmp_path / "m.csv")]) == 2
    assert f"restore record {out / 'restore.json'}" in error_line(capsys.readouterr().err)


FILES = {"1.png": b"one", "2.png": b"two"}


def git_source(server, tmp_path):
    tree_id = server.add_git_tree("someone/repo", "c0ffee", "sets/Set", FILES, tmp_path / "repo")
    return GitTreeSource("Set", "someone/repo", "c0ffee", "sets/Set", tree_id, api_base=server.url("/api"),
                         raw_base=server.url("/raw"))


@pytest.mark.parametrize("content", ['{"sha": "x", "tree": [', '["not", "an", "object"]', '{"tree": [1]}'],
                         ids=["truncated", "not-an-object", "not-a-listing"])
def test_a_damaged_git_tree_listing_is_named_and_fetched_again(server, tmp_path, content):
    source = git_source(server, tmp_path)
    folder = fetch_source(source, tmp_path / "res", policy=FAST)
    (folder / LISTING_NAME).write_text(content)
    with pytest.raises(ValueError, match=f"{folder / LISTING_NAME}"):
        verify_git_folder(source, folder)
    assert fetch_source(source, tmp_path / "res", policy=FAST) == folder  # online: the listing is fetched again
    assert verify_git_folder(source, folder) == source.tree_id


def test_a_partial_listing_of_another_answer_is_not_resumed_into_a_refusal(server, tmp_path):
    source = git_source(server, tmp_path)
    folder = tmp_path / "res" / "Set"
    folder.mkdir(parents=True)
    (folder / (LISTING_NAME + ".part")).write_text("<html>rate limited</html>")  # a cut error page
    assert fetch_source(source, tmp_path / "res", policy=FAST) == folder
    assert verify_git_folder(source, folder) == source.tree_id and not list(folder.glob("*.bad"))


def test_a_negative_tile_overlap_is_refused_by_option_and_library(split, tmp_path, capsys):
    with pytest.raises(SystemExit):
        restore(save_net(tmp_path / "net.pth"), split, tmp_path / "out", "--tile", "16", "--tile-overlap", "-4")
    assert "--tile-overlap: expected a whole number >= 0, got '-4'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="tile overlap -4: expected a number of pixels >= 0"):
        restore_with(lambda lq, generator: lq, lq_paths(split), tmp_path / "out", tile=16, tile_overlap=-4)
    assert not (tmp_path / "out").exists()


def test_a_method_listed_twice_is_named(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["methods"] = ["irsde", "cnn_baseline", "irsde"]
    with pytest.raises(ValueError, match=r"^config key 'methods': 'irsde' is listed twice; list each entry once$"):
        pipeline_config.validate_pipeline_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml",
                                                 REPO / "results" / "published" / "published_results.csv")


@pytest.mark.parametrize("method, returns, expected", [
    ("raise", None, "failed to restore a batch of shape (1, 3, 32, 32): ZeroDivisionError: division by zero"),
    ("list", None, "returned a list from restore, not a tensor"),
], ids=["raises", "returns-a-list"])
def test_a_method_that_raises_or_returns_no_tensor_is_one_line_naming_its_class(split, tmp_path, capsys, monkeypatch,
                                                                                 method, returns, expected):
    def broken(self, net, lq, generator):
        return 1 / 0 if method == "raise" else [lq]

    monkeypatch.setattr(IRSDEMethod, "restore", broken)
    assert restore(save_net(tmp_path / "net.pth"), split, tmp_path / "out") == 2
    line = error_line(capsys.readouterr().err)
    assert "method 'irsde' (irsde.methods.ir_sde.IRSDEMethod)" in line and expected in line


def test_an_sde_with_a_hundred_million_steps_is_refused_by_the_schema(tmp_path):
    with pytest.raises(ValueError, match=rf"config key 'sde.T': expected an integer in \[1, {MAX_STEPS}\], got 100000000"):
        validate_config(tiny_config(tmp_path, sde={"T": 100_000_000}))
    schema = yaml.safe_load((REPO / "irsde" / "train" / "config.schema.yaml").read_text())
    assert schema["$defs"]["sde"]["properties"]["T"]["maximum"] == MAX_STEPS


FULL_DISK_SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np, torch
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # no file may grow past 4 KB
    from irsde.images import write_float_image
    from irsde.train.checkpoint import atomic_torch_save
    try:
        write_float_image(sys.argv[1] + "/x.npy", np.zeros((64, 64, 3), np.float32))
    except OSError as error:
        print("npy:", error)
    try:
        atomic_torch_save({"w": torch.zeros(4096)}, sys.argv[1] + "/x.pth")
    except OSError as error:
        print("pth:", error)
""")


def test_a_write_cut_short_by_the_file_system_keeps_its_reason(tmp_path):
    """numpy writes a real file's bytes itself and reports a short write without the reason;
    torch.save turns it into "unexpected pos". Both must say what the OS said (here the size
    limit, "File too large"; on a full disk "No space left on device")."""
    result = subprocess.run([sys.executable, "-c", FULL_DISK_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env=subprocess_env())
    assert f"npy: [Errno 27] cannot write {tmp_path / 'x.npy'}: File too large" in result.stdout, result.stdout
    assert f"pth: [Errno 27] cannot write {tmp_path / 'x.pth'}: File too large" in result.stdout, result.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == []


# -- 10. a very large image --------------------------------------------------------------------------


def test_an_image_too_large_to_restore_whole_is_refused_with_the_tile_hint_and_tiles_work(tmp_path):
    width, height = 2050, 2048  # just over MAX_WHOLE_IMAGE_PIXELS
    assert width * height > MAX_WHOLE_IMAGE_PIXELS
    lq = tmp_path / "LQ" / "big.png"
    lq.parent.mkdir()
    Image.new("RGB", (width, height), (90, 120, 30)).save(lq)
    calls = []

    def identity(batch, generator):
        calls.append(tuple(batch.shape))
        return batch

    with pytest.raises(ValueError) as caught:
        restore_with(identity, [lq], tmp_path / "out", progress=False)
    message = str(caught.value)
    assert f"{lq} is 2050x2048 px (4.2 Mpx), more than the 4.2 Mpx irsde restores in one piece" in message
    assert "restore it in tiles: --tile 512" in message and calls == [] and not (tmp_path / "out").exists()
    restored = restore_with(identity, [lq], tmp_path / "out", tile=512, progress=False)
    assert np.array_equal(read_uint8(restored.png_dir / "big.png"), read_uint8(lq)) and calls[0] == (1, 3, 512, 512)
    # LPIPS runs a network over the whole image too (about 200 bytes per pixel): the same bound
    gt = tmp_path / "GT" / "big.png"
    gt.parent.mkdir()
    Image.new("RGB", (width, height), (100, 110, 40)).save(gt)
    with pytest.raises(ValueError, match="more than the 4.2 Mpx LPIPS scores in one piece.*leave lpips out of --metrics"):
        evaluate(restored.root, gt.parent, "rgb-full", "x", "big", 0, metrics=["lpips"], progress=False)


# -- a third probe: cases neither round tried --------------------------------------------------------


def expanded_weights(path):
    torch.save({"init_conv.weight": torch.zeros(1).expand(2**33)}, path)  # 32 GiB claimed, 4 bytes stored


def compressed_weights(path):
    buffer = io.BytesIO()
    torch.save({"init_conv.weight": torch.zeros(2**20)}, buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for record in source.infolist():
            bomb.writestr(record.filename, source.read(record.filename))


def cast_weights(dtype):
    def make(path):
        save_net(path)
        torch.save({name: tensor.to(dtype) for name, tensor in torch.load(path, weights_only=True).items()}, path)
    return make


@pytest.mark.parametrize("make, expected", [
    (expanded_weights, "tensor init_conv.weight of shape (8589934592,) claims 34359738368 bytes but holds 4"),
    (compressed_weights, "holds compressed records"),
    (cast_weights(torch.int64), "init_conv.weight: file torch.int64 vs network torch.float32"),
    (cast_weights(torch.complex64), "init_conv.weight: file torch.complex64 vs network torch.float32"),
    (lambda path: path.write_text("<!DOCTYPE html><html>Virus scan warning</html>"), "is an HTML/XML page"),
    (lambda path: path.mkdir(), "is not a file (a folder or a device?)"),
], ids=["expanded-view", "zip-bomb", "integers", "complex", "html-page", "a-folder"])
def test_a_hostile_weight_file_is_refused_before_it_allocates_naming_it(split, tmp_path, capsys, make, expected):
    weights = tmp_path / "hostile.pth"
    make(weights)
    assert restore(weights, split, tmp_path / "out") == 2
    message = capsys.readouterr().err
    assert str(weights) in message and expected in message and "Traceback" not in message
    assert not (tmp_path / "out" / "restore.json").exists()


def test_a_download_its_check_refuses_is_moved_aside_not_kept_for_resuming(server, tmp_path):
    from irsde.torchfile import TorchFileError, load_torch_file

    route = server.add("/w.pth", b"<!DOCTYPE html><html>sign in</html>")
    with pytest.raises(TorchFileError, match="is an HTML/XML page.*moved to .*w.pth.bad"):
        download.download([server.url("/w.pth")], tmp_path / "w.pth", lambda part, url: load_torch_file(part), FAST)
    assert not (tmp_path / "w.pth.part").exists() and (tmp_path / "w.pth.bad").exists() and len(route.requests) == 1


FETCH_SCRIPT = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.INFO)
    from irsde.data.download import DownloadPolicy
    from irsde.data.fetch import fetch_source
    from irsde.data.records import ArchiveSource
    source = ArchiveSource("x.zip", (sys.argv[1],))
    print(fetch_source(source, sys.argv[2], policy=DownloadPolicy(timeout=30, attempts=1, backoff=0, progress=False)))
""")


def test_two_fetches_of_one_archive_into_one_folder_take_turns(server, tmp_path):
    body = zip_bytes({"a/1.bin": bytes(range(256)) * 5})
    route = server.add("/x.zip", body, drip_delay=0.0015)  # about two seconds per download
    command = [sys.executable, "-c", FETCH_SCRIPT, server.url("/x.zip"), str(tmp_path)]
    fetches = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=subprocess_env()) for _ in range(2)]
    errors = [fetch.communicate(timeout=120)[1] for fetch in fetches]
    assert [fetch.returncode for fetch in fetches] == [0, 0], errors
    assert (tmp_path / "x.zip").read_bytes() == body and len(route.requests) == 1
    assert sum("was downloaded by another process" in error for error in errors) == 1, errors
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.bad"))


def test_concurrent_first_use_pins_of_two_archives_are_both_kept(tmp_path):
    from irsde.data.lock import LockFile

    first, second = LockFile.load(tmp_path / "lock.json"), LockFile.load(tmp_path / "lock.json")
    first.record("a.zip", {"sha256": "a" * 64})
    second.record("b.zip", {"sha256": "b" * 64})  # loaded before a.zip was recorded
    assert sorted(LockFile.load(tmp_path / "lock.json").entries) == ["a.zip", "b.zip"]


@pytest.mark.parametrize("out", ["LQ", "LQ/restored", ".", ".."], ids=["the-lq-folder", "inside", "around", "above"])
def test_restoring_into_inside_or_around_the_input_folder_is_refused(split, tmp_path, out):
    with pytest.raises(ValueError, match="the input folder .*: write restorations to a folder of their own"):
        restore_with(lambda lq, generator: lq * 0.9, lq_paths(split), split / out, progress=False)
    assert not (split / "LQ" / "restore.json").exists() and not list(split.rglob("png"))


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["paths"].update(data="my data"), "config key 'paths.data': expected a path without spaces"),
    (lambda c: c["paths"].update(results="out;rm -rf x"), "config key 'paths.results': expected a path without"),
    (lambda c: c.update(seeds=[0, 2**70]), "config key 'seeds[1]': expected an integer in [0, 9223372036854775807]"),
    (lambda c: c["training"]["optim"].update(lr=1e300), "config key 'training.optim.lr': expected a finite number in (0, 10]"),
], ids=["space-in-a-path", "shell-in-a-path", "seed-beyond-64-bits", "huge-learning-rate"])
def test_values_that_break_jobs_later_are_refused_naming_the_key(edit, expected):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    edit(config)
    with pytest.raises(ValueError) as caught:
        pipeline_config.validate_pipeline_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml",
                                                 REPO / "results" / "published" / "published_results.csv")
    assert expected in str(caught.value)


def test_a_seed_beyond_64_bits_is_refused_by_option_and_config(split, tmp_path, capsys):
    from irsde.cli.arguments import MAX_SEED
    from irsde.data.seeding import MAX_SEED as LIBRARY_MAX_SEED

    assert MAX_SEED == LIBRARY_MAX_SEED
    with pytest.raises(SystemExit):
        restore(save_net(tmp_path / "net.pth"), split, tmp_path / "out", "--seed", str(2**70))
    assert f"--seed: expected a whole number from 0 to {MAX_SEED}" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"config key 'seed': expected an integer in \[0, 9223372036854775807\]"):
        validate_config(tiny_config(tmp_path, seed=2**70))
