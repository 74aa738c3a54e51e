"""Every PNG `fedmarl` writes: CDFs, training curves, overhead bars, study figures.

The helpers know about data shapes (quantile lists, raw samples, curves), never about a
scenario: titles and axis labels come from the caller. matplotlib's non-interactive Agg backend
is selected on import, so plotting works on headless machines and in worker processes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

PLOT_POINTS = 2000  # points drawn of a raw-sample CDF (enough for a smooth line)
SIZE = (6.4, 4.2)
WIDE = (11, 4.2)


def _finish(fig, path: Path, dpi: int = 120) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Moving average over k points ('valid' part only; y itself for k <= 1 or short y)."""
    if len(y) < k or k <= 1:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def _vline(ax, x: float | None, label: str | None, ls: str = "--") -> None:
    if x is not None:
        ax.axvline(x, color="grey", ls=ls, lw=1, label=label)


# -------------------------------------------------------------------------------- CDFs
def quantile_cdf(results: Sequence[Mapping[str, Any]], path: Path, key: str, title: str,
                 vline: float | None = None, vline_label: str | None = None,
                 xlabel: str = "value") -> None:
    """One CDF per result from its evenly spaced quantile list `result[key]`, labelled by
    `result["policy"]`."""
    fig, ax = plt.subplots(figsize=SIZE)
    for r in results:
        q = np.asarray(r[key])
        ax.plot(q, np.linspace(0, 1, len(q)), label=r["policy"])
    _vline(ax, vline, vline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("CDF")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _finish(fig, path)


def _sample_cdf(ax, x: np.ndarray, **kw) -> None:
    if not x.size:
        return
    xs = np.sort(x.ravel())
    idx = np.linspace(0, xs.size - 1, min(PLOT_POINTS, xs.size)).astype(int)
    ax.plot(xs[idx], (idx + 1) / xs.size, **kw)


def sample_cdfs(path: Path, curves: Sequence[tuple[np.ndarray, dict[str, Any]]], xlabel: str,
                title: str, vline: float | None = None, vline_label: str | None = None) -> None:
    """Empirical CDFs of raw sample arrays; each curve is (samples, matplotlib keywords)."""
    fig, ax = plt.subplots(figsize=SIZE)
    for x, kw in curves:
        _sample_cdf(ax, np.asarray(x), **kw)
    _vline(ax, vline, vline_label, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("CDF")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, path)


def quantile_cdf_panels(path: Path, panels: Sequence[tuple[str, str, Mapping[str, np.ndarray]]],
                        dashed: Sequence[str] = (), vline: float | None = None,
                        vline_label: str | None = None) -> None:
    """Side-by-side CDF panels; a panel is (title, xlabel, {label: evenly spaced quantiles})."""
    fig, axes = plt.subplots(1, len(panels), figsize=WIDE, sharey=True, squeeze=False)
    for ax, (title, xlabel, curves) in zip(axes[0], panels, strict=True):
        for name, q in curves.items():
            q = np.asarray(q)
            ax.plot(q, np.linspace(0, 1, q.size), label=name,
                    ls="--" if name in dashed else "-")
        _vline(ax, vline, vline_label, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("CDF")
    _finish(fig, path, dpi=110)


# ---------------------------------------------------------------------------- training
def training_rewards(runs: Sequence[Mapping[str, Any]], path: Path, key: str = "mean_reward",
                     ylabel: str = "mean reward per agent and step") -> None:
    """`key` per training episode, one line per algorithm (mean over its seeds, band min..max).
    A run is {"config": {"algo": ...}, "metrics": [row per episode]}."""
    by_algo: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in runs:
        if r["metrics"]:
            by_algo[r["config"]["algo"]].append(np.array([m[key] for m in r["metrics"]]))
    fig, ax = plt.subplots(figsize=SIZE)
    for algo, curves in sorted(by_algo.items()):
        n = min(len(c) for c in curves)
        stack = np.stack([c[:n] for c in curves])
        k = max(1, n // 20)
        mean = smooth(stack.mean(axis=0), k)
        x = np.arange(len(mean)) + k
        ax.plot(x, mean, label=f"{algo} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        if len(curves) > 1:
            ax.fill_between(x, smooth(stack.min(axis=0), k), smooth(stack.max(axis=0), k),
                            alpha=0.2)
    ax.set_xlabel("training episode (batch of parallel copies)")
    ax.set_ylabel(ylabel)
    ax.set_title("Training reward")
    ax.grid(alpha=0.3)
    ax.legend()
    _finish(fig, path)


def overhead_bars(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Bytes per agent per training episode: model aggregation vs raw transitions (log axis)."""
    fig, ax = plt.subplots(figsize=SIZE)
    labels = [f"{r['algo']}\n{r['run']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["fed_bytes_sent_per_episode"] for r in rows], 0.4,
           label="sent for model aggregation")
    ax.bar(x + 0.2, [r["c_bytes_per_episode"] for r in rows], 0.4,
           label="raw transitions a C- agent would ship")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("bytes per agent per training episode")
    ax.set_title("Signalling overhead per agent")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _finish(fig, path)


# ------------------------------------------------------------------------------ studies
def curve_panels(path: Path, panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray,
                                                                       np.ndarray]]]],
                 hlines: Sequence[tuple[float, str, str]] = (), xlabel: str = "x",
                 ylabel: str = "y") -> None:
    """Side-by-side line panels; a panel is (title, [(label, x, y)]); `hlines` (y, label,
    linestyle) are drawn in grey on every panel."""
    fig, axes = plt.subplots(1, len(panels), figsize=WIDE, sharey=True, squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels, strict=True):
        for label, x, y in lines:
            ax.plot(x, y, label=label)
        for y, label, ls in hlines:
            ax.axhline(y, color="grey", ls=ls, lw=1, label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(ylabel)
    _finish(fig, path, dpi=110)


def range_bars(path: Path, groups: Sequence[str], series: Mapping[str, Mapping[str, np.ndarray]],
               ylabel: str, title: str) -> None:
    """Grouped bars of `series[name]["mean"]` over `groups`, with "lo".."hi" error bars."""
    fig, ax = plt.subplots(figsize=(11, 4.4))
    w = 0.8 / max(1, len(series))
    for i, (name, s) in enumerate(series.items()):
        x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * w
        mean, lo, hi = (np.asarray(s[k]) for k in ("mean", "lo", "hi"))
        ax.bar(x, mean, w, label=name)
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="k", lw=0.8,
                    capsize=2)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncols=4)
    _finish(fig, path, dpi=110)


def lines_ci(path: Path, x: Sequence[float], series: Mapping[str, Mapping[str, np.ndarray]],
             xlabel: str, ylabel: str, dashed: Sequence[str] = ()) -> None:
    """One line per series ("mean" over x) with its confidence band ("ci", [len(x), 2]) when
    finite."""
    fig, ax = plt.subplots(figsize=SIZE)
    for name, s in series.items():
        ci = np.asarray(s["ci"], dtype=float)
        ax.plot(x, s["mean"], marker="o", label=name, ls="--" if name in dashed else "-")
        if np.all(np.isfinite(ci)):
            ax.fill_between(x, ci[:, 0], ci[:, 1], alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _finish(fig, path, dpi=110)


def scatter_plane(path: Path, points: Mapping[str, tuple[float, float]], xlabel: str,
                  ylabel: str, title: str, hline: float | None = None) -> None:
    """One labelled point per name on an (x, y) plane, e.g. success vs fairness; `hline` a
    target level of y drawn in grey."""
    fig, ax = plt.subplots(figsize=SIZE)
    for name, (x, y) in points.items():
        ax.scatter([x], [y], s=36)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _finish(fig, path, dpi=110)


def scaling_panels(path: Path, panels: Sequence[tuple[str, Mapping[str, Mapping[Any, float]]]],
                   xlabel: str, dashed: Sequence[str] = (), logx: bool = True,
                   logy: Sequence[bool] = ()) -> None:
    """Side-by-side panels of figures against a size (N): a panel is (ylabel, {series:
    {x: value}}); a series need not have every x (a model deployed only at some sizes), and
    missing or non-finite values leave a gap instead of a line to zero."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.9), squeeze=False)
    for i, (ax, (ylabel, series)) in enumerate(zip(axes[0], panels, strict=True)):
        for name, points in series.items():
            xs = sorted(x for x, v in points.items()
                        if v is not None and np.isfinite(float(v)))
            if xs:
                ax.plot(xs, [float(points[x]) for x in xs], marker="o", label=name,
                        ls="--" if name in dashed else "-")
        if logx:
            ax.set_xscale("log")
        if i < len(logy) and logy[i]:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    _finish(fig, path, dpi=110)
