import json
import math

import numpy as np
import pytest
import torch

from irsde.schedules import get_thetas
from irsde.sde import MeanRevertingSDE, lambda_from_max_sigma, sde_coefficients, standard_normal_like, start_step

SHAPE = (2, 3, 16, 16)


def load_reference(reference_dir):
    return json.loads((reference_dir / "sde_cosine_T100.json").read_text())


def images(seed, shape=SHAPE, dtype=torch.float32):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- coefficients -----------------------------------------------------------------------------


def test_derived_coefficients_equal_reference(reference_dir):
    reference = load_reference(reference_dir)
    config = reference["config"]
    lam = lambda_from_max_sigma(config["max_sigma"])
    assert lam == pytest.approx(reference["max_sigma"], rel=1e-12)
    coefficients = sde_coefficients(np.array(reference["thetas"]), lam, config["eps"])
    assert coefficients.dt == pytest.approx(reference["dt"], rel=1e-6)
    np.testing.assert_allclose(coefficients.thetas_bar, reference["thetas_bar"], rtol=1e-6)
    np.testing.assert_allclose(coefficients.sigmas, reference["sigmas"], rtol=1e-6)
    # The reference evaluated 1 - exp(-2 thetabar_t dt) in float32; compare that variance
    # fraction (sigmabar_t / lambda)^2 to 1e-6 relative up to float32's absolute resolution.
    np.testing.assert_allclose(
        (coefficients.sigma_bars / lam) ** 2,
        (np.array(reference["sigma_bars"]) / lam) ** 2,
        rtol=1e-6,
        atol=2.0**-23,
    )


def test_paper_sde_tensors_equal_reference(reference_dir):
    reference = load_reference(reference_dir)
    sde = MeanRevertingSDE(**reference["config"])
    assert sde.T == 100 and sde.lam == pytest.approx(10 / 255)
    assert sde.dt == pytest.approx(reference["dt"], rel=1e-6)
    for name in ("thetas", "sigmas", "thetas_bar", "sigma_bars"):
        stored = getattr(sde, name)
        assert stored.dtype == torch.float32 and stored.shape == (101,)
        # the reference's own float32 rounding bounds the agreement near t = 0
        np.testing.assert_allclose(stored.numpy(), reference[name], rtol=1e-4, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(stored.numpy(), getattr(sde.coefficients, name), rtol=1e-7, err_msg=name)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
@pytest.mark.parametrize("eps", [0.005, 0.05, 1e-4])
def test_terminal_mean_weight_is_eps(schedule, eps):
    sde = MeanRevertingSDE(schedule=schedule, T=37, max_sigma=30, eps=eps)
    c = sde.coefficients
    assert math.exp(-c.thetas_bar[-1] * sde.dt) == pytest.approx(eps, rel=1e-12)
    assert c.sigma_bars[-1] == pytest.approx(sde.lam * math.sqrt(1 - eps**2), rel=1e-12)
    assert c.thetas_bar[0] == 0 and c.sigma_bars[0] == 0
    np.testing.assert_allclose(c.thetas_bar[1:], np.cumsum(get_thetas(schedule, 37)[1:]), rtol=1e-12)
    np.testing.assert_allclose(c.sigmas**2, 2 * sde.lam**2 * c.thetas, rtol=1e-12)


@pytest.mark.parametrize("max_sigma, lam", [(10, 10 / 255), (30.0, 30 / 255), (1, 1 / 255), (0.2, 0.2)])
def test_max_sigma_of_one_or_more_is_on_255_scale(max_sigma, lam):
    assert MeanRevertingSDE(T=4, max_sigma=max_sigma).lam == pytest.approx(lam, rel=1e-15)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eps": 0}, r"eps .*\(0, 1\)"),
        ({"eps": 1}, r"eps .*\(0, 1\)"),
        ({"eps": -0.1}, r"eps .*\(0, 1\)"),
        ({"max_sigma": 0}, r"max_sigma .*> 0"),
        ({"max_sigma": -10}, r"max_sigma .*> 0"),
        ({"max_sigma": float("nan")}, r"max_sigma .*> 0"),
        ({"T": 0}, r"T .*in 1\.\.10000"),
        ({"schedule": "sigmoid"}, r"'sigmoid'.*constant, cosine, linear"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MeanRevertingSDE(**kwargs)


# --- forward process --------------------------------------------------------------------------


def test_monte_carlo_forward_sde_matches_marginals():
    """Euler-Maruyama with 40 sub-steps per step (theta_t, sigma_t constant over step t, which
    is what the discrete thetabar_t dt integrates) from a fixed x0; its discretisation bias is
    below 0.1 standard errors here, so the tolerance is statistical (5 standard errors)."""
    sde = MeanRevertingSDE(T=100, max_sigma=0.2)
    c = sde.coefficients
    particles, substeps, x0, mu = 10_000, 40, 0.9, 0.1
    generator = torch.Generator().manual_seed(1)
    x = torch.full((particles,), x0, dtype=torch.float64)
    z = torch.empty_like(x)
    h = sde.dt / substeps
    checked = (10, 25, 40, 55, 70)
    for t in range(1, max(checked) + 1):
        for _ in range(substeps):
            torch.randn(particles, generator=generator, dtype=torch.float64, out=z)
            x.mul_(1 - c.thetas[t] * h).add_(c.thetas[t] * h * mu).add_(z, alpha=c.sigmas[t] * math.sqrt(h))
        if t in checked:
            image = torch.full((1, 1, 1, 1), x0, dtype=torch.float64)
            mean = sde.marginal_mean(image, torch.full_like(image, mu), t).item()
            std = sde.marginal_std(t).item()
            assert abs(x.mean().item() - mean) < 5 * std / math.sqrt(particles), t
            assert abs(x.std().item() / std - 1) < 5 / math.sqrt(2 * particles), t


def test_sample_xt_is_mean_plus_scaled_noise_and_x0_from_noise_inverts_it():
    sde = MeanRevertingSDE()
    x0, mu, noise = images(0), images(1), torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([3, 90])
    xt = sde.sample_xt(x0, mu, t, noise)
    torch.testing.assert_close(xt, sde.marginal_mean(x0, mu, t) + sde.marginal_std(t) * noise)
    torch.testing.assert_close(sde.x0_from_noise(xt, mu, noise, t), x0, atol=2e-5, rtol=0)
    torch.testing.assert_close(sde.noise_from_x0(xt, mu, x0, t), noise, atol=1e-4, rtol=0)
    assert sde.sample_xt(x0, mu, 0, noise).equal(x0)
    with pytest.raises(ValueError, match="t must be in 1..100"):
        sde.noise_from_x0(xt, mu, x0, 0)  # sigmabar_0 = 0: no noise to imply


def test_score_from_noise_is_gaussian_marginal_score():
    sde = MeanRevertingSDE().to(dtype=torch.float64)
    x0, mu = images(0, dtype=torch.float64), images(1, dtype=torch.float64)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    t = torch.tensor([1, 57])
    xt = sde.sample_xt(x0, mu, t, noise)
    expected = -(xt - sde.marginal_mean(x0, mu, t)) / sde.marginal_std(t) ** 2
    torch.testing.assert_close(sde.score_from_noise(noise, t), expected)


# --- reverse process --------------------------------------------------------------------------


def test_reverse_steps_follow_the_drift_formulas():
    sde = MeanRevertingSDE(T=50, max_sigma=20).to(dtype=torch.float64)
    xt, mu, score = (images(seed, dtype=torch.float64) for seed in (4, 5, 6))
    t = 17
    theta, sigma, dt = sde.coefficients.thetas[t], sde.coefficients.sigmas[t], sde.dt
    torch.testing.assert_close(
        sde.reverse_sde_mean(xt, mu, score, t), xt - (theta * (mu - xt) - sigma**2 * score) * dt
    )
    torch.testing.assert_close(
        sde.reverse_ode_step(xt, mu, score, t), xt - (theta * (mu - xt) - 0.5 * sigma**2 * score) * dt
    )
    assert sde.reverse_sde_noise_std(t).item() == pytest.approx(sigma * math.sqrt(dt))


def test_optimal_reverse_state_at_first_step_is_x0():
    sde = MeanRevertingSDE()
    x0, mu, xt = images(0), images(1), images(2)
    assert sde.optimal_reverse_mean(xt, x0, mu, 1).equal(x0)
    assert sde.posterior_std(1).item() == 0
    assert sde.coefficients.posterior_coef_xt[1] == 0 and sde.coefficients.posterior_coef_x0[1] == 1


@pytest.mark.parametrize("t", [2, 25, 55, 90])
def test_brute_force_conditional_of_forward_transition(t):
    """Simulate (x_{t-1}, x_t) from x0 with the exact forward transition, keep the samples whose
    x_t falls in a narrow window, and compare x_{t-1} there with x*_{t-1} and posterior_std."""
    sde = MeanRevertingSDE(T=100, max_sigma=10).to(dtype=torch.float64)
    c = sde.coefficients
    rng = np.random.default_rng(t)
    x0, mu, n = 0.8, 0.3, 2_000_000
    a = math.exp(-c.thetas[t] * sde.dt)
    previous = mu + (x0 - mu) * c.decay_bar[t - 1] + c.sigma_bars[t - 1] * rng.standard_normal(n)
    current = mu + (previous - mu) * a + sde.lam * math.sqrt(1 - a**2) * rng.standard_normal(n)
    posterior_std = sde.posterior_std(t).item()
    for offset in (-1.0, 0.7):
        centre = mu + (x0 - mu) * c.decay_bar[t] + offset * c.sigma_bars[t]
        window = np.abs(current - centre) < 0.02 * c.sigma_bars[t]
        kept = int(window.sum())
        assert kept > 10_000
        xt = torch.from_numpy(current[window]).view(-1, 1, 1, 1)
        optimal = sde.optimal_reverse_mean(xt, torch.full_like(xt, x0), torch.full_like(xt, mu), t)
        residual = previous[window] - optimal.flatten().numpy()
        assert abs(residual.mean()) < 5 * posterior_std / math.sqrt(kept), (t, offset)
        assert abs(residual.std() / posterior_std - 1) < 5 / math.sqrt(2 * kept), (t, offset)


def test_posterior_variance_is_gaussian_conditioning():
    c = MeanRevertingSDE(schedule="linear", T=20, max_sigma=50).coefficients
    for t in range(1, 21):
        a, b = math.exp(-c.thetas[t] * c.dt), c.decay_bar[t]
        prior_var, transition_var = c.sigma_bars[t - 1] ** 2, c.lam**2 * (1 - a**2)
        conditional_var = prior_var * transition_var / (a**2 * prior_var + transition_var)
        assert c.posterior_std[t] ** 2 == pytest.approx(conditional_var, rel=1e-9, abs=1e-15)
        assert c.posterior_coef_xt[t] == pytest.approx(a * prior_var / (a**2 * prior_var + transition_var))
        assert b == pytest.approx(a * c.decay_bar[t - 1], rel=1e-12)


# --- time arguments, devices, dtypes ----------------------------------------------------------


def test_per_sample_t_equals_scalar_t_for_each_sample():
    sde = MeanRevertingSDE()
    x0, mu, xt, eps = images(0), images(1), images(2), images(3)
    t = torch.tensor([1, 64])
    batched = {
        "marginal_mean": sde.marginal_mean(x0, mu, t),
        "x0_from_noise": sde.x0_from_noise(xt, mu, eps, t),
        "noise_from_x0": sde.noise_from_x0(xt, mu, x0, t),
        "score": sde.score_from_noise(eps, t),
        "sde": sde.reverse_sde_mean(xt, mu, eps, t),
        "ode": sde.reverse_ode_step(xt, mu, eps, t),
        "optimal": sde.optimal_reverse_mean(xt, x0, mu, t),
    }
    assert sde.marginal_std(t).shape == sde.posterior_std(t).shape == (2, 1, 1, 1)
    for i, step in enumerate(t.tolist()):
        one = slice(i, i + 1)
        single = {
            "marginal_mean": sde.marginal_mean(x0[one], mu[one], step),
            "x0_from_noise": sde.x0_from_noise(xt[one], mu[one], eps[one], step),
            "noise_from_x0": sde.noise_from_x0(xt[one], mu[one], x0[one], step),
            "score": sde.score_from_noise(eps[one], step),
            "sde": sde.reverse_sde_mean(xt[one], mu[one], eps[one], step),
            "ode": sde.reverse_ode_step(xt[one], mu[one], eps[one], step),
            "optimal": sde.optimal_reverse_mean(xt[one], x0[one], mu[one], step),
        }
        for name, value in single.items():
            assert batched[name][one].equal(value), name
        assert sde.marginal_std(t)[i].item() == sde.marginal_std(step).item()
        assert sde.posterior_std(t)[i].item() == sde.posterior_std(step).item()


@pytest.mark.parametrize(
    "t, message",
    [
        (0, r"1\.\.100"),
        (101, r"1\.\.100"),
        (torch.tensor([5, 0]), r"1\.\.100"),
        (torch.tensor([1.0, 2.0]), "integer"),
        (torch.tensor([[1, 2]]), r"shape \(B,\)"),
        (2.0, "int"),
    ],
)
def test_bad_t_raises(t, message):
    sde = MeanRevertingSDE()
    with pytest.raises(ValueError, match=message):
        sde.score_from_noise(images(0), t)


def test_to_rebuilds_tables_from_float64_without_touching_the_original():
    sde = MeanRevertingSDE()
    assert sde.to("cpu") is sde and sde.to(dtype=torch.float32) is sde
    double = sde.to(dtype=torch.float64)
    assert double.dtype == torch.float64 and sde.dtype == torch.float32
    assert double.sigma_bars.dtype == torch.float64 and sde.sigma_bars.dtype == torch.float32
    np.testing.assert_array_equal(double.sigma_bars.numpy(), sde.coefficients.sigma_bars)
    assert double.T == sde.T and double.dt == sde.dt and double.lam == sde.lam
    assert "float64" in repr(double)


def test_standard_normal_like_follows_the_generator():
    like = torch.zeros(SHAPE, dtype=torch.float64)
    first = standard_normal_like(like, torch.Generator().manual_seed(9))
    again = standard_normal_like(like, torch.Generator().manual_seed(9))
    assert first.dtype == torch.float64 and first.shape == SHAPE and first.equal(again)
    assert abs(first.mean().item()) < 0.1 and abs(first.std().item() - 1) < 0.1


# --- the step of a noise level (Denoising-SDE/ODE) --------------------------------------------


def test_start_step_of_the_papers_denoising_setting():
    sde = MeanRevertingSDE(schedule="cosine", T=100, max_sigma=70, eps=0.04)
    assert start_step(sde, 25) == 22
    assert start_step(sde, 25 / 255) == 22  # the same noise level on the [0, 1] scale
    assert [start_step(sde, sigma) for sigma in (15, 50)] == [15, 41]  # docs/sde.md#denoising-sde-and-denoising-ode
    wider = MeanRevertingSDE(schedule="cosine", T=100, max_sigma=75, eps=0.04)
    assert [start_step(wider, sigma) for sigma in (15, 25, 50)] == [14, 21, 38]


@pytest.mark.parametrize("sigma", [5, 25, 60])
def test_start_step_has_the_nearest_integrated_rate_and_about_that_much_noise(sigma):
    sde = MeanRevertingSDE(schedule="cosine", T=100, max_sigma=70, eps=0.04)
    step = start_step(sde, sigma)
    noise = sigma / 255
    # the std at t* is closer to sigma than the std one step earlier or later
    stds = sde.coefficients.sigma_bars
    assert abs(stds[step] - noise) <= min(abs(stds[step - 1] - noise), abs(stds[step + 1] - noise)) + 1e-4


def test_start_step_refuses_more_noise_than_the_sde_has():
    sde = MeanRevertingSDE(schedule="cosine", T=100, max_sigma=70, eps=0.04)
    with pytest.raises(ValueError, match="above the SDE's max_sigma"):
        start_step(sde, 80)
    with pytest.raises(ValueError, match="noise level sigma must be"):
        start_step(sde, 0)
