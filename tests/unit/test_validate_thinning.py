"""validate's per-episode thinning: small episodes whole, large ones a uniform subsample."""

import numpy as np

from fedmarl.validate import MAX_SAMPLES_PER_EPISODE, compare_samples, thin_samples


def test_small_episodes_are_used_whole_and_large_ones_thinned_uniformly():
    rng = np.random.default_rng(0)
    small = rng.normal(size=MAX_SAMPLES_PER_EPISODE)
    assert thin_samples(small, np.random.default_rng(1)) is small
    big = np.arange(10 * MAX_SAMPLES_PER_EPISODE, dtype=float)
    out = thin_samples(big, np.random.default_rng(1))
    assert out.size == MAX_SAMPLES_PER_EPISODE and np.all(np.diff(out) > 0)  # distinct, ordered
    assert abs(out.mean() - big.mean()) < 0.02 * big.mean()  # not a prefix: spread over all
    again = thin_samples(big, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)


def test_comparison_of_large_episodes_matches_their_distribution():
    rng = np.random.default_rng(2)
    a = [rng.normal(size=200_000) for _ in range(3)]
    b = [rng.normal(loc=0.5, size=200_000) for _ in range(3)]
    c = compare_samples(a, b, seed=0)
    assert abs(c["mean"]["diff"] - 0.5) < 0.05  # the thinned means still see the shift
    assert c["ks"]["distance"] > 0.15  # Phi(0.25) - Phi(-0.25) = 0.197
