"""The compiled ns-3 channel models (ns3-scenarios/model) against the twin's formulas.

Loads libfedmarl-ns3-models.so into this process through the ns-3 wheel's cppyy bindings and
calls the C++ functions one by one on the same inputs as pybridge.channel.inf (pure formulas:
1e-6 relative) and pybridge.channel.fields (the same field realisation: 1e-4 absolute against the
twin's float32 evaluation, 1e-12 against a float64 one). Then the ns-3 classes themselves
(ThreeGppIndoorFactoryPropagationLossModel with its channel-condition model) get the twin's exact
field realisations and must reproduce the twin's path loss, LOS states and shadowing link by link.
Last, the C++ test runner (build/bin/fedmarl-ns3-models-test) must pass.

The build is found at $FEDMARL_BUILD_DIR (default: <repo>/build, where `make test` builds it); a
missing build is a failure, not a skip.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from pybridge import make_config
from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.inx_factory.twin import InxFactoryTwin

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("FEDMARL_BUILD_DIR", ROOT / "build"))
LIBRARY = BUILD_DIR / "lib" / "libfedmarl-ns3-models.so"
TEST_RUNNER = BUILD_DIR / "bin" / "fedmarl-ns3-models-test"
MODEL_DIR = ROOT / "ns3-scenarios" / "model"
HEADERS = ("inf-channel.h", "spatial-field.h", "ar1-rayleigh-fading.h",
           "three-gpp-indoor-factory-channel-condition-model.h",
           "three-gpp-indoor-factory-propagation-loss-model.h")
SCENARIOS = ("SL", "DL", "SH", "DH", "HH")
FORMULA_RTOL = 1e-6


def _require_build(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"the ns-3 models are not built: {path} is missing. Run `make test` (it builds "
                    f"the native parts into build/), or point FEDMARL_BUILD_DIR at a CMake build "
                    f"directory that has built the fedmarl-ns3-models targets.", pytrace=False)


@functools.lru_cache(maxsize=1)
def _load():
    import cppyy
    from ns import ns  # the wheel's cppyy bindings; prints harmless "materialize" warnings

    cppyy.add_include_path(str(MODEL_DIR))
    for header in HEADERS:
        cppyy.include(header)
    cppyy.load_library(str(LIBRARY))
    return ns, cppyy.gbl.ns3.fedmarl


def native():
    """(ns, ns.fedmarl) with our library loaded; fails the calling test when it is not built."""
    _require_build(LIBRARY)
    return _load()


def max_rel(got, want) -> float:
    """Largest |got - want| / |want| (absolute difference where want == 0)."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    diff = np.abs(got - want)
    scale = np.where(want == 0.0, 1.0, np.abs(want))
    return float(np.max(diff / scale))


def check(name: str, got, want, rtol: float = FORMULA_RTOL) -> None:
    err = max_rel(got, want)
    print(f"{name}: max relative difference {err:.2e}")
    assert err <= rtol, f"{name}: C++ and twin differ by {err:.3e} relative (limit {rtol:.0e})"


DISTANCES = np.concatenate([np.geomspace(0.05, 2000.0, 400), [1.0, 600.0, 25.82, 0.0]])
FREQS_GHZ = (0.9, 3.5, 6.0, 28.0)


# ----------------------------------------------------------------------------- pure formulas
def test_pathloss_matches_twin():
    _, f = native()
    for fc in FREQS_GHZ:
        cpp = [f.InfPathlossLos(float(d), fc) for d in DISTANCES]
        check(f"pathloss_los fc={fc}", cpp, inf.pathloss_los(DISTANCES, fc))
        for scen in SCENARIOS:
            s = f.InfScenarioFromString(scen)
            cpp = [f.InfPathlossNlos(float(d), fc, s) for d in DISTANCES]
            check(f"pathloss_nlos {scen} fc={fc}", cpp, inf.pathloss_nlos(DISTANCES, fc, scen))
    rng = np.random.default_rng(1)
    los = rng.random(DISTANCES.size) < 0.5
    for scen in SCENARIOS:
        s = f.InfScenarioFromString(scen)
        cpp = [f.InfPathloss(float(d), 6.0, s, bool(lo)) for d, lo in zip(DISTANCES, los)]
        check(f"pathloss_db {scen}", cpp, inf.pathloss_db(DISTANCES, 6.0, scen, los))
        for state in (True, False):
            assert f.InfShadowStdDb(s, state) == float(inf.shadow_std_db(scen, state))


def test_scenario_names_match_twin():
    _, f = native()
    for clutter, scen in inf.CLUTTER_SCENARIOS.items():
        assert f.InfScenarioToString(f.InfScenarioFromString(clutter)) == scen
        assert f.InfScenarioToString(f.InfScenarioFromString(scen)) == scen
    with pytest.raises(Exception, match="unknown InF scenario"):
        f.InfScenarioFromString("urban")


def _los_params():
    """(LosParams, scenario) for every clutter type at its calibration values, and a few more."""
    out = []
    for clutter, scen in inf.CLUTTER_SCENARIOS.items():
        cfg = make_config("inx-factory", clutter=clutter)
        out.append(inf.LosParams(scen, cfg.resolved_clutter_density, cfg.resolved_clutter_size,
                                 cfg.resolved_clutter_height, cfg.resolved_ap_height,
                                 cfg.device_height))
    out += [inf.LosParams("SL", 0.35, 4.0, 3.0, 1.5, 1.5),
            inf.LosParams("DH", 0.4, 3.0, 5.0, 12.0, 1.0)]
    return out


def test_los_probability_matches_twin():
    _, f = native()
    d2d = np.concatenate([np.linspace(0.0, 300.0, 601), [1e-3, 1000.0]])
    for p in _los_params():
        s = f.InfScenarioFromString(p.scenario)
        cpp = [f.InfLosProbability(float(d), s, p.clutter_density, p.clutter_size,
                                   p.clutter_height, p.h_bs, p.h_ut) for d in d2d]
        check(f"los_probability {p}", cpp, inf.los_probability(d2d, p))
        if p.scenario != "HH":
            k = f.InfLosDecayDistance(s, p.clutter_density, p.clutter_size, p.clutter_height,
                                      p.h_bs, p.h_ut)
            check(f"k_subsce {p.scenario}", [k], [p.k_subsce()])


def test_noise_power_and_units_match_twin():
    _, f = native()
    cpp, ref = [], []
    for bw in (180e3, 1e6, 10e6, 20e6, 100e6, 400e6):
        for nf in (0.0, 5.0, 7.0, 10.0, 13.5):
            cpp.append(f.NoisePowerW(bw, nf))
            ref.append(inf.noise_power_w(bw, nf))
    check("noise_power_w", cpp, ref)
    dbm = np.linspace(-100.0, 40.0, 141)
    check("dbm_to_w", [f.DbmToW(float(x)) for x in dbm], inf.dbm_to_w(dbm))


def test_fading_rho_matches_twin():
    _, f = native()
    cpp, ref = [], []
    for v in (0.0, 0.5, 1.0, 3.0, 10.0, 30.0):
        for fc in (0.9e9, 3.5e9, 6e9, 28e9):
            for dt in (1e-4, 1e-3, 5e-3, 1e-2):
                cpp.append(f.FadingRho(v, fc, dt))
                ref.append(inf.fading_rho(v, fc, dt))
    # rho passes through 0 (J0's first zero at 2.405): use an absolute floor there.
    err = np.max(np.abs(np.subtract(cpp, ref)) / np.maximum(np.abs(ref), 1e-3))
    print(f"fading_rho: max relative difference {err:.2e}")
    assert err <= FORMULA_RTOL
    assert f.FadingRho(3.0, 6e9, 5e-3) == pytest.approx(0.28980545, abs=1e-8)


def test_qinv_and_inverse_normal_match_scipy():
    _, f = native()
    eps = np.geomspace(1e-12, 0.5, 200)
    check("qinv", [f.QInv(float(e)) for e in eps], [inf.qinv(float(e)) for e in eps])
    p = np.concatenate([np.geomspace(1e-300, 0.5, 400), 1.0 - np.geomspace(1e-15, 0.5, 200)])
    # Acklam + one Halley step: ~1e-15; the brief asks for ~1e-12.
    check("inverse_normal_cdf", [f.InverseNormalCdf(float(x)) for x in p], ndtri(p), rtol=1e-12)


SINRS = np.concatenate([[0.0], np.geomspace(1e-4, 1e8, 500)])


def test_rates_match_twin():
    _, f = native()
    check("shannon_se", [f.ShannonSe(float(g)) for g in SINRS], inf.shannon_se(SINRS))
    for blocklength in (64.0, 256.0, 1000.0):
        for eps in (1e-3, 1e-5, 1e-7):
            cpp = [f.FblSe(float(g), blocklength, eps) for g in SINRS]
            ref = inf.fbl_se(SINRS, blocklength, eps)
            check(f"fbl_se l={blocklength:g} eps={eps:g}", cpp, ref)
    assert f.FblSe(1000.0, 256.0, 1e-5) == pytest.approx(9.5826679, abs=1e-7)


def test_reward_matches_twin():
    _, f = native()
    rng = np.random.default_rng(2)
    rates = rng.uniform(0.0, 20.0, size=(50, 4))
    cpp = [f.RewardEq13(list(map(float, r)), 11.0, 1.0, 0.5) for r in rates]
    check("reward_eq13", cpp, inf.reward_eq13(rates, 11.0, 1.0, 0.5))


# ------------------------------------------------------------------------------------- field
def _cpp_field(f, field: ExponentialField, b: int):
    """The C++ SpatialField of realisation b of a twin field (its exact wave vectors, phases)."""
    k = field.wavevectors[b]
    return f.SpatialField(field.corr_distance, k[:, 0].tolist(), k[:, 1].tolist(),
                          field.phases[b, 0].tolist())


def _field64(field: ExponentialField, positions: np.ndarray) -> np.ndarray:
    """The twin's field formula in float64: [B, P, 2] -> [B, P]."""
    arg = np.einsum("bpi,bji->bpj", positions, field.wavevectors) + field.phases
    return np.cos(arg).sum(axis=-1) * field.scale


# Tolerance against the twin's own (float32) evaluation. Its phases k . x + phi are rounded to
# float32, an error ~ |k| |x| 6e-8 per term; with the wave numbers capped at 2 pi / 5 cm the sum's
# error grows like 1 / sqrt(d_c): ~5e-5 for the shadow field (d_c = 10 m), ~2e-4 for the dense
# clutter's LOS field (d_c = 1 m). The float64 comparison is the exact one.
@pytest.mark.parametrize("corr_distance, tol32", [(10.0, 1e-4), (5.0, 3e-4), (1.0, 5e-4)])
def test_spatial_field_reproduces_twin_realisation(corr_distance, tol32):
    _, f = native()
    rng = np.random.default_rng(3)
    field = ExponentialField(3, corr_distance, rng)
    pos = rng.uniform([0.0, 0.0], [180.0, 80.0], size=(3, 300, 2))  # the default hall
    twin32 = field(pos)
    exact = _field64(field, pos)
    worst32 = worst64 = 0.0
    for b in range(3):
        cf = _cpp_field(f, field, b)
        assert cf.GetNTerms() == field.wavevectors.shape[1]
        cpp = np.array([cf.Value(float(x), float(y)) for x, y in pos[b]])
        worst32 = max(worst32, float(np.max(np.abs(cpp - twin32[b]))))
        worst64 = max(worst64, float(np.max(np.abs(cpp - exact[b]))))
    print(f"field d_c={corr_distance}: max |C++ - twin float32| {worst32:.2e}, "
          f"max |C++ - float64 formula| {worst64:.2e}")
    assert worst32 <= tol32
    assert worst64 <= 1e-12
    # Link values: (S(a) + S(b)) / sqrt(2 (1 + exp(-d / d_c))), a = first half, b = second half.
    a, bpos = pos[:, :150], pos[:, 150:]
    dist = np.linalg.norm(a[:, :, None, :] - bpos[:, None, :, :], axis=-1)
    link = field.link_values(field(a), field(bpos), dist)  # [B, 150, 150]
    worst = 0.0
    for b in range(3):
        cf = _cpp_field(f, field, b)
        for i in range(0, 150, 7):
            for j in range(0, 150, 11):
                z = cf.LinkValue(*map(float, a[b, i]), *map(float, bpos[b, j]))
                worst = max(worst, abs(z - link[b, i, j]))
    print(f"link values d_c={corr_distance}: max |C++ - twin| {worst:.2e}")
    assert worst <= tol32


# ------------------------------------------------------------------------ ns-3 model classes
def _node(ns, x: float, y: float, z: float):
    m = ns.CreateObject[ns.ConstantPositionMobilityModel]()
    m.SetPosition(ns.Vector(float(x), float(y), float(z)))
    return m


@pytest.mark.parametrize("clutter", ["sparse", "dense", "dense-high"])
def test_ns3_loss_model_reproduces_twin_links(clutter):
    """The ns-3 loss model, handed the twin's field realisations, gives the twin's links."""
    ns, f = native()
    cfg = make_config("inx-factory", clutter=clutter, n_subnetworks=12, n_devices=2)
    core = InxFactoryTwin(cfg, n_envs=1)
    core.reset(seed=11)
    ap, dev = core.positions()
    ap, dev = ap[0], dev[0]  # [N, 2], [D, 2]

    cond = ns.CreateObject[ns.ThreeGppIndoorFactoryChannelConditionModel]()
    cond.SetAttribute("Scenario", ns.StringValue(clutter))
    cond.SetAttribute("ClutterDensity", ns.DoubleValue(cfg.resolved_clutter_density))
    cond.SetAttribute("ClutterSize", ns.DoubleValue(cfg.resolved_clutter_size))
    cond.SetAttribute("ClutterHeight", ns.DoubleValue(cfg.resolved_clutter_height))
    cond.SetLosField(_cpp_field(f, core.los_field, 0))
    model = ns.CreateObject[ns.ThreeGppIndoorFactoryPropagationLossModel]()
    model.SetAttribute("Frequency", ns.DoubleValue(cfg.carrier_freq_ghz * 1e9))
    model.SetAttribute("Scenario", ns.StringValue(clutter))
    model.SetChannelConditionModel(cond)
    model.SetShadowField(_cpp_field(f, core.shadow_field, 0))
    assert cond.GetLosCorrelationDistance() == pytest.approx(cfg.resolved_los_corr_distance)
    assert model.GetShadowField().GetCorrelationDistance() == cfg.shadow_corr_distance

    aps = [_node(ns, x, y, cfg.resolved_ap_height) for x, y in ap]
    devs = [_node(ns, x, y, cfg.device_height) for x, y in dev]
    D, N = len(devs), len(aps)
    loss = np.empty((D, N))
    los = np.empty((D, N), dtype=bool)
    rx_dbm = np.empty((D, N))
    for d in range(D):
        for n in range(N):
            loss[d, n] = model.GetLoss(aps[n], devs[d])
            los[d, n] = cond.GetChannelCondition(aps[n], devs[d]).IsLos()
            rx_dbm[d, n] = model.CalcRxPower(cfg.tx_power_dbm, aps[n], devs[d])
    assert np.array_equal(rx_dbm, cfg.tx_power_dbm - loss), "DoCalcRxPower = P_tx - loss"

    # Exact float64 version of the twin's rule, from the same realisations.
    p = core.los_params
    d2d = np.linalg.norm(dev[:, None, :] - ap[None, :, :], axis=-1)
    d3d = np.hypot(d2d, cfg.resolved_ap_height - cfg.device_height)
    both = np.concatenate([dev, ap])[None]
    s_los, s_sh = _field64(core.los_field, both)[0], _field64(core.shadow_field, both)[0]
    rho_los = np.exp(-d2d / core.los_field.corr_distance)
    z_los = (s_los[:D, None] + s_los[None, D:]) / np.sqrt(2 * (1 + rho_los))
    rho_sh = np.exp(-d2d / core.shadow_field.corr_distance)
    z_sh = (s_sh[:D, None] + s_sh[None, D:]) / np.sqrt(2 * (1 + rho_sh))
    los64 = z_los < ndtri(inf.los_probability(d2d, p))
    loss64 = (inf.pathloss_db(d3d, cfg.carrier_freq_ghz, p.scenario, los64)
              + inf.shadow_std_db(p.scenario, los64) * z_sh)
    assert np.array_equal(los, los64)
    check(f"ns-3 loss vs float64 twin rule ({clutter})", loss, loss64, rtol=1e-9)

    # The twin itself (float32 distances and fields, P_LOS tabulated every cm): the LOS states
    # may differ only for links within a hair of their threshold.
    twin_loss = core.pathloss_db[0].astype(float) + core.shadowing_db[0].astype(float)
    same = los == core.los[0]
    print(f"{clutter}: {same.mean():.4f} of links share the twin's LOS state "
          f"({int(los.sum())} LOS of {los.size})")
    assert same.mean() >= 0.98
    worst = float(np.max(np.abs(loss - twin_loss)[same]))
    print(f"{clutter}: max |ns-3 loss - twin loss| {worst:.2e} dB")
    assert worst <= 2e-3


def test_ns3_loss_model_defaults_and_attributes():
    ns, _ = native()
    model = ns.CreateObject[ns.ThreeGppIndoorFactoryPropagationLossModel]()
    assert ns.ThreeGppIndoorFactoryPropagationLossModel.GetTypeId().GetName() == \
        "ns3::ThreeGppIndoorFactoryPropagationLossModel"
    model.SetAttribute("ShadowingEnabled", ns.BooleanValue(False))
    model.SetAttribute("Scenario", ns.StringValue("sparse"))
    never = ns.CreateObject[ns.NeverLosChannelConditionModel]()
    model.SetChannelConditionModel(never)
    a, b = _node(ns, 0.0, 0.0, 1.5), _node(ns, 30.0, 40.0, 1.5)
    assert model.CalcRxPower(-10.0, a, b) == pytest.approx(
        -10.0 - float(inf.pathloss_nlos(50.0, 6.0, "SL")), abs=1e-9)
    # The default condition model is the InF one, of the model's scenario.
    fresh = ns.CreateObject[ns.ThreeGppIndoorFactoryPropagationLossModel]()
    fresh.SetAttribute("Scenario", ns.StringValue("HH"))
    cond = fresh.GetChannelConditionModel()
    assert cond.GetInstanceTypeId().GetName() == "ns3::ThreeGppIndoorFactoryChannelConditionModel"
    fresh.SetAttribute("ShadowingEnabled", ns.BooleanValue(False))
    assert fresh.GetLoss(a, b) == pytest.approx(float(inf.pathloss_los(50.0, 6.0)), abs=1e-9)
    assert fresh.AssignStreams(10) == 4


def test_cpp_test_runner_passes():
    _require_build(TEST_RUNNER)
    p = subprocess.run([str(TEST_RUNNER), "--verbose"], capture_output=True, text=True,
                       timeout=300, check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"fedmarl-ns3-models-test failed (exit {p.returncode}):\n{out}"
    assert "PASS fedmarl-inf-models" in out
