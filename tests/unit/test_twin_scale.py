"""The inx-factory twin's neighbour refresh (large_scale.py) against the exact refresh: same seed,
same mobility and fields, so every link's mean received power can be compared after every
large-scale refresh of an episode. The approximation's stated bounds are what is asserted."""

import numpy as np
import pytest

from pybridge import make_config
from pybridge.scenarios.inx_factory.large_scale import far_error_bounds
from pybridge.scenarios.inx_factory.twin import InxFactoryTwin


def refreshes(n, steps=200, **params):
    """A neighbour-refresh twin, stepped with random channels; yields it after every refresh,
    with the exact refresh of the same positions and fields (`exact_links`)."""
    core = InxFactoryTwin(make_config("inx-factory", n_subnetworks=n, seed=3,
                                      interference_model="neighbour", **params))
    core.reset()
    rng = np.random.default_rng(0)
    for t in range(steps):
        core.step(rng.integers(0, core.K, size=(1, n)))
        if (t + 1) % core.cfg.large_scale_update_steps == 0:
            yield core, core.exact_links()


@pytest.mark.parametrize("n, clutter", [(300, "sparse"), (160, "dense")])
def test_far_links_within_the_stated_bound_near_links_exact(n, clutter):
    bounds = None
    outside = far_total = 0
    total_db = []
    for core, (rx, _, shadowing, _, d2d) in refreshes(n, clutter=clutter, n_channels=8):
        bounds = bounds or far_error_bounds(core.cfg)
        e, a = rx[0].astype(float), core.link_interference()[0].astype(float)
        own = np.zeros_like(e, dtype=bool)
        own[np.arange(core.D), core.owner] = True
        assert np.all(a[own] == 0)
        np.testing.assert_allclose(core.rx_own[0], e[own], rtol=1e-5)
        e[own] = 0.0
        err_db = np.abs(10 * np.log10(a[~own] / e[~own]))
        near = np.zeros_like(own)
        np.put_along_axis(near, core.neighbour.near_ap[0], True, axis=-1)
        # Near links: the exact formulas on gathered coordinates (float32 rounding only).
        assert np.max(err_db[near[~own]]) < 1e-3
        # Far links: path loss from distances up to `movement_m` stale, shadowing scaled by
        # at most sqrt(1 + rho(R)); a link whose LOS draw flipped is outside the bound.
        far = ~near[~own]
        assert np.all(d2d[0][~own][far] > bounds["near_radius_m"])
        limit = (bounds["pathloss_db"] + bounds["shadow_scale"]
                 * np.abs(shadowing[0][~own][far]) + 1e-3)
        outside += int(np.sum(err_db[far] > limit))
        far_total += int(far.sum())
        # What the SINR sees: interference per device summed over its co-channel APs.
        onehot = (core.channel[0][:, None] == np.arange(core.K)).astype(float)
        total_db.append(np.abs(10 * np.log10((a @ onehot + core.noise_w)
                                             / (e @ onehot + core.noise_w))).ravel())
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


# N = 400: the near sets are wider than L + 1 (the faded set is chosen at every refresh);
# N = 1000: they are the L + 1 nearest (every near interferer faded, the set fixed per rebuild).
PATHS = [(400, False), (1000, True)]


@pytest.mark.parametrize("n, all_near_faded", PATHS)
def test_faded_interferers_are_the_strongest_near_links(n, all_near_faded):
    core = InxFactoryTwin(make_config("inx-factory", n_subnetworks=n, seed=1))
    assert core.cfg.resolved_interference_model == "neighbour"
    core.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, reward, _ = core.step(rng.integers(0, core.K, size=(1, n)))
        assert np.all(np.isfinite(reward))
    assert core.neighbour._all_near_faded == all_near_faded
    faded = np.sort(core._nb_rx[0], axis=-1)
    best = np.sort(core.neighbour.near_rx[0], axis=-1)[:, -core.n_faded:]
    np.testing.assert_array_equal(faded, best)
    # The rest per channel is the non-faded interference, kept up to date across switches.
    onehot = (core.channel[0][:, None] == np.arange(core.K)).astype(np.float32)
    np.testing.assert_allclose(core._rest_interference()[0], core._rx_rest_t[0].T @ onehot,
                               rtol=1e-4, atol=4e-17)
    # ... and the rest plus the faded means is every link.
    total = core.link_interference()[0]
    np.testing.assert_allclose(total.sum(axis=-1), core._rx_rest_t[0].sum(axis=0)
                               + core._nb_rx[0].sum(axis=-1), rtol=1e-5)


@pytest.mark.parametrize("n, all_near_faded", PATHS)
def test_fading_state_carries_across_refreshes_and_rebuilds(n, all_near_faded):
    # Slow robots: rho = J0(2 pi f_D T) = 0.993, so a state redrawn at a refresh or rebuild
    # (correlation 0 across it) would stand out against the AR(1) correlation rho.
    core = InxFactoryTwin(make_config("inx-factory", n_subnetworks=n, seed=2, speed=0.3))
    assert core.rho > 0.99
    core.reset()
    rng = np.random.default_rng(0)
    own, strongest = [], []
    for _ in range(199):
        core.step(rng.integers(0, core.K, size=(1, n)))
        own.append(core.h_faded[0, 0, :, 0] + 1j * core.h_faded[1, 0, :, 0])
        # ... and so does an interferer's (column 1), whichever way the faded set is kept.
        strongest.append(core.h_faded[0, 0, :, 1] + 1j * core.h_faded[1, 0, :, 1])
    assert core.neighbour._all_near_faded == all_near_faded
    h = np.stack(own)  # [T, D]
    lag1 = (h[1:] * np.conj(h[:-1])).real  # per step pair, per device
    every = core.cfg.large_scale_update_steps
    at_refresh = np.arange(1, h.shape[0]) % every == 0  # pairs straddling a refresh
    rebuilds = every * core.cfg.far_refresh_interval
    at_rebuild = np.arange(1, h.shape[0]) % rebuilds == 0
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, abs=0.05)
    assert lag1[~at_refresh].mean() == pytest.approx(core.rho, abs=0.05)
    assert lag1[at_refresh].mean() == pytest.approx(core.rho, abs=0.05)
    assert lag1[at_rebuild].mean() == pytest.approx(core.rho, abs=0.08)
    if all_near_faded:  # the faded set (and so column 1) changes only at rebuilds
        g = np.stack(strongest)
        lag1 = (g[1:] * np.conj(g[:-1])).real
        assert np.mean(np.abs(g) ** 2) == pytest.approx(1.0, abs=0.05)
        assert lag1[~at_rebuild].mean() == pytest.approx(core.rho, abs=0.05)


def test_near_sets_keep_the_own_ap_in_place_of_the_farthest():
    core = InxFactoryTwin(make_config("inx-factory", n_subnetworks=400, seed=1))
    core.reset()
    nb = core.neighbour
    ap, dev = core.positions()
    dev = dev.copy()
    dev[0, 5] = ap[0, core.owner[5]] + np.array([150.0, 0.0])  # far from its own AP
    near = nb._near_sets(ap, dev)
    assert np.all(np.diff(near, axis=-1) > 0)  # by increasing AP index (state carry merges)
    assert np.all((near == core.owner[None, :, None]).any(axis=-1))
    # Every AP within the reach is still near: the one dropped for the own AP is the farthest.
    d = np.hypot(*(ap[0][:, None, :] - dev[0][None, :, :]).transpose(2, 0, 1))  # [N, D]
    within = d[:, 5] <= nb.radius + nb.margin
    assert set(np.flatnonzero(within)) <= set(near[0, 5].tolist())
    dropped = np.setdiff1d(np.argsort(d[:, 5])[:near.shape[-1] - 1], near[0, 5])
    assert dropped.size == 0


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
