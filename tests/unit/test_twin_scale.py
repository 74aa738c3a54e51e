"""The inx-factory twin's neighbour refresh (large_scale.py) against the exact refresh: same seed,
same mobility and fields, so every link's mean received power can be compared after every
large-scale refresh of an episode. The approximation's stated bounds are what is asserted."""

import numpy as np
import pytest

from pybridge import make_config
from pybridge.scenarios.inx_factory.large_scale import far_error_bounds
from pybridge.scenarios.inx_factory.twin import InxFactoryTwin


def pair(n, steps=200, **params):
    """(exact, neighbour) twins stepped with the same actions; yields after every refresh."""
    cores = [InxFactoryTwin(make_config("inx-factory", n_subnetworks=n, seed=3,
                                        interference_model=model, **params))
             for model in ("exact", "neighbour")]
    for c in cores:
        c.reset()
    rng = np.random.default_rng(0)
    every = cores[0].cfg.large_scale_update_steps
    for t in range(steps):
        a = rng.integers(0, cores[0].K, size=(1, n))
        for c in cores:
            c.step(a)
        if (t + 1) % every == 0:
            yield cores


@pytest.mark.parametrize("n, clutter", [(300, "sparse"), (160, "dense")])
def test_far_links_within_the_stated_bound_near_links_exact(n, clutter):
    bounds = None
    outside = far_total = 0
    total_db = []
    for exact, approx in pair(n, clutter=clutter, n_channels=8):
        bounds = bounds or far_error_bounds(approx.cfg)
        e, a = exact.rx_int[0].astype(float), approx.rx_int[0].astype(float)
        own = np.zeros_like(e, dtype=bool)
        own[np.arange(exact.D), exact.owner] = True
        assert np.all(a[own] == 0) and np.all(e[own] == 0)
        np.testing.assert_allclose(approx.rx_own, exact.rx_own, rtol=1e-5)
        err_db = np.abs(10 * np.log10(a[~own] / e[~own]))
        near = np.zeros_like(own)
        np.put_along_axis(near, approx.neighbour.near_ap[0], True, axis=-1)
        # Near links: the exact formulas on gathered coordinates (float32 rounding only).
        assert np.max(err_db[near[~own]]) < 1e-3
        # Far links: path loss from distances up to `movement_m` stale, shadowing scaled by
        # at most sqrt(1 + rho(R)); a link whose LOS draw flipped is outside the bound.
        far = ~near[~own]
        assert np.all(exact.d2d[0][~own][far] > bounds["near_radius_m"])
        limit = (bounds["pathloss_db"] + bounds["shadow_scale"]
                 * np.abs(exact.shadowing_db[0][~own][far]) + 1e-3)
        outside += int(np.sum(err_db[far] > limit))
        far_total += int(far.sum())
        # What the SINR sees: interference per device summed over its co-channel APs.
        onehot = (exact.channel[0][:, None] == np.arange(exact.K)).astype(float)
        total_db.append(np.abs(10 * np.log10((a @ onehot + exact.noise_w)
                                             / (e @ onehot + exact.noise_w))).ravel())
    assert far_total > 0.5 * n * n  # most links are far: the approximation is exercised
    # LOS draws flip only where P_LOS moved between rebuilds: a small fraction of far links.
    assert outside / far_total < bounds["p_los"]
    # Interference plus noise per device and channel (what SINR and observations see): measured
    # p99 0.011 / 0.0014 dB, p99.9 0.13 / 0.004 dB, max 0.97 / 0.013 dB (sparse / dense); the
    # tail is a far LOS flip on a channel that link dominates.
    total_db = np.concatenate(total_db)
    assert np.percentile(total_db, 99) < 0.05
    assert np.percentile(total_db, 99.9) < 0.5
    assert total_db.max() < 3.0


def test_faded_interferers_are_the_strongest_near_links():
    core = InxFactoryTwin(make_config("inx-factory", n_subnetworks=400, seed=1))
    assert core.cfg.resolved_interference_model == "neighbour"
    core.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, reward, _ = core.step(rng.integers(0, core.K, size=(1, 400)))
        assert np.all(np.isfinite(reward))
    cand = core.neighbour.near_ap[0]
    key = np.take_along_axis(core.rx_int[0], cand, axis=-1)
    faded = np.sort(core._nb_rx[0], axis=-1)
    best = np.sort(key, axis=-1)[:, -core.n_faded:]
    np.testing.assert_array_equal(faded, best)
    # The rest per channel is the non-faded interference, kept up to date across switches.
    onehot = (core.channel[0][:, None] == np.arange(core.K)).astype(np.float32)
    np.testing.assert_allclose(core._rest_interference()[0],
                               core._rx_rest_t[0].T @ onehot, rtol=1e-3, atol=1e-18)


def test_auto_model_and_explicit_choice():
    assert make_config("inx-factory", n_subnetworks=300).resolved_interference_model == "exact"
    assert make_config("inx-factory", n_subnetworks=301).resolved_interference_model \
        == "neighbour"
    cfg = make_config("inx-factory", n_subnetworks=1000, interference_model="exact")
    assert InxFactoryTwin(cfg).neighbour is None
    b = far_error_bounds(make_config("inx-factory", n_subnetworks=1000))
    # The documented figures (large_scale.py): SL, R = 50 m, 4 refreshes of 50 ms at 3 m/s.
    assert b["movement_m"] == pytest.approx(1.2)
    assert b["pathloss_db"] == pytest.approx(0.263, abs=1e-3)
    assert b["shadow_scale"] == pytest.approx(0.0034, abs=1e-4)
