"""External traces (issue 16): the format's loader, the twin's recorder, the channel-model check
and the seed code's faults, each flagged on exactly the metrics it touches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedmarl.evaluate import run_episodes
from fedmarl.registries import make_baseline, spec
from pybridge.config import ConfigError
from pybridge.scenarios.inx_factory.trace_check import check_channel
from pybridge.scenarios.inx_factory.trace_faults import FAULTS, TOUCHES
from pybridge.scenarios.inx_factory.trace_format import (
    TraceError,
    header_schema,
    load_trace,
    save_trace,
)
from pybridge.scenarios.inx_factory.trace_record import TwinTraceRecorder
from pybridge.scenarios.inx_factory.trace_twin import twin_samples

ROOT = Path(__file__).resolve().parents[2]
# 32 short episodes: shadowing is drawn once per episode, so independent episodes (not steps)
# are what narrows the intervals; 20 steps are plenty for the fading's lag-1 correlation.
PARAMS = {"episode_steps": 20, "interference_model": "exact"}
EPISODES = 32


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    s = spec("inx-factory")
    cfg = s.make_config(**PARAMS)
    rec = TwinTraceRecorder(cfg)
    run_episodes("inx-factory", make_baseline("inx-factory", "random"), EPISODES, 3, "twin",
                 EPISODES, PARAMS, s.recorder(cfg), after_step=rec.after_step,
                 on_batch_end=rec.on_batch_end)
    return rec.write(tmp_path_factory.mktemp("trace") / "twin.npz")


def _verdicts(path: Path) -> dict[str, str]:
    return {r["metric"]: r["verdict"] for r in check_channel(load_trace(path))["rows"]}


def test_recorded_twin_trace_agrees_on_every_channel_metric(recorded):
    tr = load_trace(recorded)
    assert (tr.T, tr.N, tr.D) == (EPISODES * 20, 20, 20)
    assert len(tr.episodes()) == EPISODES
    verdicts = _verdicts(recorded)
    assert len(verdicts) == 11
    assert set(verdicts.values()) == {"agree"}, verdicts


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_seed_code_fault_is_flagged_on_exactly_its_metrics(recorded, tmp_path, fault):
    tr = load_trace(recorded)
    path = save_trace(tmp_path / f"{fault}.npz", tr.header["constants"], FAULTS[fault](tr),
                      tr.rate_formula, f"fault {fault}")
    verdicts = _verdicts(path)
    flagged = {m for m, v in verdicts.items() if v == "disagree"}
    assert flagged == TOUCHES[fault]
    assert all(v == "agree" for m, v in verdicts.items() if m not in flagged)


def test_twin_replay_reproduces_the_twins_own_sinr_distribution(recorded):
    tr = load_trace(recorded)
    ours = np.concatenate([x.ravel() for x in twin_samples(tr, 1, 0)["sinr_db"]])
    theirs = tr.get("sinr_db").ravel()
    assert ours.size == theirs.size
    # Same model, fresh draws: medians within 1.5 dB (32 episodes of shadowing each).
    assert abs(np.median(ours) - np.median(theirs)) < 1.5


def test_schema_file_in_docs_is_the_one_the_loader_follows():
    on_disk = json.loads((ROOT / "docs" / "trace-format.schema.json").read_text())
    assert on_disk == header_schema()


# ------------------------------------------------------------------------ malformed files
def _rewrite(src: Path, dst: Path, header=None, **changes) -> Path:
    with np.load(src) as d:
        arrays = {k: d[k] for k in d.files}
    if header is not None:
        arrays["header"] = np.array(json.dumps(header))
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


def _header(path: Path) -> dict:
    with np.load(path) as d:
        return json.loads(str(d["header"]))


def _malformed(src: Path) -> list[tuple[str, dict, str]]:
    tr = load_trace(src)
    h = _header(src)
    nan_gain = tr.get("gain_db").copy()
    nan_gain[3, 1, 2] = np.nan
    no_const = json.loads(json.dumps(h))
    del no_const["constants"]["carrier_freq_ghz"]
    bad_range = json.loads(json.dumps(h))
    bad_range["constants"]["n_channels"] = 0
    return [
        ("missing array", {"channel": None}, "required array 'channel' is missing"),
        ("wrong shape", {"ap_pos": tr.ap_pos[:, :, :2]}, "ap_pos must have shape [T, N, 3]"),
        ("NaN", {"gain_db": nan_gain}, "gain_db has 1 NaN/inf value(s), first at index [3, 1, 2]"),
        ("channel range", {"channel": tr.channel + 4}, "channel must lie in [0, 3]"),
        ("float channel", {"channel": tr.channel.astype(float)}, "channel must be an integer"),
        ("positions in mm", {"dev_pos": tr.dev_pos * 1e4}, "dev_pos must lie in"),
        ("linear gain", {"gain_db": 10 ** (tr.get("gain_db") / 10)}, "gain_db looks linear"),
        ("episode order", {"episode": tr.episode[::-1].copy()}, "episode must be non-decreasing"),
        ("unknown array", {"extra": np.zeros(3)}, "unknown array(s) extra"),
        ("version", {"header": {**h, "version": 2}}, "unknown header.version 2"),
        ("constant missing", {"header": no_const}, "header.constants lacks carrier_freq_ghz"),
        ("constant range", {"header": bad_range}, "parameter 'n_channels' = 0 is out of range"),
    ]


def test_malformed_files_are_refused_with_one_clear_error(recorded, tmp_path):
    for i, (what, changes, message) in enumerate(_malformed(recorded)):
        header = changes.pop("header", None)
        path = _rewrite(recorded, tmp_path / f"bad{i}.npz", header, **changes)
        with pytest.raises(TraceError) as e:
            load_trace(path)
        assert message in str(e.value), what
        assert str(e.value).startswith(f"trace {path}"), what
        assert isinstance(e.value, ConfigError)  # the CLI prints it as one line, exit 2
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(TraceError, match="not an NPZ file"):
        load_trace(junk)
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "absent.npz")


def test_save_leaves_no_torn_file_when_the_arrays_are_bad(recorded, tmp_path):
    tr = load_trace(recorded)
    bad = {"ap_pos": tr.ap_pos, "dev_pos": tr.dev_pos, "dev_ap": tr.dev_ap,
           "channel": tr.channel + 100}
    with pytest.raises(TraceError):
        save_trace(tmp_path / "out.npz", tr.header["constants"], bad)
    assert list(tmp_path.iterdir()) == []


def test_what_a_trace_lacks_makes_its_metrics_na_not_wrong(recorded, tmp_path):
    from pybridge.scenarios.inx_factory.trace_faults import arrays_of

    tr = load_trace(recorded)
    no_los = arrays_of(tr)
    del no_los["los"]
    verdicts = _verdicts(save_trace(tmp_path / "nolos.npz", tr.header["constants"], no_los))
    # Without LOS states the gain is checked against the LOS/NLOS mixture at P_LOS(d_2D).
    assert verdicts["path_gain_mixture_db"] == "agree"
    assert {verdicts[m] for m in ("los_probability", "shadowing_std_los_db",
                                  "shadowing_std_nlos_db", "shadowing_decorrelation_m")} == {"n/a"}
    assert verdicts["fading_lag1_correlation"] == "agree"
    bare = {k: v for k, v in arrays_of(tr).items() if k in ("ap_pos", "dev_pos", "dev_ap",
                                                            "channel", "episode")}
    verdicts = _verdicts(save_trace(tmp_path / "bare.npz", tr.header["constants"], bare))
    assert set(verdicts.values()) == {"n/a"}


@pytest.mark.benchmark
def test_benchmark_false_alarms_and_fault_detection_over_seeds(tmp_path):
    """Over 10 recording seeds (32 x 20-step episodes each): how often a clean twin trace has
    a channel metric that is not "agree", and how often each fault is flagged on exactly its
    metrics. Prints the counts (docs/results/validate-trace.md quotes them)."""
    s = spec("inx-factory")
    cfg = s.make_config(**PARAMS)
    false_alarms: dict[str, int] = {}
    exact = dict.fromkeys(FAULTS, 0)
    seeds = range(100, 110)
    for seed in seeds:
        rec = TwinTraceRecorder(cfg)
        run_episodes("inx-factory", make_baseline("inx-factory", "random"), EPISODES, seed,
                     "twin", EPISODES, PARAMS, s.recorder(cfg), after_step=rec.after_step,
                     on_batch_end=rec.on_batch_end)
        path = rec.write(tmp_path / "clean.npz")
        for m, v in _verdicts(path).items():
            if v != "agree":
                false_alarms[m] = false_alarms.get(m, 0) + 1
        tr = load_trace(path)
        for name, fault in FAULTS.items():
            faulty = save_trace(tmp_path / "fault.npz", tr.header["constants"], fault(tr))
            flagged = {m for m, v in _verdicts(faulty).items() if v != "agree"}
            exact[name] += flagged == TOUCHES[name]
    print(f"\nclean traces with a metric not 'agree': {false_alarms or 'none'} of {len(seeds)};"
          f" faults flagged on exactly their metrics: {exact} of {len(seeds)}")
    assert sum(false_alarms.values()) <= 2 and min(exact.values()) >= 8


@pytest.mark.benchmark
def test_benchmark_decorrelation_sensitivity(tmp_path):
    """Traces recorded with d_c = 3, 10 and 30 m, checked against a header saying 10 m: the
    estimates and verdicts (docs/trace-format.md quotes them)."""
    from pybridge.scenarios.inx_factory.trace_faults import arrays_of

    s = spec("inx-factory")
    out = {}
    for dc in (3.0, 10.0, 30.0):
        params = {**PARAMS, "shadow_corr_distance": dc}
        cfg = s.make_config(**params)
        rec = TwinTraceRecorder(cfg)
        run_episodes("inx-factory", make_baseline("inx-factory", "random"), EPISODES, 5,
                     "twin", EPISODES, params, s.recorder(cfg), after_step=rec.after_step,
                     on_batch_end=rec.on_batch_end)
        tr = load_trace(rec.write(tmp_path / "dc.npz"))
        header = {**tr.header["constants"], "shadow_corr_distance": 10.0}
        claimed = load_trace(save_trace(tmp_path / "claimed.npz", header, arrays_of(tr)))
        row = next(r for r in check_channel(claimed)["rows"]
                   if r["metric"] == "shadowing_decorrelation_m")
        out[dc] = (round(row["estimate"], 1), row["verdict"])
    print(f"\nrecorded d_c -> (estimate m, verdict against 10 m): {out}")
    assert out[10.0][1] == "agree" and out[30.0][0] > out[10.0][0] > out[3.0][0]
