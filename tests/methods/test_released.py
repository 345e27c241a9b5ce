"""Restoring with released checkpoints (`irsde restore --checkpoint/--weights --method`), the
real Rain100H test split's upstream naming, and (slow, only with a mirror of the real files) the
released-weights tables against the published numbers."""

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from irsde.checkpoints import CHECKPOINTS, Checkpoint, GitFile
from irsde.cli import main
from irsde.data import prepare_dataset
from irsde.data.download import DownloadPolicy
from irsde.data.fetch import fetch_source
from irsde.data.registry import get_dataset
from irsde.images import read_degraded, read_uint8, to_uint8
from irsde.nets.ffdnet import FFDNet
from tests.support.data import git_ids, png_bytes, prepared_cbsd68, random_image

REPO = Path(__file__).resolve().parents[2]
FAST = DownloadPolicy(timeout=5, attempts=2, backoff=0.0, progress=False)


def serve_checkpoint(server, tmp_path, name, method, state, options=None) -> Checkpoint:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    blob = git_ids({"w.pth": data}, tmp_path / f"git-{name}")[0]["w.pth"]
    server.add(f"/mirror/weights/{name}.pth", data)
    source = GitFile("owner/repo", "c0ffee", f"{name}.pth", blob, hashlib.sha256(data).hexdigest(), len(data),
                     raw_base=server.url("/nowhere"))
    return Checkpoint(name, method, f"{name}.pth", source, f"{method} (released weights)", "A paper.", "MIT",
                      options=options or {})


@pytest.fixture
def noisy_split(tmp_path):
    """A CBSD68-style test split prepared by the registry's recipe (GT + sigma 25 noise, float LQ),
    so its dataset.json records the noise level."""
    return prepared_cbsd68(tmp_path, count=3, width=14, height=10)


def test_a_checkpoint_restores_through_its_method_at_the_split_s_noise_level(server, tmp_path, noisy_split, monkeypatch):
    torch.manual_seed(0)
    state = FFDNet(features=6, depth=3).state_dict()
    checkpoint = serve_checkpoint(server, tmp_path, "tiny-ffdnet", "ffdnet", state)
    monkeypatch.setitem(CHECKPOINTS._all(), checkpoint.name, checkpoint)
    common = ["restore", "--checkpoint", "tiny-ffdnet", "--dataset", str(noisy_split), "--resources", str(tmp_path / "res"),
              "--mirror", server.url("/mirror")]
    assert main([*common, "--out", str(tmp_path / "auto")]) == 0
    manifest = json.loads((tmp_path / "auto" / "restore.json").read_text())
    assert manifest["method"] == "tiny-ffdnet" and manifest["checkpoint"] == "tiny-ffdnet"
    assert manifest["options"] == {"noise_sigma": 25.0} and manifest["source"]["git_blob"] == checkpoint.source.blob
    net = FFDNet(features=6, depth=3).eval()
    net.load_state_dict(state)
    lq = torch.from_numpy(read_degraded(noisy_split / "LQ" / "102.png")).permute(2, 0, 1)[None]  # the unclipped float
    with torch.no_grad():
        expected = to_uint8(net(lq, 25 / 255)[0])
    assert (read_uint8(tmp_path / "auto" / "png" / "102.png") == expected).all()
    assert main([*common, "--offline", "--option", "noise_sigma=50", "--out", str(tmp_path / "fifty")]) == 0
    assert json.loads((tmp_path / "fifty" / "restore.json").read_text())["options"] == {"noise_sigma": 50}
    assert not (read_uint8(tmp_path / "fifty" / "png" / "102.png") == expected).all()


def test_bad_options_and_flags_are_refused_naming_them(server, tmp_path, noisy_split, monkeypatch, capsys):
    from irsde.nets.prenet import PReNet

    checkpoint = serve_checkpoint(server, tmp_path, "tiny-prenet", "prenet", PReNet(channels=4).state_dict(), {"stages": 2})
    monkeypatch.setitem(CHECKPOINTS._all(), checkpoint.name, checkpoint)
    common = ["restore", "--checkpoint", "tiny-prenet", "--dataset", str(noisy_split), "--resources", str(tmp_path / "res"),
              "--mirror", server.url("/mirror"), "--out", str(tmp_path / "o")]
    cases = [
        (["--option", "stages=many"], "--option: method 'prenet': config key 'stages': expected an integer"),
        (["--option", "steps=3"], "unknown config key 'steps'"),
        (["--option", "stages"], "--option 'stages': write KEY=VALUE"),
        (["--T", "50"], "--T: method 'prenet' restores without an SDE"),
        (["--sampler", "ode"], "method 'prenet' restores without a sampler"),
        (["--method", "dncnn"], "--method: checkpoint tiny-prenet restores with its own method, prenet"),
        (["--noise-sigma", "25"], "unknown config key 'noise_sigma'"),
    ]
    for extra, message in cases:
        assert main([*common, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (tmp_path / "o").exists()
    assert main([*common]) == 0
    assert json.loads((tmp_path / "o" / "restore.json").read_text())["options"] == {"stages": 2}


def git_tree_source(source, tree_id, server):
    return dataclasses.replace(source, tree_id=tree_id, api_base=server.url("/api"), raw_base=server.url("/raw"))


def test_rain100h_git_pairs_rainy_norain_files_by_folder_and_keeps_duplicate_backgrounds(server, tmp_path):
    """Upstream, the rainy image is also called norain-N.png (in rain/); prepared, GT/0003.png and
    LQ/0003.png are the clean and the rainy image, and two rainy versions of one background stay."""
    clean = {f"norain-{n}.png": png_bytes(random_image(n)) for n in (1, 2, 10)}
    clean["norain-2.png"] = clean["norain-1.png"]  # one background under two rains, as in the real set
    rainy = {f"norain-{n}.png": png_bytes(random_image(100 + n)) for n in (1, 2, 10)}
    dataset = get_dataset("Rain100H-git")
    rain_source, clean_source = dataset.sources
    rain_tree = server.add_git_tree(rain_source.repo, rain_source.commit, rain_source.folder, rainy, tmp_path / "g1")
    clean_tree = server.add_git_tree(clean_source.repo, clean_source.commit, clean_source.folder, clean, tmp_path / "g2")
    dataset = dataclasses.replace(
        dataset, sources=(git_tree_source(rain_source, rain_tree, server), git_tree_source(clean_source, clean_tree, server)),
        splits=(dataclasses.replace(dataset.splits[0], pairs=3),))
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "res", policy=FAST, progress=False) / "test"
    assert sorted(p.name for p in (folder / "GT").iterdir()) == ["0001.png", "0002.png", "0010.png"]
    assert (folder / "GT" / "0010.png").read_bytes() == clean["norain-10.png"]
    assert (folder / "LQ" / "0010.png").read_bytes() == rainy["norain-10.png"]
    assert (folder / "GT" / "0001.png").read_bytes() == (folder / "GT" / "0002.png").read_bytes()
    assert (folder / "LQ" / "0001.png").read_bytes() != (folder / "LQ" / "0002.png").read_bytes()


def test_rain100h_git_comes_from_a_mirror_laid_out_like_resources(server, tmp_path):
    clean = {f"norain-{n}.png": png_bytes(random_image(n)) for n in (1, 2)}
    rainy = {f"norain-{n}.png": png_bytes(random_image(50 + n)) for n in (1, 2)}
    dataset = get_dataset("Rain100H-git")
    first = tmp_path / "upstream"
    trees = {}
    for source, files in zip(dataset.sources, (rainy, clean)):
        trees[source.name] = server.add_git_tree(source.repo, source.commit, source.folder, files, tmp_path / source.name)
        fetch_source(git_tree_source(source, trees[source.name], server), first, policy=FAST)  # a resources/ copy
    server.routes.clear()  # the upstream is gone: only the mirror serves now
    server.serve_folder("/mirror", first)
    dataset = dataclasses.replace(
        dataset, sources=tuple(git_tree_source(s, trees[s.name], server) for s in dataset.sources),
        splits=(dataclasses.replace(dataset.splits[0], pairs=2),))
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "res", policy=FAST, progress=False,
                             mirrors=[server.url("/mirror")]) / "test"
    assert (folder / "LQ" / "0002.png").read_bytes() == rainy["norain-2.png"]
    assert any(r is None for r in server.routes["/mirror/Rain100H-git-rain/norain-1.png"].requests)


MIRROR = os.environ.get("IRSDE_MIRROR")


@pytest.mark.slow
@pytest.mark.skipif(not MIRROR, reason="needs the real test sets and released weights: set IRSDE_MIRROR to a mirror of "
                                       "them (README, 'Reproduced on the real test sets'); CI has no internet")
def test_released_tables_reproduce_the_published_rows(tmp_path):
    """The real configuration end to end: PReNet on Rain100H and DnCNN/FFDNet on CBSD68 within the
    tolerances the README states for them, next to their published rows."""
    command = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--cores", "2", "tables", "--configfile", str(REPO / "config" / "released.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rain = pd.read_csv(tmp_path / "results" / "tables" / "released" / "rain100h.csv").set_index("id")
    assert abs(rain.loc["prenet-rain100h", "delta_psnr"]) <= 0.10 and abs(rain.loc["prenet-rain100h", "delta_ssim"]) <= 0.005
    assert rain.loc["input", "psnr"] < 15
    cbsd = pd.read_csv(tmp_path / "results" / "tables" / "released" / "cbsd68-sigma25.csv").set_index("id")
    for row in ("dncnn-color-blind", "ffdnet-color"):
        assert abs(cbsd.loc[row, "delta_psnr"]) <= 0.05, (row, cbsd.loc[row, "delta_psnr"])
    protocols = pd.read_csv(tmp_path / "results" / "tables" / "released" / "rain100h.protocols.csv").set_index("id")
    assert np.isfinite(protocols.loc["prenet-rain100h", "psnr prenet-matlab"])


def test_ffdnet_without_a_noise_level_says_how_to_give_it(tmp_path, monkeypatch, capsys):
    from tests.support.metrics import write_split

    split = write_split(tmp_path / "plain" / "test")  # no dataset.json: no recorded noise level
    weights = tmp_path / "ffdnet.pth"
    torch.save(FFDNet(features=6, depth=3).state_dict(), weights)
    code = main(["restore", "--weights", str(weights), "--method", "ffdnet", "--dataset", str(split),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    error = capsys.readouterr().err
    assert "needs option noise_sigma" in error and "--option noise_sigma=25" in error
    assert not list((tmp_path / "o").rglob("*.png"))
    assert main(["restore", "--weights", str(weights), "--method", "ffdnet", "--option", "noise_sigma=25",
                 "--dataset", str(split), "--out", str(tmp_path / "ok")]) == 0
