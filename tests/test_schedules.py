import json

import numpy as np
import pytest

from irsde.schedules import SCHEDULES, get_thetas

# The reference arrays were produced in float32 arithmetic (the authors' code). The cosine
# formula rounds its argument and cos^2 several times in float32 and then subtracts abar from 1,
# so each reference theta carries an absolute error of a few half-units of float32 at 1
# (measured: up to 1.1e-7 absolute, 7.5e-5 relative at t = 0 where theta is 6e-4). Entries must
# match to 1e-6 relative, up to that float32 resolution of the reference (four half-units).
FLOAT32_RESOLUTION = 4 * 2.0**-24


def load_reference(reference_dir):
    return json.loads((reference_dir / "sde_cosine_T100.json").read_text())


def test_cosine_thetas_equal_reference(reference_dir):
    reference = load_reference(reference_dir)
    assert reference["config"]["schedule"] == "cosine"
    expected = np.array(reference["thetas"])
    thetas = get_thetas("cosine", reference["config"]["T"])
    assert thetas.dtype == np.float64
    assert thetas.shape == expected.shape == (101,)
    np.testing.assert_allclose(thetas, expected, rtol=1e-6, atol=FLOAT32_RESOLUTION)


def test_cosine_thetas_increase_from_near_zero_to_near_one():
    thetas = get_thetas("cosine", 100)
    assert np.all(np.diff(thetas) > 0)
    assert 0 < thetas[0] < 1e-3
    assert 0.9 < thetas[-1] < 1


@pytest.mark.parametrize("T", [1, 10, 100, 1000])
def test_linear_thetas_span_scaled_range_evenly(T):
    thetas = get_thetas("linear", T)
    scale = 1000 / (T + 1)
    assert thetas.shape == (T + 1,)
    assert thetas[0] == pytest.approx(1e-4 * scale, rel=1e-12)
    assert thetas[-1] == pytest.approx(0.02 * scale, rel=1e-12)
    np.testing.assert_allclose(np.diff(thetas), np.full(T, (0.02 - 1e-4) * scale / T), rtol=1e-9)


def test_constant_thetas_are_one():
    np.testing.assert_array_equal(get_thetas("constant", 7), np.ones(8))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_returns_t_plus_one_float64_values(name):
    for T in (1, 5, 100):
        thetas = get_thetas(name, T)
        assert thetas.shape == (T + 1,) and thetas.dtype == np.float64
        assert np.all(np.isfinite(thetas)) and np.all(thetas > 0)


def test_unknown_schedule_names_valid_choices():
    with pytest.raises(ValueError, match="'quadratic'.*constant, cosine, linear"):
        get_thetas("quadratic", 100)


@pytest.mark.parametrize("T", [0, -3, 2.5, True, "100"])
def test_bad_number_of_steps_raises(T):
    with pytest.raises(ValueError, match=r"T .*integer in 1\.\.10000"):
        get_thetas("cosine", T)
