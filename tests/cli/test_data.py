import argparse
import csv

import numpy as np
import pytest

from irsde.cli import data as data_cli
from irsde.data.layout import read_marker
from irsde.images import write_png


def run(*argv):
    parser = argparse.ArgumentParser(prog="irsde data")
    data_cli.add_arguments(parser)
    return data_cli.run(parser.parse_args([str(arg) for arg in argv]))


def test_list_shows_every_dataset_and_labels_the_synthetic_ones(tmp_path, capsys):
    run("prepare", "synthetic-blur", "--root", tmp_path, "--size", 32, "--train-count", 2, "--test-count", 1)
    capsys.readouterr()
    assert run("list", "--root", tmp_path) == 0
    out = capsys.readouterr().out
    for name in ("Rain100H", "Rain100L", "GoPro", "CBSD68", "McMaster", "Kodak24", "DF2K-noise25", "DIV2K-x4",
                 "CelebA-HQ-thin", "RESIDE-indoor", "synthetic-rain", "synthetic-haze"):
        assert name in out
    assert "browser" in out and "not the real benchmarks" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["synthetic-blur"].rstrip().endswith("prepared") and rows["Rain100H"].rstrip().endswith("-")


def test_synthetic_then_verify_then_tamper(tmp_path, capsys):
    assert run("prepare", "synthetic-noise", "--root", tmp_path, "--seed", 3, "--size", 32,
               "--train-count", 3, "--test-count", 2) == 0
    marker = read_marker(tmp_path, "synthetic-noise")
    assert marker["seed"] == 3 and marker["splits"]["train"]["pairs"] == 3
    assert run("verify", "synthetic-noise", "--root", tmp_path) == 0
    assert "15 files verified" in capsys.readouterr().out  # 10 PNGs, 5 float LQ arrays
    (tmp_path / "synthetic-noise" / "test" / "LQ" / "0001.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="0001.png"):
        run("verify", "synthetic-noise", "--root", tmp_path)


def test_prepare_a_registered_dataset_from_a_user_folder_offline(tmp_path, capsys):
    folder = tmp_path / "CBSD68"
    rng = np.random.default_rng(0)
    for index in range(68):
        write_png(folder / f"{100000 + index}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    assert run("prepare", "CBSD68", "--root", tmp_path / "data", "--resources", tmp_path / "res",
               "--path", folder, "--offline") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "data" / "CBSD68")
    marker = read_marker(tmp_path / "data", "CBSD68")
    assert marker["splits"]["test"]["pairs"] == 68 and marker["sources"]["FFDNet-CBSD68"]["supplied_by"] == "user"
    assert run("verify", "CBSD68", "--root", tmp_path / "data", "--resources", tmp_path / "res") == 0
    out = capsys.readouterr().out
    assert "FFDNet-CBSD68: not in" in out and "204 files verified (test 68)" in out  # GT, LQ preview, float LQ


def test_errors_name_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="synthetic-rain is built from scikit-image's photographs; --path does not apply"):
        run("prepare", "synthetic-rain", "--root", tmp_path, "--path", tmp_path)
    with pytest.raises(ValueError, match="--seed, --size: only synthetic-\\* datasets take a recipe; CBSD68 is prepared"):
        run("prepare", "CBSD68", "--root", tmp_path, "--seed", 1, "--size", 32)
    with pytest.raises(KeyError, match="unknown dataset 'synthetic-rian' \\(did you mean 'synthetic-rain'\\?\\); choose one of: "):
        run("prepare", "synthetic-rian", "--root", tmp_path)
    with pytest.raises(ValueError, match="SOURCE=PATH with SOURCE one of Rain100H.zip, RainTrainH.zip"):
        run("prepare", "Rain100H", "--root", tmp_path, "--path", tmp_path)
    with pytest.raises(RuntimeError) as caught:
        run("fetch", "Rain100H", "--resources", tmp_path / "res", "--offline")
    assert str(tmp_path / "res" / "Rain100H.zip") in str(caught.value)
    assert str(tmp_path / "res" / "RainTrainH.zip") in str(caught.value)
    with pytest.raises(KeyError, match="unknown dataset"):
        run("verify", "Rain999", "--root", tmp_path)


def test_audit_writes_the_csv(tmp_path, capsys):
    run("prepare", "synthetic-rain", "--root", tmp_path, "--size", 48, "--train-count", 6, "--test-count", 3)
    capsys.readouterr()
    assert run("audit", "synthetic-rain", "--root", tmp_path, "--out", tmp_path / "audit.csv") == 0
    assert "0 of 3 test images" in capsys.readouterr().out
    with open(tmp_path / "audit.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 3


def test_the_irsde_entry_point_dispatches_and_reports_errors_without_traceback(tmp_path, capsys):
    from irsde.cli import main

    assert main(["data", "prepare", "synthetic-sr4", "--root", str(tmp_path), "--size", "32",
                 "--train-count", "2", "--test-count", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "synthetic-sr4")
    assert main(["data", "prepare", "GoPro", "--root", str(tmp_path), "--resources", str(tmp_path / "res"), "--offline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irsde data: error: GOPRO_Large.zip is needed but") and "Traceback" not in err
    assert str(tmp_path / "res" / "GOPRO_Large.zip") in err


def test_dataset_names_are_matched_whatever_their_case_by_one_rule_for_cli_and_config(tmp_path, capsys):
    """`irsde data fetch rain100h` is Rain100H (it was refused), as `dataset: rain100h` is in a
    config; a misspelt name gets the same "did you mean" from both."""
    from pathlib import Path

    import yaml

    from irsde import pipeline_config
    from irsde.cli import main

    assert main(["data", "fetch", "rain100h", "--resources", str(tmp_path / "res"), "--offline"]) == 2
    error = capsys.readouterr().err
    assert "Rain100H.zip" in error and "unknown dataset" not in error  # got as far as the archive
    assert main(["data", "prepare", "SYNTHETIC-Rain", "--root", str(tmp_path), "--size", "16", "--train-count", "1",
                 "--test-count", "1"]) == 0
    assert read_marker(tmp_path, "synthetic-rain") is not None
    assert main(["data", "fetch", "Rain100HH", "--offline"]) == 2
    assert "unknown dataset 'Rain100HH' (did you mean 'Rain100H'?); choose one of: " in capsys.readouterr().err

    repository = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repository / "config" / "paper.yaml").read_text())
    validate = lambda: pipeline_config.validate_pipeline_config(  # noqa: E731
        config, repository / "workflow" / "schemas" / "config.schema.yaml",
        repository / "results" / "published" / "published_results.csv")
    config["benchmarks"]["rain100h"]["dataset"] = "rain100h"
    config["benchmarks"]["mcmaster-sigma25"]["train_dataset"] = "df2k-NOISE25"
    resolved = validate()
    assert resolved["benchmarks"]["rain100h"]["dataset"] == "Rain100H"
    assert resolved["benchmarks"]["mcmaster-sigma25"]["train_dataset"] == "DF2K-noise25"
    config["benchmarks"]["rain100h"]["dataset"] = "Rain100HH"
    with pytest.raises(ValueError, match="'Rain100HH' is not valid \\(did you mean 'Rain100H'\\?\\); choose one of: "):
        validate()
