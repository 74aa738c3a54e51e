"""The `fedmarl` command line.

  fedmarl eval  --scenario inx-factory --policy cgc --episodes 20 --seed 0 [--json] [--set k=v]
  fedmarl bench twin --n 20 [--json]
  fedmarl bench bridge [--n 20 1000] [--json]
  fedmarl params inx-factory            (every scenario parameter, default, range and source)
  fedmarl run                           (the main job: see README)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pybridge.bridge import BridgeError
from pybridge.config import ConfigError

console = Console(stderr=True)


def _out() -> Console:
    """Console for results on stdout: wide when piped, so tables are never truncated."""
    c = Console()
    return c if c.is_terminal else Console(width=200)


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _progress(json_mode: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=json_mode or not
                    console.is_terminal, transient=True)


def cmd_eval(args: argparse.Namespace) -> int:
    from agents.baselines import make_baseline
    from fedmarl.evaluate import evaluate_policy

    params = _parse_sets(args.set)
    results = []
    with _progress(args.json) as prog:
        for name in args.policy:
            task = prog.add_task(f"eval {name}", total=args.episodes)
            res = evaluate_policy(args.scenario, make_baseline(name), args.episodes,
                                  seed=args.seed, backend=args.backend,
                                  on_episode=lambda n, t=task: prog.advance(t, n), **params)
            results.append(res)
    if args.json:
        payload = results[0] if len(results) == 1 else results
        print(json.dumps(payload, indent=2))
    else:
        print_eval_table(results)
    return 0


EVAL_COLUMNS = [
    ("mean_rate_shannon", "mean Shannon"), ("p5_rate_shannon", "p5 Shannon"),
    ("mean_rate", "mean FBL"), ("p5_rate", "p5 FBL"), ("p50_rate", "p50 FBL"),
    ("jain_fairness", "Jain"), ("frac_below_rmin", "< r_min"),
    ("mean_interference_dbm", "interf. dBm"), ("sinr_db_p50", "SINR p50 dB"),
    ("mean_reward", "reward"),
]


def print_eval_table(results: list[dict[str, Any]]) -> None:
    r0 = results[0]
    table = Table(title=f"{r0['scenario']} ({r0['backend']}), {r0['episodes']} episodes, "
                        f"seed {r0['seed']}; rates in bps/Hz")
    table.add_column("policy", no_wrap=True)
    for _, title in EVAL_COLUMNS:
        table.add_column(title, justify="right")
    packet = [c for c in PACKET_COLUMNS if c[0] in r0]  # ns-3 backend only
    for _, title, _ in packet:
        table.add_column(title, justify="right")
    for r in results:
        table.add_row(r["policy"], *(f"{r[k]:.3f}" for k, _ in EVAL_COLUMNS),
                      *(f"{r[k] * scale:.3g}" for k, _, scale in packet))
    _out().print(table)


# Packet-level columns (ns-3 backend): key, title, display scale.
PACKET_COLUMNS = [("delay_mean_s", "delay us", 1e6), ("delay_p99_s", "delay p99 us", 1e6),
                  ("packet_loss", "loss %", 100.0), ("packet_error_rate", "PER %", 100.0)]


def cmd_params(args: argparse.Namespace) -> int:
    from pybridge.env import SCENARIOS

    cls = SCENARIOS[args.scenario]
    rows = cls.describe()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    table = Table(title=f"{args.scenario} parameters")
    for col in ("name", "default", "unit", "range", "source", "doc"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("name", "default", "unit", "range", "source", "doc")))
    _out().print(table)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from fedmarl.bench import bench_twin

    params = _parse_sets(args.set)
    results = []
    for n in args.n:
        console.print(f"[bench] twin N={n} ...")
        results.append(bench_twin(n, batch=args.batch, seconds=args.seconds, **params))
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        return 0
    table = Table(title="twin throughput (env-steps/s; agent-steps/s = x N)")
    for col in ("N", "single", "ParallelEnv API", "batched", "B", "agent-steps/s batched",
                "us/step amortised", "faded/device"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r["n_agents"]), f"{r['env_steps_per_s_single']:,.0f}",
                      f"{r['env_steps_per_s_parallel_env_api']:,.0f}",
                      f"{r['env_steps_per_s_batched']:,.0f}", str(r["batch"]),
                      f"{r['agent_steps_per_s_batched']:,.0f}",
                      f"{r['us_per_stage_single']['per_step_amortised']:.0f}",
                      str(r["faded_interferers_per_device"]))
    _out().print(table)
    for r in results:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["us_per_stage_single"].items())
        _out().print(f"N={r['n_agents']} us per call: {stages}")
    return 0


def cmd_bench_bridge(args: argparse.Namespace) -> int:
    from pybridge.bench_bridge import _print_table, bench_bridge

    console.print(f"[bench] bridge: shared memory vs ZeroMQ, N={args.n}, {args.seconds} s each")
    report = bench_bridge(tuple(args.n), seconds=args.seconds)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def cmd_bench_ns3(args: argparse.Namespace) -> int:
    from fedmarl.bench import bench_ns3

    params = _parse_sets(args.set)
    results = []
    for n in args.n:
        console.print(f"[bench] ns-3 inx-factory N={n}: up to {args.seconds:g} s or"
                      f" {args.steps} steps ...")
        results.append(bench_ns3(n, seconds=args.seconds, max_steps=args.steps, **params))
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        return 0
    table = Table(title="ns-3 packet-level inx-factory: simulated seconds per wall second")
    for col in ("N", "traffic", "steps", "sim s / wall s", "ms / step", "of which ns-3",
                "bridge + Python", "TBs / step", "packets / step", "launch + reset s"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r["n_agents"]), r["traffic"], str(r["steps"]),
                      f"{r['sim_seconds_per_wall_second']:.4g}", f"{r['wall_ms_per_step']:.2f}",
                      f"{r['scenario_ms_per_step']:.2f}", f"{r['overhead_ms_per_step']:.3f}",
                      f"{r['transport_blocks_per_step']:,.0f}",
                      f"{r['packets_delivered_per_step']:,.0f}",
                      f"{r['launch_seconds'] + r['reset_seconds']:.2f}")
    _out().print(table)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from fedmarl.mainjob import run_main_job

    path = run_main_job(args.out, episodes=args.episodes, seed=args.seed, console=console)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedmarl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("eval", help="evaluate baseline policies on a scenario")
    e.add_argument("--scenario", default="inx-factory")
    e.add_argument("--backend", default="twin", choices=["twin", "ns3"])
    e.add_argument("--policy", nargs="+", default=["cgc"],
                   choices=["random", "fixed", "greedy", "greedy-filtered", "cgc"])
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="scenario parameter (repeatable), e.g. --set n_subnetworks=50")
    e.set_defaults(fn=cmd_eval)

    pa = sub.add_parser("params", help="list a scenario's parameters with defaults and sources")
    pa.add_argument("scenario", nargs="?", default="inx-factory")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(fn=cmd_params)

    b = sub.add_parser("bench", help="measure throughput")
    bsub = b.add_subparsers(dest="what", required=True)
    bt = bsub.add_parser("twin", help="twin env-steps/s, single and batched")
    bt.add_argument("--n", type=int, nargs="+", default=[20])
    bt.add_argument("--batch", type=int, default=None, help="B for the batched figure")
    bt.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bt.add_argument("--json", action="store_true")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE")
    bt.set_defaults(fn=cmd_bench)

    bb = bsub.add_parser("bridge", help="round trips/s and p50/p99 latency of one step exchange:"
                         " shared memory vs a ZeroMQ REQ/REP + serialisation loop")
    bb.add_argument("--n", type=int, nargs="+", default=[20, 1000])
    bb.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bb.add_argument("--json", action="store_true")
    bb.set_defaults(fn=cmd_bench_bridge)

    bn = bsub.add_parser("ns3", help="simulated seconds per wall second of the packet-level"
                         " ns-3 scenario")
    bn.add_argument("--n", type=int, nargs="+", default=[20, 100, 1000])
    bn.add_argument("--seconds", type=float, default=10.0, help="wall time per N (at most)")
    bn.add_argument("--steps", type=int, default=None, help="decision steps per N (at most)")
    bn.add_argument("--json", action="store_true")
    bn.add_argument("--set", action="append", metavar="KEY=VALUE")
    bn.set_defaults(fn=cmd_bench_ns3)

    r = sub.add_parser("run", help="the main job: evaluation on the default scenario + report")
    r.add_argument("--out", default="reports/latest")
    r.add_argument("--episodes", type=int, default=20)
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except BridgeError as exc:
        # A crashed or hung ns-3 process: processes and segments are already cleaned up.
        console.print("[red]ns-3 error:[/red]", end=" ")
        console.print(str(exc), markup=False, highlight=False)
        return 3


if __name__ == "__main__":
    sys.exit(main())
