"""Scoring restored sets into tidy tables under named protocols."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from irsde.evaluation import COLUMNS, LPIPS_ON_IMAGES, SET_IMAGE, evaluate, match_pairs, summarize
from irsde.images import list_images, read_image, read_uint8
from irsde.metrics import ALEXNET_WEIGHTS, LPIPSMetric, PerceptualWeightsMissing, psnr, ssim
from irsde.restoration import RestoredSet
from tests.support.metrics import noisy_restorer, restore_with, textured_images, write_folder, write_split


@pytest.fixture
def split_dir(tmp_path):
    """A prepared split: GT textures, LQ = noisy GT; two image sizes."""
    return write_split(tmp_path / "split")


# ----------------------------------------------------------------------------------- evaluate


@pytest.fixture
def restored_set(split_dir, tmp_path):
    return restore_with(noisy_restorer, list_images(split_dir / "LQ"), tmp_path / "restored", seed=0, progress=False)


def test_evaluate_psnr_ssim_rows_follow_the_protocol(restored_set, split_dir):
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "stand-in", "toy", 0,
                     metrics=["psnr", "ssim"], progress=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 10 and set(frame["metric"]) == {"psnr", "ssim"}
    assert set(frame["protocol"]) == {"irsde-derain"} and set(frame["method"]) == {"stand-in"}
    row = frame[(frame["image"] == "img-3.png") & (frame["metric"] == "ssim")].iloc[0]
    restored, gt = read_uint8(restored_set.png_dir / "img-3.png"), read_uint8(split_dir / "GT" / "img-3.png")
    assert row["value"] == ssim(restored, gt, crop_border=4, y_channel=True)
    rgb = evaluate(restored_set.png_dir, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["psnr"], progress=False)
    assert rgb[rgb["image"] == "img-3.png"]["value"].iloc[0] == psnr(restored, gt, crop_border=0, y_channel=False)


def test_evaluate_lpips_uses_the_float_output_under_paper_protocols(restored_set, split_dir, torch_home):
    on_float = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                        device="cpu", download_weights=False, progress=False)
    on_png = evaluate(restored_set.root, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["lpips"],
                      device="cpu", download_weights=False, progress=False)
    metric = LPIPSMetric(device="cpu", download=False)
    gt = read_image(split_dir / "GT" / "img-0.png")
    expected_float = metric(np.load(restored_set.float_dir / "img-0.npy"), gt)
    expected_png = metric(read_image(restored_set.png_dir / "img-0.png"), gt)
    value = lambda frame: frame[frame["image"] == "img-0.png"]["value"].iloc[0]  # noqa: E731
    assert value(on_float) == pytest.approx(expected_float, rel=1e-5)
    assert value(on_png) == pytest.approx(expected_png, rel=1e-5)
    assert expected_float != pytest.approx(expected_png, rel=1e-4)


def test_lpips_on_float_needs_the_float_folder(restored_set, split_dir, torch_home):
    with pytest.raises(FileNotFoundError, match="unclamped float output"):
        evaluate(restored_set.png_dir, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                 download_weights=False, progress=False)


def test_a_plain_image_folder_gets_lpips_on_its_images_under_float_protocols(split_dir, torch_home):
    # e.g. the degraded input, or another method that only delivers PNGs
    frame = evaluate(split_dir / "LQ", split_dir / "GT", "irsde-derain", "input", "toy", 0, metrics=["lpips"],
                     device="cpu", download_weights=False, progress=False)
    metric = LPIPSMetric(device="cpu", download=False)
    expected = metric(read_image(split_dir / "LQ" / "img-0.png"), read_image(split_dir / "GT" / "img-0.png"))
    assert frame[frame["image"] == "img-0.png"]["value"].iloc[0] == pytest.approx(expected, rel=1e-5)


def test_lpips_on_images_is_noted_only_where_the_protocol_reads_floats(split_dir, restored_set, torch_home):
    def notes(folder, protocol):
        frame = evaluate(folder, split_dir / "GT", protocol, "m", "toy", 0, metrics=["lpips"], device="cpu",
                         download_weights=False, progress=False)
        assert frame["value"].notna().all()
        return set(frame["note"])

    assert notes(split_dir / "LQ", "irsde-derain") == {LPIPS_ON_IMAGES}
    assert notes(restored_set.root, "irsde-derain") == {""}  # its float output was used
    assert notes(split_dir / "LQ", "rgb-full") == {""}  # the protocol's own rule: PNGs


def test_missing_weights_raise_or_become_noted_nans(restored_set, split_dir, empty_torch_home, caplog):
    with pytest.raises(PerceptualWeightsMissing, match=ALEXNET_WEIGHTS.filename):
        evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                 download_weights=False, progress=False)
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0,
                     metrics=["psnr", "lpips", "fid"], allow_missing_weights=True, download_weights=False, progress=False)
    lpips_rows, fid_rows = frame[frame["metric"] == "lpips"], frame[frame["metric"] == "fid"]
    assert len(lpips_rows) == 5 and lpips_rows["value"].isna().all()
    assert list(fid_rows["image"]) == [SET_IMAGE] and fid_rows["value"].isna().all()
    # notes (table footnotes) name $TORCH_HOME/hub/checkpoints, never this machine's folder; the log does
    assert all(ALEXNET_WEIGHTS.filename in note and "$TORCH_HOME/hub/checkpoints" in note
               and str(empty_torch_home) not in note for note in lpips_rows["note"])
    assert str(empty_torch_home / "hub" / "checkpoints") in caplog.text
    assert "pt_inception-2015-12-05-6726825d.pth" in fid_rows["note"].iloc[0]
    assert frame[frame["metric"] == "psnr"]["value"].notna().all()


def test_evaluate_rejects_unknown_metrics_and_protocols(restored_set, split_dir):
    with pytest.raises(ValueError, match="valid: psnr, ssim, lpips, fid"):
        evaluate(restored_set.root, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["niqe"], progress=False)
    with pytest.raises(ValueError, match="irsde-derain"):
        evaluate(restored_set.root, split_dir / "GT", "paper", "m", "toy", 0, progress=False)


def test_match_pairs_names_missing_and_extra_images(tmp_path):
    restored = write_folder(tmp_path / "r", textured_images(2, size=16), ["a.png", "b.png"])
    gt = write_folder(tmp_path / "g", textured_images(2, size=16), ["a.png", "c.png"])
    with pytest.raises(ValueError, match=r"1 missing \(c\).*1 without ground truth \(b\)"):
        match_pairs(restored, gt)


@pytest.mark.slow
def test_evaluate_all_metrics_with_generated_weights(restored_set, split_dir, torch_home, tmp_path):
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, device="cpu",
                     download_weights=False, fid_cache_dir=tmp_path / "cache", progress=False)
    counts = frame.groupby("metric").size().to_dict()
    assert counts == {"psnr": 5, "ssim": 5, "lpips": 5, "fid": 1}
    assert frame["value"].notna().all() and frame[frame["metric"] == "fid"]["value"].iloc[0] > 0


# ----------------------------------------------------------------------------------- summary


def per_image_rows(seed, values, metric="psnr", method="m"):
    return pd.DataFrame({"dataset": "toy", "method": method, "image": [f"{i}.png" for i in range(len(values))],
                         "seed": seed, "protocol": "rgb-full", "metric": metric, "value": values, "note": ""})


def test_summary_means_over_images_then_seeds():
    frame = pd.concat([per_image_rows(0, [30.0, 32.0]), per_image_rows(1, [28.0, 28.0]),
                       per_image_rows(0, [0.5, 0.7], metric="ssim")])
    summary = summarize(frame).set_index("metric")
    assert summary.loc["psnr", "mean"] == pytest.approx(29.5)
    assert summary.loc["psnr", "std"] == pytest.approx(math.sqrt(4.5))  # sample std of 31 and 28
    assert summary.loc["psnr", "seeds"] == 2 and summary.loc["psnr", "images"] == 2
    assert summary.loc["ssim", "mean"] == pytest.approx(0.6) and math.isnan(summary.loc["ssim", "std"])
    assert list(summarize(frame).columns) == ["dataset", "method", "protocol", "metric", "mean", "std", "seeds", "images", "note"]


def test_summary_keeps_the_note_of_an_unavailable_metric():
    rows = per_image_rows(0, [np.nan], metric="fid").assign(image=SET_IMAGE, note="FID weights missing: ...")
    summary = summarize(rows).iloc[0]
    assert math.isnan(summary["mean"]) and summary["note"] == "FID weights missing: ..." and summary["images"] == 0


def test_restored_set_without_manifest_reads_as_empty(tmp_path):
    assert RestoredSet(tmp_path).manifest() == {}
    (tmp_path / "restore.json").write_text(json.dumps({"seed": 4}))
    assert RestoredSet(tmp_path).manifest() == {"seed": 4}


def test_a_truncating_protocol_scores_floor_255x_of_the_float_output_not_the_rounded_png(restored_set, split_dir):
    """PReNet's convention (np.uint8(255 * out)) differs from rounding by up to one level per pixel."""
    image = sorted((restored_set.root / "float").iterdir())[0]
    output = np.load(image)
    gt = read_uint8(split_dir / "GT" / f"{image.stem}.png")
    rows = {}
    for name in ("irsde-derain-nocrop", "prenet-matlab"):
        frame = evaluate(restored_set.root, split_dir / "GT", name, "m", "d", 0, metrics=["psnr"], progress=False)
        rows[name] = frame[frame["image"] == f"{image.stem}.png"]["value"].iloc[0]
    truncated = np.floor(np.clip(output, 0, 1) * 255).astype(np.uint8)
    assert rows["prenet-matlab"] == pytest.approx(psnr(truncated, gt, crop_border=0, y_channel=True))
    assert rows["irsde-derain-nocrop"] == pytest.approx(psnr(read_uint8(restored_set.png_dir / f"{image.stem}.png"), gt,
                                                              crop_border=0, y_channel=True))
    assert rows["prenet-matlab"] != rows["irsde-derain-nocrop"]


def test_the_protocol_table_puts_each_variant_beside_the_published_row():
    from irsde.methods import row_facts
    from irsde.report.sensitivity import build_protocol_table, render_protocol_markdown

    def rows(protocol, psnr_value):
        return [dict(dataset="d", method="prenet-rain100h", image=f"{i}.png", seed=0, protocol=protocol, metric=metric,
                     value=psnr_value + i if metric == "psnr" else 0.9, note="") for i in (0, 2) for metric in ("psnr", "ssim")]

    per_image = pd.DataFrame(rows("irsde-derain", 29.0) + rows("prenet-matlab", 28.5), columns=COLUMNS)
    published = pd.DataFrame([{"method": "PReNet", "psnr": 29.46, "ssim": 0.899}])
    table = build_protocol_table(per_image, ["irsde-derain", "prenet-matlab"], row_facts(), published)
    row = table.set_index("id").loc["prenet-rain100h"]
    assert row["psnr irsde-derain"] == 30.0 and row["psnr prenet-matlab"] == 29.5 and row["psnr published"] == 29.46
    text = render_protocol_markdown(table, "rain100h", ["irsde-derain", "prenet-matlab"])
    assert "| PReNet (released weights, RainTrainH) | released weights, this run | 30.00 | 0.9000 | 29.50 |" in text
    assert "'prenet-matlab': PReNet's own evaluation" in text
    with pytest.raises(ValueError, match="no PSNR/SSIM under protocol 'irsde-derain-nocrop'"):
        build_protocol_table(per_image, ["irsde-derain-nocrop"], row_facts(), published)
