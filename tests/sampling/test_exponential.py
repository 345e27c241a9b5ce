"""fast-ode / fast-sde (irsde.sampling.exponential), sampling with fewer steps (irsde.sampling.steps,
MeanRevertingSDE.observed_at) and the unchanged paper samplers at T steps."""

import math
from functools import partial

import numpy as np
import pytest
import torch

from irsde.sampling.exponential import ExponentialIntegrator, integrator_coefficients
from irsde.sampling.steps import SPACINGS, select_steps
from irsde.sampling import SAMPLERS, Sampler, sample
from irsde.sampling.samplers import ode_step, posterior_step, sde_step
from irsde.sde import MeanRevertingSDE, standard_normal_like

SHAPE = (2, 3, 8, 8)
FAST = ["fast-ode", "fast-sde"]
ORACLE_STEPS = [1, 2, 5, 10, 20, 100]


@pytest.fixture
def sde():
    return MeanRevertingSDE(T=100, max_sigma=10)


def scene(dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(SHAPE, generator=generator, dtype=dtype)
    mu = x0 + 0.2 * torch.randn(SHAPE, generator=generator, dtype=dtype)
    return x0, mu


class PointMassOracle:
    """The exact noise for data that is one image x0: (x_t - m_t(x0)) / sigmabar_t; counts calls."""

    def __init__(self, sde, x0):
        self.sde, self.x0, self.steps = sde, x0, []

    def __call__(self, xt, mu, t):
        self.steps.append(int(t[0]))
        sde = self.sde.to(dtype=xt.dtype)
        return (xt - sde.marginal_mean(self.x0, mu, t)) / sde.marginal_std(t)


class GaussianData:
    """Data x0 ~ N(mean, spread^2) per pixel: the exact noise prediction and the exact
    probability-flow ODE map are known in closed form at any integrated rate Lambda."""

    def __init__(self, sde, mean, mu, spread=0.1):
        self.sde, self.mean, self.mu, self.spread = sde, mean, mu, spread
        self.rates = sde.coefficients.thetas_bar * sde.coefficients.dt  # Lambda_t, t = 0..T

    def coefficients(self, rate):
        alpha = math.exp(-rate)
        return alpha, self.sde.lam * math.sqrt(max(0.0, -math.expm1(-2 * rate)))

    def noise(self, x, rate):
        alpha, std = self.coefficients(rate)
        return std * (x - self.mu - alpha * (self.mean - self.mu)) / (alpha**2 * self.spread**2 + std**2)

    def __call__(self, xt, mu, t):
        return self.noise(xt, self.rates[int(t[0])])

    def ode_velocity(self, x, rate):
        """dx/dLambda of the probability-flow ODE: -(x - mu) + lambda^2 eps / sigmabar (finite at 0)."""
        alpha, std = self.coefficients(rate)
        return -(x - self.mu) + self.sde.lam**2 * (x - self.mu - alpha * (self.mean - self.mu)) / (
            alpha**2 * self.spread**2 + std**2
        )

    def exact_flow(self, x, rate_from, rate_to=0.0):
        """The ODE keeps (y - alpha ybar) / sqrt(alpha^2 spread^2 + sigmabar^2) fixed along a path."""
        (a_from, s_from), (a_to, s_to) = self.coefficients(rate_from), self.coefficients(rate_to)
        ybar = self.mean - self.mu
        scale = math.sqrt(a_to**2 * self.spread**2 + s_to**2) / math.sqrt(a_from**2 * self.spread**2 + s_from**2)
        return self.mu + a_to * ybar + scale * (x - self.mu - a_from * ybar)

    def rk4(self, x, rate_from, substeps=4000):
        """A fine-step reference: classical Runge-Kutta on Lambda from rate_from down to 0."""
        h = -rate_from / substeps
        rate = rate_from
        for step in range(substeps):
            k1 = self.ode_velocity(x, rate)
            k2 = self.ode_velocity(x + h / 2 * k1, rate + h / 2)
            k3 = self.ode_velocity(x + h / 2 * k2, rate + h / 2)
            k4 = self.ode_velocity(x + h * k3, rate + h)
            x, rate = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), rate_from * (1 - (step + 1) / substeps)
        return x


def first_order(stochastic):
    name = "fast-sde-1" if stochastic else "fast-ode-1"
    return Sampler(name, partial(ExponentialIntegrator, stochastic=stochastic, order=1), stochastic, name)


# --- point-mass oracle: exact for any number of steps -----------------------------------------


@pytest.mark.parametrize("steps", ORACLE_STEPS)
@pytest.mark.parametrize("sampler", FAST)
def test_fast_samplers_return_x0_with_an_oracle_in_steps_calls(sde, sampler, steps):
    x0, mu = scene()
    oracle = PointMassOracle(sde, x0)
    result = sample(oracle, sde, mu, sampler, torch.Generator().manual_seed(1), steps=steps)
    assert result.nfe == steps == len(oracle.steps)
    assert oracle.steps == select_steps(sde.coefficients, steps)[::-1] and oracle.steps[0] == sde.T
    # float32: x0_hat at step t multiplies the rounding of x_t - mu - sigmabar eps_hat (one ulp of
    # values near 1, 2^-24) by exp(thetabar_t dt), up to 1/eps = 200 when the last call is at T.
    tolerance = 2 * torch.finfo(torch.float32).eps / sde.eps
    torch.testing.assert_close(result.images, x0, atol=tolerance, rtol=0)


@pytest.mark.parametrize("sampler", [*FAST, "posterior"])
def test_data_prediction_samplers_are_exact_with_an_oracle_for_every_step_count(sde, sampler):
    x0, mu = scene(torch.float64)
    oracle = PointMassOracle(sde, x0)
    for steps in range(1, sde.T + 1):
        restored = sample(oracle, sde, mu, sampler, torch.Generator().manual_seed(steps), steps=steps).images
        torch.testing.assert_close(restored, x0, atol=1e-11, rtol=0)
    assert len(oracle.steps) == sde.T * (sde.T + 1) // 2


def test_euler_samplers_with_fewer_steps_are_not_exact(sde):
    x0, mu = scene()
    restored = sample(PointMassOracle(sde, x0), sde, mu, "ode", torch.Generator().manual_seed(1), steps=10).images
    assert (restored - x0).abs().max() > 0.01


# --- against the exact probability-flow ODE ---------------------------------------------------


@pytest.fixture
def gaussian(sde):
    sde64 = sde.to(dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    mean = torch.rand(SHAPE, generator=generator, dtype=torch.float64)
    mu = mean + 0.2 * torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    return GaussianData(sde64, mean, mu)


def start_of(data, seed):
    """x_T as sample() draws it from a generator seeded with ``seed``."""
    return data.sde.sample_prior(data.mu, standard_normal_like(data.mu, torch.Generator().manual_seed(seed)))


def ode_error(data, sampler, steps, spacing="time"):
    restored = sample(data, data.sde, data.mu, sampler, torch.Generator().manual_seed(7), steps=steps, spacing=spacing).images
    exact = data.exact_flow(start_of(data, 7), data.rates[-1])
    return (restored - exact).abs().max().item()


def test_fine_step_reference_matches_the_closed_form_flow(gaussian):
    start = start_of(gaussian, 7)
    reference = gaussian.rk4(start, gaussian.rates[-1])
    torch.testing.assert_close(reference, gaussian.exact_flow(start, gaussian.rates[-1]), atol=1e-10, rtol=0)


def test_fast_ode_at_T_steps_agrees_with_the_exact_ode_solution(gaussian):
    # Second-order multistep: global error ~ C h^2 with h ~ 0.1-0.3 per step in log-SNR here,
    # plus the first-order last step (t = 1 -> 0, where sigmabar_1 is 0.3% of lambda). Measured
    # 1.3e-4; 1e-3 is a quarter of one 8-bit grey level (1/255) and 25x below the Euler `ode`.
    fast, euler = ode_error(gaussian, "fast-ode", 100), ode_error(gaussian, "ode", 100)
    assert fast < 1e-3
    assert euler > 25 * fast
    assert ode_error(gaussian, first_order(False), 100) < euler


@pytest.mark.parametrize(("sampler", "order"), [("fast-ode", 2), (first_order(False), 1)])
def test_ode_integrators_converge_at_their_order(gaussian, sampler, order):
    # Uniform-in-t grids: 100 steps halve every one of the 50 steps, which divides the global
    # error of a method of order p by 2^p (measured: 4.05 for fast-ode, 1.98 for first order).
    coarse, fine = ode_error(gaussian, sampler, 50), ode_error(gaussian, sampler, 100)
    assert 0.85 * 2**order < coarse / fine < 1.2 * 2**order


def spread_of_samples(sde, sampler, steps, shape=(4, 3, 32, 32), spread=0.1):
    """Restore Gaussian data with its exact network; mean and std of (x0 - mean) / spread over all
    pixels, which are 0 and 1 for a sampler that draws from the data distribution."""
    sde64 = sde.to(dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    mean = torch.rand(shape, generator=generator, dtype=torch.float64)
    mu = mean + 0.2 * torch.randn(shape, generator=generator, dtype=torch.float64)
    data = GaussianData(sde64, mean, mu, spread)
    restored = sample(data, sde64, mu, sampler, torch.Generator().manual_seed(7), steps=steps).images
    standardized = (restored - mean) / spread
    return standardized.mean().item(), standardized.std().item()


@pytest.mark.parametrize("sampler", FAST)
def test_fast_samplers_draw_from_the_data_distribution(sde, sampler):
    # 12288 pixels: the std of a correct sampler is 1 within about 1%.
    centre, std = spread_of_samples(sde, sampler, sde.T)
    assert abs(centre) < 0.03 and abs(std - 1) < 0.03
    # With few steps the second-order samplers keep the spread far better than first order,
    # which shrinks samples toward the mean (smoother images; measured 0.76 vs 1.12 at 10 steps).
    _, second = spread_of_samples(sde, sampler, 10)
    _, first = spread_of_samples(sde, first_order(SAMPLERS[sampler].stochastic), 10)
    assert first < 0.9 and abs(second - 1) < abs(first - 1)


# --- relations between samplers ---------------------------------------------------------------


def imperfect_net(xt, mu, t):
    return 0.5 * (xt - mu) + 0.01 * t.view(-1, 1, 1, 1)


@pytest.mark.parametrize("steps", [3, 10, 100])
def test_first_order_fast_sde_is_the_posterior_sampler_between_visited_steps(sde, steps):
    _, mu = scene(torch.float64)
    fast = sample(imperfect_net, sde, mu, first_order(True), torch.Generator().manual_seed(2), steps=steps).images
    posterior = sample(imperfect_net, sde, mu, "posterior", torch.Generator().manual_seed(2), steps=steps).images
    torch.testing.assert_close(fast, posterior, atol=1e-9, rtol=1e-9)


def test_second_order_steps_use_the_previous_prediction(sde):
    _, mu = scene()
    for stochastic, name in [(False, "fast-ode"), (True, "fast-sde")]:
        second = sample(imperfect_net, sde, mu, name, torch.Generator().manual_seed(2), steps=10).images
        first = sample(imperfect_net, sde, mu, first_order(stochastic), torch.Generator().manual_seed(2), steps=10).images
        assert (second - first).abs().max() > 1e-3


def test_integrator_coefficients_at_the_last_step_return_the_prediction(sde):
    for stochastic in (False, True):
        table = integrator_coefficients(sde.coefficients, stochastic, order=2)
        assert (table.state[1], table.prediction[1], table.slope[1], table.noise[1]) == (0.0, 1.0, 0.0, 0.0)
        assert table.slope[sde.T] == 0.0 and np.all(np.isfinite(table.slope[1:]))
        assert np.all(table.state[1:] >= 0) and np.all(table.prediction[1:] > 0)
    with pytest.raises(ValueError, match="order"):
        integrator_coefficients(sde.coefficients, False, order=3)


# --- the paper's samplers are unchanged at T steps --------------------------------------------


@pytest.mark.parametrize(("name", "step"), [("sde", sde_step), ("ode", ode_step), ("posterior", posterior_step)])
@pytest.mark.parametrize("steps", [None, 100])
def test_paper_samplers_at_T_steps_are_the_step_by_step_loop_bit_for_bit(sde, name, step, steps):
    _, mu = scene()
    generator = torch.Generator().manual_seed(4)
    x = sde.sample_prior(mu, standard_normal_like(mu, generator))
    for t in range(sde.T, 0, -1):
        t_batch = torch.full((SHAPE[0],), t, dtype=torch.int64)
        noise = standard_normal_like(x, generator) if SAMPLERS[name].stochastic else None
        x = step(sde, x, mu, imperfect_net(x, mu, t_batch), t_batch, noise)
    assert torch.equal(sample(imperfect_net, sde, mu, name, torch.Generator().manual_seed(4), steps=steps).images, x)


# --- step selection and the coarser SDE -------------------------------------------------------


@pytest.mark.parametrize("spacing", sorted(SPACINGS))
def test_selected_steps_are_distinct_increasing_and_end_at_T(sde, spacing):
    for count in range(1, sde.T + 1):
        steps = select_steps(sde.coefficients, count, spacing)
        assert len(steps) == count and steps[-1] == sde.T and steps[0] >= 1
        assert all(b > a for a, b in zip(steps, steps[1:]))
    assert select_steps(sde.coefficients, None, spacing) == list(range(1, sde.T + 1))


def test_spacings_place_steps_where_their_quantity_is_even(sde):
    coefficients = sde.coefficients
    assert select_steps(coefficients, 10, "time") == list(range(10, 101, 10))
    rates = coefficients.thetas_bar * coefficients.dt
    chosen = select_steps(coefficients, 4, "thetabar")
    # each chosen step's rate is the one nearest k/4 of the total
    for k, step in enumerate(chosen, start=1):
        assert np.argmin(np.abs(rates[1:] - k * rates[-1] / 4)) + 1 == step
    logsnr = select_steps(coefficients, 5, "logsnr")
    assert logsnr[0] == 1 and logsnr[-1] == sde.T


def test_step_count_and_spacing_are_validated(sde):
    _, mu = scene()
    for bad in (0, sde.T + 1, 2.5, True):
        with pytest.raises(ValueError, match=r"steps .* must be an integer in 1\.\.T=100"):
            sample(imperfect_net, sde, mu, "fast-sde", steps=bad)
    with pytest.raises(ValueError, match="'cubic'.*logsnr, thetabar, time"):
        sample(imperfect_net, sde, mu, "fast-sde", steps=5, spacing="cubic")


def test_observed_sde_has_the_coefficients_between_the_visited_steps(sde):
    steps = [3, 17, 40, 77, 100]
    coarse = sde.observed_at(steps)
    fine, seen = sde.coefficients, coarse.coefficients
    assert coarse.T == 5 and coarse.observed_steps == tuple(steps) and "observed_steps" in repr(coarse)
    assert seen.dt == pytest.approx(fine.dt, rel=1e-12)
    np.testing.assert_allclose(seen.thetas_bar * seen.dt, fine.thetas_bar[[0, *steps]] * fine.dt, rtol=1e-12)
    np.testing.assert_allclose(seen.sigma_bars, fine.sigma_bars[[0, *steps]], rtol=1e-12)
    assert sde.observed_at(range(1, sde.T + 1)) is sde
    for bad in ([3, 17], [0, 100], [50, 40, 100], []):
        with pytest.raises(ValueError, match="strictly increasing"):
            sde.observed_at(bad)
