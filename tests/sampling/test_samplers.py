import pytest
import torch

from irsde.sampling import DEFAULT_SEED, SAMPLERS, SamplingResult, sample
from tests.support.sampling import SHAPE, OracleNet


def psnr(image, reference):
    return (10 * torch.log10(1 / (image - reference).square().mean())).item()


def test_posterior_sampler_with_oracle_returns_x0(sde, pair):
    x0, mu = pair
    restored = sample(OracleNet(sde, x0), sde, mu, "posterior", torch.Generator().manual_seed(1)).images
    torch.testing.assert_close(restored, x0, atol=1e-6, rtol=0)


@pytest.mark.parametrize("sampler", ["sde", "ode"])
def test_sde_and_ode_samplers_with_oracle_land_near_x0(sde, pair, sampler):
    x0, mu = pair
    restored = sample(OracleNet(sde, x0), sde, mu, sampler, torch.Generator().manual_seed(1)).images
    assert (restored - x0).abs().max().item() < sde.lam
    assert psnr(restored, x0) > psnr(mu, x0) + 30


def test_posterior_sampler_with_a_wrong_network_does_not_return_x0(sde, pair):
    x0, mu = pair
    restored = sample(lambda xt, m, t: torch.zeros_like(xt), sde, mu, "posterior", torch.Generator()).images
    assert (restored - x0).abs().max().item() > 0.1


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_network_is_evaluated_once_per_step_from_t_to_one(sde, pair, sampler):
    x0, mu = pair
    net = OracleNet(sde, x0)
    result = sample(net, sde, mu, sampler, torch.Generator().manual_seed(1))
    assert isinstance(result, SamplingResult)
    assert result.nfe == sde.T == len(net.steps)
    assert all(t.dtype == torch.int64 and t.shape == (2,) for t in net.steps)
    assert [t[0].item() for t in net.steps] == list(range(sde.T, 0, -1))
    assert all(t[0] == t[1] for t in net.steps)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_restore_tracks_no_gradients(sde, pair, sampler):
    x0, mu = pair
    net = OracleNet(sde, x0)
    restored = sample(net, sde, mu, sampler, torch.Generator().manual_seed(1)).images
    assert not restored.requires_grad and not any(net.grad_enabled)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("sampler", ["sde", "posterior"])
def test_stochastic_samplers_are_deterministic_for_a_generator(sde, pair, sampler):
    x0, mu = pair
    net = lambda xt, m, t: 0.5 * (xt - m)  # noqa: E731  an imperfect network, so noise matters
    first = sample(net, sde, mu, sampler, torch.Generator().manual_seed(5)).images
    again = sample(net, sde, mu, sampler, torch.Generator().manual_seed(5)).images
    other = sample(net, sde, mu, sampler, torch.Generator().manual_seed(6)).images
    assert first.equal(again)
    assert not first.equal(other)


def test_ode_sampler_depends_on_the_generator_only_through_its_start(sde, pair):
    _, mu = pair
    net = lambda xt, m, t: 0.5 * (xt - m)  # noqa: E731
    first = sample(net, sde, mu, "ode", torch.Generator().manual_seed(5)).images
    assert first.equal(sample(net, sde, mu, "ode", torch.Generator().manual_seed(5)).images)
    assert not first.equal(sample(net, sde, mu, "ode", torch.Generator().manual_seed(6)).images)


def test_default_generator_is_seeded_with_default_seed(sde, pair):
    _, mu = pair
    net = lambda xt, m, t: 0.5 * (xt - m)  # noqa: E731
    default = sample(net, sde, mu).images
    assert default.equal(sample(net, sde, mu, generator=torch.Generator().manual_seed(DEFAULT_SEED)).images)


def test_restore_follows_the_dtype_and_device_of_mu(sde, pair):
    x0, mu = (image.double() for image in pair)
    restored = sample(OracleNet(sde, x0), sde, mu, "posterior", torch.Generator().manual_seed(1)).images
    assert restored.dtype == torch.float64 and restored.device == mu.device and restored.shape == SHAPE
    torch.testing.assert_close(restored, x0, atol=1e-12, rtol=0)


def test_progress_bar_is_optional(sde, pair, capsys):
    x0, mu = pair
    sample(OracleNet(sde, x0), sde, mu, "posterior", progress=True).images
    assert "posterior sampler" in capsys.readouterr().err
    sample(OracleNet(sde, x0), sde, mu, "posterior", progress=False).images
    assert capsys.readouterr().err == ""


def test_unknown_sampler_names_valid_ones(sde, pair):
    _, mu = pair
    with pytest.raises(ValueError, match="'ddim'.*ode, posterior, sde"):
        sample(lambda xt, m, t: xt, sde, mu, "ddim").images
    with pytest.raises(ValueError, match="unknown sampler 'euler'; choose one of: fast-ode, fast-sde, ode, posterior, sde"):
        SAMPLERS["euler"]


def test_restore_requires_an_image_batch(sde):
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        sample(lambda xt, m, t: xt, sde, torch.zeros(3, 16, 16)).images
