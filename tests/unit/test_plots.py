"""fedmarl.plots: every helper writes a real, non-empty PNG."""

from __future__ import annotations

import numpy as np

from fedmarl import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG and len(data) > 2000


def test_every_plot_helper_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    q = np.sort(rng.normal(size=101))
    results = [{"policy": "a", "cdf": q.tolist()}, {"policy": "b", "cdf": (q + 1).tolist()}]
    plots.quantile_cdf(results, tmp_path / "q.png", "cdf", "title", vline=0.5, vline_label="x")
    plots.sample_cdfs(tmp_path / "s.png", [(rng.normal(size=5000), {"label": "twin"}),
                                           (rng.normal(size=300), {"label": "ns-3"})], "x", "t")
    plots.quantile_cdf_panels(tmp_path / "qp.png", [("p1", "x", {"a": q, "b": q + 1}),
                                                    ("p2", "x", {"a": q})], dashed=("b",))
    runs = [{"config": {"algo": "f-maddqn"}, "metrics": [{"mean_reward": float(i)}
                                                          for i in range(40)]},
            {"config": {"algo": "f-maddqn"}, "metrics": [{"mean_reward": float(i) + 1}
                                                          for i in range(35)]}]
    plots.training_rewards(runs, tmp_path / "r.png")
    plots.overhead_bars([{"algo": "f", "run": "r", "fed_bytes_sent_per_episode": 1e5,
                          "c_bytes_per_episode": 1e7}], tmp_path / "o.png")
    x = np.arange(10)
    plots.curve_panels(tmp_path / "c.png", [("a", [("l", x, x ** 2)]), ("b", [("m", x, x)])],
                       hlines=[(3.0, "base", ":")])
    plots.range_bars(tmp_path / "b.png", ["g1", "g2"],
                     {"s": {"mean": [2, 3], "lo": [1, 2], "hi": [3, 4]}}, "y", "t")
    plots.lines_ci(tmp_path / "l.png", [1, 2, 3],
                   {"s": {"mean": [1, 2, 3], "ci": [[0, 2], [1, 3], [2, 4]]},
                    "t": {"mean": [3, 2, 1], "ci": [[np.nan, np.nan]] * 3}}, "x", "y")
    for name in ("q", "s", "qp", "r", "o", "c", "b", "l"):
        assert _is_png(tmp_path / f"{name}.png"), name


def test_smooth_is_a_moving_average():
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(plots.smooth(y, 2), [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_array_equal(plots.smooth(y, 1), y)
    np.testing.assert_array_equal(plots.smooth(y[:1], 3), y[:1])
