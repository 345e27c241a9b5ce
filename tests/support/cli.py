"""Shared by the tests that run the command line: its one-line errors, a small saved network and
a restore of it with a two-step SDE."""

import torch

from irsde.cli import main
from irsde.nets import ConditionalUNet

SMALL_SDE = ["--T", "2", "--max-sigma", "10", "--schedule", "cosine", "--eps", "0.005"]


def error_line(stderr: str) -> str:
    """The CLI's error: exactly one line (progress bars aside), no traceback."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("irsde ") and ": error: " in line]
    assert len(errors) == 1, stderr
    return errors[0]


def save_net(path, state=None, **config):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(state if state is not None else ConditionalUNet(**(config or dict(nf=8, depth=2))).state_dict(), path)
    return path


def restore(weights, split, out, *extra):
    return main(["restore", "--weights", str(weights), "--dataset", str(split), "--out", str(out), *SMALL_SDE, *extra])
