"""inx-factory's external-trace validation (`InxFactorySpec.trace_module`, used by
fedmarl/validate_trace.py): what another simulator's trace says, against our channel model, our
twin on the same geometry, and ns-3 at packet level driven by the trace.

Sides and their sample sets (one array per episode, [steps, devices]):
- theirs: `sinr_db` and `rate` as their simulator computed them;
- twin: the same positions and channels through our channel model, fresh shadowing, LOS and
  fading draws, `reps` per episode (trace_twin.py), rate by their `rate_formula`;
- ns3: the binary driven by the trace (trace_ns3.py): measured SINR (each interferer weighted by
  its AP's busy fraction), the full-occupancy SINR of ns-3's own channel, the delivered packet
  throughput, and the finite-blocklength rate at the measured SINR.
COMPARISONS name which pairs are compared and which cause a difference between them measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pybridge.channel import inf
from pybridge.config import ConfigError
from pybridge.scenarios.inx_factory.trace_check import check_channel, rate_from_sinr
from pybridge.scenarios.inx_factory.trace_faults import FAULTS
from pybridge.scenarios.inx_factory.trace_format import Trace, load_trace, save_trace
from pybridge.scenarios.inx_factory.trace_ns3 import run_driven, unsupported
from pybridge.scenarios.inx_factory.trace_record import TwinTraceRecorder
from pybridge.scenarios.inx_factory.trace_twin import twin_samples

__all__ = ["COMPARISONS", "FAULTS", "KS_TOLERANCE", "check_channel", "inject_fault",
           "load_trace", "recorder", "run_sides"]

# KS distance within which two sample sets count as the same distribution: 0.05, the house's
# rule for "same model, different realisations" (spec tolerance ks_gain); a larger distance is
# a difference only if it also exceeds the episode-permutation critical value.
KS_TOLERANCE = 0.05

# (name, side a, set a, side b, set b, effect, what a difference means)
COMPARISONS = (
    ("sinr_theirs_vs_twin", "theirs", "sinr_db", "twin", "sinr_db", "channel model",
     "their SINR against our channel model on the same positions and channels"),
    ("rate_theirs_vs_twin", "theirs", "rate", "twin", "rate", "channel model",
     "their rate against our channel model's rate (their formula) on the same allocation"),
    ("sinr_twin_vs_ns3_full", "twin", "sinr_db", "ns3", "sinr_full_db", "none expected",
     "our twin against ns-3's channel at full occupancy: the same model, so only realisations"),
    ("sinr_ns3_full_vs_measured", "ns3", "sinr_full_db", "ns3", "sinr_db", "MAC",
     "ns-3's measured SINR against its full-occupancy SINR: idle gaps between TBs"),
    ("rate_ns3_fbl_vs_packets", "ns3", "rate_fbl", "ns3", "rate_packets", "packet",
     ("delivered packet throughput against the FBL rate of the measured SINR: link"
      " adaptation, whole packets, decoding failures")),
    ("rate_theirs_vs_ns3_packets", "theirs", "rate", "ns3", "rate_packets", "all",
     "their rate against what ns-3 delivers at packet level: does their number survive?"),
)


def recorder(cfg, rate_formula: str = "shannon") -> TwinTraceRecorder:
    return TwinTraceRecorder(cfg, rate_formula)


def inject_fault(path, fault: str) -> None:
    """Rewrite the trace at `path` with one of the seed code's faults (trace_faults.py)."""
    if fault not in FAULTS:
        raise ConfigError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    tr = load_trace(path)
    save_trace(path, tr.header["constants"], FAULTS[fault](tr), tr.rate_formula,
               f"{tr.header.get('source', '')}, fault {fault} injected")


def _slices(tr: Trace, episodes: int | None) -> list[slice]:
    eps = tr.episodes()
    return eps if episodes is None else eps[:episodes]


def run_sides(tr: Trace, episodes: int | None, reps: int, seed: int, ns3: bool = True,
              on_episode=None) -> dict[str, Any]:
    """Sample sets of every side (see the module docstring) over the first `episodes` trace
    episodes (all: None), and what ns-3 reproduced and measured."""
    eps = _slices(tr, episodes)
    theirs: dict[str, list[np.ndarray]] = {}
    for name in ("sinr_db", "rate"):
        a = tr.get(name)
        if a is not None:
            theirs[name] = [a[b] for b in eps]
    sub = _subset(tr, eps)
    twin = twin_samples(sub, reps, seed)
    if on_episode:
        on_episode(len(eps))
    out: dict[str, Any] = {"episodes": len(eps), "reps": reps,
                           "sides": {"theirs": theirs, "twin": twin}}
    why = unsupported(tr, eps) if ns3 else "not requested"
    if why:
        out["ns3"] = {"skipped": why}
    else:
        run = run_driven(tr, eps, seed, on_episode)
        s = run["samples"]
        cfg = tr.cfg
        s["rate_fbl"] = [inf.fbl_se(10.0 ** (x / 10.0), cfg.blocklength, cfg.error_prob)
                         for x in s["sinr_db"]]
        s["rate_theirs_formula"] = [rate_from_sinr(tr, 10.0 ** (x / 10.0)) for x in s["sinr_db"]]
        s.pop("rate_at_full_sinr", None)
        out["sides"]["ns3"] = s
        out["ns3"] = {"reproduced": run["reproduced"], "steps": run["steps"],
                      "figures": run["figures"]}
    return out


def _subset(tr: Trace, eps: list[slice]) -> Trace:
    """The trace restricted to the episodes `eps` (consecutive from the first)."""
    if not eps or (eps[0].start == 0 and eps[-1].stop == tr.T):
        return tr
    keep = slice(eps[0].start, eps[-1].stop)
    opt = {k: v[keep] for k, v in tr.optional.items()}
    return Trace(tr.path, tr.header, tr.cfg, tr.ap_pos[keep], tr.dev_pos[keep], tr.dev_ap,
                 tr.channel[keep], tr.episode[keep], tr.power_dbm[keep], opt)
