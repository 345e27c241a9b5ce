import pandas as pd
import pytest

from irsde import regression

TOLERANCES = {"psnr": 0.5, "ssim": 0.01, "lpips": 0.02, "fid": 5.0}


def frame(values):
    return pd.DataFrame(
        [{"benchmark": "b", "method": m, "metric": k, "value": v} for (m, k), v in values.items()]
    )


def test_direction_aware_statuses():
    reference = frame({("A", "psnr"): 30.0, ("A", "lpips"): 0.10, ("A", "ssim"): 0.90, ("A", "fid"): 20.0})
    current = frame({("A", "psnr"): 29.0, ("A", "lpips"): 0.05, ("A", "ssim"): 0.905, ("A", "fid"): 26.0})
    result = regression.compare(current, reference, TOLERANCES).set_index("metric")["status"]
    assert result["psnr"] == "REGRESSED"  # dropped 1.0 > 0.5
    assert result["lpips"] == "improved"  # fell 0.05, lower is better
    assert result["ssim"] == "ok"
    assert result["fid"] == "REGRESSED"  # rose 6 > 5
    assert regression.failed(regression.compare(current, reference, TOLERANCES))


def test_within_tolerance_passes_and_missing_rows_fail():
    reference = frame({("A", "psnr"): 30.0, ("B", "psnr"): 25.0})
    assert not regression.failed(regression.compare(frame({("A", "psnr"): 29.6, ("B", "psnr"): 25.0}), reference, TOLERANCES))
    comparison = regression.compare(frame({("A", "psnr"): 30.0}), reference, TOLERANCES)
    assert regression.failed(comparison)
    assert "MISSING" in regression.format_comparison(comparison)


def test_unknown_metric_tolerance_is_named():
    reference = frame({("A", "niqe"): 3.0})
    with pytest.raises(KeyError, match="niqe"):
        regression.compare(reference, reference, TOLERANCES)


def test_format_lists_regressions_first():
    reference = frame({("A", "psnr"): 30.0, ("Z", "psnr"): 30.0})
    text = regression.format_comparison(regression.compare(frame({("A", "psnr"): 30.0, ("Z", "psnr"): 20.0}), reference, TOLERANCES))
    lines = text.splitlines()
    assert lines[1].split()[1] == "Z" and lines[1].endswith("REGRESSED")
    assert lines[-1] == "2 values compared, 1 regressed or missing"


def test_summary_frame_means_per_method(tmp_path):
    per_image = pd.DataFrame({"method": ["A", "A"], "metric": ["psnr", "psnr"], "seed": [0, 0], "value": [1.0, 3.0]})
    assert regression.summary_frame(per_image, "b").iloc[0].to_dict() == {"benchmark": "b", "method": "A", "metric": "psnr", "value": 2.0}


def test_missing_reference_file_says_how_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="current.csv"):
        regression.read_reference(tmp_path / "nope.csv")
