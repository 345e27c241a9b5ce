"""Test support for restoration and metrics: LPIPS/FID weight files with the real layouts but
random values, written into a temporary TORCH_HOME (for tests only: real runs never see these
files); small image folders and splits; a stand-in method that restores with a plain function."""

from pathlib import Path

import numpy as np
import pytest
import torch

import irsde  # noqa: F401  (makes torchvision importable before lpips / pytorch_fid)
from irsde.images import write_png
from irsde.methods import Method
from irsde.metrics import ALEXNET_WEIGHTS, FID_INCEPTION_WEIGHTS
from irsde.restoration import restore_folder


def write_alexnet_weights(path: Path) -> None:
    """torchvision's AlexNet state_dict (random init), saved under the file name torchvision loads."""
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(0)
        state = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(state, path)


def write_fid_inception_weights(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch-fid's FID Inception state_dict (random init), built by pytorch-fid's own
    ``fid_inception_v3`` with its weight download replaced by the freshly built network's state."""
    from pytorch_fid import inception

    built = {}
    real_constructor = inception._inception_v3

    def capture(*args, **kwargs):
        built["net"] = real_constructor(*args, **kwargs)
        return built["net"]

    with monkeypatch.context() as patch, torch.random.fork_rng():
        torch.manual_seed(0)
        patch.setattr(inception, "_inception_v3", capture)
        patch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: built["net"].state_dict())
        state = inception.fid_inception_v3().state_dict()
    torch.save(state, path)


@pytest.fixture(scope="session")
def generated_torch_home(tmp_path_factory) -> Path:
    """A TORCH_HOME whose hub/checkpoints holds generated AlexNet and FID-Inception weights.

    Test modules import this fixture, which makes one fixture per module; the files are
    written once per session into the session's base temporary folder and then reused.
    """
    home = tmp_path_factory.getbasetemp() / "generated_torch_home"
    done = home / "complete"
    if not done.exists():
        checkpoints = home / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        write_alexnet_weights(checkpoints / ALEXNET_WEIGHTS.filename)
        with pytest.MonkeyPatch.context() as monkeypatch:
            write_fid_inception_weights(checkpoints / FID_INCEPTION_WEIGHTS.filename, monkeypatch)
        done.touch()
    return home


@pytest.fixture
def torch_home(generated_torch_home, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(generated_torch_home))
    return generated_torch_home


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "empty_torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def textured_images(count: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth random colour images (uint8), distinct from one another."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size)
    images = []
    for _ in range(count):
        fx, fy, phase = rng.uniform(1, 6, 3), rng.uniform(1, 6, 3), rng.uniform(0, 6.3, 3)
        channels = [0.5 + 0.5 * np.sin(2 * np.pi * (fx[c] * grid[None, :] + fy[c] * grid[:, None]) + phase[c]) for c in range(3)]
        images.append(np.rint(np.stack(channels, axis=-1) * 255).astype(np.uint8))
    return images


def distort(image: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Add Gaussian noise of std ``noise`` (0-255 scale), clip, round."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(image + rng.normal(0, noise, image.shape)), 0, 255).astype(np.uint8)


def write_folder(folder: Path, images: list[np.ndarray], names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{index:03d}.png" for index in range(len(images))]
    for name, image in zip(names, images):
        write_png(folder / name, image)
    return folder


def write_split(split: Path, sizes=(40, 40, 40, 32, 32)) -> Path:
    """A prepared split ``split/{GT,LQ}``: GT textures, LQ = noisy GT, names img-<i>.png."""
    gts = [textured_images(1, size=size, seed=index)[0] for index, size in enumerate(sizes)]
    names = [f"img-{index}.png" for index in range(len(gts))]
    write_folder(split / "GT", gts, names)
    write_folder(split / "LQ", [distort(image, 15, seed=i) for i, image in enumerate(gts)], names)
    return split


class StandIn(Method):
    """A stand-in method for restoration tests: restores with a plain function ``(lq, generator)``
    and has a network without parameters."""

    id = "stand_in"
    label = "stand-in"
    stochastic = True

    def __init__(self, function):
        self.function = function

    @classmethod
    def from_config(cls, config):
        raise NotImplementedError("the stand-in is never trained")

    def build_net(self):
        return torch.nn.Identity()

    def loss(self, net, gt, lq, generator, shard):
        raise NotImplementedError("the stand-in is never trained")

    def restore(self, net, lq, generator):
        return self.function(lq, generator)


def restore_with(function, lq_paths, out_dir, **options):
    """``restore_folder`` with a :class:`StandIn` method restoring with ``function``."""
    return restore_folder(StandIn(function), torch.nn.Identity(), lq_paths, out_dir, **options)


def noisy_restorer(lq, generator):
    """A stand-in restoration: LQ plus a little noise from the generator (can leave [0,1])."""
    return lq * 1.1 - 0.02 + 0.03 * torch.randn(lq.shape, generator=generator)
