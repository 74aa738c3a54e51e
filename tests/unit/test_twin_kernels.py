"""The twins' native fading noise (pybridge/native/twin_kernels.cc): circular complex Gaussian
law, determinism per key, independence of the thread count, and the fused AR(1) update."""

import numpy as np
import pytest
from scipy import stats

from pybridge import _twin_kernels


def draws(n, key, threads=1):
    out = np.empty((2, n), dtype=np.float32)
    _twin_kernels.complex_normal(out, key, threads)
    return out


def test_complex_normal_is_circular_complex_gaussian():
    re, im = draws(400_000, key=11).astype(np.float64)
    power = re * re + im * im
    # CN(0, 1): E|w|^2 = 1, E|w|^4 = 2, real and imaginary parts N(0, 1/2) and uncorrelated.
    assert power.mean() == pytest.approx(1.0, abs=0.01)
    assert (power ** 2).mean() == pytest.approx(2.0, abs=0.04)
    assert np.corrcoef(re, im)[0, 1] == pytest.approx(0.0, abs=0.01)
    assert stats.kstest(re * np.sqrt(2.0), "norm").pvalue > 1e-3
    assert stats.kstest(im * np.sqrt(2.0), "norm").pvalue > 1e-3
    assert stats.kstest(power, "expon").pvalue > 1e-3
    phase = (np.arctan2(im, re) + np.pi) / (2 * np.pi)
    assert stats.kstest(phase, "uniform").pvalue > 1e-3
    # Successive samples are independent (a counter-based generator with a bad mix would not be).
    assert np.corrcoef(power[1:], power[:-1])[0, 1] == pytest.approx(0.0, abs=0.01)


def test_a_function_of_the_key_only():
    a = draws(300_000, key=5, threads=1)  # above the size where threads start
    np.testing.assert_array_equal(a, draws(300_000, key=5, threads=2))
    np.testing.assert_array_equal(a[:, :1000], draws(1000, key=5)[:, :1000])
    other = draws(300_000, key=6)
    assert np.corrcoef(a[0], other[0])[0, 1] == pytest.approx(0.0, abs=0.01)


def test_ar1_advance_is_rho_h_plus_scale_w():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)  # any [2, ...] layout
    expected = 0.3 * h.reshape(2, -1) + 0.8 * draws(h[0].size, key=9)
    _twin_kernels.ar1_advance(h, 0.3, 0.8, 9, 1)
    np.testing.assert_allclose(h.reshape(2, -1), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((2, 8)), np.zeros((2, 16), np.float32)[:, ::2]])
def test_an_output_it_would_have_to_copy_is_refused(bad):
    with pytest.raises(TypeError):  # a silent copy would leave the caller's array unchanged
        _twin_kernels.complex_normal(bad, 1, 1)


def test_wrong_leading_axis_is_refused():
    with pytest.raises(ValueError, match=r"\[2, \.\.\.\]"):
        _twin_kernels.complex_normal(np.zeros((3, 4), np.float32), 1, 1)
