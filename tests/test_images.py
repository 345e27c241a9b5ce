"""irsde's one image loader: prepare, train, restore and evaluate refuse the same files by name."""

import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from irsde.cli import main
from irsde.data.loaders import PairedTestDataset, PairedTrainDataset
from irsde.data.prepare import PairProblem, load_rgb8
from irsde.evaluation import evaluate
from irsde.images import ImageFileError, image_size, list_images, read_rgb8, read_uint8
from irsde.nets import ConditionalUNet
from tests.support.metrics import write_split

SMALL_SDE = ["--T", "2", "--max-sigma", "10", "--schedule", "cosine", "--eps", "0.005"]


def error_line(stderr: str) -> str:
    """The CLI's error: exactly one line (progress bars aside)."""
    errors = [line for line in stderr.splitlines() if line.startswith("irsde ") and ": error: " in line]
    assert len(errors) == 1, stderr
    return errors[0]


def png16(path, array: np.ndarray):
    """A 16-bit RGB(A) PNG written by hand (Pillow cannot write one)."""
    height, width, channels = array.shape
    rows = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2 if channels == 3 else 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def deep_image(path, kind: str, size=(40, 40)):
    """An image of ``size`` (h, w) deeper than 8 bits: 16-bit grey, 16-bit RGB or 32-bit float."""
    rng = np.random.default_rng(0)
    if kind == "rgb16":
        return png16(path.with_suffix(".png"), rng.integers(0, 65536, (*size, 3)))
    if kind == "grey16":
        Image.fromarray(rng.integers(0, 65536, size).astype(np.uint16)).save(path.with_suffix(".png"))
        return path.with_suffix(".png")
    Image.fromarray(rng.random(size).astype(np.float32)).save(path.with_suffix(".tif"))
    return path.with_suffix(".tif")


DEEP = ["rgb16", "grey16", "float32"]


@pytest.fixture
def split(tmp_path):
    return write_split(tmp_path / "data" / "toy" / "test")


def replace_with_deep(split, folder: str, kind: str):
    """Replace img-0 of ``split/folder`` by a deep image of the same size; its partner in the
    other folder is renamed to the same file name (GT and LQ names are paired)."""
    target = split / folder / "img-0.png"
    height, width = image_size(target)
    target.unlink()
    deep = deep_image(split / folder / "img-0", kind, (height, width))
    partner = split / ("LQ" if folder == "GT" else "GT")
    shutil.move(partner / "img-0.png", partner / deep.name)
    return deep


@pytest.mark.parametrize("kind", DEEP)
def test_the_loader_refuses_deep_images_by_name(tmp_path, kind):
    path = deep_image(tmp_path / "deep", kind)
    for read in (read_uint8, read_rgb8, image_size):
        with pytest.raises(ImageFileError, match=f"{path} is a .*(16|32)-bit.*convert it to 8-bit RGB"):
            read(path)


def test_rgb16_is_not_truncated_by_prepare(tmp_path):
    path = png16(tmp_path / "gt.png", np.full((6, 6, 3), 40000))
    with pytest.raises(PairProblem, match=r"gt.png is a 16-bit image \(stored as RGB;16B\)"):
        load_rgb8(path)


@pytest.mark.parametrize("kind", DEEP)
def test_evaluate_refuses_deep_ground_truth(split, tmp_path, kind, capsys):
    deep = replace_with_deep(split, "GT", kind)
    code = main(["evaluate", "--restored", str(split / "LQ"), "--gt", str(split / "GT"), "--protocol", "rgb-full",
                 "--metrics", "psnr,ssim", "--method", "input", "--dataset", "toy", "--seed", "0",
                 "--out", str(tmp_path / "m.csv")])
    error = error_line(capsys.readouterr().err)
    assert code == 2 and str(deep) in error and "8-bit" in error
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("kind", DEEP)
def test_training_refuses_deep_ground_truth_before_the_first_step(split, kind):
    deep = replace_with_deep(split, "GT", kind)
    with pytest.raises(ImageFileError, match=str(deep)):
        PairedTrainDataset(split, crop_size=16)
    with pytest.raises(ImageFileError, match=str(deep)):
        PairedTestDataset(split)[0]


@pytest.mark.parametrize("kind", DEEP)
def test_restore_refuses_a_deep_degraded_image_and_writes_nothing(split, tmp_path, kind, capsys):
    deep = replace_with_deep(split, "LQ", kind)
    weights = tmp_path / "net.pth"
    torch.save(ConditionalUNet(nf=8, depth=2).state_dict(), weights)
    out = tmp_path / "restored"
    code = main(["restore", "--weights", str(weights), "--dataset", str(split), "--out", str(out), *SMALL_SDE])
    error = error_line(capsys.readouterr().err)
    assert code == 2 and str(deep) in error and "8-bit" in error
    assert not list(out.rglob("*.png"))


def test_two_images_with_one_name_are_refused_not_picked(split, tmp_path, capsys):
    Image.open(split / "GT" / "img-1.png").save(split / "GT" / "img-1.jpg")
    with pytest.raises(ImageFileError, match="img-1.jpg, img-1.png"):
        list_images(split / "GT")
    with pytest.raises(ImageFileError, match="keep exactly one"):
        evaluate(split / "LQ", split / "GT", "rgb-full", "input", "toy", 0, metrics=["psnr"], progress=False)
