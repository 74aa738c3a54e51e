"""The edge-offload ns-3 core: the generic `Ns3Core` plus the views the baselines read, the same
methods as the twin core, from the step's arrays (model section 8). The task tables exist only in
the twin; what the central heuristic reads (every user's observation, the next interval's
arrivals, the servers' current backlog, every link's rate) both cores offer."""

from __future__ import annotations

import numpy as np

from pybridge.ns3_backend import Ns3Core
from pybridge.scenarios.edge_offload.contract import Ns3StepData
from pybridge.scenarios.edge_offload.twin import arrivals_view, estimated_completion, mcs_rate_bps


class EdgeOffloadNs3Core(Ns3Core):
    """B edge-offload copies in B `fedmarl-edge-offload` processes."""

    last: Ns3StepData

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        # The twin's checks and messages, so both backends refuse bad input alike.
        return self.cfg.check_step(actions, self.B, self.t, self._started)

    def _load_slice(self) -> slice:
        K, E = self.cfg.n_channels, self.cfg.n_servers
        return slice(10 + K, 10 + K + E)

    def server_backlog_broadcast(self) -> np.ndarray:
        """[B, E] s: what the observation shows (one interval late; equal for every user)."""
        return np.asarray(self.observation()[:, 0, self._load_slice()], np.float64)

    def server_backlog(self) -> np.ndarray:
        return self.last.server_backlog_s.copy()

    def snr_db(self) -> np.ndarray:
        return self.last.snr_db.copy()

    def channel_busy(self) -> np.ndarray:
        return self.last.channel_busy.copy()

    def estimated_completion(self) -> np.ndarray:
        return estimated_completion(self.observation(), self.cfg)

    def positions(self) -> np.ndarray:
        return self.last.positions.copy()

    def ap_positions(self) -> np.ndarray:
        return self.cfg.ap_positions()

    @property
    def T(self) -> float:
        """The decision interval, s."""
        return self.cfg.interval_s

    def pending_arrivals(self) -> dict[str, np.ndarray]:
        """The coming interval's arrivals (the binary draws them one interval ahead): flags and
        absolute times [B, U, 3] in class order, and the class of each entry (as the twin)."""
        off = self.last.next_arrivals
        new = off >= 0.0
        return arrivals_view(new, np.where(new, self.t * self.T + np.maximum(off, 0.0), 0.0))

    def link_rate_bps(self) -> np.ndarray:
        return mcs_rate_bps(self.last.snr_db)

    def state(self) -> np.ndarray:
        """[B, U * W + E]: every observation, then every server's current backlog (s)."""
        self._require_started("state()")
        obs = self.observation().reshape(self.B, -1).astype(np.float32)
        return np.concatenate([obs, self.last.server_backlog_s.astype(np.float32)], axis=-1)
