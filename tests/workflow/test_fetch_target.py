"""`snakemake fetch`: every download a config needs (datasets' sources, LPIPS/FID weights,
published checkpoints), as local rules, so that a cluster's compute jobs need no internet."""

import os
import re

from tests.support.pipeline import REPO, snakemake, tiny_ci, write_config

PAPER = str(REPO / "config" / "paper.yaml")


def planned_rules(output: str) -> list[str]:
    return re.findall(r"^(?:local)?rule (\w+):", output, re.MULTILINE)


def test_fetch_plans_the_paper_downloads_and_nothing_else(tmp_path):
    environment = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    result = snakemake("-n", "fetch", "--configfile", PAPER, workdir=tmp_path, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(set(planned_rules(result.stdout))) == ["fetch", "fetch_archive", "fetch_checkpoint",
                                                          "fetch_metric_weights"]
    for archive in ("Rain100H.zip", "RainTrainH.zip", "Rain100L.zip", "RainTrainL.zip"):
        assert f"output: resources/{archive}" in result.stdout, archive
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    for weight in ("alexnet-owt-7be5be79.pth", "pt_inception-2015-12-05-6726825d.pth"):
        assert f"output: {checkpoints / weight}" in result.stdout, weight


def test_scoring_waits_for_the_metric_weights_only_when_they_must_exist(tmp_path):
    environment = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    paper = snakemake("-n", "tables", "--configfile", PAPER, workdir=tmp_path, env=environment)
    assert paper.returncode == 0, paper.stderr
    assert planned_rules(paper.stdout).count("fetch_metric_weights") == 2  # allow_missing_weights: false
    embedded = snakemake("-n", "tables", workdir=tmp_path, env=environment)  # allow_missing_weights: true
    assert embedded.returncode == 0, embedded.stderr
    assert "fetch_metric_weights" not in planned_rules(embedded.stdout)


def test_fetch_downloads_the_metric_weights_from_the_mirror_into_torch_home(tmp_path, server):  # noqa: F811
    weights = b"inception weights as served by the mirror"
    server.add("/mirror/pt_inception-2015-12-05-6726825d.pth", weights)

    def fid_from_mirror(config):
        tiny_ci(config)
        config.update(metrics=["psnr", "ssim", "fid"], allow_missing_weights=False, mirror=server.url("/mirror"))

    config = write_config(tmp_path, "ci.yaml", fid_from_mirror)
    environment = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    result = snakemake("--cores", "1", "fetch", "--configfile", str(config), workdir=tmp_path, env=environment, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "torch" / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth").read_bytes() == weights
    assert not (tmp_path / "data").exists()  # nothing but downloads
    again = snakemake("-n", "tables", "--configfile", str(config), workdir=tmp_path, env=environment)
    assert again.returncode == 0 and "fetch_metric_weights" not in planned_rules(again.stdout)
