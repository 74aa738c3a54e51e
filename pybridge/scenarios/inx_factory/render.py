"""A picture of the hall for render_mode "rgb_array": alleys, and every subnetwork's access point
coloured by the channel it uses (a ring marks a switch that took effect this step).

matplotlib's Agg canvas draws off-screen (no display needed, notebooks and reports alike); it is
imported on the first render only.
"""

from __future__ import annotations

import numpy as np

from pybridge.twin.mobility import build_layout

DPI = 80
SIZE_IN = (9.0, 4.5)


def hall_picture(cfg, ap_xy: np.ndarray, channel: np.ndarray, switched: np.ndarray, t: int,
                 backend: str) -> np.ndarray:
    """RGB [H, W, 3] uint8 of one copy: `ap_xy` [N, 2] m, `channel` [N], `switched` [N]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tiles = cfg.resolved_hall_tiles
    layout = build_layout(tiles, tiles)
    fig = Figure(figsize=SIZE_IN, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(0.0, layout.hall_length)
    ax.set_ylim(0.0, layout.hall_width)
    ax.set_aspect("equal")
    for (x0, y0), (x1, y1) in layout.centrelines:
        ax.plot([x0, x1], [y0, y1], color="0.85", linewidth=layout.alley_width, zorder=0,
                solid_capstyle="butt")
    k = cfg.n_channels
    cmap = _channel_colours(k)
    ax.scatter(ap_xy[:, 0], ap_xy[:, 1], c=cmap[np.asarray(channel) % len(cmap)], s=40,
               edgecolors="black", linewidths=0.5, zorder=2)
    hop = np.asarray(switched, dtype=bool)
    if hop.any():
        ax.scatter(ap_xy[hop, 0], ap_xy[hop, 1], s=160, facecolors="none", edgecolors="red",
                   linewidths=1.2, zorder=3)
    ax.set_title(f"inx-factory ({backend}), step {t}: {len(ap_xy)} subnetworks coloured by"
                 f" channel (K = {k}); red ring: switched", fontsize=9)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def _channel_colours(k: int) -> np.ndarray:
    from matplotlib import colormaps

    name = "tab10" if k <= 10 else "tab20" if k <= 20 else "hsv"
    cmap = colormaps[name]
    return np.array([cmap(i / max(k, 1)) if name == "hsv" else cmap(i) for i in range(k)])
