"""Denoising-SDE / Denoising-ODE: the steps of irsde.sampling.denoising (oracle networks) and the method."""

import math

import pytest
import torch

from irsde.losses import denoising_loss
from irsde.sampling import denoise
from irsde.sampling.denoising import clean_estimate, ode_step
from irsde.losses import draw_training_batch
from irsde.methods import METHODS, Shard, build_method, row_facts
from irsde.methods.denoising_sde import DenoisingSDEMethod
from irsde.nets import build_net_from_checkpoint
from irsde.sde import MeanRevertingSDE, start_step
from irsde.train import train
from irsde.train.checkpoint import RunLayout
from irsde.train.config import validate_config
from tests.support.train import assert_same_tensors, load_tensors, tiny_config

PAPER = dict(schedule="cosine", T=100, max_sigma=70, eps=0.04)
SIGMA = 25


def paper_sde(**changes):
    return MeanRevertingSDE(**{**PAPER, **changes})


class PointMassOracle:
    """The exact noise of x_t = x0 + sigmabar_t z for the one clean image x0; counts its calls."""

    def __init__(self, sde, x0):
        self.sde, self.x0, self.calls = sde, x0, 0

    def __call__(self, xt, mu, t):
        assert mu is None  # the network is unconditional
        self.calls += 1
        return (xt - self.x0) / self.sde.marginal_std(t)


def noisy_image(seed=0, shape=(2, 3, 12, 10)):
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=generator)
    return x0, x0 + SIGMA / 255 * torch.randn(shape, generator=generator)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_exact_noise_of_one_clean_image_returns_it_in_t_star_steps(sampler):
    sde = paper_sde()
    x0, noisy = noisy_image()
    assert (noisy < 0).any() and (noisy > 1).any()  # unclipped, as the paper feeds it
    oracle = PointMassOracle(sde, x0)
    result = denoise(oracle, sde, noisy, SIGMA, sampler, torch.Generator().manual_seed(1))
    assert result.nfe == oracle.calls == 22
    torch.testing.assert_close(result.images, x0, rtol=0, atol=2e-6)


def test_exact_ode_step_agrees_with_the_papers_euler_step_to_first_order():
    """The paper's probability-flow step x_t + 1/2 sigma_t^2 a_t score dt (docs/sde.md#denoising-sde-and-denoising-ode) is the
    first-order form of ours: their gap shrinks like the square of the step (T 100 -> 1000)."""
    gaps = []
    for T in (100, 1000):
        sde = paper_sde(T=T).to(dtype=torch.float64)
        x0, xt = (part.double() for part in noisy_image(seed=2))
        t = torch.full((2,), T // 4, dtype=torch.long)
        eps_hat = (xt - x0) / sde.marginal_std(t)
        exact = ode_step(sde, xt, None, eps_hat, t, None)
        c = sde.coefficients
        a = math.exp(-2 * c.thetas_bar[T // 4] * c.dt)
        euler = xt + 0.5 * c.sigmas[T // 4] ** 2 * a * sde.score_from_noise(eps_hat, t) * c.dt
        gaps.append(((exact - euler).abs().max() / (exact - xt).abs().max()).item())
    assert gaps[0] < 0.05 and gaps[1] < gaps[0] / 5


def test_loss_is_the_papers_euler_step_against_the_posterior_mean_around_x0():
    sde = paper_sde(T=20)
    x0 = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    batch = draw_training_batch(sde, x0, x0, torch.Generator().manual_seed(4))
    torch.testing.assert_close(batch.xt, x0 + sde.marginal_std(batch.t) * batch.noise)  # the mean never moves
    eps_hat = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    c = sde.coefficients
    t = batch.t.view(-1, 1, 1, 1)
    a = torch.exp(-2 * torch.as_tensor(c.thetas_bar)[t] * c.dt).float()
    score = -eps_hat / sde.marginal_std(batch.t)
    predicted = batch.xt + 0.5 * sde.sigmas[t] ** 2 * (1 + a) * score * c.dt  # docs/sde.md#denoising-sde-and-denoising-ode
    coef_xt = torch.as_tensor(c.posterior_coef_xt, dtype=torch.float32)[batch.t].view(-1, 1, 1, 1)
    optimal = x0 + coef_xt * (batch.xt - x0)
    expected = (predicted - optimal).abs().flatten(1).mean(1).mean()
    torch.testing.assert_close(denoising_loss(sde, eps_hat, batch), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(clean_estimate(sde, batch.xt, batch.noise, batch.t), x0)  # the true noise gives x0


# ---------------------------------------------------------------------------------- the method


def method_config(tmp_path, **sections):
    base = tiny_config(tmp_path, method="denoising_sde", data={"noise_sigma": SIGMA},
                       sde={"schedule": "cosine", "T": 20, "max_sigma": 70, "eps": 0.04})
    for section, values in sections.items():
        base[section].update(values)
    return base


def test_the_method_and_its_ode_row_are_registered_with_their_facts():
    assert METHODS["denoising_sde"] is DenoisingSDEMethod
    facts = row_facts()
    assert (facts["denoising_sde"].paper_row, facts["denoising_sde"].stochastic) == ("Denoising-SDE", True)
    assert (facts["denoising_ode"].paper_row, facts["denoising_ode"].stochastic) == ("Denoising-ODE", False)
    assert [row.sampler for row in DenoisingSDEMethod.sampler_rows] == ["ode"]


def test_method_trains_on_clean_images_with_fresh_noise_from_the_run_generator(tmp_path):
    method = build_method(validate_config(method_config(tmp_path)))
    net = method.build_net()
    assert not net.conditional and net.mid_attention == "full"
    gt = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    first = method.loss(net, gt, torch.rand_like(gt), torch.Generator().manual_seed(7), Shard.whole(2))
    other_lq = method.loss(net, gt, torch.zeros_like(gt), torch.Generator().manual_seed(7), Shard.whole(2))
    assert torch.equal(first, other_lq)  # the degraded images play no part
    generator = torch.Generator().manual_seed(7)
    draws = [method.loss(net, gt, gt, generator, Shard.whole(2)) for _ in range(2)]
    assert not torch.equal(draws[0], draws[1])  # new t and noise every iteration


def test_method_restores_in_t_star_steps_with_either_sampler(tmp_path):
    method = build_method(validate_config(method_config(tmp_path)))
    assert method.settings()["sampler"] == "sde" and method.settings()["nfe"] == start_step(method.sde, SIGMA)
    calls = []
    net = method.build_net().eval()

    def counting(xt, mu, t):
        calls.append(int(t[0]))
        return net(xt, mu, t)

    lq = torch.rand(1, 3, 8, 8)
    ode = method.with_sampler("ode")
    out = ode.restore(counting, lq, torch.Generator().manual_seed(0))
    assert out.shape == lq.shape and calls == list(range(method.first_step, 0, -1))
    again = ode.restore(net, lq, torch.Generator().manual_seed(5))
    torch.testing.assert_close(out, again)  # the ODE draws nothing
    sde_a = method.restore(net, lq, torch.Generator().manual_seed(0))
    sde_b = method.restore(net, lq, torch.Generator().manual_seed(1))
    assert not torch.equal(sde_a, sde_b)
    with pytest.raises(ValueError, match="t\\* = "):
        method.with_sampler("ode", steps=method.first_step + 1)
    with pytest.raises(ValueError, match="fast-sde"):
        method.with_sampler("fast-sde")


def test_method_needs_the_noise_level_and_one_the_sde_can_hold(tmp_path):
    config = method_config(tmp_path)
    config["data"].pop("noise_sigma")
    with pytest.raises(ValueError, match="data.noise_sigma"):
        build_method(validate_config(config))
    with pytest.raises(ValueError, match="above the SDE's max_sigma"):
        build_method(validate_config(method_config(tmp_path / "loud", data={"noise_sigma": 90})))


def test_training_resumes_bit_identically(tmp_path):
    whole = train(method_config(tmp_path / "whole", train={"iterations": 6}), progress=False)
    split = method_config(tmp_path / "split", train={"iterations": 3})
    train(split, progress=False)
    split["train"]["iterations"] = 6
    resumed = train(split, progress=False)
    assert resumed.resumed_from == 3
    for kind in ("net", "ema"):
        assert_same_tensors(load_tensors(whole.output_dir / f"weights/{kind}_6.pth"),
                            load_tensors(resumed.output_dir / f"weights/{kind}_6.pth"))
    rebuilt = build_net_from_checkpoint(RunLayout(whole.output_dir).weights("ema", "latest"))
    assert (rebuilt.conditional, rebuilt.mid_attention) == (False, "full")
