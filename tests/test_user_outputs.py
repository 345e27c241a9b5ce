"""Bringing your own method: a folder of precomputed outputs checked against the test split and
scored like a restored set, a method class named package.module:Class in the pipeline config,
both validated by the schema and shown as table rows with their source."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from snakemake.utils import update_config

from irsde import pipeline_config, regression
from irsde.report import tables
from irsde.data import build_synthetic
from irsde.data.synthetic import planned_images
from irsde.evaluation import LPIPS_ON_IMAGES, evaluate
from irsde.images import read_image, read_uint8, write_png
from irsde.metrics import LPIPSMetric
from irsde.user_outputs import OutputsMismatch, check_outputs, import_outputs, split_images

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PUBLISHED = REPO / "results" / "published" / "published_results.csv"
EXAMPLE_OUTPUTS = REPO / "examples" / "outputs" / "synthetic-rain"


def noise_image(seed, height, width):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def split(tmp_path):
    """A test split of five 24x24 pairs, 0000.png .. 0004.png."""
    root = tmp_path / "split"
    for index in range(5):
        write_png(root / "GT" / f"{index:04d}.png", noise_image(index, 24, 24))
        write_png(root / "LQ" / f"{index:04d}.png", noise_image(100 + index, 24, 24))
    return root


def per_image_mean(rows):
    return rows["value"].mean()


def outputs_folder(tmp_path, names_and_sizes):
    folder = tmp_path / "outputs"
    for index, (name, (height, width)) in enumerate(names_and_sizes.items()):
        write_png(folder / name, noise_image(200 + index, height, width))
    return folder


def test_a_matching_folder_gives_its_images_in_test_order_matched_by_name_up_to_the_extension(tmp_path, split):
    folder = outputs_folder(tmp_path, {f"{i:04d}.png": (24, 24) for i in (4, 3, 2, 0)})
    Image.fromarray(noise_image(9, 24, 24)).save(folder / "0001.jpg")
    (folder / "README.txt").write_text("how these were made")  # not an image: ignored
    found = check_outputs(folder, split_images(split), "outputs")
    assert [path.name for path in found] == ["0000.png", "0001.jpg", "0002.png", "0003.png", "0004.png"]


def test_every_missing_extra_and_wrongly_sized_file_is_named(tmp_path, split):
    folder = outputs_folder(tmp_path, {"0000.png": (24, 24), "0001.png": (24, 20), "0002.png": (8, 8),
                                       "0009.png": (24, 24), "rain-0003.png": (24, 24)})
    with pytest.raises(OutputsMismatch) as error:
        check_outputs(folder, split_images(split), "config key 'user_outputs.x.folders.b'")
    message = str(error.value)
    assert message.startswith(f"config key 'user_outputs.x.folders.b': {folder} must hold one restored image per test image")
    assert "missing: 0003.png, 0004.png" in message
    assert "extra (no test image of that name): 0009.png, rain-0003.png" in message
    assert "0001.png is 20x24 px, the test image 24x24 px" in message
    assert "0002.png is 8x8 px, the test image 24x24 px" in message
    assert "0000.png" not in message


def test_a_missing_folder_is_named_with_its_key(tmp_path, split):
    with pytest.raises(FileNotFoundError, match=r"config key 'k': folder .*nowhere not found"):
        check_outputs(tmp_path / "nowhere", split_images(split), "config key 'k'")


def test_imported_outputs_score_exactly_like_the_folder_itself(tmp_path, split):
    folder = outputs_folder(tmp_path, {f"{i:04d}.png": (24, 24) for i in range(5)})
    restored = import_outputs(folder, split, tmp_path / "restored", "median_filter", seed=0)
    assert sorted(p.name for p in restored.png_dir.iterdir()) == [f"{i:04d}.png" for i in range(5)]
    for png in restored.png_dir.iterdir():
        assert np.array_equal(read_uint8(png), read_uint8(folder / png.name))
    manifest = json.loads(restored.manifest_path.read_text())
    assert manifest["method"] == "median_filter" and manifest["source"] == "user outputs"
    assert manifest["folder"] == str(folder.resolve()) and len(manifest["sha256"]) == 5
    scores = {}
    for name, path in (("imported", restored.root), ("folder", folder)):
        per_image = evaluate(path, split / "GT", "irsde-derain", "median_filter", "b", 0, metrics=["psnr", "ssim"])
        scores[name] = per_image.sort_values(["image", "metric"])["value"].to_numpy()
    assert np.array_equal(scores["imported"], scores["folder"])


def test_imported_outputs_get_lpips_on_their_pngs_under_a_float_protocol_noted(tmp_path, torch_home):
    """The worked example's failure: a user's PNG-only set under irsde-derain (LPIPS on float
    outputs) has no float/ to read. Its PNGs are all the method delivered, so they are scored,
    and every LPIPS row says so in the table."""
    split = tmp_path / "split"  # LPIPS (AlexNet) needs 31 px at least
    for index in range(5):
        write_png(split / "GT" / f"{index:04d}.png", noise_image(index, 32, 32))
        write_png(split / "LQ" / f"{index:04d}.png", noise_image(100 + index, 32, 32))
    folder = outputs_folder(tmp_path, {f"{i:04d}.png": (32, 32) for i in range(5)})
    restored = import_outputs(folder, split, tmp_path / "restored", "median_filter", seed=0)
    per_image = evaluate(restored.root, split / "GT", "irsde-derain", "median_filter", "b", 0,
                         metrics=["psnr", "lpips"], device="cpu", download_weights=False, progress=False)
    lpips = per_image[per_image["metric"] == "lpips"].set_index("image")
    assert len(lpips) == 5 and lpips["value"].notna().all() and set(lpips["note"]) == {LPIPS_ON_IMAGES}
    metric = LPIPSMetric(device="cpu", download=False)
    expected = metric(read_image(folder / "0003.png"), read_image(split / "GT" / "0003.png"))
    assert lpips.loc["0003.png", "value"] == pytest.approx(expected, rel=1e-5)
    # the table marks those values and says how they were computed
    facts = pipeline_config.user_output_rows({"user_outputs": {"median_filter": {"label": "Median", "folders": {}}}})
    table = tables.build_table("b", tables.summarize_methods(per_image), None, facts, "irsde-derain", {}, True)
    assert table.remarks == [f"LPIPS↓ of Median: {LPIPS_ON_IMAGES}"] and not table.footnotes
    markdown = tables.render_markdown(table)
    assert f"† {table.remarks[0]}" in markdown and f"| {per_image_mean(lpips):.3f}† |" in markdown
    assert r"\dag{}" in tables.render_latex(table)


def test_import_refuses_a_mismatched_folder_and_writes_no_record(tmp_path, split):
    folder = outputs_folder(tmp_path, {f"{i:04d}.png": (24, 24) for i in range(4)})
    with pytest.raises(OutputsMismatch, match="missing: 0004.png"):
        import_outputs(folder, split, tmp_path / "restored", "median_filter", seed=0)
    assert not (tmp_path / "restored" / "restore.json").exists()


def test_planned_synthetic_images_are_those_the_builder_writes(tmp_path):
    folder = build_synthetic("synthetic-rain", tmp_path, train_count=1, test_count=3, size=20, progress=False)
    assert planned_images("test", train_count=1, test_count=3, size=20) == split_images(folder / "test")
    assert planned_images("test") == {f"{i:04d}.png": (128, 128) for i in range(10)}  # build_synthetic's defaults


def test_the_committed_example_outputs_match_the_embedded_test_split():
    embedded = validated(shipped())
    expected = pipeline_config.expected_test_images(embedded, "synthetic-rain")
    assert expected == {f"{i:04d}.png": (96, 96) for i in range(6)}
    assert len(check_outputs(EXAMPLE_OUTPUTS, expected, "examples")) == 6


# ----------------------------------------------------------------------------------- the config


def shipped(name="config"):
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def validated(config):
    return pipeline_config.validate_pipeline_config(config, SCHEMA, PUBLISHED)


def with_example(config, folder=str(EXAMPLE_OUTPUTS)):
    """``config`` with the example's method class and user outputs (examples/config.yaml)."""
    example = yaml.safe_load((REPO / "examples" / "config.yaml").read_text())
    example["user_outputs"]["median_filter"]["folders"]["synthetic-rain"] = folder
    laid_over = copy.deepcopy(config)
    update_config(laid_over, example)  # as a later --configfile is laid over an earlier one
    return laid_over


@pytest.fixture
def repository_importable(monkeypatch):
    """The repository root on sys.path, as the workflow puts it (examples/ imports from there)."""
    monkeypatch.syspath_prepend(str(REPO))


def test_a_class_method_and_user_outputs_are_rows_with_their_source(repository_importable):
    config = validated(with_example(shipped()))
    assert pipeline_config.table_rows(config, "synthetic-rain") == [
        "irsde", "cnn_baseline", "tiny_cnn", "irsde-fast-sde-10", "median_filter"]
    facts = pipeline_config.table_row_facts(config)
    assert (facts["tiny_cnn"].label, facts["tiny_cnn"].source) == ("Tiny CNN (user example)", "this run")
    assert (facts["median_filter"].label, facts["median_filter"].source) == ("Median filter 3x3 (user outputs)", "user outputs")
    assert not facts["median_filter"].stochastic and not facts["tiny_cnn"].stochastic
    assert set(pipeline_config.row_sampling(config, "synthetic-rain")) == {"irsde", "irsde-fast-sde-10"}
    # the user's method is trained exactly as IR-SDE is, bar the method, its own options and where the run goes
    own = pipeline_config.run_config(config, "synthetic-rain", "tiny_cnn", "d/train", "d/test", "runs/t")
    irsde = pipeline_config.run_config(config, "synthetic-rain", "irsde", "d/train", "d/test", "runs/i")
    assert own["method"] == "examples.tiny_cnn:TinyCNN"
    differing = {key for key in own if own[key] != irsde[key]}
    assert differing == {"name", "method", "output_dir", "options"}
    assert own["options"] == {} and irsde["options"] == {"prediction": "data"}


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["methods"].append("examples.no_such_module:Net"),
         "config key 'methods[3]': method 'examples.no_such_module:Net': cannot import Net from examples.no_such_module"),
        (lambda c: c["methods"].append("baselines.cnn:CNNBaseline"),
         "config key 'methods[3]': 'baselines.cnn:CNNBaseline' has the id 'cnn_baseline' of an earlier entry"),
        (lambda c: c["methods"].append("examples.tiny_cnn"),
         "config key 'methods[3]': 'examples.tiny_cnn' is not valid; choose one of: irsde, denoising_sde, cnn_baseline, "
         "a class named package.module:Class"),
        (lambda c: c["user_outputs"]["median_filter"].pop("label"), "config key 'user_outputs.median_filter.label' is required"),
        (lambda c: c["user_outputs"]["median_filter"].update(folders={}),
         "config key 'user_outputs.median_filter.folders': expected a mapping of keys to values, got {}"),
        (lambda c: c["user_outputs"].update({"Median": c["user_outputs"]["median_filter"]}),
         "config key 'user_outputs': expected an id of lower-case letters, digits and '_', starting with a letter, got 'Median'"),
        (lambda c: c["user_outputs"].update({"tiny_cnn": c["user_outputs"]["median_filter"]}),
         "config key 'user_outputs.tiny_cnn': the id 'tiny_cnn' is taken by methods entry 'examples.tiny_cnn:TinyCNN'"),
        (lambda c: c["user_outputs"].update({"input": c["user_outputs"]["median_filter"]}),
         "config key 'user_outputs.input': the id 'input' is taken by the degraded input"),
        (lambda c: c["user_outputs"]["median_filter"]["folders"].update({"rain100h": "x"}),
         "config key 'user_outputs.median_filter.folders': 'rain100h' is not valid; choose one of: synthetic-noise, synthetic-rain"),
        (lambda c: c["user_outputs"]["median_filter"].update(paper_row="IR-SDE"),
         "unknown config key 'user_outputs.median_filter.paper_row' (valid here: label, folders)"),
    ],
    ids=["unimportable", "duplicate-id", "not-a-class", "no-label", "no-folder", "bad-id", "id-of-a-method",
         "id-of-the-input", "unknown-benchmark", "unknown-key"],
)
def test_a_bad_method_or_user_outputs_entry_is_refused_naming_the_key(repository_importable, edit, expected):
    config = with_example(shipped())
    edit(config)
    with pytest.raises(ValueError) as error:
        validated(config)
    assert expected in str(error.value)


def test_folders_are_checked_against_the_planned_synthetic_split_before_it_is_built(repository_importable, tmp_path):
    folder = outputs_folder(tmp_path, {**{f"{i:04d}.png": (96, 96) for i in range(5)}, "0001.png": (64, 96)})
    config = validated(with_example(shipped(), str(folder)))
    config["paths"]["data"] = str(tmp_path / "data")  # nothing prepared there
    with pytest.raises(OutputsMismatch) as error:
        pipeline_config.check_user_outputs(config)
    message = str(error.value)
    assert message.startswith("config key 'user_outputs.median_filter.folders.synthetic-rain': ")
    assert "missing: 0005.png" in message and "0001.png is 96x64 px, the test image 96x96 px" in message
    config["benchmarks"]["synthetic-rain"]["enabled"] = False
    pipeline_config.check_user_outputs(config)  # a disabled benchmark's folder is not used


def test_a_registered_dataset_is_checked_once_prepared(repository_importable, tmp_path, split):
    config = with_example(shipped())
    config["benchmarks"] = {"rain100h": {"dataset": "Rain100H", "protocol": "irsde-derain"}}
    config["curves"]["benchmark"] = "rain100h"
    config["user_outputs"]["median_filter"]["folders"] = {"rain100h": str(EXAMPLE_OUTPUTS)}
    config = validated(config)
    config["paths"]["data"] = str(tmp_path / "data")
    assert pipeline_config.expected_test_images(config, "rain100h") is None
    pipeline_config.check_user_outputs(config)  # not prepared yet: the import job checks it
    prepared = tmp_path / "data" / "Rain100H"
    prepared.mkdir(parents=True)
    split.rename(prepared / "test")
    (prepared / "dataset.json").write_text("{}")
    with pytest.raises(OutputsMismatch, match=r"0000.png is 96x96 px, the test image 24x24 px"):
        pipeline_config.check_user_outputs(config)


# ----------------------------------------------------------------------------------- tables, regress


def per_image_rows(method, psnr_values):
    return [dict(dataset="b", method=method, image=f"{i:04d}", seed=0, protocol="irsde-derain", metric="psnr", value=v)
            for i, v in enumerate(psnr_values)]


def test_user_rows_are_labelled_with_their_source_in_the_table(repository_importable):
    config = validated(with_example(shipped()))
    per_image = pd.DataFrame(per_image_rows("median_filter", [20.0, 22.0]) + per_image_rows("tiny_cnn", [25.0, 25.0]))
    table = tables.build_table("synthetic-rain", tables.summarize_methods(per_image), None,
                               pipeline_config.table_row_facts(config), "irsde-derain", {}, True)
    rows = table.rows.set_index("id")
    assert rows.loc["median_filter", "method"] == "Median filter 3x3 (user outputs)"
    assert rows.loc["median_filter", "source"] == "user outputs" and rows.loc["median_filter", "psnr"] == 21.0
    assert rows.loc["tiny_cnn", "source"] == "this run"
    assert "| Median filter 3x3 (user outputs) | user outputs | 21.00 |" in tables.render_markdown(table)


def test_user_rows_take_part_in_regress_when_the_reference_has_them():
    current = regression.summary_frame(pd.DataFrame(per_image_rows("median_filter", [20.0, 22.0])), "b")
    reference = current.assign(value=current["value"] + 1.0)
    comparison = regression.compare(current, reference, {"psnr": 0.5})
    assert comparison.set_index("method").loc["median_filter", "status"] == "REGRESSED"
    assert regression.compare(current, reference.iloc[0:0], {"psnr": 0.5})["status"].tolist() == ["new"]
