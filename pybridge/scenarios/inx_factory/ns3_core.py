"""The inx-factory ns-3 core: the generic `Ns3Core` plus what the inx-factory baselines and the
global state read from a copy (the same methods as the twin: channel, sinr_db, coupling)."""

from __future__ import annotations

import numpy as np

from pybridge.ns3_backend import Ns3Core
from pybridge.scenarios.inx_factory.contract import Ns3StepData
from pybridge.scenarios.inx_factory.twin import OBS_HIGH, OBS_LOW


class InxFactoryNs3Core(Ns3Core):
    """B inx-factory copies in B `fedmarl-inx-factory` processes (see `pybridge.ns3_backend`)."""

    last: Ns3StepData

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        # The twin's checks and messages, so both backends refuse bad input alike.
        return self.cfg.check_step(actions, self.B, self.t, self._started)

    @property
    def channel(self) -> np.ndarray:
        return self.last.channel

    def sinr_db(self) -> np.ndarray:
        """Measured SINR per channel at every device, [B, N, M, K] dB (for greedy policies)."""
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.last.sinr_per_channel)

    def coupling(self) -> np.ndarray:
        """Large-scale mean interference power from AP i at subnetwork n, [B, N, N] W."""
        return self.last.coupling

    def state(self) -> np.ndarray:
        """Global state per copy: every agent's observation and channel, [B, N * (W + 1)]."""
        self._require_started("state()")
        K = self.cfg.n_channels
        chan = (self.last.channel / max(K - 1, 1)).astype(np.float32)[:, :, None]
        obs = np.clip(self.observation(), OBS_LOW, OBS_HIGH)
        return np.concatenate([obs, chan], axis=-1).reshape(self.B, -1)
