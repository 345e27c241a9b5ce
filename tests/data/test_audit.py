import csv

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from irsde.data.audit import audit_overlap, find_overlaps
from irsde.data.synthetic import build_synthetic
from irsde.images import write_png


def scene(seed: int, width: int = 150, height: int = 110) -> np.ndarray:
    """A photo-like random image: smooth blobs at several scales plus some edges."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3))
    for sigma, weight in ((12, 1.0), (5, 0.5), (2, 0.25)):
        image += weight * ndimage.gaussian_filter(rng.standard_normal((height, width, 3)), (sigma, sigma, 0))
    for _ in range(4):  # a few hard-edged rectangles
        top, left = rng.integers(0, height - 20), rng.integers(0, width - 20)
        image[top:top + rng.integers(8, 40), left:left + rng.integers(8, 60)] += rng.normal(0, 0.3, 3)
    image = (image - image.min()) / np.ptp(image)
    return (image * 255).astype(np.uint8)


def resized(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((int(width * factor), int(height * factor)), Image.Resampling.BICUBIC))


@pytest.fixture
def planted(tmp_path):
    """12 training GTs; 7 test GTs of which 4 are planted copies of training backgrounds."""
    canvases = [scene(seed) for seed in range(12)]
    for index, canvas in enumerate(canvases):
        write_png(tmp_path / "train" / "GT" / f"norain-{index + 1}.png", canvas[:100, :140])
    height, width = 100, 140
    tests = {
        "exact": canvases[2][:100, :140],
        "shifted": canvases[5][6:6 + height, 8:8 + width],  # another crop of the same scene
        "rescaled": resized(canvases[7][:100, :140], 0.6),  # a lower-resolution copy
        "zoomed": resized(canvases[9][7:93, 10:130], 140 / 120),  # central part, enlarged
        "new-1": scene(100)[:100, :140],
        "new-2": scene(101)[:100, :140],
        "new-3": scene(102)[:100, :140],
    }
    noise = np.random.default_rng(1)
    for name, image in tests.items():
        jitter = noise.normal(0, 2, image.shape)  # e.g. a re-encoded copy
        write_png(tmp_path / "test" / "GT" / f"{name}.png", np.clip(image + jitter, 0, 255).astype(np.uint8))
    return tmp_path


def test_planted_duplicates_are_found_with_their_source(planted):
    rows = {row.test_image: row for row in find_overlaps(planted / "train" / "GT", planted / "test" / "GT", progress=False)}
    expected = {"exact.png": "norain-3.png", "shifted.png": "norain-6.png", "rescaled.png": "norain-8.png",
                "zoomed.png": "norain-10.png"}
    assert {name for name, row in rows.items() if row.duplicate} == set(expected)
    for name, match in expected.items():
        assert rows[name].train_match == match and rows[name].score >= 0.9, rows[name]
    assert rows["exact.png"].score > 0.99
    assert max(rows[f"new-{i}.png"].score for i in (1, 2, 3)) < 0.6
    assert rows["zoomed.png"].train_zoom < 1.0  # found through the zoom search


def test_audit_of_a_prepared_dataset_writes_one_csv_row_per_test_image(planted):
    out = planted / "report" / "overlap.csv"
    audit_overlap("", planted, out, progress=False)  # the fixture folder is laid out as <root>/<name>/
    with open(out) as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 7
    assert list(rows[0]) == ["test_image", "train_match", "score", "test_zoom", "train_zoom", "shift_y", "shift_x", "duplicate"]
    assert sum(row["duplicate"] == "True" for row in rows) == 4


def test_synthetic_benchmark_has_no_train_test_overlap(tmp_path):
    build_synthetic("synthetic-noise", tmp_path, seed=0, train_count=14, test_count=6, size=64, progress=False)
    rows = audit_overlap("synthetic-noise", tmp_path, tmp_path / "audit.csv", progress=False)
    assert len(rows) == 6 and not any(row.duplicate for row in rows)
