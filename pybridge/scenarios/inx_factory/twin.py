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

from typing import Any

import numpy as np
from scipy.special import ndtri

from pybridge import _twin_kernels
from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.inx_factory.config import InxFactoryConfig
from pybridge.scenarios.inx_factory.large_scale import THREADS, NeighbourRefresh
from pybridge.twin.mobility import AlleyMobility, build_layout

OBS_LOW, OBS_HIGH = -150.0, 150.0  # dB / dBm bounds of the observation space


class StepData:
    """What one step produced, for metrics and policies. Arrays are views: copy to keep them.

    Derived quantities (Shannon rate, interference on the channel in use) are computed on first
    access: training loops that read only the reward do not pay for them.
    """

    def __init__(self, core: InxFactoryTwin, sinr: np.ndarray, log2_1p: np.ndarray,
                 fbl: np.ndarray, reward: np.ndarray, switches: np.ndarray) -> None:
        shape = (core.B, core.N, core.M)
        self._interf = core.interference_per_channel  # a new array every step: safe to keep
        self._used_flat = core._used_flat
        self.sinr = sinr.reshape(shape)  # linear, on the channel in use
        self._log2_1p = log2_1p
        self.rate_fbl = fbl.reshape(shape)  # bps/Hz, finite blocklength (eq. 2)
        self.reward = reward  # [B, N]
        self.channel = core.channel  # [B, N]; replaced (not mutated) by the next step
        self.switches = switches  # [B, N] bool: a switch took effect at this step

    @property
    def rate_shannon(self) -> np.ndarray:
        return self._log2_1p.reshape(self.sinr.shape)

    @property
    def interference_w(self) -> np.ndarray:
        """Co-channel interference (no noise) on the channel in use, W, [B, N, M]."""
        interf = self._interf.reshape(-1)[self._used_flat]
        return interf.reshape(self.sinr.shape)


F32 = np.float32


class InxFactoryTwin:
    """Vectorised inx-factory simulator over `n_envs` independent copies.

    The per-step pipeline (fading, interference, SINR, rates, observation) runs in float32: it
    halves memory traffic and float32 transcendental functions are ~10x faster here; SINRs up to
    1e6 keep 7 significant digits. Large-scale quantities (path loss, shadowing) are float64.
    """

    backend = "twin"

    def __init__(self, cfg: InxFactoryConfig, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B = B = n_envs
        self.N = N = cfg.n_subnetworks
        self.M = cfg.n_devices
        self.K = cfg.n_channels
        self.D = D = self.N * self.M
        tiles = cfg.resolved_hall_tiles
        self.layout = build_layout(tiles, tiles)
        self.mobility = AlleyMobility(self.layout, n_envs, self.N, speed=cfg.speed,
                                      d_min=cfg.min_separation)
        self.owner = np.repeat(np.arange(N), self.M)  # [D] subnetwork of each device
        self.los_params = cfg.los_params
        self.height_diff = cfg.resolved_ap_height - cfg.device_height
        self.tx_power_w = float(inf.dbm_to_w(cfg.tx_power_dbm))
        self.noise_w = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
        self.rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, cfg.step_duration)
        self.n_faded = min(N - 1, cfg.max_faded_interferers)
        self.exact = self.n_faded == N - 1
        self._fbl_coeff = F32(inf.qinv(cfg.error_prob) * inf.LOG2_E / np.sqrt(cfg.blocklength))
        self._rng = np.random.default_rng(cfg.seed)
        # Flat index helpers: link (b, d, i) is element (b * D + d) * N + i of a [B, D, N] array.
        bd = np.arange(B * D)
        self._own_flat = bd * N + np.tile(self.owner, B)
        self._bd_times_k = (bd * self.K).reshape(B, D)
        self._k_range = np.arange(self.K)
        self._faded_flat = None
        self._rx_rest_t: np.ndarray | None = None  # [B, N, D], kept (100 MB at N = 5000)
        self._faded_epoch = self._epoch = 0  # episode counter: faded-set state is per episode
        # rho^g and sqrt(1 - rho^2g) for every gap g a faded link can have within an episode.
        gaps = np.arange(cfg.episode_steps + 1)
        self._rho_pow = (self.rho ** gaps).astype(F32)
        self._innov_pow = np.sqrt(1.0 - self._rho_pow.astype(np.float64) ** 2).astype(F32)
        self._los_table: np.ndarray | None = None  # built on the first refresh
        # Thousands of subnetworks: near links exact, far links separable (large_scale.py).
        self.neighbour = (NeighbourRefresh(self) if cfg.resolved_interference_model == "neighbour"
                          else None)
        if self.neighbour is not None:
            self.exact = False  # faded links chosen among near links (all of them if N <= L+1)
        self.t = 0
        self._started = False
        self.last: StepData | None = None

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
        if self.neighbour is None:
            # Fading of every link, own links included: h[0] + j h[1] ~ CN(0, 1) (stationary
            # start), and the step of each link's last update (truncated mode's catch-up).
            self.h = self._complex_gaussian((2, B, D, N), scale=1.0)
            self._last_fade = None if self.exact else np.zeros((B, D, N), dtype=np.int32)
        else:  # the neighbour refresh keeps fading state for near links only
            self.h = self._last_fade = None
        self._epoch += 1
        self.channel = rng.integers(0, self.K, size=(B, N))
        self.pending = np.full((B, N), -1)
        self.countdown = np.zeros((B, N), dtype=np.int64)
        if self.neighbour is not None:
            self.neighbour.reset()
        self._refresh_large_scale()
        self._started = True
        self.last = self._measure(np.zeros((B, N), dtype=bool))
        return self.observation()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one decision interval. actions: [B, N] channel indices.

        Returns (observation [B, N, W], reward [B, N], episode_done).
        """
        actions = self.cfg.check_step(actions, self.B, self.t, self._started)
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
        if done.any():
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

    LOS_TABLE_STEP = 0.002  # m

    def _los_threshold(self, d2d: np.ndarray) -> np.ndarray:
        """Phi^-1(P_LOS(d_2D)) per link, from a table at LOS_TABLE_STEP resolution, nearest entry.

        The steepest calibration (dense, d_clutter = 2 m) changes P_LOS by 4.6e-4 per mm, so the
        nearest 2 mm entry is off by at most 4.6e-4 in probability, without bias; the exact
        `scipy.special.ndtr` on every link would cost ~4x more of the whole refresh at N = 1000.
        """
        if self._los_table is None:
            d_max = float(np.hypot(self.layout.hall_length, self.layout.hall_width)) + 2.0
            grid = np.arange(0.0, d_max + self.LOS_TABLE_STEP, self.LOS_TABLE_STEP)
            prob = inf.los_probability(grid, self.los_params)
            self._los_table = ndtri(np.clip(prob, 0.0, 1.0)).astype(F32)  # +inf where P = 1
        idx = (d2d * F32(1.0 / self.LOS_TABLE_STEP) + F32(0.5)).astype(np.int32)
        np.minimum(idx, self._los_table.size - 1, out=idx)
        return self._los_table[idx]

    def _refresh_large_scale(self) -> None:
        """Path loss, LOS state and shadowing of every link at the current positions."""
        if self.neighbour is not None:
            # Per-link LOS, path loss and shadowing are not kept (only the powers).
            self.los = self.shadowing_db = self.pathloss_db = self.d2d = None
            self.rx_int = None  # see link_interference()
            self.neighbour.refresh()
            self._rest_channel = None
            return
        rx, self.los, self.shadowing_db, self.pathloss_db, self.d2d = self.exact_links()
        self._set_link_powers(rx)

    def exact_links(self) -> tuple[np.ndarray, ...]:
        """Every link at the current positions and fields, exactly: (mean received power
        [B, D, N] W, LOS [B, D, N] bool, shadowing dB, path loss dB, d_2D m). The exact
        refresh, and the reference the neighbour refresh is tested against."""
        D = self.D
        ap, dev = self.positions()
        dx = dev[:, :, None, 0].astype(F32) - ap[:, None, :, 0].astype(F32)
        dy = dev[:, :, None, 1].astype(F32) - ap[:, None, :, 1].astype(F32)
        dx *= dx
        dy *= dy
        dx += dy  # squared 2-D distance; float32 keeps mm accuracy at km range
        d2d = np.sqrt(dx)
        if self.height_diff:
            dx += F32(self.height_diff**2)
            d3d = np.sqrt(dx)
        else:
            d3d = d2d
        both = np.concatenate([dev, ap], axis=1)  # one field evaluation for both ends
        s_los = self.los_field(both)
        z_los = self.los_field.link_values(s_los[:, :D], s_los[:, D:], d2d)
        # Spatially consistent LOS draw: u = Phi(z) is uniform per link and moves smoothly;
        # LOS iff u < P_LOS(d), i.e. z < Phi^-1(P_LOS(d)), a threshold tabulated every 1 cm.
        los = z_los < self._los_threshold(d2d)
        s_sh = self.shadow_field(both)
        z_sh = self.shadow_field.link_values(s_sh[:, :D], s_sh[:, D:], d2d)
        rx, shadowing, pl = self.mean_power(d3d, los, z_sh)
        return rx, los, shadowing, pl, d2d

    def mean_power(self, d3d: np.ndarray, los: np.ndarray, z_sh: np.ndarray,
                   pl_dtype=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(received mean power W, shadowing dB, path loss dB) of links of 3-D length `d3d` in
        LOS state `los` with unit shadowing values `z_sh`: the one statement of the link
        budget, for the exact refresh and the neighbour refresh's near links. `pl_dtype`:
        F32 keeps the path loss in float32 (inf's float64 coefficients would promote it; the
        exact refresh keeps that promotion, which its recorded results were made with)."""
        scenario = self.los_params.scenario
        pl = inf.pathloss_db(d3d, self.cfg.carrier_freq_ghz, scenario, los)
        if pl_dtype is not None:
            pl = pl.astype(pl_dtype, copy=False)
        shadowing = inf.shadow_std_db(scenario, los).astype(F32) * z_sh.astype(F32, copy=False)
        loss = pl + shadowing
        loss *= F32(-np.log(10.0) / 10.0)
        rx = np.exp(loss)
        rx *= F32(self.tx_power_w)  # received (mean) power per link, W
        return rx, shadowing, pl

    def link_interference(self) -> np.ndarray:
        """Mean interference power of every link, [B, D, N] W (own link 0), both refreshes."""
        if self.neighbour is None:
            return self.rx_int
        return self.neighbour.link_interference()

    def _set_link_powers(self, rx: np.ndarray) -> None:
        """Own-signal and interference powers from the mean received power of every link."""
        flat = rx.reshape(-1)
        self.rx_own = flat[self._own_flat].reshape(self.B, self.D)  # W
        flat[self._own_flat] = 0.0
        self.rx_int = rx  # [B, D, N] mean interference power, own link 0
        if not self.exact:
            self._select_faded_links()

    def _select_faded_links(self) -> None:
        """Truncated mode: each device fades its own link and its L strongest interferers.

        Their fading lives in a compact contiguous array `h_faded` [2, B, D, L + 1] updated every
        step; the full per-link state `h` is only touched here, once per refresh: the outgoing
        set is written back with its update time, the incoming set is read and advanced exactly
        over the steps it missed (an AR(1) sampled every g steps has coefficient rho^g).
        """
        B, D, N = self.B, self.D, self.N
        # Real and imaginary parts gathered and scattered one 1-D row at a time: numpy's
        # fast path (a 2-D fancy index over [2, B D N] is ~5x slower at N = 1000).
        h_re, h_im = self.h.reshape(2, -1)
        if self._faded_flat is not None and self._faded_epoch == self._epoch:
            out = self.h_faded.reshape(2, -1)
            h_re[self._faded_flat] = out[0]
            h_im[self._faded_flat] = out[1]
            self._last_fade.reshape(-1)[self._faded_flat] = self.t
        nb = np.argpartition(-self.rx_int, self.n_faded - 1, axis=-1)[..., :self.n_faded]
        base = (np.arange(B * D) * N).reshape(B, D, 1)
        idx = np.concatenate([self._own_flat.reshape(B, D, 1), base + nb], axis=-1).ravel()
        gap = self.t - self._last_fade.reshape(-1)[idx]
        h = np.stack([h_re.take(idx), h_im.take(idx)])
        h *= self._rho_pow[gap]
        h += self._complex_gaussian((2, idx.size), self._innov_pow[gap])
        self.h_faded = h.reshape(2, B, D, self.n_faded + 1)
        self._faded_flat, self._faded_epoch = idx, self._epoch
        self._nb_rx = np.take_along_axis(self.rx_int, nb, axis=-1)  # [B, D, L]
        self._nb_ap_flat = (nb + (np.arange(B) * N)[:, None, None]).ravel()
        # AP-major [B, N, D]: the per-step update reads the rows of the APs that switched
        # (contiguous), not columns of [B, D, N] (one cache miss per device; 29 ms a step at
        # N = 5000 with ~900 switches).
        rest_t = self._rx_rest_t
        if rest_t is None:
            rest_t = np.empty((B, N, D), dtype=F32)
        np.copyto(rest_t, self.rx_int.transpose(0, 2, 1))
        d_idx = np.arange(D).reshape(1, D, 1)
        rest_t.reshape(-1)[((np.arange(B).reshape(B, 1, 1) * N + nb) * D + d_idx).ravel()] = 0.0
        self._rx_rest_t = rest_t
        self._rest_channel = None  # mean-power remainder per channel: recomputed on next use

    def _rest_interference(self) -> np.ndarray:
        """Mean interference per channel from the non-faded links, [B, D, K].

        It changes only when a channel assignment changes: updated by the changed columns
        (a few per step) instead of a full [D, N] x [N, K] product. In the neighbour model, where
        more than a third of the APs switched (random actions switch 3/4 of them), gathering
        their rows costs more than the product itself (one pass over the array, no copy), so it
        is recomputed; the exact model keeps the update its recorded results were made with.
        """
        changed = None if self._rest_channel is None else self.channel != self._rest_channel
        if changed is None or (self.neighbour is not None
                               and 3 * int(changed.sum(axis=1).max()) > self.N):
            onehot = (self.channel[:, :, None] == self._k_range).astype(F32)
            self._rest = np.matmul(self._rx_rest_t.transpose(0, 2, 1), onehot)
        else:
            for b in np.flatnonzero(changed.any(axis=1)).tolist():
                cols = np.flatnonzero(changed[b])
                delta = ((self.channel[b, cols, None] == self._k_range).astype(F32)
                         - (self._rest_channel[b, cols, None] == self._k_range))
                self._rest[b] += self._rx_rest_t[b][cols].T @ delta  # [D, C] x [C, K]
        self._rest_channel = self.channel.copy()
        return self._rest

    # ---------------------------------------------------------------------------- fading
    def _noise_key(self) -> int:
        """A fresh key for the native generator, from the twin's stream (so seeded)."""
        return int(self._rng.integers(0, 2**63))

    def _complex_gaussian(self, shape: tuple[int, ...], scale) -> np.ndarray:
        """[2, ...] float32 real/imag parts of CN(0, scale^2) samples.

        Polar form: |w|^2 = -ln(1 - u1) is Exp(1), the phase 2 pi u2 is uniform, so w is exactly
        circular complex Gaussian; float32 uniforms make it ~2x faster than standard_normal here.
        The neighbour model (thousands of subnetworks) draws the same law natively
        (`_twin_kernels.complex_normal`, ~4x faster at N = 1000); the exact model keeps numpy's
        stream, which its recorded results were made with.
        """
        if self.neighbour is not None:
            out = np.empty(shape, dtype=F32)
            _twin_kernels.complex_normal(out, self._noise_key(), THREADS)
            out *= scale
            return out
        u = self._rng.random(shape, dtype=F32)
        r = np.sqrt(-np.log1p(-u[0]))
        r *= scale
        theta = u[1] * F32(2.0 * np.pi)
        out = np.empty(shape, dtype=F32)
        np.multiply(r, np.cos(theta), out=out[0])
        np.multiply(r, np.sin(theta), out=out[1])
        return out

    def _advance_fading(self) -> None:
        """h <- rho h + sqrt(1 - rho^2) w for every faded link."""
        rho = self.rho
        if self.exact:
            w = self._complex_gaussian(self.h.shape, F32(np.sqrt(1.0 - rho * rho)))
            self.h *= F32(rho)
            self.h += w
            return
        if self.neighbour is not None:  # the same update fused with the draw
            _twin_kernels.ar1_advance(self.h_faded, rho, np.sqrt(1.0 - rho * rho),
                                      self._noise_key(), THREADS)
            return
        w = self._complex_gaussian(self.h_faded.shape, F32(np.sqrt(1.0 - rho * rho)))
        self.h_faded *= F32(rho)
        self.h_faded += w

    # --------------------------------------------------------------------------- measure
    def _measure(self, switched: np.ndarray) -> StepData:
        """SINR per channel at every device, rates and rewards for the channels in use."""
        B, N, M, K, D = self.B, self.N, self.M, self.K, self.D
        if self.exact:
            onehot = (self.channel[:, :, None] == self._k_range).astype(F32)  # [B, N, K]
            h = self.h
            power = h[0] * h[0]
            power += h[1] * h[1]  # |h|^2 of every link, [B, D, N]
            interf = np.matmul(power * self.rx_int, onehot)  # [B, D, K]
            signal = power.reshape(-1)[self._own_flat].reshape(B, D) * self.rx_own
        elif self.neighbour is not None:
            # The same sums fused in one native pass (float32); the exact model keeps numpy's
            # float64 bincount below, which its recorded results were made with.
            rows = B * D
            interf = np.empty((rows, K), dtype=F32)
            own_power = np.empty(rows, dtype=F32)
            _twin_kernels.faded_channel_sums(
                self.h_faded.reshape(2, rows, -1), self._nb_rx.reshape(rows, -1),
                self._nb_ap_flat.reshape(rows, -1), self.channel.reshape(-1), interf, own_power)
            interf = interf.reshape(B, D, K)
            interf += self._rest_interference()
            signal = own_power.reshape(B, D) * self.rx_own
        else:
            hf = self.h_faded  # own link first, then the L faded interferers
            power = hf[0] * hf[0]
            power += hf[1] * hf[1]
            p_nb = power[..., 1:] * self._nb_rx
            bins = (self._bd_times_k[..., None]
                    + self.channel.reshape(-1)[self._nb_ap_flat].reshape(B, D, -1)).ravel()
            interf = np.bincount(bins, weights=p_nb.ravel(), minlength=B * D * K)
            interf = interf.reshape(B, D, K).astype(F32) + self._rest_interference()
            signal = power[..., 0] * self.rx_own
        self.interference_per_channel = interf
        self.sinr_per_channel = signal[:, :, None] / (interf + F32(self.noise_w))  # [B, D, K]
        self._used_flat = (self._bd_times_k + self.channel[:, self.owner]).ravel()
        sinr = self.sinr_per_channel.reshape(-1)[self._used_flat]
        one_plus = sinr + F32(1.0)
        log2_1p = np.log2(one_plus)
        dispersion = F32(1.0) - F32(1.0) / (one_plus * one_plus)
        fbl = np.maximum(log2_1p - np.sqrt(dispersion) * self._fbl_coeff, F32(0.0))
        cfg = self.cfg
        fbl_nm = fbl.reshape(B, N, M)
        reward = inf.reward_eq13(fbl_nm, cfg.r_min, cfg.lambda_rate, cfg.lambda_penalty)
        return StepData(self, sinr, log2_1p, fbl, reward, switched)

    # ---------------------------------------------------------------------- observations
    def observation(self) -> np.ndarray:
        """Per-agent observation [B, N, W] float32 (W = K, or K * M for obs_reduce="full")."""
        B, N, M, K = self.B, self.N, self.M, self.K
        if self.cfg.obs_quantity == "sinr":
            x = np.log10(self.sinr_per_channel)
            x *= F32(10.0)
        else:
            x = np.log10(self.interference_per_channel + F32(self.noise_w))
            x *= F32(10.0)
            x += F32(30.0)  # dBm
        x = x.reshape(B, N, M, K)
        how = self.cfg.obs_reduce
        if how == "full":
            out = np.swapaxes(x, 2, 3).reshape(B, N, K * M)  # channel-major, devices inside
        elif M == 1:
            out = x[:, :, 0, :]
        else:
            out = getattr(np, how)(x, axis=2)
        return np.clip(out, F32(OBS_LOW), F32(OBS_HIGH)).astype(F32, copy=False)

    def sinr_db(self) -> np.ndarray:
        """Measured SINR per channel at every device, [B, N, M, K] dB (for greedy policies)."""
        return 10.0 * np.log10(self.sinr_per_channel).reshape(self.B, self.N, self.M, self.K)

    def coupling(self) -> np.ndarray:
        """Mean interference power from AP i at subnetwork n's devices, [B, N, N] W, diag 0.

        Large-scale (path loss + shadowing) values: what a central controller collects from
        measurement reports; the 5 ms fading decorrelates too fast to be coordinated on.
        """
        return self.link_interference().reshape(self.B, self.N, self.M, self.N).mean(axis=2)

    def state(self) -> np.ndarray:
        """Global state per copy: every agent's observation and channel, [B, N * (W + 1)]."""
        if not self._started:
            raise RuntimeError("state() before reset(): call reset() first")
        obs = self.observation()
        chan = (self.channel / max(self.K - 1, 1)).astype(F32)[:, :, None]
        return np.concatenate([obs, chan], axis=-1).reshape(self.B, -1)

    def bench_stages(self) -> dict[str, tuple[Any, float]]:
        """The stages of a step for `fedmarl bench twin`'s breakdown: name ->
        (zero-argument call, calls per env step). Mobility and the large-scale refresh run once
        every `large_scale_update_steps` steps."""
        dt = self.cfg.large_scale_update_steps * self.cfg.step_duration
        rng = np.random.default_rng(0)
        per = 1.0 / self.cfg.large_scale_update_steps
        return {"mobility_step": (lambda: self.mobility.step(dt, rng), per),
                "large_scale_refresh": (self._refresh_large_scale, per),
                "fading": (self._advance_fading, 1.0),
                "measure_sinr_rates": (lambda: self._measure(np.zeros((self.B, self.N),
                                                                       dtype=bool)), 1.0),
                "observation": (self.observation, 1.0)}

    def bench_facts(self) -> dict[str, Any]:
        """Figures `fedmarl bench twin` reports beside the rates."""
        facts = {"n_channels": self.K, "faded_interferers_per_device": self.n_faded,
                 "exact_fading": bool(self.exact),
                 "interference_model": self.cfg.resolved_interference_model}
        if self.neighbour is not None:
            facts["near_links_per_device"] = int(self.neighbour.near_ap.shape[-1])
        return facts

    def close(self) -> None:
        """Nothing to release in process (the Core protocol's close)."""
