"""The comparison networks written from their papers: PReNet, DnCNN and FFDNet load the released
files' exact layouts strictly, and compute what the papers describe (checked against a plain
re-statement of each forward pass with torch.nn.functional)."""

import json

import pytest
import torch
from torch.nn import functional as F

from irsde.methods import METHODS
from irsde.nets import CheckpointMismatchError, load_state
from irsde.nets.dncnn import DnCNN, dncnn_layout
from irsde.nets.ffdnet import FFDNet, ffdnet_layout
from irsde.nets.prenet import PReNet, prenet_layout

METHOD_OF = {"prenet-rain100h": "prenet", "dncnn-color-blind": "dncnn", "ffdnet-color": "ffdnet"}


@pytest.fixture(scope="module")
def layouts(reference_dir):
    return json.loads((reference_dir / "released_layouts.json").read_text())["checkpoints"]


def random_state(layout, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {name: 0.05 * torch.randn(shape, generator=generator) for name, shape in layout["state_dict"]}


@pytest.mark.parametrize("checkpoint", sorted(METHOD_OF))
def test_the_released_layout_loads_strictly_through_its_method(checkpoint, layouts):
    """A state dict with exactly the released file's names and shapes: the method reads the
    architecture off it, builds that network and loads it with strict=True."""
    layout = layouts[checkpoint]
    state = random_state(layout)
    method = METHODS[METHOD_OF[checkpoint]]
    options = method.resolve_options({"noise_sigma": 25} if "noise_sigma" in method.options_schema else {}, "test")
    restorer = method.from_weights(state, options, None)
    net = load_state(restorer.build_net(), state, f"{checkpoint}.pth")
    assert [[name, list(t.shape)] for name, t in net.state_dict().items()] == layout["state_dict"]
    assert sum(t.numel() for t in net.parameters()) == layout["parameters"]


def test_a_missing_tensor_is_named_not_ignored(layouts):
    state = random_state(layouts["dncnn-color-blind"])
    del state["model.20.bias"]
    with pytest.raises(CheckpointMismatchError, match=r"missing keys \(1\): model.20.bias"):
        load_state(DnCNN(**dncnn_layout(state)), state, "dncnn.pth")


@pytest.mark.parametrize("reader, other", [(prenet_layout, "dncnn-color-blind"), (dncnn_layout, "prenet-rain100h"),
                                           (ffdnet_layout, "dncnn-color-blind"), (dncnn_layout, "ffdnet-color")])
def test_another_method_s_file_is_refused_by_its_layout(reader, other, layouts):
    with pytest.raises(KeyError, match="not a"):
        reader(random_state(layouts[other]))


def conv(x, net, name):
    return F.conv2d(x, net[f"{name}.weight"], net[f"{name}.bias"], padding=1)


def test_prenet_is_the_papers_recurrent_stage_applied_stages_times():
    torch.manual_seed(0)
    net = PReNet(stages=3, channels=8).eval()
    params = net.state_dict()
    rainy = torch.rand(2, 3, 9, 11)
    hidden = torch.zeros(2, 8, 9, 11)
    cell, estimate = torch.zeros_like(hidden), rainy
    for _ in range(3):
        features = F.relu(conv(torch.cat([rainy, estimate], 1), params, "conv0.0"))
        both = torch.cat([features, hidden], 1)
        i, f = torch.sigmoid(conv(both, params, "conv_i.0")), torch.sigmoid(conv(both, params, "conv_f.0"))
        g, o = torch.tanh(conv(both, params, "conv_g.0")), torch.sigmoid(conv(both, params, "conv_o.0"))
        cell = f * cell + i * g
        hidden = o * torch.tanh(cell)
        x = hidden
        for block in range(1, 6):
            inner = F.relu(conv(F.relu(conv(x, params, f"res_conv{block}.0")), params, f"res_conv{block}.2"))
            x = F.relu(inner + x)
        estimate = conv(x, params, "conv.0") + rainy
    with torch.no_grad():
        assert torch.allclose(net(rainy), estimate, atol=1e-5)
        assert not torch.allclose(net(rainy), _with_stages(params, 2)(rainy), atol=1e-3)  # stages is an option


def _with_stages(params, stages):
    net = PReNet(stages=stages, channels=8).eval()
    net.load_state_dict(params)
    return net


def test_dncnn_subtracts_the_predicted_noise():
    torch.manual_seed(1)
    net = DnCNN(channels=3, features=6, depth=4).eval()
    params = net.state_dict()
    noisy = torch.rand(1, 3, 7, 5)
    x = noisy
    for index in (0, 2, 4):
        x = F.relu(conv(x, params, f"model.{index}"))
    expected = noisy - conv(x, params, "model.6")
    with torch.no_grad():
        assert torch.allclose(net(noisy), expected, atol=1e-6)


def test_ffdnet_works_on_the_four_subimages_with_a_noise_map_and_pads_odd_sizes():
    torch.manual_seed(2)
    net = FFDNet(channels=3, features=6, depth=3).eval()
    params = net.state_dict()
    noisy = torch.rand(1, 3, 7, 9)  # odd: replicate-padded to 8x10
    padded = torch.cat([noisy, noisy[..., -1:, :]], dim=2)
    padded = torch.cat([padded, padded[..., -1:]], dim=3)
    # sub-image (i, j) of channel c is channel 4c + 2i + j (FFDNet's reversible downsampling)
    subimages = torch.stack([padded[:, c, i::2, j::2] for c in range(3) for i in range(2) for j in range(2)], dim=1)
    x = torch.cat([subimages, torch.full((1, 1, 4, 5), 25 / 255)], dim=1)
    x = F.relu(conv(F.relu(conv(x, params, "model.0")), params, "model.2"))
    out = conv(x, params, "model.4")
    clean = torch.zeros(1, 3, 8, 10)
    for c in range(3):
        for i in range(2):
            for j in range(2):
                clean[:, c, i::2, j::2] = out[:, 4 * c + 2 * i + j]
    with torch.no_grad():
        assert torch.allclose(net(noisy, 25 / 255), clean[..., :7, :9], atol=1e-6)
        assert not torch.allclose(net(noisy, 50 / 255), net(noisy, 25 / 255))
