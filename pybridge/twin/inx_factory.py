"""Numpy twin of the inx-factory scenario: B independent copies stepped together.

Per decision step (T = 5 ms) each copy:
1. applies the agents' channel requests through the random switching delay U{1..tau_max};
2. every `large_scale_update_steps` moves the robots along the alleys and refreshes positions,
   LOS states, path loss and shadowing (they change over metres, robots move 1.5 cm a step);
3. advances the AR(1) Rayleigh fading of every link, h <- rho h + sqrt(1 - rho^2) w;
4. computes, for every device and every channel, the received interference (a batched matmul
   of the link powers with the one-hot channel map; no Python loops over agents), the SINR on
   the channel in use, finite-blocklength and Shannon rates, the eq. (13) reward, and the
   per-channel observation.

Large N: each device keeps its own fading process only for its `max_faded_interferers` strongest
interferers (re-chosen at every large-scale refresh); the others add their mean power. A link that
re-enters the faded set is advanced exactly over the steps it missed (an AR(1) process sampled
every D steps is an AR(1) with coefficient rho^D), so fading statistics stay exact per link.
For N - 1 <= max_faded_interferers (the default N = 20) every link is faded: no approximation.

Conventions: devices are indexed d = n * M + m (n the subnetwork, m its device); "gain" arrays
are [B, D, N] = from access point i to device d; powers are in watts, rates in bps/Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.inx_factory import InxFactoryConfig
from pybridge.twin.mobility import AlleyMobility, build_layout


@dataclass
class StepData:
    """What one step produced, for metrics and policies; arrays are views, copy to keep."""

    rate_fbl: np.ndarray  # [B, N, M] bps/Hz, finite blocklength (eq. 2)
    rate_shannon: np.ndarray  # [B, N, M] bps/Hz
    sinr: np.ndarray  # [B, N, M] linear, on the channel in use
    interference_w: np.ndarray  # [B, N, M] co-channel interference (no noise), W
    channel: np.ndarray  # [B, N] channel in use during the step
    reward: np.ndarray  # [B, N]
    switches: np.ndarray  # [B, N] bool: a switch took effect at this step


class InxFactoryTwin:
    """Vectorised inx-factory simulator over `n_envs` independent copies."""

    def __init__(self, cfg: InxFactoryConfig, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B = n_envs
        self.N = cfg.n_subnetworks
        self.M = cfg.n_devices
        self.K = cfg.n_channels
        self.D = self.N * self.M
        tiles = cfg.resolved_hall_tiles
        self.layout = build_layout(tiles, tiles)
        self.mobility = AlleyMobility(self.layout, n_envs, self.N, speed=cfg.speed,
                                      d_min=cfg.min_separation)
        self.owner = np.repeat(np.arange(self.N), self.M)  # [D] subnetwork of each device
        self.los_params = inf.LosParams(
            scenario=cfg.inf_scenario, clutter_density=cfg.resolved_clutter_density,
            clutter_size=cfg.resolved_clutter_size, clutter_height=cfg.resolved_clutter_height,
            h_bs=cfg.resolved_ap_height, h_ut=cfg.device_height)
        self.height_diff = cfg.resolved_ap_height - cfg.device_height
        self.tx_power_w = float(inf.dbm_to_w(cfg.tx_power_dbm))
        self.noise_w = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
        self.rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, cfg.step_duration)
        self.n_faded = min(self.N - 1, cfg.max_faded_interferers)
        self.exact = self.n_faded == self.N - 1
        self._qinv = inf.qinv(cfg.error_prob)
        self._rng = np.random.default_rng(cfg.seed)
        self._own_mask = np.ones((self.D, self.N))
        self._own_mask[np.arange(self.D), self.owner] = 0.0
        self._k_range = np.arange(self.K)
        self.t = 0
        self._started = False

    # ------------------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every copy; returns the first observation [B, N, W]."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng = self._rng
        B, N, D = self.B, self.N, self.D
        self.t = 0
        self.mobility.reset(rng)
        r = self.cfg.subnetwork_radius * np.sqrt(rng.uniform(size=(B, D)))
        theta = rng.uniform(0.0, 2.0 * np.pi, size=(B, D))
        self.device_offsets = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=-1)
        self.shadow_field = ExponentialField(B, self.cfg.shadow_corr_distance, rng)
        self.los_field = ExponentialField(B, self.cfg.resolved_los_corr_distance, rng)
        # Stationary start of the fading: h ~ CN(0, 1), each quadrature N(0, 1/2).
        self.h_re = rng.standard_normal((B, D, N)) * np.sqrt(0.5)
        self.h_im = rng.standard_normal((B, D, N)) * np.sqrt(0.5)
        self.h_own_re = rng.standard_normal((B, D)) * np.sqrt(0.5)
        self.h_own_im = rng.standard_normal((B, D)) * np.sqrt(0.5)
        self._last_fade = np.zeros((B, D, N), dtype=np.int64)
        self.channel = rng.integers(0, self.K, size=(B, N))
        self.pending = np.full((B, N), -1)
        self.countdown = np.zeros((B, N), dtype=np.int64)
        self._refresh_large_scale()
        self._started = True
        self.last = self._measure(np.zeros((B, N), dtype=bool))
        return self.observation()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one decision interval. actions: [B, N] channel indices.

        Returns (observation [B, N, W], reward [B, N], episode_done).
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self.t >= self.cfg.episode_steps:
            raise RuntimeError("episode is over: call reset() to start the next one")
        actions = np.asarray(actions)
        if actions.shape != (self.B, self.N):
            raise ValueError(f"actions must have shape {(self.B, self.N)}, got {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.K):
            raise ValueError(f"actions must be channel indices in [0, {self.K - 1}]")
        switched = self._apply_switching(actions)
        self.t += 1
        if self.t % self.cfg.large_scale_update_steps == 0:
            self.mobility.step(self.cfg.large_scale_update_steps * self.cfg.step_duration,
                               self._rng)
            self._refresh_large_scale()
        self._advance_fading()
        self.last = self._measure(switched)
        return self.observation(), self.last.reward, self.t >= self.cfg.episode_steps

    # ------------------------------------------------------------------------- switching
    def _apply_switching(self, actions: np.ndarray) -> np.ndarray:
        """Random switching delay: a request takes effect U{1..tau_max} steps later.

        While a switch is pending the radio is retuning, so further requests are ignored; a
        request for the channel already in use is no request.
        """
        pending = self.pending >= 0
        self.countdown -= pending
        done = pending & (self.countdown <= 0)
        self.channel = np.where(done, self.pending, self.channel)
        self.pending = np.where(done, -1, self.pending)
        request = (actions != self.channel) & (self.pending < 0)
        if request.any():
            delay = self._rng.integers(1, self.cfg.tau_max + 1, size=request.shape)
            self.pending = np.where(request, actions, self.pending)
            self.countdown = np.where(request, delay, self.countdown)
        return done

    # ----------------------------------------------------------------------- large scale
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Access-point positions [B, N, 2] and device positions [B, D, 2], metres."""
        ap = self.mobility.positions
        return ap, ap[:, self.owner] + self.device_offsets

    def _refresh_large_scale(self) -> None:
        """Path loss, LOS state and shadowing of every link at the current positions."""
        cfg, p = self.cfg, self.los_params
        ap, dev = self.positions()
        diff = dev[:, :, None, :] - ap[:, None, :, :]
        d2d = np.sqrt(np.einsum("bdnx,bdnx->bdn", diff, diff))
        d3d = np.sqrt(d2d * d2d + self.height_diff**2)
        z_los = self.los_field.link_values(self.los_field(dev), self.los_field(ap), d2d)
        # Spatially consistent LOS draw: u = Phi(z) is uniform per link and moves smoothly.
        self.los = ndtr(z_los) < inf.los_probability(d2d, p)
        z_sh = self.shadow_field.link_values(self.shadow_field(dev), self.shadow_field(ap), d2d)
        pl = np.where(self.los, inf.pathloss_los(d3d, cfg.carrier_freq_ghz),
                      inf.pathloss_nlos(d3d, cfg.carrier_freq_ghz, p.scenario))
        self.shadowing_db = inf.shadow_std_db(p.scenario, self.los) * z_sh
        self.pathloss_db = pl
        self.d2d = d2d
        gain = self.tx_power_w * 10.0 ** (-(pl + self.shadowing_db) / 10.0)  # received power
        self.rx_own = gain[:, np.arange(self.D), self.owner]  # [B, D] mean own-signal power
        self.rx_int = gain * self._own_mask  # [B, D, N] mean interference power, own link 0
        if not self.exact:
            # The strongest interferers of each device get fading; the rest add mean power.
            self.nb = np.argpartition(-self.rx_int, self.n_faded - 1, axis=-1)[..., :self.n_faded]
            self.rx_nb = np.take_along_axis(self.rx_int, self.nb, axis=-1)
            self.rx_rest = self.rx_int.copy()
            np.put_along_axis(self.rx_rest, self.nb, 0.0, axis=-1)
            self._nb_flat = (self.nb + (np.arange(self.B) * self.N)[:, None, None]).ravel()

    # ---------------------------------------------------------------------------- fading
    def _advance_fading(self) -> None:
        rho, rng = self.rho, self._rng
        s = np.sqrt((1.0 - rho * rho) / 2.0)
        for arr in (self.h_own_re, self.h_own_im):
            arr *= rho
            arr += s * rng.standard_normal(arr.shape)
        if self.exact:
            for arr in (self.h_re, self.h_im):
                arr *= rho
                arr += s * rng.standard_normal(arr.shape)
            return
        # Lazy exact update of the faded subset: D missed steps -> coefficient rho^D.
        gap = self.t - np.take_along_axis(self._last_fade, self.nb, axis=-1)
        a = rho ** gap
        sd = np.sqrt((1.0 - a * a) / 2.0)
        for arr in (self.h_re, self.h_im):
            h = np.take_along_axis(arr, self.nb, axis=-1) * a + sd * rng.standard_normal(gap.shape)
            np.put_along_axis(arr, self.nb, h, axis=-1)
        np.put_along_axis(self._last_fade, self.nb, self.t, axis=-1)

    # --------------------------------------------------------------------------- measure
    def _measure(self, switched: np.ndarray) -> StepData:
        """SINR per channel at every device, rates and rewards for the channels in use."""
        B, N, M, K, D = self.B, self.N, self.M, self.K, self.D
        onehot = (self.channel[:, :, None] == self._k_range).astype(np.float64)  # [B, N, K]
        if self.exact:
            p_int = (self.h_re * self.h_re + self.h_im * self.h_im) * self.rx_int
            interf = np.matmul(p_int, onehot)  # [B, D, K]
        else:
            h_re = np.take_along_axis(self.h_re, self.nb, axis=-1)
            h_im = np.take_along_axis(self.h_im, self.nb, axis=-1)
            p_nb = (h_re * h_re + h_im * h_im) * self.rx_nb  # [B, D, L]
            bins = (np.arange(B * D)[:, None] * K + self.channel.ravel()[self._nb_flat]
                    .reshape(B * D, -1)).ravel()
            interf = np.bincount(bins, weights=p_nb.ravel(), minlength=B * D * K)
            interf = interf.reshape(B, D, K) + np.matmul(self.rx_rest, onehot)
        signal = (self.h_own_re**2 + self.h_own_im**2) * self.rx_own  # [B, D]
        self.sinr_per_channel = signal[:, :, None] / (interf + self.noise_w)  # [B, D, K]
        self.interference_per_channel = interf
        dev_channel = self.channel[:, self.owner][:, :, None]  # [B, D, 1]
        sinr = np.take_along_axis(self.sinr_per_channel, dev_channel, axis=-1)[..., 0]
        i_used = np.take_along_axis(interf, dev_channel, axis=-1)[..., 0]
        fbl = self._fbl(sinr).reshape(B, N, M)
        cfg = self.cfg
        return StepData(
            rate_fbl=fbl,
            rate_shannon=np.log2(1.0 + sinr).reshape(B, N, M),
            sinr=sinr.reshape(B, N, M),
            interference_w=i_used.reshape(B, N, M),
            channel=self.channel.copy(),
            reward=inf.reward_eq13(fbl, cfg.r_min, cfg.lambda_rate, cfg.lambda_penalty),
            switches=switched,
        )

    def _fbl(self, sinr: np.ndarray) -> np.ndarray:
        return inf.fbl_se(sinr, self.cfg.blocklength, self.cfg.error_prob)

    # ---------------------------------------------------------------------- observations
    def observation(self) -> np.ndarray:
        """Per-agent observation [B, N, W] float32 (W = K, or K * M for obs_reduce="full")."""
        B, N, M, K = self.B, self.N, self.M, self.K
        if self.cfg.obs_quantity == "sinr":
            x = 10.0 * np.log10(self.sinr_per_channel)
        else:
            x = 10.0 * np.log10(self.interference_per_channel + self.noise_w) + 30.0  # dBm
        x = x.reshape(B, N, M, K)
        how = self.cfg.obs_reduce
        if how == "full":
            out = np.swapaxes(x, 2, 3).reshape(B, N, K * M)  # channel-major, devices inside
        elif M == 1:
            out = x[:, :, 0, :]
        else:
            out = getattr(np, how)(x, axis=2)
        return np.clip(out, OBS_LOW, OBS_HIGH).astype(np.float32)

    def sinr_db(self) -> np.ndarray:
        """Measured SINR per channel at every device, [B, N, M, K] dB (for greedy policies)."""
        return 10.0 * np.log10(self.sinr_per_channel).reshape(self.B, self.N, self.M, self.K)

    def coupling(self) -> np.ndarray:
        """Mean interference power from AP i at subnetwork n's devices, [B, N, N] W, diag 0.

        Large-scale (path loss + shadowing) values: what a central controller collects from
        measurement reports; the 5 ms fading decorrelates too fast to be coordinated on.
        """
        return self.rx_int.reshape(self.B, self.N, self.M, self.N).mean(axis=2)

    def state(self) -> np.ndarray:
        """Global state per copy: every agent's observation and channel, [B, N * (W + 1)]."""
        obs = self.observation()
        chan = (self.channel / max(self.K - 1, 1)).astype(np.float32)[:, :, None]
        return np.concatenate([obs, chan], axis=-1).reshape(self.B, -1)


OBS_LOW, OBS_HIGH = -150.0, 150.0  # dB / dBm bounds of the observation space
