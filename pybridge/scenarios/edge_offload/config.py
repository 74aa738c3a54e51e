"""The edge-offload scenario's parameters (issue 11; binding model docs/scenarios/edge-offload-model.md).

One parameter set serves both backends: the C++ `EdgeOffloadParams` table of the ns-3 binary has
the same names, defaults and ranges, and the ns-3 backend checks them field by field at connect.
Sources: "TR 38.913" = 3GPP TR 38.913 Sec. 7.5 (latency targets); "Mao 2017" = Mao et al., "A
survey on mobile edge computing" (cycles per bit, kappa); "ns-3" = the ns-3 model's default;
"ours" = the FERMI-6G paper (ref. 001, only its summary exists) is silent, our choice with the
reason in the help text.

Action semantics (the same rule in both backends), action a = (target, k, f) from
MultiDiscrete([1 + E, K, F]) per user and interval [t0, t0 + T):
  - target: every task ARRIVING in the interval goes to the local CPU queue (0) or to the uplink
    buffer addressed to server e = target - 1; tasks already waiting keep their place;
  - k: every uplink transmission of the user in the interval uses channel k;
  - f: the local CPU runs at cpu_levels[f] for the whole interval.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pybridge.channel.inf import CLUTTER_DEFAULTS, CLUTTER_SCENARIOS
from pybridge.config import ConfigError, ScenarioConfig, param
from pybridge.twin.mobility import build_layout, lane_capacity

CLUTTER = ("sparse-high", "dense-high")
MOBILITY = ("random-waypoint", "alleys")
# mobility="alleys" (issue 11: "the factory alleys as an option"; DESIGN.md's 180 m x 80 m hall
# with two-lane alleys): the users move as the factory robots do (pybridge/twin/mobility.py,
# one 180 m x 80 m tile), with the robots' rules: min separation 1 m (fixed: not a parameter),
# yield at intersections.
ALLEY_HALL = (180.0, 80.0)
ALLEY_MIN_SEPARATION = 1.0
CLASSES = ("urllc", "embb", "mmtc")  # class index c = 0, 1, 2
MAX_CPU_LEVELS = 16


def parse_cpu_levels(text: str) -> np.ndarray:
    """"0.3,0.6,1.0,1.5" -> array of GHz values; ConfigError naming cpu_levels_ghz otherwise
    (1..16 strictly increasing values in (0, 10])."""
    try:
        values = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise ConfigError(f"edge-offload: parameter 'cpu_levels_ghz' must be a comma list of"
                          f" GHz values, got {text!r}") from None
    arr = np.asarray(values, dtype=np.float64)
    if not 1 <= arr.size <= MAX_CPU_LEVELS:
        raise ConfigError(f"edge-offload: parameter 'cpu_levels_ghz' needs 1..{MAX_CPU_LEVELS}"
                          f" levels, got {arr.size} ({text!r})")
    if not np.all(np.isfinite(arr)) or arr.min() <= 0.0 or arr.max() > 10.0:
        raise ConfigError(f"edge-offload: parameter 'cpu_levels_ghz' values must lie in (0, 10]"
                          f" GHz, got {text!r}")
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ConfigError(f"edge-offload: parameter 'cpu_levels_ghz' must be strictly"
                          f" increasing, got {text!r}")
    return arr


@functools.cache
def alley_capacity() -> int:
    """Users mobility="alleys" can place: lane_capacity of one tile at ALLEY_MIN_SEPARATION."""
    return lane_capacity(build_layout(), ALLEY_MIN_SEPARATION)


@dataclass(frozen=True)
class EdgeOffloadConfig(ScenarioConfig):
    scenario: ClassVar[str] = "edge-offload"

    # --- deployment -------------------------------------------------------------------------
    n_users: int = param(20, "users U (the agents)", source="FERMI-6G (5..50)", low=1, high=5000)
    n_servers: int = param(2, "edge servers E, each behind a ceiling access point at x = L (e +"
                           " 0.5) / E, y = W/2", source="issue 11", low=1, high=16)
    n_channels: int = param(4, "uplink channels K, 20 MHz each in the 6 GHz band (ns-3: channel"
                            " numbers 1, 5, 9, ...)", source="issue 11", low=1, high=32)
    channel_bandwidth_hz: float = param(20e6, "bandwidth of each uplink channel (802.11ax 20 MHz;"
                                        " only 20e6 is accepted)", source="802.11ax", unit="Hz",
                                        low=20e6, high=20e6)
    carrier_freq_ghz: float = param(6.0, "InF path-loss frequency of all K channels (they span"
                                    " 5.955..6.6 GHz: < 1 dB)", source="ours", unit="GHz",
                                    low=0.5, high=100.0)
    tx_power_dbm: float = param(20.0, "user and access-point transmit power", source="ours",
                                unit="dBm", low=-10.0, high=30.0)
    noise_figure_db: float = param(7.0, "receiver noise figure (ns-3 WifiPhy RxNoiseFigure)",
                                   source="ns-3", unit="dB", low=0.0, high=30.0)
    clutter: str = param("sparse-high", "InF clutter type: sparse-high = InF-SH, dense-high ="
                         " InF-DH (access points above the clutter)", source="38.901",
                         choices=CLUTTER)
    hall_length: float = param(180.0, "hall length L", source="DESIGN.md", unit="m", low=10.0,
                               high=1000.0)
    hall_width: float = param(80.0, "hall width", source="DESIGN.md", unit="m", low=10.0,
                              high=1000.0)
    ap_height: float = param(8.0, "ceiling access-point height", source="38.901 (high BS)",
                             unit="m", low=2.0, high=30.0)
    user_height: float = param(1.5, "user device height", source="38.901 UT", unit="m",
                               low=0.5, high=3.0)
    speed: float = param(1.5, "user speed: random waypoint (uniform waypoints, no pause) or"
                         " along the alley lanes", source="issue 11", unit="m/s", low=0.0,
                         high=10.0)
    mobility: str = param("random-waypoint", "how users move: random-waypoint (uniform waypoints"
                          " in the hall) or alleys (along the two-lane alleys of the 180 m x 80 m"
                          " factory tile, as the factory robots: min separation 1 m (fixed),"
                          " yield at intersections; needs hall_length=180, hall_width=80)",
                          source="issue 11, DESIGN.md", choices=MOBILITY)
    shadow_corr_distance: float = param(10.0, "shadowing decorrelation distance",
                                        source="38.901 Table 7.5-6", unit="m", low=0.0,
                                        high=1000.0, low_open=True)

    # --- decision process ---------------------------------------------------------------------
    interval_s: float = param(0.01, "decision interval T", source="ours", unit="s", low=0.001,
                              high=1.0)
    episode_steps: int = param(200, "decision intervals per episode (2 s)", source="ours", low=1,
                               high=10**7)

    # --- tasks ------------------------------------------------------------------------------------
    urllc_bits: float = param(1000.0, "URLLC task size", source="TR 38.913", unit="bit",
                              low=0.0, high=1e9, low_open=True)
    urllc_deadline_s: float = param(0.010, "URLLC deadline after arrival", source="TR 38.913",
                                    unit="s", low=0.0, high=100.0, low_open=True)
    urllc_rate: float = param(20.0, "URLLC arrivals per user (ours: Bernoulli p = rate x T per"
                              " interval)", source="ours", unit="tasks/s", low=0.0, high=1000.0)
    embb_bits: float = param(2e6, "eMBB task size", source="issue 11", unit="bit", low=0.0,
                             high=1e9, low_open=True)
    embb_deadline_s: float = param(1.0, "eMBB deadline after arrival", source="TR 38.913",
                                   unit="s", low=0.0, high=100.0, low_open=True)
    embb_rate: float = param(0.5, "eMBB arrivals per user (ours: Bernoulli per interval)",
                             source="ours", unit="tasks/s", low=0.0, high=1000.0)
    mmtc_bits: float = param(1600.0, "mMTC task size (200 B)", source="issue 11", unit="bit",
                             low=0.0, high=1e9, low_open=True)
    mmtc_deadline_s: float = param(10.0, "mMTC deadline after arrival", source="TR 38.913",
                                   unit="s", low=0.0, high=100.0, low_open=True)
    mmtc_rate: float = param(1.0, "mMTC arrivals per user (ours: Bernoulli per interval)",
                             source="ours", unit="tasks/s", low=0.0, high=1000.0)

    # --- computing --------------------------------------------------------------------------------
    cycles_per_bit: float = param(737.5, "CPU cycles per task bit", source="Mao 2017",
                                  unit="cycles/bit", low=0.0, high=1e6, low_open=True)
    kappa: float = param(1e-28, "CPU energy coefficient: kappa f^2 joules per cycle",
                         source="Mao 2017", unit="J/cycle/Hz^2", low=0.0, high=1e-20,
                         low_open=True)
    cpu_levels_ghz: str = param("0.3,0.6,1.0,1.5", "local CPU levels F (comma list, 1..16"
                                " strictly increasing values in (0, 10] GHz)", source="issue 11")
    cpu_idle_power_w: float = param(0.01, "ours: power the local CPU draws while it has no work",
                                    source="ours", unit="W", low=0.0, high=10.0)
    server_cpu_hz: float = param(20e9, "CPU speed of each edge server (FIFO)", source="issue 11",
                                 unit="Hz", low=1e6, high=1e12)
    result_bits: float = param(800.0, "ours: result returned to the user (100 B)", source="ours",
                               unit="bit", low=0.0, high=1e7)
    max_tasks: int = param(32, "ours: tasks a user holds at once (local + uplink + at a server);"
                           " an arrival beyond it is rejected = counted late at once",
                           source="ours", low=1, high=4096)

    # --- radio energy -----------------------------------------------------------------------------
    radio_voltage_v: float = param(3.0, "supply voltage (ns-3 BasicEnergySource default)",
                                   source="ns-3", unit="V", low=0.0, high=24.0, low_open=True)
    radio_tx_current_a: float = param(0.380, "transmit current (ns-3 WifiRadioEnergyModel"
                                      " TxCurrentA)", source="ns-3", unit="A", low=0.0, high=10.0)
    radio_rx_current_a: float = param(0.313, "receive current (ns-3 RxCurrentA); idle/CCA-busy"
                                      " current is 0 (ours: the radio duty-cycles)",
                                      source="ns-3", unit="A", low=0.0, high=10.0)

    # --- reward -----------------------------------------------------------------------------------
    w_success: float = param(1.0, "reward weight of (done - late) (ours: ref. III-D names the"
                             " terms, not values)", source="ours", low=0.0, high=1e6)
    w_latency: float = param(0.5, "reward weight of sum over done tasks of latency / deadline",
                             source="ours", low=0.0, high=1e6)
    w_energy: float = param(10.0, "reward weight of the interval's CPU + radio energy",
                            source="ours", unit="1/J", low=0.0, high=1e6)
    w_spectral: float = param(0.01, "reward weight of uplink payload bits / (20e6 x T)",
                              source="ours", low=0.0, high=1e6)
    w_fairness: float = param(0.0, "reward weight of 1 - Jain's index of users' success ratios",
                              source="ours", low=0.0, high=1e6)
    seed: int = param(0, "master seed: mobility, channel, arrivals", low=0, high=2**63 - 1)

    # ------------------------------------------------------------------------------------------
    def _validate_relations(self) -> None:
        for c in CLASSES:
            rate = getattr(self, f"{c}_rate")
            if rate * self.interval_s > 1.0 + 1e-12:
                raise ConfigError(
                    f"edge-offload: {c}_rate x interval_s = {rate * self.interval_s:g} > 1:"
                    " Bernoulli arrivals need at most one task per interval")
        parse_cpu_levels(self.cpu_levels_ghz)
        if self.mobility == "alleys":
            if (self.hall_length, self.hall_width) != ALLEY_HALL:
                raise ConfigError(
                    f"edge-offload: mobility='alleys' needs hall_length=180 and hall_width=80 m"
                    f" (the factory alley tile), got hall_length={self.hall_length:g},"
                    f" hall_width={self.hall_width:g}")
            cap = alley_capacity()
            if self.n_users > cap:
                raise ConfigError(
                    f"edge-offload: mobility='alleys' holds at most {cap} users (the lane"
                    f" capacity of one 180 m x 80 m tile at {ALLEY_MIN_SEPARATION:g} m"
                    f" separation), got n_users={self.n_users}")
        h_c = self.clutter_params()["clutter_height"]
        if not self.ap_height > h_c > self.user_height:
            # ours: the InF-SH/DH LOS probability (38.901 Table 7.4.2-1) needs it
            raise ConfigError(
                f"edge-offload: clutter={self.clutter!r} (clutter height {h_c:g} m) needs"
                f" ap_height > clutter height > user_height, got ap_height={self.ap_height:g},"
                f" user_height={self.user_height:g} m")

    # Derived values ------------------------------------------------------------------------
    @property
    def cpu_levels_hz(self) -> np.ndarray:
        """The F CPU levels in Hz (a new array on every call)."""
        return parse_cpu_levels(self.cpu_levels_ghz) * 1e9

    @property
    def n_cpu_levels(self) -> int:
        return int(parse_cpu_levels(self.cpu_levels_ghz).size)

    @property
    def step_duration(self) -> float:
        """Simulated seconds per env step (`fedmarl bench ns3` reads it)."""
        return self.interval_s

    @property
    def obs_width(self) -> int:
        """W = 10 + K + 2E (model section 5)."""
        return 10 + self.n_channels + 2 * self.n_servers

    def ap_positions(self) -> np.ndarray:
        """Access point e (one per server) at x = L (e + 0.5) / E, y = W / 2: [E, 2] m (model
        section 2; both backends' cores report these)."""
        e = np.arange(self.n_servers)
        return np.stack([self.hall_length * (e + 0.5) / self.n_servers,
                         np.full(self.n_servers, self.hall_width / 2.0)], axis=-1)

    @property
    def inf_scenario(self) -> str:
        return CLUTTER_SCENARIOS[self.clutter]

    def clutter_params(self) -> dict[str, float]:
        """38.901 Table 7.2-4 calibration values of the clutter type (density, size, height)."""
        return CLUTTER_DEFAULTS["dense" if self.clutter.startswith("dense") else "sparse"]

    def class_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bits, deadline s, arrival probability per interval), each [3] in class order."""
        bits = np.array([self.urllc_bits, self.embb_bits, self.mmtc_bits], dtype=np.float64)
        dl = np.array([self.urllc_deadline_s, self.embb_deadline_s, self.mmtc_deadline_s])
        p = np.array([self.urllc_rate, self.embb_rate, self.mmtc_rate]) * self.interval_s
        return bits, dl, np.minimum(p, 1.0)

    def check_step(self, actions, n_envs: int, t: int, started: bool) -> np.ndarray:
        """The checks every backend makes before a step: an episode is running and `actions` are
        [n_envs, U, 3] = (target 0..E, channel 0..K-1, CPU level 0..F-1). One ConfigError naming
        the first bad agent and component otherwise."""
        if not started:
            raise RuntimeError("call reset() before step()")
        if t >= self.episode_steps:
            raise RuntimeError("episode is over: call reset() to start the next one")
        a = np.asarray(actions)
        shape = (n_envs, self.n_users, 3)
        if a.shape != shape:
            raise ConfigError(f"edge-offload: actions must have shape {shape} (target, channel,"
                              f" CPU level per user), got {a.shape}")
        if a.dtype.kind not in "iu":
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                a = a.astype(np.int64)
            else:
                raise ConfigError(f"edge-offload: actions must be integers, got dtype {a.dtype}")
        high = np.array([1 + self.n_servers, self.n_channels, self.n_cpu_levels])
        bad = (a < 0) | (a >= high)
        if bad.any():
            b, u, c = (int(x) for x in np.argwhere(bad)[0])
            names = ("target", "channel", "cpu_level")
            raise ConfigError(f"edge-offload: user_{u} (copy {b}): {names[c]} = {int(a[b, u, c])}"
                              f" is out of range [0, {int(high[c]) - 1}]")
        return a
