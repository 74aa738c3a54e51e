"""The inx-factory scenario's parameters: in-X subnetworks on robots in a factory hall.

One parameter set serves both backends (twin and ns-3). Sources: "ref002" is Madsen & Adeogun,
"Federated Multi-Agent DRL for RRM in Industrial 6G in-X subnetworks" (Table I, Sec. IV-A);
"38.901" is 3GPP TR 38.901 v16.1.0; "ours" marks a choice the reference does not publish, with
the reason in its help text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pybridge.channel.inf import CLUTTER_DEFAULTS, CLUTTER_SCENARIOS, LosParams
from pybridge.config import ConfigError, ScenarioConfig, param

OBS_REDUCE = ("full", "min", "mean", "max", "median")
OBS_QUANTITY = ("sinr", "interference")
TRAFFIC = ("full-buffer", "poisson", "periodic")

# The alley layout holds this many robots per 180 m x 80 m tile before `hall_tiles="auto"`
# adds tiles: one robot per ~6.5 m of lane keeps traffic flowing (ours; the reference has N <= 50).
ROBOTS_PER_TILE_AUTO = 100
# `interference_model="auto"`: the neighbour refresh above this many subnetworks (its error is
# tested against the exact refresh up to here, tests/unit/test_twin_scale.py).
NEIGHBOUR_AUTO_ABOVE = 300


@dataclass(frozen=True)
class InxFactoryConfig(ScenarioConfig):
    scenario: ClassVar[str] = "inx-factory"

    # --- deployment -------------------------------------------------------------------------
    n_subnetworks: int = param(20, "number of in-robot subnetworks N (agents)", source="ref002",
                               low=1, high=20000)
    n_devices: int = param(1, "devices per subnetwork M", source="ref002 (Case I/II use M>=1)",
                           low=1, high=64)
    n_channels: int = param(4, "shared orthogonal channels K", source="ref002", low=1, high=1024)
    hall_tiles: int = param("auto", "the hall is hall_tiles x hall_tiles copies of the 180 m x 80 m"
                            f" layout; auto: smallest that keeps <= {ROBOTS_PER_TILE_AUTO} robots"
                            " per tile", choices=("auto",), low=1, high=64)
    subnetwork_radius: float = param(1.0, "devices lie uniformly in a disc of this radius around"
                                     " their access point", source="ref002", unit="m",
                                     low=0.0, high=10.0, low_open=True)
    speed: float = param(3.0, "robot speed along the alleys", source="ref002", unit="m/s",
                         low=0.0, high=30.0)
    min_separation: float = param(1.0, "minimum robot centre-to-centre distance (at most the"
                                  " 2.5 m between opposite lanes)", source="ref002", unit="m",
                                  low=0.1, high=2.5)
    ap_height: float = param(None, "access-point antenna height; default 1.5 m for the low-BS"
                             " clutter types, 8 m for the high-BS ones", source="38.901 Table"
                             " 7.2-4", unit="m", low=0.5, high=30.0)
    device_height: float = param(1.5, "device antenna height", source="38.901 Table 7.2-4",
                                 unit="m", low=0.5, high=30.0)

    # --- radio --------------------------------------------------------------------------------
    carrier_freq_ghz: float = param(6.0, "carrier frequency", source="ref002", unit="GHz",
                                    low=0.5, high=100.0)
    channel_bandwidth_hz: float = param(10e6, "bandwidth of each channel", source="ref002",
                                        unit="Hz", low=1e3, high=1e9)
    tx_power_dbm: float = param(-10.0, "access-point transmit power", source="ref002",
                                unit="dBm", low=-60.0, high=40.0)
    noise_figure_db: float = param(10.0, "receiver noise figure", source="ref002", unit="dB",
                                   low=0.0, high=30.0)
    clutter: str = param("sparse", "InF clutter type: sparse=InF-SL, dense=InF-DL, sparse-high="
                         "InF-SH, dense-high=InF-DH, high-high=InF-HH", source="ref002 (sparse)",
                         choices=tuple(CLUTTER_SCENARIOS))
    clutter_density: float = param(None, "clutter density r; default: calibration value of"
                                   " `clutter` (0.2 sparse, 0.6 dense)", source="38.901 Table"
                                   " 7.2-4", low=0.0, high=1.0, low_open=True)
    clutter_size: float = param(None, "clutter size d_clutter; default 10 m sparse, 2 m dense",
                                source="38.901 Table 7.2-4", unit="m", low=0.0, high=100.0,
                                low_open=True)
    clutter_height: float = param(None, "effective clutter height h_c; default 2 m sparse, 6 m"
                                  " dense", source="38.901 Table 7.2-4 / DESIGN.md", unit="m",
                                  low=0.0, high=30.0, low_open=True)
    shadow_corr_distance: float = param(10.0, "shadowing decorrelation distance d_c",
                                        source="ref002 Table I; 38.901 Table 7.5-6", unit="m",
                                        low=0.0, high=1000.0, low_open=True)
    los_corr_distance: float = param(None, "LOS-state correlation distance; default"
                                     " d_clutter / 2", source="38.901 Table 7.6.3.1-2",
                                     unit="m", low=0.0, high=1000.0, low_open=True)
    blocklength: int = param(256, "finite-blocklength code length l in channel uses (a 32-byte"
                             " packet at ~1 bit per channel use; not published in ref002)",
                             low=1, high=10**7)
    error_prob: float = param(1e-5, "target decoding error probability epsilon (URLLC; not"
                              " published in ref002)", low=0.0, high=0.5, low_open=True)

    # --- decision process ---------------------------------------------------------------------
    step_duration: float = param(0.005, "decision interval T", source="ref002", unit="s",
                                 low=0.0, high=10.0, low_open=True)
    episode_steps: int = param(200, "decision steps per episode", source="ref002", low=1,
                               high=10**7)
    tau_max: int = param(10, "a channel switch takes effect after U{1..tau_max} steps",
                         source="ref002", low=1, high=10**4)
    r_min: float = param(11.0, "minimum rate target", source="ref002", unit="bps/Hz",
                         low=0.0, high=100.0)
    lambda_rate: float = param(1.0, "reward weight lambda_1 of the rate sum (eq. 13; not"
                               " published)", low=0.0, high=1e6)
    lambda_penalty: float = param(1.0, "reward weight lambda_2 of the shortfall below r_min"
                                  " (eq. 13; not published)", low=0.0, high=1e6)
    obs_quantity: str = param("sinr", "per-channel measurement: SINR (dB) the device would see,"
                              " or interference-plus-noise power (dBm)", source="ref002 eq. 11",
                              choices=OBS_QUANTITY)
    obs_reduce: str = param("mean", "reduction over a subnetwork's devices (full keeps all M:"
                            " Case I; min/mean/max/median: Case II)", source="ref002 eq. 12",
                            choices=OBS_REDUCE)

    # --- packet level (ns-3 backend only) ------------------------------------------------------
    # The twin abstracts traffic as a full buffer with one transmission per step; these shape the
    # ns-3 scenario's real packets (ns3-scenarios/mac/) and are ignored by the twin.
    traffic: str = param("full-buffer", "ns-3 only: downlink traffic per device; full-buffer ="
                         " infinite backlog (the twin's assumption), poisson / periodic = one"
                         " packet per packet_interval on average / exactly", choices=TRAFFIC)
    packet_size: int = param(32, "ns-3 only: packet payload (short URLLC packets)", unit="B",
                             low=1, high=65535)
    packet_interval: float = param(1e-4, "ns-3 only: mean time between packets per device for"
                                   " poisson / periodic traffic", unit="s", low=0.0, high=10.0,
                                   low_open=True)
    queue_size: int = param(1000, "ns-3 only: DropTailQueue capacity per device", unit="packets",
                            low=1, high=10**7)

    # --- numerics -----------------------------------------------------------------------------
    large_scale_update_steps: int = param(10, "positions, LOS states, path loss and shadowing"
                                          " are refreshed every this many steps (10 x 5 ms ="
                                          " 15 cm of travel, 1.5 % of d_c); fading every step",
                                          low=1, high=10**4)
    max_faded_interferers: int = param(64, "per device, the strongest interferers get their own"
                                       " fading process; weaker ones add their mean power."
                                       " Exact whenever N - 1 <= this value", low=1,
                                       high=10**5)
    interference_model: str = param("auto", "twin only: exact = every link's LOS, path loss and"
                                    " shadowing at every refresh; neighbour = near links exact,"
                                    " far links from separable endpoint fields with stated"
                                    " error (large_scale.py); auto = neighbour above N = 300",
                                    choices=("auto", "exact", "neighbour"))
    near_radius: float = param(50.0, "twin only, neighbour model: links shorter than this are"
                               " computed exactly (and the L+1 nearest at least)", unit="m",
                               low=5.0, high=1e5)
    far_refresh_interval: int = param(4, "twin only, neighbour model: far links' distance terms"
                                      " and the near/far split are rebuilt every this many"
                                      " large-scale refreshes", low=1, high=10**4)
    # None (the default): fresh entropy on the first reset, as Gymnasium's reset() without a
    # seed; so new envs (e.g. SuperSuit's vectorised copies) do not repeat one episode. A seed
    # here, or reset(seed=), makes a run reproducible; fedmarl always passes explicit seeds.
    seed: int = param(None, "master seed: mobility, channel and switching-delay draws", low=0,
                      high=2**63 - 1)

    # ------------------------------------------------------------------------------------------
    def _validate_relations(self) -> None:
        if self.inf_scenario in ("SH", "DH") and not (
                self.resolved_ap_height > self.resolved_clutter_height > self.device_height):
            raise ConfigError(
                f"inx-factory: clutter={self.clutter!r} (InF-{self.inf_scenario}) needs "
                f"ap_height > clutter_height > device_height, got {self.resolved_ap_height} / "
                f"{self.resolved_clutter_height} / {self.device_height} m")
        if self.n_devices > 1 and self.subnetwork_radius <= 0:
            raise ConfigError("inx-factory: subnetwork_radius must be > 0")

    # Derived values: every consumer reads these, never the raw None fields.
    @property
    def inf_scenario(self) -> str:
        """The InF sub-scenario (SL, DL, SH, DH, HH) selected by `clutter`."""
        return CLUTTER_SCENARIOS[self.clutter]

    def _clutter_default(self, key: str) -> float:
        base = "dense" if self.clutter.startswith("dense") else "sparse"
        return CLUTTER_DEFAULTS[base][key]

    @property
    def resolved_clutter_density(self) -> float:
        v = self.clutter_density
        return v if v is not None else self._clutter_default("clutter_density")

    @property
    def resolved_clutter_size(self) -> float:
        v = self.clutter_size
        return v if v is not None else self._clutter_default("clutter_size")

    @property
    def resolved_clutter_height(self) -> float:
        v = self.clutter_height
        return v if v is not None else self._clutter_default("clutter_height")

    @property
    def resolved_los_corr_distance(self) -> float:
        v = self.los_corr_distance
        return v if v is not None else self.resolved_clutter_size / 2.0

    @property
    def resolved_ap_height(self) -> float:
        if self.ap_height is not None:
            return self.ap_height
        return 8.0 if self.inf_scenario in ("SH", "DH", "HH") else 1.5

    @property
    def resolved_hall_tiles(self) -> int:
        if self.hall_tiles != "auto":
            return int(self.hall_tiles)
        return max(1, math.ceil(math.sqrt(self.n_subnetworks / ROBOTS_PER_TILE_AUTO)))

    @property
    def los_params(self) -> LosParams:
        """The inputs of TR 38.901's InF LOS probability for this config (one place: the twin
        and the neighbour refresh's error bounds read it)."""
        return LosParams(
            scenario=self.inf_scenario, clutter_density=self.resolved_clutter_density,
            clutter_size=self.resolved_clutter_size, clutter_height=self.resolved_clutter_height,
            h_bs=self.resolved_ap_height, h_ut=self.device_height)

    @property
    def resolved_interference_model(self) -> str:
        """"exact" or "neighbour" (what `interference_model="auto"` means for this N)."""
        if self.interference_model != "auto":
            return self.interference_model
        return "neighbour" if self.n_subnetworks > NEIGHBOUR_AUTO_ABOVE else "exact"

    @property
    def n_links_devices(self) -> int:
        return self.n_subnetworks * self.n_devices

    def check_step(self, actions, n_envs: int, t: int, started: bool) -> np.ndarray:
        """The checks every backend makes before a step: an episode is running and `actions`
        are [n_envs, N] channel indices. Returns the actions as an array."""
        if not started:
            raise RuntimeError("call reset() before step()")
        if t >= self.episode_steps:
            raise RuntimeError("episode is over: call reset() to start the next one")
        actions = np.asarray(actions)
        shape = (n_envs, self.n_subnetworks)
        if actions.shape != shape:
            raise ValueError(f"actions must have shape {shape}, got {actions.shape}")
        if actions.min() < 0 or actions.max() >= self.n_channels:
            raise ValueError(f"actions must be channel indices in [0, {self.n_channels - 1}]")
        return actions

    @property
    def obs_width(self) -> int:
        """Observation length per agent: K values, or K x M for the full (Case I) state."""
        m = self.n_devices if self.obs_reduce == "full" else 1
        return self.n_channels * m
