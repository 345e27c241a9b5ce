"""Tests for irsde.nets: checkpoint layout, loader, shapes and the computation's building blocks."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from irsde.nets import (
    CheckpointMismatchError,
    ConditionalUNet,
    build_net,
    build_net_from_checkpoint,
    infer_architecture,
    load_weights,
    pad_to_multiple,
)
from irsde.nets.blocks import ChannelLayerNorm, LinearAttention, ResBlock, SinusoidalTimeEmbedding
from irsde.nets.weight_files import CHECKPOINT_WRAPPER_KEYS

TIME_KEY_MARKERS = ("time_mlp.", ".mlp.")


def small_net(seed=0, **kwargs):
    torch.manual_seed(seed)
    config = dict(nf=8, depth=2)
    config.update(kwargs)
    return ConditionalUNet(**config).eval()


def random_pair(shape, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)


def save(tmp_path, obj, name="weights.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def assert_same_weights(net_a, net_b):
    state_a, state_b = net_a.state_dict(), net_b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


# ------------------------------------------------------------------ layout of the published files


@pytest.mark.parametrize("manifest", ["conditional_unet_nf64_depth4.json", "conditional_unet_nf32_depth4.json"])
def test_state_dict_layout_equals_published_manifest(reference_dir, manifest):
    reference = json.loads((reference_dir / manifest).read_text())
    with torch.device("meta"):
        net = ConditionalUNet(**reference["config"])
    layout = [(name, list(tensor.shape)) for name, tensor in net.state_dict().items()]
    expected = [(name, shape) for name, shape in reference["state_dict"]]
    assert sorted(layout) == sorted(expected)
    assert layout == expected  # same order too
    assert sum(p.numel() for p in net.parameters()) == reference["parameters"]
    assert infer_architecture(net.state_dict()) == dict(
        reference["config"], time_conditioned=True, attn_head_dim=32, conditional=True, mid_attention="linear"
    )


DENOISING_OPTIONS = dict(conditional=False, mid_attention="full")
"""What makes the Denoising-SDE/ODE network out of the conditional U-Net (docs/network.md#the-denoising-network)."""


def test_denoising_layout_equals_the_authors_manifest(reference_dir):
    reference = json.loads((reference_dir / "denoising_unet_nf64_depth4.json").read_text())
    with torch.device("meta"):
        net = ConditionalUNet(**reference["config"], **DENOISING_OPTIONS)
    layout = [(name, list(tensor.shape)) for name, tensor in net.state_dict().items()]
    assert layout == [(name, shape) for name, shape in reference["state_dict"]]  # names, shapes, order
    assert sum(p.numel() for p in net.parameters()) == reference["parameters"]


def test_a_file_with_the_denoising_layout_is_recognised_and_loads_strictly(reference_dir, tmp_path):
    """A state_dict made from nothing but the manifest's names and shapes (as the authors'
    training would save it) builds the unconditional, full-attention network and loads strict."""
    reference = json.loads((reference_dir / "denoising_unet_nf64_depth4.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state_dict = {name: torch.randn(shape, generator=generator, dtype=torch.float16) for name, shape in reference["state_dict"]}
    path = save(tmp_path, state_dict)
    assert infer_architecture(state_dict) == dict(
        reference["config"], time_conditioned=True, attn_head_dim=32, **DENOISING_OPTIONS
    )
    net = build_net_from_checkpoint(path)
    assert (net.conditional, net.mid_attention) == (False, "full")
    loaded = net.state_dict()
    assert list(loaded) == list(state_dict)
    for name in ("init_conv.weight", "mid_attn.fn.fn.to_out.weight", "final_conv.bias"):
        assert torch.equal(loaded[name], state_dict[name].float()), name
    load_weights(net, path)  # the strict loader with its mismatch report accepts it too


def test_unconditional_network_sees_xt_alone_and_refuses_mu():
    torch.manual_seed(0)
    net = ConditionalUNet(nf=8, depth=2, **DENOISING_OPTIONS).eval()
    assert net.init_conv.weight.shape[1] == 3
    xt, mu = random_pair((2, 3, 12, 10))
    with torch.no_grad():
        out = net(xt, None, 5)
    assert out.shape == xt.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="unconditional"):
        net(xt, mu, 5)
    with pytest.raises(ValueError, match="same shape"):
        small_net()(xt, None, 5)


def test_full_attention_is_softmax_attention_over_positions():
    torch.manual_seed(0)
    block = ConditionalUNet(nf=8, depth=2, mid_attention="full").mid_attn.fn.fn
    x = torch.randn(2, 32, 3, 5)
    heads, positions = 4, 15
    q, k, v = (part.reshape(2, heads, 32, positions) for part in block.to_qkv(x).chunk(3, dim=1))
    weights = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) / 32**0.5, dim=-1)
    expected = torch.einsum("bhij,bhdj->bhdi", weights, v).reshape(2, heads * 32, 3, 5)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.to_out(expected), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="mid_attention"):
        ConditionalUNet(nf=8, depth=2, mid_attention="sparse")


def test_untimed_variant_has_exactly_the_timed_keys_minus_time_layers():
    timed = small_net().state_dict()
    untimed = small_net(time_conditioned=False).state_dict()
    assert not [name for name in untimed if any(marker in name for marker in TIME_KEY_MARKERS)]
    time_keys = {name for name in timed if any(marker in name for marker in TIME_KEY_MARKERS)}
    assert time_keys and set(untimed) == set(timed) - time_keys
    assert infer_architecture(untimed)["time_conditioned"] is False


# ------------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("shape", [(1, 3, 17, 23), (2, 3, 5, 7), (1, 3, 1, 1), (1, 3, 2, 9), (1, 3, 16, 8)])
def test_output_has_input_size(shape):
    net = small_net(depth=3)  # pads to multiples of 8: most shapes here are smaller or odd
    xt, mu = random_pair(shape)
    with torch.no_grad():
        out = net(xt, mu, 7)
    assert out.shape == shape
    assert torch.isfinite(out).all()


def test_other_channel_counts():
    net = small_net(in_nc=1, out_nc=2)
    xt, mu = random_pair((2, 1, 9, 12))
    with torch.no_grad():
        assert net(xt, mu, 3).shape == (2, 2, 9, 12)


def test_time_as_int_zero_d_tensor_and_batch_tensor_agree():
    net = small_net()
    xt, mu = random_pair((2, 3, 12, 10))
    with torch.no_grad():
        as_int = net(xt, mu, 42)
        as_scalar = net(xt, mu, torch.tensor(42))
        as_batch = net(xt, mu, torch.tensor([42, 42], dtype=torch.long))
    assert torch.equal(as_int, as_scalar)
    assert torch.allclose(as_int, as_batch, atol=1e-6)


def test_time_is_per_sample():
    net = small_net()
    xt, mu = random_pair((2, 3, 8, 8))
    with torch.no_grad():
        batched = net(xt, mu, torch.tensor([3, 90]))
        first = net(xt[:1], mu[:1], 3)
        second = net(xt[1:], mu[1:], 90)
        other_time = net(xt[:1], mu[:1], 90)
    assert torch.allclose(batched, torch.cat([first, second]), atol=1e-5)
    assert not torch.allclose(first, other_time, atol=1e-4)


def test_time_of_wrong_length_or_missing_is_an_error():
    net = small_net()
    xt, mu = random_pair((2, 3, 8, 8))
    with pytest.raises(ValueError, match="3 entries for a batch of 2"):
        net(xt, mu, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="needs t"):
        net(xt, mu, None)


def test_untimed_variant_runs_and_ignores_t():
    net = small_net(time_conditioned=False)
    xt, mu = random_pair((2, 3, 11, 6))
    with torch.no_grad():
        without_t = net(xt, mu, None)
        with_t = net(xt, mu, 77)
    assert without_t.shape == xt.shape
    assert torch.equal(without_t, with_t)


def test_forward_is_deterministic_and_seeded_construction_reproducible():
    xt, mu = random_pair((1, 3, 9, 9))
    net = small_net(seed=5)
    with torch.no_grad():
        first, second = net(xt, mu, 10), net(xt, mu, 10)
        rebuilt = small_net(seed=5)(xt, mu, 10)
    assert torch.equal(first, second)
    assert torch.equal(first, rebuilt)


def test_gradients_reach_every_parameter():
    net = small_net().train()
    xt, mu = random_pair((2, 3, 8, 8))
    net(xt, mu, torch.tensor([5, 60])).square().mean().backward()
    no_grad = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_input_is_conditioned_on_difference_and_mu():
    """The stem sees concat(xt - mu, mu): shifting xt alone must change the output."""
    net = small_net()
    xt, mu = random_pair((1, 3, 8, 8))
    with torch.no_grad():
        assert not torch.allclose(net(xt, mu, 4), net(xt + 0.5, mu, 4))
        assert not torch.allclose(net(xt, mu, 4), net(xt, mu + 0.5, 4))


def test_skip_connections_follow_the_published_order():
    """Decoder block 1 gets the encoder's attention output, block 2 the first res block's output;
    the head gets the stem output. Checked at every level with forward hooks."""
    net = small_net(depth=3)
    outputs, inputs = {}, {}

    def keep_output(name):
        return lambda module, args, output: outputs.__setitem__(name, output)

    def keep_input(name):
        return lambda module, args: inputs.__setitem__(name, args[0])

    net.init_conv.register_forward_hook(keep_output("stem"))
    net.final_res_block.register_forward_pre_hook(keep_input("head"))
    for level, (block1, _, attn, _) in enumerate(net.downs):
        block1.register_forward_hook(keep_output(f"down{level}.block1"))
        attn.register_forward_hook(keep_output(f"down{level}.attn"))
    for index, (block1, block2, _, _) in enumerate(net.ups):
        block1.register_forward_pre_hook(keep_input(f"up{index}.block1"))
        block2.register_forward_pre_hook(keep_input(f"up{index}.block2"))
    xt, mu = random_pair((1, 3, 8, 8))
    with torch.no_grad():
        net(xt, mu, 5)
    for index in range(net.depth):
        level = net.depth - 1 - index
        width = outputs[f"down{level}.attn"].shape[1]
        assert torch.equal(inputs[f"up{index}.block1"][:, -width:], outputs[f"down{level}.attn"])
        assert torch.equal(inputs[f"up{index}.block2"][:, -width:], outputs[f"down{level}.block1"])
    assert torch.equal(inputs["head"][:, net.nf :], outputs["stem"])


def test_mismatched_xt_and_mu_shapes_are_an_error():
    with pytest.raises(ValueError, match="same shape"):
        small_net()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9), 1)


# ----------------------------------------------------------------------------------- padding


def test_padding_equals_reflect_pad_when_possible():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).reshape(1, 2, 5, 7)
    assert torch.equal(pad_to_multiple(x, 4), F.pad(x, (0, 1, 0, 3), mode="reflect"))
    assert torch.equal(pad_to_multiple(x[..., :4, :4], 4), x[..., :4, :4])


@pytest.mark.parametrize("height,width", [(1, 1), (1, 5), (2, 3), (3, 16)])
def test_padding_of_tiny_images(height, width):
    x = torch.rand(1, 3, height, width)
    padded = pad_to_multiple(x, 16)
    assert padded.shape == (1, 3, 16, 16)
    assert torch.equal(padded[..., :height, :width], x)
    # every padded value is a copy of an input value (reflection/replication, never zeros)
    assert set(padded.flatten().tolist()) <= set(x.flatten().tolist())


def test_padding_of_two_pixels_reflects_repeatedly():
    x = torch.tensor([[[[1.0, 2.0]]]])
    assert pad_to_multiple(x, 8)[0, 0, 0].tolist() == [1, 2, 1, 2, 1, 2, 1, 2]


# --------------------------------------------------------------------------- building blocks


def test_time_embedding_formula():
    embed = SinusoidalTimeEmbedding(8)
    out = embed(torch.tensor([0, 7]))
    frequencies = [math.exp(-math.log(1e4) * k / 3) for k in range(4)]
    expected = [math.sin(7 * f) for f in frequencies] + [math.cos(7 * f) for f in frequencies]
    assert out.shape == (2, 8)
    assert out[0].tolist() == [0.0] * 4 + [1.0] * 4
    assert torch.allclose(out[1], torch.tensor(expected), atol=1e-6)
    with pytest.raises(ValueError):
        SinusoidalTimeEmbedding(6 + 1)


def test_channel_layer_norm_normalises_each_pixel_over_channels():
    norm = ChannelLayerNorm(6)
    with torch.no_grad():
        norm.g.fill_(2.0)
    out = norm(torch.randn(2, 6, 4, 5) * 3 + 1)
    assert torch.allclose(out.mean(dim=1), torch.zeros(2, 4, 5), atol=1e-5)
    assert torch.allclose(out.var(dim=1, unbiased=False), torch.full((2, 4, 5), 4.0), atol=1e-3)


def test_linear_attention_is_permutation_equivariant_over_positions():
    torch.manual_seed(0)
    attention = LinearAttention(8).eval()
    x = torch.randn(1, 8, 1, 12)
    order = torch.randperm(12)
    with torch.no_grad():
        assert torch.allclose(attention(x)[..., order], attention(x[..., order]), atol=1e-5)


def test_linear_attention_matches_per_head_matrix_formula():
    """softmax of q over features (then * 32**-0.5), of k over positions, v / N; out = (v k^T) q."""
    torch.manual_seed(0)
    attention = LinearAttention(6).eval()
    x = torch.randn(2, 6, 3, 5)
    positions = 15
    with torch.no_grad():
        qkv = attention.to_qkv(x).reshape(2, 3, 4, 32, positions)
        heads = []
        for head in range(4):
            q, k, v = qkv[:, 0, head], qkv[:, 1, head], qkv[:, 2, head]  # (B, 32, N)
            q = q.exp() / q.exp().sum(dim=1, keepdim=True) / math.sqrt(32)
            k = k.exp() / k.exp().sum(dim=2, keepdim=True)
            heads.append((v / positions) @ k.transpose(1, 2) @ q)
        expected = attention.to_out(torch.cat(heads, dim=1).reshape(2, 128, 3, 5))
        assert torch.allclose(attention(x), expected, atol=1e-5)


def test_res_block_with_zero_film_equals_block_without_time():
    torch.manual_seed(0)
    timed, untimed = ResBlock(4, 6, time_dim=8), ResBlock(4, 6, time_dim=None)
    untimed.load_state_dict({k: v for k, v in timed.state_dict().items() if not k.startswith("mlp.")})
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        assert not torch.allclose(timed(x, torch.randn(2, 8)), untimed(x, None))
        timed.mlp[1].weight.zero_()
        timed.mlp[1].bias.zero_()
        assert torch.equal(timed(x, torch.randn(2, 8)), untimed(x, None))


# -------------------------------------------------------------------------------- build_net


def test_build_net_from_config():
    net = build_net({"nf": 8, "depth": 2, "time_conditioned": False})
    assert net.config() == dict(in_nc=3, out_nc=3, nf=8, depth=2, time_conditioned=False, attn_head_dim=32,
                                conditional=True, mid_attention="linear")
    assert build_net(net.config()).config() == net.config()
    denoising = build_net({"nf": 8, "depth": 2, **DENOISING_OPTIONS})
    assert build_net(denoising.config()).config() == denoising.config()


def test_build_net_rejects_unknown_and_missing_keys():
    with pytest.raises(ValueError, match="channels, width"):
        build_net({"nf": 8, "depth": 2, "width": 3, "channels": 1})
    with pytest.raises(KeyError, match="depth"):
        build_net({"nf": 8})


@pytest.mark.parametrize("bad", [dict(nf=0), dict(depth=-1), dict(nf=8.0), dict(depth=True)])
def test_invalid_sizes_are_rejected(bad):
    with pytest.raises(ValueError):
        ConditionalUNet(**dict(dict(nf=8, depth=2), **bad))


# ----------------------------------------------------------------------------- load_weights


def test_plain_checkpoint_round_trip(tmp_path):
    source = small_net(seed=1)
    path = save(tmp_path, source.state_dict())
    target = load_weights(small_net(seed=2), path)
    assert_same_weights(source, target)


@pytest.mark.parametrize("prefix", ["module.", "module._orig_mod."])
def test_prefixed_checkpoint_loads(tmp_path, prefix):
    source = small_net(seed=1)
    path = save(tmp_path, {prefix + k: v for k, v in source.state_dict().items()})
    target = load_weights(small_net(seed=2), path)
    assert_same_weights(source, target)
    xt, mu = random_pair((1, 3, 8, 8))
    with torch.no_grad():
        assert torch.equal(source(xt, mu, 9), target(xt, mu, 9))


@pytest.mark.parametrize("wrapper", CHECKPOINT_WRAPPER_KEYS)
def test_wrapped_checkpoint_loads(tmp_path, wrapper):
    source = small_net(seed=1)
    state = {"module." + k: v for k, v in source.state_dict().items()}
    path = save(tmp_path, {wrapper: state, "iteration": 1000, "optimizer": {"lr": 1e-4}})
    assert_same_weights(source, load_weights(small_net(seed=2), path))


def test_ema_weights_are_preferred_and_key_selects_explicitly(tmp_path):
    raw, ema = small_net(seed=1), small_net(seed=3)
    path = save(tmp_path, {"params": raw.state_dict(), "params_ema": ema.state_dict()})
    assert_same_weights(ema, load_weights(small_net(seed=2), path))
    assert_same_weights(raw, load_weights(small_net(seed=2), path, key="params"))
    with pytest.raises(KeyError, match="'nope'"):
        load_weights(small_net(), path, key="nope")


def test_wrong_width_checkpoint_names_both_architectures(tmp_path):
    path = save(tmp_path, small_net(nf=8, depth=2).state_dict(), "narrow.pth")
    with pytest.raises(CheckpointMismatchError) as error:
        load_weights(small_net(nf=16, depth=2), path)
    message = str(error.value)
    assert "this file was trained with nf=8, depth=2; the network is nf=16, depth=2" in message
    assert str(path) in message
    assert "shape mismatches" in message and "init_conv.weight: file (8, 6, 7, 7) vs network (16, 6, 7, 7)" in message
    assert "... and" in message  # long listings are truncated


def test_wrong_depth_checkpoint_lists_missing_keys(tmp_path):
    path = save(tmp_path, small_net(nf=8, depth=2).state_dict(), "shallow.pth")
    with pytest.raises(CheckpointMismatchError) as error:
        load_weights(small_net(nf=8, depth=3), path)
    message = str(error.value)
    assert "this file was trained with nf=8, depth=2; the network is nf=8, depth=3" in message
    assert "missing keys" in message and "downs.2.0.block1.proj.weight" in message


def test_time_layers_in_file_are_unexpected_for_untimed_net(tmp_path):
    path = save(tmp_path, small_net().state_dict())
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys \(\d+\): time_mlp.1.weight"):
        load_weights(small_net(time_conditioned=False), path)


def test_file_that_is_not_a_unet_is_reported(tmp_path):
    path = save(tmp_path, {"encoder.weight": torch.zeros(2, 2)})
    with pytest.raises(CheckpointMismatchError, match="cannot be inferred"):
        load_weights(small_net(), path)
    with pytest.raises(ValueError, match="holds no state_dict"):
        load_weights(small_net(), save(tmp_path, {"step": 3}, "meta.pth"))


def test_missing_file_names_path_and_download_hint(tmp_path):
    path = tmp_path / "deraining_ours.pth"
    with pytest.raises(FileNotFoundError, match="deraining_ours.pth") as error:
        load_weights(small_net(), path)
    assert "Algolzw/image-restoration-sde" in str(error.value)


def test_build_net_from_checkpoint_infers_architecture(tmp_path):
    source = small_net(seed=4, nf=12, depth=3, out_nc=1, time_conditioned=False)
    path = save(tmp_path, {"state_dict": source.state_dict()})
    rebuilt = build_net_from_checkpoint(path)
    assert rebuilt.config() == dict(in_nc=3, out_nc=1, nf=12, depth=3, time_conditioned=False, attn_head_dim=32,
                                    conditional=True, mid_attention="linear")
    assert_same_weights(source, rebuilt)


def test_build_net_from_checkpoint_rebuilds_an_unconditional_full_attention_network(tmp_path):
    source = small_net(seed=6, nf=8, depth=2, **DENOISING_OPTIONS)
    rebuilt = build_net_from_checkpoint(save(tmp_path, source.state_dict()))
    assert rebuilt.config() == source.config()
    assert_same_weights(source, rebuilt)


def test_attention_width_is_a_network_key_read_back_from_the_weights(tmp_path):
    narrow = small_net(seed=5, nf=8, depth=2, attn_head_dim=2)
    assert narrow.mid_attn.fn.fn.to_qkv.weight.shape[0] == 3 * 4 * 2
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in small_net(nf=8, depth=2).parameters())
    rebuilt = build_net_from_checkpoint(save(tmp_path, narrow.state_dict()))
    assert rebuilt.config()["attn_head_dim"] == 2
    assert_same_weights(narrow, rebuilt)


def test_infer_architecture_needs_stem():
    with pytest.raises(KeyError, match="init_conv.weight"):
        infer_architecture({"final_conv.weight": torch.zeros(3, 8, 3, 3)})
