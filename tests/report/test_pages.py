"""The report's pages: the table as HTML from its tidy CSV, provenance panels, the spread over
sampling seeds, the benchmark figures, the landing page's facts and readable job params."""

import base64
import hashlib
import html
import json
import pickle
import re

import numpy as np
import pandas as pd
import pytest

from irsde.report import figures, landing, pages, provenance, seed_spread, table_page, tables
from irsde.report.job_params import Listing, Settings
from irsde.methods import RowFacts

FACTS = {
    "irsde": RowFacts("irsde", "IR-SDE (ours)", paper_row="IR-SDE", stochastic=True),
    "cnn": RowFacts("cnn", "CNN <baseline>", paper_row=None, stochastic=False),
    "input": RowFacts("input", "Input (degraded, no restoration)", paper_row=None, stochastic=False),
}
PUBLISHED = pd.DataFrame([{"method": "IR-SDE", "psnr": 31.65, "ssim": 0.9041, "lpips": 0.047, "fid": 18.64, "source": "paper"}])
NOTE = "LPIPS weights missing: put alexnet-owt-7be5be79.pth into /x/hub/checkpoints"


def per_image(method, values, metric="psnr", seed=0, note=""):
    return pd.DataFrame({"dataset": "b", "method": method, "image": [f"{i:03d}.png" for i in range(len(values))],
                         "seed": seed, "protocol": "irsde-derain", "metric": metric, "value": values, "note": note})


def metrics_frame():
    return pd.concat([
        per_image("input", [18.123456789, 19.5]), per_image("input", [0.5, 0.6], "ssim"),
        per_image("irsde", [22.3456789, 23.0], seed=0), per_image("irsde", [22.9, 23.1], seed=1),
        per_image("irsde", [22.5, 23.3], seed=2), per_image("irsde", [0.7, 0.71], "ssim", seed=0),
        per_image("irsde", [0.72, 0.7], "ssim", seed=1), per_image("irsde", [0.69, 0.7], "ssim", seed=2),
        per_image("cnn", [24.0, 25.0]), per_image("cnn", [0.8, 0.81], "ssim"),
        per_image("cnn", [np.nan, np.nan], "lpips", note=NOTE),
    ], ignore_index=True)


@pytest.fixture
def table():
    return tables.build_table("rain100h", tables.summarize_methods(metrics_frame()), PUBLISHED, FACTS, "irsde-derain",
                              {"irsde": ("sde", 100)}, synthetic=False, deviations=["network.nf 8 (paper 64)"])


def written(table, tmp_path):
    paths = [tmp_path / f"rain100h.{ext}" for ext in ("csv", "md", "tex", "caption.json")]
    tables.write_table(table, *paths)
    return paths


def page_text(page):
    """What a reader sees of a page: its text without tags, entities decoded, spaces collapsed."""
    page = re.sub(r"<(style|script)>.*?</\1>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_table_read_back_from_its_csv_renders_as_the_table_itself(table, tmp_path):
    csv_path, md_path, _, caption_path = written(table, tmp_path)
    again = tables.read_table(csv_path, caption_path)
    assert tables.render_markdown(again) == md_path.read_text()
    assert again.samplers == {"irsde": ("sde", 100)} and again.protocol == "irsde-derain"


def test_table_page_shows_the_numbers_at_the_tables_precision_with_caption_and_footnotes(table, tmp_path):
    csv_path, _, _, caption_path = written(table, tmp_path)
    page = table_page.render_table_page(csv_path, caption_path)
    text = page_text(page)
    assert table.caption in text  # protocol, sampler and NFE, the deviation from the paper
    assert "'sde' sampler, 100 NFE" in text and "network.nf 8 (paper 64)" in text
    assert f"* LPIPS↓ unavailable: {NOTE}" in text
    for cell in ("18.81", "0.5500", "22.86 ± 0.17", "31.65", "-8.79", "n/a*", "CNN <baseline>"):
        assert cell in text, cell
    assert "18.8117" not in text and "22.857" not in text  # no full-precision floats in the cells
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(link) == csv_path.read_bytes()  # the full-precision CSV travels with the page
    assert "<baseline>" not in page  # labels are escaped


def test_a_csv_that_is_no_table_is_refused_naming_it(tmp_path, table):
    _, _, _, caption_path = written(table, tmp_path)
    (tmp_path / "other.csv").write_text("method,value\nx,1\n")
    with pytest.raises(ValueError, match="other.csv: not a table CSV written by the table rule"):
        tables.read_table(tmp_path / "other.csv", caption_path)


def make_run(folder, config, iterations=40):
    folder.mkdir(parents=True)
    record = {"name": "run", "method": "irsde", "seed": 7, "config": config, "iteration": iterations,
              "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "cuda": None},
              "git": {"commit": "a" * 40, "dirty": True},
              "sessions": [{"device": "cpu", "world_size": 1, "wall_time": 125.0}, {"device": "cuda:0", "world_size": 2,
                                                                                    "wall_time": 3725.0}]}
    (folder / "run.json").write_text(json.dumps(record))
    pd.DataFrame({"iteration": [10, 20], "loss": [0.5, 0.3], "lr": [1e-3, 1e-3], "wall_time": [1.0, 2.0]}).to_csv(
        folder / "train_log.csv", index=False)
    pd.DataFrame({"iteration": [20, 20], "image": ["a.png", "mean"], "metric": ["psnr", "psnr"], "value": [20.0, 20.0]}
                 ).to_csv(folder / "val_log.csv", index=False)
    return folder


def make_restored(folder, record):
    folder.mkdir(parents=True)
    (folder / "restore.json").write_text(json.dumps(record))
    return folder


def test_config_digest_ignores_where_a_run_ran_but_not_what_it_computed():
    config = {"name": "x", "output_dir": "/a", "device": "cpu", "data": {"train": "/d/train", "val": "/d/test", "crop_size": 24},
              "network": {"nf": 8}}
    moved = {**config, "output_dir": "/b", "device": "cuda", "data": {"train": "/e/train", "val": "/e/test", "crop_size": 24}}
    wider = {**config, "network": {"nf": 16}}
    assert provenance.config_digest(config) == provenance.config_digest(moved)
    assert provenance.config_digest(config) != provenance.config_digest(wider)
    assert len(provenance.config_digest(config)) == 16


def test_provenance_of_a_run_a_checkpoint_user_outputs_and_the_input(tmp_path):
    run = make_run(tmp_path / "runs" / "irsde", {"network": {"nf": 8}})
    common = {"images": ["000", "001"], "device": "cpu", "versions": {"python": "3.11.7", "torch": "2.13.0+cpu"},
              "git": {"commit": "b" * 40, "dirty": False}}
    for seed, seconds in ((0, 12.34), (1, 11.0)):
        make_restored(tmp_path / "restored" / "irsde" / f"seed{seed}",
                      {**common, "method": "irsde", "sampler": "sde", "steps": None, "nfe": 100, "seed": seed,
                       "seconds": seconds, "run": str(run), "weights": str(run / "weights" / "ema_latest.pth")})
    weights = tmp_path / "released.pth"
    weights.write_bytes(b"weights")
    make_restored(tmp_path / "restored" / "published" / "seed0",
                  {**common, "method": "published", "sampler": "sde", "nfe": 100, "seed": 0, "seconds": 3.0,
                   "weights": str(weights), "network": {"nf": 64, "depth": 4}})
    make_restored(tmp_path / "restored" / "prenet" / "seed0",
                  {**common, "method": "prenet-rain100h", "seed": 0, "seconds": 1.5, "weights": str(weights),
                   "options": {"recurrent_iter": 6}, "checkpoint": "prenet-rain100h",
                   "source": {"repo": "csdwren/PReNet", "commit": "c" * 40, "path": "logs/Rain100H/PReNet6/net_latest.pth",
                              "url": "https://x", "git_blob": "d" * 40, "sha256": None, "size": 7}})
    make_restored(tmp_path / "restored" / "mine" / "seed0",
                  {"method": "mine", "source": "user outputs", "folder": "/my/outputs", "images": ["000", "001"],
                   "sha256": {"000.png": "x", "001.png": "y"}, "seed": 0, "seconds": 0.2})
    test_dir = tmp_path / "data" / "synthetic-rain" / "test"
    test_dir.mkdir(parents=True)
    (test_dir.parent / "dataset.json").write_text(json.dumps(
        {"dataset": "synthetic-rain", "description": "streaks", "synthetic": True, "seed": 0,
         "label": "synthetic stand-in; not the real benchmark", "counts": {"test": 2, "train": 4}}))
    labels = {"input": "Input", "irsde": "IR-SDE (ours)", "published": "IR-SDE (published weights)", "mine": "Mine",
              "prenet": "PReNet (released weights)"}
    frame = pd.concat([per_image(row, [1.0, 2.0], seed=seed) for row in labels for seed in ((0, 1) if row == "irsde" else (0,))])
    rows = provenance.benchmark_provenance(labels, frame, str(tmp_path / "restored" / "{row}" / "seed{seed}"), test_dir)
    facts = {row.row: dict(row.facts) for row in rows}
    assert facts["input"]["Synthetic stand-in"] == "synthetic stand-in; not the real benchmark; generated with seed 0"
    assert facts["input"]["Pairs"] == "test 2, train 4"
    irsde = facts["irsde"]
    assert irsde["Training run"] == str(run) and irsde["Training seed"] == "7"
    assert irsde["Config digest"] == provenance.config_digest({"network": {"nf": 8}})
    assert irsde["Trained"] == "40 iterations in 1 h 2 min on cuda:0, 2 process(es), 2 session(s)"
    assert irsde["Sampler"] == "sde" and irsde["NFE (network evaluations per image)"] == "100"
    assert irsde["Sampling seeds"] == "0, 1"
    assert irsde["Restore time"] == "12.3 s (seed 0); 11.0 s (seed 1) for 2 images"
    assert irsde["Training git commit"] == "a" * 40 + " with uncommitted changes"
    assert irsde["Restore git commit"] == "b" * 40
    assert irsde["Training package versions"] == "python 3.11.7, torch 2.13.0+cpu, cuda none"
    published = facts["published"]
    assert published["Checkpoint"] == str(weights)
    assert published["Checkpoint sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert published["Network"] == "nf 64, depth 4" and "Training run" not in published
    released = facts["prenet"]
    assert released["Released checkpoint"] == "prenet-rain100h" and released["Options"] == "recurrent_iter 6"
    assert released["Upstream"] == f"csdwren/PReNet@{'c' * 40}:logs/Rain100H/PReNet6/net_latest.pth"
    assert released["Sampler"].startswith("none") and released["Restore time"] == "1.5 s (seed 0) for 2 images"
    assert facts["mine"]["Source"] == "user outputs, folder /my/outputs"
    assert facts["mine"]["Files"] == "2 images, sha256 of each in restore.json"
    assert provenance.training_runs(rows) == [("IR-SDE (ours)", run)]
    page = page_text(provenance.render_page("synthetic-rain", rows, "snakemake --cores 8 tables"))
    assert "Reproduce: snakemake --cores 8 tables" in page and "IR-SDE (published weights) (published)" in page


def test_a_restored_row_without_restore_json_says_so(tmp_path):
    (tmp_path / "restored").mkdir()
    row = provenance.row_provenance("irsde", "IR-SDE", [tmp_path / "restored"], tmp_path / "test")
    assert row.facts == [("Source", f"not recorded: no restore.json in {tmp_path / 'restored'}")]


def test_seed_spread_shows_each_seeds_mean_and_the_spread():
    labels = {"input": "Input", "irsde": "IR-SDE (ours)", "cnn": "CNN"}
    rows = seed_spread.spread_rows(metrics_frame(), labels, "psnr")
    assert rows[1] == ["IR-SDE (ours)", "3", "0: 22.67, 1: 23.00, 2: 22.90", "22.86 ± 0.17", "0.33"]
    assert rows[2] == ["CNN", "1", "0: 24.50", "24.50", "one seed"]
    page = page_text(seed_spread.render_page("b", metrics_frame(), labels, [0, 1, 2]))
    assert "SSIM↑ (4 decimals)" in page and "no spread" not in page
    assert "no spread to show" in page_text(seed_spread.render_page("b", metrics_frame(), labels, [0]))


def test_benchmark_figures_are_drawn(tmp_path):
    run = make_run(tmp_path / "run", {})
    figures.training_curves([("IR-SDE", run)], tmp_path / "curves.png")
    figures.training_curves([], tmp_path / "none.png")
    labels = {"input": "Input", "irsde": "IR-SDE (ours)", "cnn": "CNN"}
    figures.per_image_strips(metrics_frame(), labels, tmp_path / "strips.png")
    for name in ("curves.png", "none.png", "strips.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_landing_facts_say_what_each_benchmark_is_and_how_to_reproduce_it(tmp_path):
    config = {"name": "ci", "seeds": [0, 1], "benchmarks": {
        "synthetic-rain": {"dataset": "synthetic-rain", "protocol": "irsde-derain", "published": None},
        "rain100h": {"dataset": "Rain100H", "protocol": "irsde-derain", "published": "rain100h"},
        "off": {"dataset": "GoPro", "protocol": "irsde-deblur", "enabled": False}}}
    facts = landing.landing_facts(config, [tmp_path / "config" / "ci.yaml"], tmp_path)
    assert [b["name"] for b in facts["benchmarks"]] == ["synthetic-rain", "rain100h"]
    assert [b["synthetic"] for b in facts["benchmarks"]] == [True, False] and facts["any_synthetic"]
    assert "Rain100H" in facts["benchmarks"][1]["description"]
    assert facts["tables_command"] == "snakemake --cores 8 tables --configfile config/ci.yaml"
    assert facts["report_command"] == "snakemake --report results/report-ci.html --configfile config/ci.yaml"
    assert landing.landing_facts(config, [], tmp_path)["tables_command"] == "snakemake --cores 8 tables"
    outside = landing.configfile_argument(["/elsewhere/my config.yaml"], tmp_path)
    assert outside == " --configfile '/elsewhere/my config.yaml'"


def test_job_params_print_as_text_and_stay_lists_and_dicts():
    labels, reference = Listing(["IR-SDE (ours)", "CNN"]), Settings({"split_dir": "data/x/test", "count": 2})
    assert f"labels={labels}" == "labels=IR-SDE (ours); CNN"
    assert f"reference={reference}" == "reference=split_dir data/x/test, count 2"
    assert pickle.loads(pickle.dumps(labels)) == ["IR-SDE (ours)", "CNN"]  # how a script receives them
    assert dict(**pickle.loads(pickle.dumps(reference))) == {"split_dir": "data/x/test", "count": 2}


def test_report_html_escapes_text_and_keeps_markup():
    cell = pages.element("td", "<b>&")
    assert cell == "<td>&lt;b&gt;&amp;</td>"
    sortable = pages.table(["a", "b"], [["x", "1"]], numeric=[1], sortable=True)
    assert '<table class="sortable">' in sortable and '<td class="number">1</td>' in sortable
    page = pages.page("T <1>", sortable, script=pages.SORT_SCRIPT)
    assert "<h1>T &lt;1&gt;</h1>" in page and "<script>" in page and "http" not in page.split("<body>")[0]


def test_provenance_names_a_run_inside_the_working_directory_by_its_relative_path(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "tiny" / "irsde"
    run.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert dict(provenance.run_facts(run))["Training run"] == "runs/tiny/irsde (no run.json)"
    outside = tmp_path.parent / "elsewhere"
    assert provenance.shown_path(outside) == str(outside)
