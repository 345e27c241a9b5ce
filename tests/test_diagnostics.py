import math

import pytest
import torch

from irsde.diagnostics import TIMESTEP_METRICS, noise_prediction_errors, probe_steps
from tests.support.sampling import OracleNet


def test_probe_steps_span_one_to_T():
    steps = probe_steps(100)
    assert steps[0] == 1 and steps[-1] == 100 and len(steps) == 20 and steps == sorted(set(steps))
    assert probe_steps(5) == [1, 2, 3, 4, 5]


def test_exact_noise_prediction_has_no_error(sde, pair):
    x0, mu = pair
    rows = noise_prediction_errors(OracleNet(sde, x0), sde, x0, mu, [1, 50, 100])
    assert [(row["t"], row["metric"]) for row in rows] == [(t, m) for t in (1, 50, 100) for m in TIMESTEP_METRICS]
    assert max(row["value"] for row in rows) < 1e-3


def test_zero_prediction_costs_the_mean_absolute_noise_and_grows_on_the_image(sde, pair):
    x0, mu = pair
    rows = noise_prediction_errors(lambda xt, mu, t: torch.zeros_like(xt), sde, x0, mu, [1, 100])
    by_key = {(row["t"], row["metric"]): row["value"] for row in rows}
    expected = math.sqrt(2 / math.pi)  # E|z| for a standard normal z
    assert by_key[(1, "noise_error")] == pytest.approx(expected, rel=0.05)
    assert by_key[(100, "noise_error")] == pytest.approx(expected, rel=0.05)
    # x0-equivalent: sigmabar_t exp(thetabar_t dt) times the noise error; at t = T that factor is
    # lambda sqrt(1 - eps^2) / eps.
    factor = sde.lam * math.sqrt(1 - sde.eps**2) / sde.eps
    assert by_key[(100, "x0_error")] == pytest.approx(by_key[(100, "noise_error")] * factor, rel=1e-6)
    assert by_key[(1, "x0_error")] < 1e-3 < by_key[(100, "x0_error")]


def test_same_seed_same_rows(sde, pair):
    x0, mu = pair
    net = lambda xt, mu, t: 0.5 * (xt - mu)  # noqa: E731
    assert noise_prediction_errors(net, sde, x0, mu, [3, 70], seed=4) == noise_prediction_errors(
        net, sde, x0, mu, [3, 70], seed=4
    )
