import numpy as np
import pytest
import torch

from irsde.losses import (
    LOSSES,
    TrainingBatch,
    draw_training_batch,
    get_loss,
    maximum_likelihood_loss,
    noise_matching_loss,
    timestep_weights,
)
from irsde.sde import MeanRevertingSDE

SHAPE = (4, 3, 16, 16)


def images(seed, shape=SHAPE):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def sde():
    return MeanRevertingSDE(T=100, max_sigma=10)


@pytest.fixture
def batch(sde):
    return draw_training_batch(sde, images(0), images(1), torch.Generator().manual_seed(7))


def perfect_maximum_likelihood_noise(sde, batch):
    """The eps_hat whose noise-free reverse step lands exactly on x*_{t-1}."""
    optimal = sde.optimal_reverse_mean(batch.xt, batch.x0, batch.mu, batch.t)
    c = sde.to(dtype=torch.float64)
    theta_dt = c.thetas[batch.t].view(-1, 1, 1, 1) * sde.dt
    sigma_sq_dt = c.sigmas[batch.t].view(-1, 1, 1, 1) ** 2 * sde.dt
    score = (optimal.double() - batch.xt + theta_dt * (batch.mu - batch.xt)) / sigma_sq_dt
    return -score * c.marginal_std(batch.t)


def test_draw_training_batch_forms_xt_from_drawn_t_and_noise(sde, batch):
    assert isinstance(batch, TrainingBatch)
    assert batch.t.dtype == torch.int64 and batch.t.shape == (4,)
    assert batch.noise.shape == SHAPE and batch.noise.dtype == torch.float32
    assert batch.x0.equal(images(0)) and batch.mu.equal(images(1))
    assert batch.xt.equal(sde.sample_xt(batch.x0, batch.mu, batch.t, batch.noise))


def test_draw_training_batch_is_reproducible_from_the_generator(sde, batch):
    again = draw_training_batch(sde, images(0), images(1), torch.Generator().manual_seed(7))
    other = draw_training_batch(sde, images(0), images(1), torch.Generator().manual_seed(8))
    assert again.t.equal(batch.t) and again.noise.equal(batch.noise) and again.xt.equal(batch.xt)
    assert not other.noise.equal(batch.noise)


def test_training_steps_are_uniform_over_one_to_t():
    sde = MeanRevertingSDE(T=10)
    x = torch.zeros(5000, 1, 1, 1)
    t = draw_training_batch(sde, x, x, torch.Generator().manual_seed(0)).t
    counts = torch.bincount(t, minlength=12)
    assert counts[0] == 0 and counts[11] == 0
    assert counts[1:11].min() > 400 and counts[1:11].max() < 600  # expected 500 each


def test_draw_training_batch_rejects_mismatched_shapes(sde):
    with pytest.raises(ValueError, match="same shape"):
        draw_training_batch(sde, images(0), images(1, (4, 3, 8, 8)), torch.Generator())


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_losses_vanish_for_perfect_predictions(sde, batch, kind):
    assert noise_matching_loss(batch.noise, batch, kind).item() == 0
    perfect = perfect_maximum_likelihood_noise(sde, batch).float()
    assert maximum_likelihood_loss(sde, perfect, batch, kind).item() < 1e-8  # float32 rounding


def test_noise_matching_l1_and_l2_of_a_constant_error(batch):
    eps_hat = batch.noise + 0.5
    assert noise_matching_loss(eps_hat, batch).item() == pytest.approx(0.5, rel=1e-5)
    assert noise_matching_loss(eps_hat, batch, "l1").item() == pytest.approx(0.5, rel=1e-5)
    assert noise_matching_loss(eps_hat, batch, "l2").item() == pytest.approx(0.25, rel=1e-5)


def test_maximum_likelihood_l1_and_l2_of_a_constant_noise_error(sde, batch):
    """An error delta in eps_hat moves x_hat_{t-1} by sigma_t^2 dt delta / sigmabar_t."""
    delta = 0.3
    eps_hat = (perfect_maximum_likelihood_noise(sde, batch) + delta).float()
    c = sde.coefficients
    shift = torch.tensor([c.sigmas[t] ** 2 * sde.dt * delta / c.sigma_bars[t] for t in batch.t.tolist()])
    l1 = maximum_likelihood_loss(sde, eps_hat, batch, "l1").item()
    l2 = maximum_likelihood_loss(sde, eps_hat, batch, "l2").item()
    assert l1 == pytest.approx(shift.mean().item(), rel=1e-3)
    assert l2 == pytest.approx(shift.square().mean().item(), rel=1e-3)
    assert l1 > 0 and l2 > 0


def test_losses_average_over_pixels_then_batch(sde):
    batch = draw_training_batch(sde, images(0), images(1), torch.Generator().manual_seed(3))
    per_sample = torch.tensor([0.0, 1.0, 2.0, 5.0]).view(-1, 1, 1, 1)
    assert noise_matching_loss(batch.noise + per_sample, batch).item() == pytest.approx(2.0)
    assert noise_matching_loss(batch.noise + per_sample, batch, "l2").item() == pytest.approx(7.5)


def test_gradient_reaches_the_prediction(sde, batch):
    for name, loss in LOSSES.items():
        eps_hat = torch.zeros(SHAPE, requires_grad=True)
        loss(sde, eps_hat, batch, "l1").backward()
        assert eps_hat.grad is not None and eps_hat.grad.abs().sum() > 0, name


def test_registry_has_uniform_signature(sde, batch):
    assert set(LOSSES) == {"maximum_likelihood", "noise_matching"}
    eps_hat = batch.noise + 0.1
    assert get_loss("noise_matching")(sde, eps_hat, batch, "l2").item() == pytest.approx(0.01, rel=1e-4)
    assert get_loss("maximum_likelihood")(sde, eps_hat, batch, "l1").equal(
        maximum_likelihood_loss(sde, eps_hat, batch, "l1")
    )


def test_unknown_loss_or_kind_raises(sde, batch):
    with pytest.raises(ValueError, match="'score'.*maximum_likelihood, noise_matching"):
        get_loss("score")
    with pytest.raises(ValueError, match="'huber'.*l1, l2"):
        noise_matching_loss(batch.noise, batch, "huber")
    with pytest.raises(ValueError, match="'L1'.*l1, l2"):
        maximum_likelihood_loss(sde, batch.noise, batch, "L1")


def test_uniform_timestep_weights_are_the_paper_loss(sde):
    batch = _weighting_batch(sde)
    eps_hat = batch.noise + 0.1
    gamma = torch.as_tensor(timestep_weights(sde, "uniform", "maximum_likelihood"))
    assert torch.equal(gamma[1:], torch.ones(sde.T, dtype=gamma.dtype))
    assert maximum_likelihood_loss(sde, eps_hat, batch, "l1", gamma.float()).item() == pytest.approx(
        maximum_likelihood_loss(sde, eps_hat, batch, "l1").item(), rel=1e-6
    )


@pytest.mark.parametrize("loss", ["maximum_likelihood", "noise_matching"])
def test_x0_weights_measure_every_step_on_the_clean_image(sde, loss):
    gamma = timestep_weights(sde, "x0", loss)
    assert gamma[1:].mean() == pytest.approx(1.0) and np.all(np.diff(gamma[1:]) > 0)  # grows with t
    # gamma_t is proportional to (image error per noise error) / (loss per noise error).
    c = sde.coefficients
    seen = c.sigma_sq_dt / c.sigma_bars if loss == "maximum_likelihood" else np.ones(sde.T + 1)
    ratio = c.sigma_bars * c.inv_decay_bar / seen
    np.testing.assert_allclose(gamma[1:] / gamma[1], ratio[1:] / ratio[1], rtol=1e-12)


def test_weighted_loss_multiplies_each_sample_by_its_step_weight(sde):
    batch = _weighting_batch(sde)
    eps_hat = batch.noise + 0.3
    gamma = torch.linspace(0, 2, sde.T + 1)
    per_sample = (eps_hat - batch.noise).abs().flatten(1).mean(1)
    expected = (per_sample * gamma[batch.t]).mean()
    assert noise_matching_loss(eps_hat, batch, "l1", gamma).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="valid: uniform, x0"):
        timestep_weights(sde, "snr", "noise_matching")


def _weighting_batch(sde):
    generator = torch.Generator().manual_seed(7)
    x0, mu = torch.rand(4, 3, 8, 8, generator=generator), torch.rand(4, 3, 8, 8, generator=generator)
    return draw_training_batch(sde, x0, mu, generator)
