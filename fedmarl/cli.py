"""The `fedmarl` command line.

  fedmarl eval  [--scenario NAME] [--policy P ...] --episodes 20 --seed 0 [--json] [--set k=v]
  fedmarl train --config FILE [--backend twin|ns3] [--algo NAME] [--seed S] [--out DIR]
  fedmarl train --resume DIR            (continue an interrupted run)
  fedmarl eval  --run DIR [--episodes E] (the run's greedy policy vs the baselines)
  fedmarl report DIR [DIR ...] [--out DIR]
  fedmarl bench secagg [--clients N ...] [--params D ...] [--graphs complete harary] [--json]
  fedmarl bench twin --n 20 [--json]
  fedmarl bench train [--scenario S] [--algo A ...] [--n N] [--json]
  fedmarl bench bridge [--n 20 1000] [--json]
  fedmarl params [SCENARIO]             (every scenario parameter, default, range and source)
  fedmarl validate --policy BASELINE|RUN_DIR --episodes 5 [--json] [--out DIR] [--set k=v]
                                        (the same configuration on the twin and on ns-3)
  fedmarl validate --trace FILE [--episodes E] [--json] [--out DIR]
                                        (another simulator's trace: docs/trace-format.md)
  fedmarl record-trace --policy P --episodes E --out FILE [--set k=v]
                                        (a trace of our twin in that format)
  fedmarl run                           (the main job: README.md, "Set-up")
  fedmarl reproduce STUDY [--quick]     (a scenario's reference study, e.g. its paper's figures)

Choices come from the registries: scenarios from `pybridge.scenarios`, policies from the chosen
scenario's baselines module, algorithms from `agents.registry.LEARNERS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fedmarl.registries import (
    DEFAULT_SCENARIO,
    MAIN_TRAIN,
    baseline_names,
    learner_names,
    scenario_names,
)
from fedmarl.registries import spec as scenario_spec
from pybridge.api import BACKENDS
from pybridge.bridge import BridgeError
from pybridge.config import ConfigError
from pybridge.engine.errors import EngineError

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


def _scenario_params(args: argparse.Namespace, scenario: str | None = None) -> dict[str, Any]:
    """The scenario parameters of a command: its --preset's, then its --set values on top."""
    out: dict[str, Any] = {}
    name = getattr(args, "preset", None)
    if name:
        spec = scenario_spec(scenario or getattr(args, "scenario", None) or DEFAULT_SCENARIO)
        if name not in spec.presets:
            raise ConfigError(f"unknown preset {name!r} for {spec.name}; available: "
                              f"{', '.join(spec.presets) or 'none'}")
        out.update(spec.presets[name][1])
    out.update(_parse_sets(args.set))
    return out


def _progress(json_mode: bool, transient: bool = True) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=json_mode or not
                    console.is_terminal, transient=transient)


def _print_json(results: list[Any]) -> None:
    """One result as an object, several as a list."""
    print(json.dumps(results[0] if len(results) == 1 else results, indent=2))


def _policies(scenario: str, names: list[str] | None) -> list[str]:
    """The --policy names, checked against the scenario's baselines (default: all of them)."""
    known = baseline_names(scenario)
    if not names:
        return known
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"unknown policy {', '.join(map(repr, bad))} for scenario"
                          f" {scenario!r}; its baselines: {', '.join(known) or 'none'}")
    return names


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """--engine, --ray-address, --workers (pybridge/engine; docs/cluster.md)."""
    from pybridge.engine import ENGINES

    p.add_argument("--engine", default="local", choices=ENGINES,
                   help="where env copies run: in this process, or as Ray actors (one per CPU;"
                        " an ns-3 process on its actor's node); the same seed gives the same"
                        " numbers on both")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="--engine ray: a running cluster ('auto' or HOST:PORT, from `ray start"
                        " --head`); default: a local Ray instance for this command")
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help="shards a batch of copies is split into (default 1; ns-3 on Ray: the"
                        " cluster's CPUs); twin numbers depend on W, ns-3 ones do not")


def _engine(args: argparse.Namespace):
    from pybridge.engine import Engine

    return Engine(args.engine, address=args.ray_address, workers=args.workers)


def cmd_eval(args: argparse.Namespace) -> int:
    from fedmarl.evaluate import evaluate_policy
    from fedmarl.registries import make_baseline

    if args.run:
        return _eval_runs(args)
    params = _scenario_params(args)
    policies = _policies(args.scenario, args.policy)
    results = []
    with _progress(args.json) as prog:
        for name in policies:
            task = prog.add_task(f"eval {name}", total=args.episodes)
            res = evaluate_policy(args.scenario, make_baseline(args.scenario, name),
                                  args.episodes,
                                  seed=args.seed, backend=args.backend,
                                  on_episode=lambda n, t=task: prog.advance(t, n), **params)
            results.append(res)
    if args.json:
        _print_json(results)
    else:
        print_eval_table(results)
    return 0


def _eval_runs(args: argparse.Namespace) -> int:
    from fedmarl.runs import eval_baselines, evaluate_run, load_run_record

    outs = []
    with _progress(args.json) as prog:
        for run in args.run:
            scenario = load_run_record(run)["scenario"]
            # --policy picks the baselines (it was ignored with --run); default: the scenario's
            names = _policies(scenario, args.policy) if args.policy else eval_baselines(scenario)
            total = args.episodes * (1 + len(names))
            task = prog.add_task(f"eval {run}", total=total)
            outs.append(evaluate_run(run, episodes=args.episodes, seed=args.seed,
                                     baselines=names, backend=args.backend,
                                     on_episode=lambda n, t=task: prog.advance(t, n),
                                     params=_scenario_params(args, scenario) or None,
                                     members=args.members))
    if args.json:
        _print_json(outs)
    else:
        for o in outs:
            print_eval_table(o["results"])
    return 0


def print_eval_table(results: list[dict[str, Any]]) -> None:
    """The scenario's columns (`spec.columns`), then its ns-3 columns when the backend has them."""
    r0 = results[0]
    spec = scenario_spec(r0["scenario"])
    table = Table(title=f"{r0['scenario']} ({r0['backend']}), {r0['episodes']} episodes, "
                        f"seed {r0['seed']}")
    table.add_column("policy", no_wrap=True)
    columns = [*spec.columns, *(c for c in spec.ns3_columns if c.key in r0)]
    for c in columns:
        table.add_column(c.header, justify="right")
    for r in results:
        table.add_row(r["policy"], *(c.format(r) for c in columns))
    _out().print(table)


def cmd_validate(args: argparse.Namespace) -> int:
    from fedmarl.validate import default_policy
    from fedmarl.validate_report import validate_and_report

    if args.trace_file:
        return cmd_validate_trace(args)
    params = _scenario_params(args)
    if args.policy is None:
        args.policy = default_policy(args.scenario)
    out = args.out or f"reports/validate/{args.policy.rstrip('/').replace('/', '_')}"
    with _progress(args.json) as prog:
        task = prog.add_task(f"validate {args.policy} (twin, then ns-3)",
                             total=2 * args.episodes)
        result = validate_and_report(out, args.scenario, args.policy, args.episodes,
                                     seed=args.seed, params=params, trace=args.trace,
                                     on_episode=lambda n: prog.advance(task, n))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_validate(result)
    return 0


def cmd_validate_trace(args: argparse.Namespace) -> int:
    from fedmarl.validate_trace import validate_trace_and_report

    if args.policy is not None or args.set or args.preset:
        raise ConfigError("--trace FILE validates the file's own run: drop"
                          " --policy/--set/--preset")
    out = args.out or f"reports/validate/trace-{Path(args.trace_file).stem}"
    episodes = args.episodes if args.episodes_given else None
    with _progress(args.json) as prog:
        task = prog.add_task(f"validate --trace {args.trace_file} (twin, then ns-3)",
                             total=None)
        result = validate_trace_and_report(out, args.trace_file, episodes=episodes,
                                           reps=args.reps, seed=args.seed,
                                           on_episode=lambda n: prog.advance(task, n))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title=f"validate --trace {args.trace_file}: {result['steps']} steps,"
                        f" {result['wall_seconds']:.0f} s")
    for col in ("metric", "estimate", "expected", "tolerance", "verdict"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    g = (lambda x: "" if x is None else f"{x:.4g}")
    for row in result["channel_model"]["rows"]:
        table.add_row(row["metric"], g(row["estimate"]), g(row["expected"]),
                      g(row["tolerance"]), row["verdict"])
    for c in result["comparisons"]:
        table.add_row(f"KS {c['name']} ({c['effect']})", g(c.get("ks")), "0",
                      g(c.get("tolerance")), c["verdict"])
    _out().print(table)
    if result.get("ns3", {}).get("skipped"):
        _out().print(f"ns-3 not run: {result['ns3']['skipped']}", markup=False, highlight=False)
    elif result.get("ns3"):
        rep = result["ns3"]["reproduced"]
        _out().print(f"ns-3 reproduced positions/channels exactly: {rep['exact']}",
                     markup=False, highlight=False)
    _out().print(f"report: {result['files']['markdown']}", markup=False, highlight=False)
    return 0


def cmd_record_trace(args: argparse.Namespace) -> int:
    from fedmarl.evaluate import run_episodes
    from fedmarl.registries import make_baseline
    from fedmarl.validate_trace import trace_module

    params = {"interference_model": "exact", **_scenario_params(args)}
    spec = scenario_spec(args.scenario)
    cfg = spec.make_config(**params)
    module = trace_module(args.scenario)
    if args.fault and args.fault not in module.FAULTS:
        raise ConfigError(f"unknown --fault {args.fault!r}; known: {', '.join(module.FAULTS)}")
    rec = module.recorder(cfg, args.rate_formula)
    with _progress(False) as prog:
        task = prog.add_task(f"record {args.policy} on the twin", total=args.episodes)
        run_episodes(args.scenario, make_baseline(args.scenario, args.policy), args.episodes,
                     args.seed, "twin", args.episodes, params, spec.recorder(cfg),
                     after_step=rec.after_step,
                     on_batch_end=lambda n: (rec.on_batch_end(n), prog.advance(task, n)))
    path = rec.write(args.out, source=f"fedmarl {args.scenario} twin, policy {args.policy},"
                                      f" seed {args.seed}")
    if args.fault:
        module.inject_fault(path, args.fault)
    print(path)
    return 0


def print_validate(r: dict[str, Any]) -> None:
    from fedmarl.validate_report import markdown, trace_markdown

    table = Table(title=f"validate {r['policy']} on {r['scenario']}: twin vs ns-3, "
                        f"{r['episodes']} episodes, {r['wall_seconds']:.0f} s")
    for col in ("metric", "twin / prediction", "ns-3", "deviation", "tolerance", "verdict"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for row in r["verdicts"] + r["packet_level"]:
        fmt = (lambda x: "" if x is None else f"{x:.4g}")
        table.add_row(row["metric"], fmt(row["twin"]), fmt(row["ns3"]), fmt(row["deviation"]),
                      f"{row['tolerance_kind']} {row['tolerance']:g}", row["verdict"])
    _out().print(table)
    if r.get("trace"):
        _out().print("\n".join(trace_markdown(r)), markup=False, highlight=False)
    if "transfer" in r:
        text = markdown(r)
        _out().print(text[text.index("## Transfer"):], markup=False, highlight=False)
    if "files" in r:
        _out().print(f"report: {r['files']['markdown']}", markup=False, highlight=False)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from fedmarl.reproduce import main_cli

    return main_cli(args)


def cmd_params(args: argparse.Namespace) -> int:
    rows = scenario_spec(args.scenario).config_cls.describe()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    table = Table(title=f"{args.scenario} parameters")
    for col in ("name", "default", "unit", "range", "source", "doc"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("name", "default", "unit", "range", "source", "doc")))
    _out().print(table)
    presets = scenario_spec(args.scenario).presets
    if presets:
        pt = Table(title=f"{args.scenario} presets (--preset NAME; --set goes on top)")
        for col in ("preset", "parameters", "what it is for"):
            pt.add_column(col, overflow="fold")
        for name, (doc, values) in presets.items():
            pt.add_row(name, " ".join(f"{k}={v}" for k, v in values.items()), doc)
        _out().print(pt)
    return 0


def _bench_engine(args: argparse.Namespace, backend: str) -> int:
    from fedmarl.bench import bench_engine, format_engine_table

    params = _scenario_params(args)
    rows = []
    for n in args.n:
        console.print(f"[bench] {backend} N={n}: {args.copies} copies, local engine vs Ray")
        kwargs = {"seconds": args.seconds} if args.seconds else {}
        rows.append(bench_engine(backend, args.copies, n, scenario=args.scenario, **kwargs,
                                 **params))
    if args.json:
        _print_json(rows)
    else:
        _out().print(format_engine_table(rows), markup=False, highlight=False)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from fedmarl.bench import bench_twin

    if args.copies is not None:
        return _bench_engine(args, "twin")
    params = _scenario_params(args)
    results = []
    for n in args.n:
        console.print(f"[bench] twin N={n} ...")
        results.append(bench_twin(n, batch=args.batch, seconds=args.seconds,
                                  scenario=args.scenario, **params))
    if args.json:
        _print_json(results)
        return 0
    table = Table(title="twin throughput (env-steps/s; agent-steps/s = x N)")
    facts = sorted({k for r in results for k in r.get("facts", ())})
    staged = any(r["us_per_stage_single"] for r in results)
    cols = ["N", "single", "ParallelEnv API", "batched", "B", "agent-steps/s batched"]
    cols += ["us/step amortised"] if staged else []
    for col in cols + [f.replace("_", " ") for f in facts]:
        table.add_column(col, justify="right")
    for r in results:
        row = [str(r["n_agents"]), f"{r['env_steps_per_s_single']:,.0f}",
               f"{r['env_steps_per_s_parallel_env_api']:,.0f}",
               f"{r['env_steps_per_s_batched']:,.0f}", str(r["batch"]),
               f"{r['agent_steps_per_s_batched']:,.0f}"]
        if staged:
            row.append(f"{r['us_per_stage_single'].get('per_step_amortised', float('nan')):.0f}")
        table.add_row(*row, *(str(r.get(f, "")) for f in facts))
    _out().print(table)
    for r in results:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["us_per_stage_single"].items())
        if stages:
            _out().print(f"N={r['n_agents']} us per call: {stages}")
    if results:
        _out().print(f"machine: {results[0]['machine']}")
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from fedmarl.bench_train import bench_train, format_table

    rows = bench_train(tuple(args.algo), scenario=args.scenario, n=args.n,
                       episodes=args.episodes, n_envs=args.n_envs, aggregation=args.aggregation,
                       threads=args.threads,
                       overlap={"both": (False, True), "on": (True,), "off": (False,)}[
                           args.overlap], tau_agg=args.tau_agg, cluster_size=args.cluster_size,
                       log=lambda m: console.print(m, markup=False, highlight=False))
    if args.json:
        _print_json(rows)
        return 0
    _out().print(format_table(rows), markup=False, highlight=False)
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

    if args.copies is not None:
        return _bench_engine(args, "ns3")
    params = _scenario_params(args)
    results = []
    for n in args.n:
        console.print(f"[bench] ns-3 {args.scenario} N={n}: up to {args.seconds:g} s or"
                      f" {args.steps} steps ...")
        results.append(bench_ns3(n, seconds=args.seconds, max_steps=args.steps,
                                 scenario=args.scenario, **params))
    if args.json:
        _print_json(results)
        return 0
    table = Table(title=f"ns-3 packet-level {args.scenario}: simulated seconds per wall second")
    extra = sorted({k for r in results for k in r["per_step"]})
    for col in ("N", "traffic", "steps", "sim s / wall s", "ms / step", "of which ns-3",
                "bridge + Python", *(f"{k} / step" for k in extra), "launch + reset s"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r["n_agents"]), r["traffic"], str(r["steps"]),
                      f"{r['sim_seconds_per_wall_second']:.4g}", f"{r['wall_ms_per_step']:.2f}",
                      f"{r['scenario_ms_per_step']:.2f}", f"{r['overhead_ms_per_step']:.3f}",
                      *(f"{r['per_step'].get(k, float('nan')):,.4g}" for k in extra),
                      f"{r['launch_seconds'] + r['reset_seconds']:.2f}")
    _out().print(table)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from fedmarl.train import TrainConfig, Trainer

    if args.resume:
        if (args.config or args.algo or args.seed is not None or args.out or args.scenario
                or args.workers is not None):
            raise ConfigError("--resume DIR continues a run with its saved config; drop"
                              " --config/--scenario/--algo/--seed/--out/--workers")
        cfg = TrainConfig.load_run(args.resume)
        out = args.resume
    else:
        data = TrainConfig.read_file(args.config) if args.config else {}
        for key in ("scenario", "backend", "algo", "seed", "episodes"):
            if getattr(args, key) is not None:
                data[key] = getattr(args, key)
        if args.workers is not None:
            data["env_workers"] = args.workers
        if args.set or args.preset:
            data["params"] = {**data.get("params", {}),
                              **_scenario_params(args, data.get("scenario"))}
        cfg = TrainConfig.from_dict(data)
        # the default scenario's runs keep their short names; another's are prefixed with it
        prefix = "" if cfg.scenario == DEFAULT_SCENARIO else f"{cfg.scenario}-"
        out = args.out or f"runs/{prefix}{cfg.algo}-{cfg.backend}-s{cfg.seed}"
    with _progress(False, transient=False) as prog:
        trainer = Trainer(cfg, out, progress=prog, console=console)
        trainer.resume() if args.resume else trainer.start()
    print(out)
    return 130 if trainer.interrupted else 0


def cmd_report(args: argparse.Namespace) -> int:
    from fedmarl.report import write_report

    print(write_report(args.runs, args.out))
    return 0


def cmd_bench_secagg(args: argparse.Namespace) -> int:
    from federation import bench

    console.print(f"[bench] secagg: N in {args.clients} x d in {args.params} x graph in"
                  f" {args.graphs}, {args.dropout:g} drop-outs at {args.dropout_stage}"
                  f" (configurations estimated over {args.budget:g} s are skipped;"
                  f" {'cyclic GC on' if args.keep_gc else 'cyclic GC paused while timing'})")
    rows = bench.run(args)
    if args.json:
        print(json.dumps(rows, indent=2))  # always a list: one row per N x d x graph
    else:
        _out().print(bench.format_table(rows), markup=False, highlight=False)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from fedmarl.mainjob import run_main_job

    with _progress(False, transient=False) as prog:
        path = run_main_job(args.out, episodes=args.episodes, seed=args.seed,
                            train_episodes=args.train_episodes, console=console, progress=prog,
                            scenario=args.scenario)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedmarl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    scenarios = scenario_names()

    e = sub.add_parser("eval", help="evaluate baseline policies on a scenario")
    e.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    e.add_argument("--backend", default="twin", choices=BACKENDS)
    e.add_argument("--policy", nargs="+", default=None, metavar="POLICY",
                   help="baselines of the scenario (default: all of them; for"
                        f" {DEFAULT_SCENARIO}: {', '.join(baseline_names(DEFAULT_SCENARIO))})")
    e.add_argument("--run", nargs="+", metavar="DIR",
                   help="evaluate trained run(s) greedily against the scenario's baselines (or"
                        " those --policy names) on fresh seeds (writes DIR/eval-<backend>.json);"
                        " --set/--preset change the run's scenario parameters (e.g. --set"
                        " n_subnetworks=5000: another N, written to"
                        " DIR/eval-<backend>-<params>.json)")
    e.add_argument("--members", default="tile", choices=("tile", "average"),
                   help="--run at another number of agents: each new agent on trained member"
                        " network g mod G (tile), or every agent on their average (average:"
                        " for F- runs the federation's global model)")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="scenario parameter (repeatable; `fedmarl params SCENARIO` lists them)")
    e.add_argument("--preset", default=None, metavar="NAME",
                   help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    add_engine_arguments(e)
    e.set_defaults(fn=cmd_eval)

    v = sub.add_parser("validate", help="run one configuration on the twin and on ns-3 and"
                       " compare rates, SINR, path gain and packet-level figures")
    v.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    v.add_argument("--policy", default=None,
                   help="a baseline of the scenario (default: the first it compares runs with)"
                        " or a `fedmarl train` run directory (the sim-to-packet transfer gap)")
    v.add_argument("--episodes", type=_episodes_arg, default=5,
                   help="episodes per backend (default 5); with --trace: the trace's first E"
                        " episodes (default all)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v.add_argument("--out", default=None,
                   help="report directory (default reports/validate/POLICY): validate.md,"
                        " validate.json, one CDF PNG per compared sample set")
    v.add_argument("--set", action="append", metavar="KEY=VALUE", help="scenario parameter")
    v.add_argument("--preset", default=None, metavar="NAME",
                   help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    v.add_argument("--no-trace", dest="trace", action="store_false",
                   help="skip trace mode (on by default where the scenario has one: replay what"
                        " ns-3 recorded with the twin's formulas and split the difference into"
                        " its causes)")
    v.add_argument("--trace", dest="trace_file", metavar="FILE", default=None,
                   help="validate another simulator's run recorded in FILE"
                        " (docs/trace-format.md): channel-model check, the same geometry"
                        " through our twin and through ns-3 driven by the trace")
    v.add_argument("--reps", type=int, default=4,
                   help="with --trace: fresh twin channel draws per trace episode")
    add_engine_arguments(v)
    v.set_defaults(fn=cmd_validate, trace=True)

    rt = sub.add_parser("record-trace", help="record a run of the twin in the external trace"
                        " format (docs/trace-format.md)")
    rt.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    rt.add_argument("--policy", default="random", help="a baseline of the scenario")
    rt.add_argument("--episodes", type=int, default=8)
    rt.add_argument("--seed", type=int, default=0)
    rt.add_argument("--rate-formula", choices=("shannon", "fbl"), default="shannon")
    rt.add_argument("--out", required=True, help="the .npz file to write")
    rt.add_argument("--fault", default=None,
                    help="inject one of the seed code's channel-model faults (k0_fading,"
                         " scaled_shadowing, db_slip: docs/trace-format.md), for demonstrations")
    rt.add_argument("--preset", default=None, metavar="NAME",
                    help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    rt.add_argument("--set", action="append", metavar="KEY=VALUE", help="scenario parameter")
    rt.set_defaults(fn=cmd_record_trace)

    pa = sub.add_parser("params", help="list a scenario's parameters with defaults and sources")
    pa.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, choices=scenarios)
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(fn=cmd_params)

    b = sub.add_parser("bench", help="measure throughput")
    bsub = b.add_subparsers(dest="what", required=True)
    bt = bsub.add_parser("twin", help="twin env-steps/s, single and batched")
    bt.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    bt.add_argument("--n", type=int, nargs="+", default=[20], help="agents N")
    bt.add_argument("--batch", type=int, default=None, help="B for the batched figure")
    bt.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bt.add_argument("--json", action="store_true")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE")
    bt.add_argument("--preset", default=None, metavar="NAME",
                    help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    bt.add_argument("--copies", type=int, default=None, metavar="B",
                    help="with --engine ray: B copies on the Ray engine against B copies on the"
                         " local engine, in the same run (throughput and Ray's per-step"
                         " overhead)")
    add_engine_arguments(bt)
    bt.set_defaults(fn=cmd_bench)

    bb = bsub.add_parser("bridge", help="round trips/s and p50/p99 latency of one step exchange:"
                         " shared memory vs a ZeroMQ REQ/REP + serialisation loop")
    bb.add_argument("--n", type=int, nargs="+", default=[20, 1000])
    bb.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    bb.add_argument("--json", action="store_true")
    bb.set_defaults(fn=cmd_bench_bridge)

    bn = bsub.add_parser("ns3", help="simulated seconds per wall second of the packet-level"
                         " ns-3 scenario")
    bn.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    bn.add_argument("--n", type=int, nargs="+", default=[20, 100, 1000], help="agents N")
    bn.add_argument("--seconds", type=float, default=10.0, help="wall time per N (at most)")
    bn.add_argument("--steps", type=int, default=None, help="decision steps per N (at most)")
    bn.add_argument("--json", action="store_true")
    bn.add_argument("--set", action="append", metavar="KEY=VALUE")
    bn.add_argument("--preset", default=None, metavar="NAME",
                    help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    bn.add_argument("--copies", type=int, default=None, metavar="B",
                    help="with --engine ray: B ns-3 processes in Ray actors against B in one"
                         " local core, in the same run")
    add_engine_arguments(bn)
    bn.set_defaults(fn=cmd_bench_ns3)

    btr = bsub.add_parser("train", help="training env-steps/s per learner, split into env,"
                          " acting, updates, federation and bookkeeping, beside the env alone")
    btr.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    btr.add_argument("--algo", nargs="+", default=["f-maddqn", "f-mappo", "f-drqn"],
                     choices=learner_names())
    btr.add_argument("--n", type=int, default=None, help="agents N (default: the scenario's)")
    btr.add_argument("--episodes", type=int, default=2, help="episode batches per learner")
    btr.add_argument("--n-envs", type=int, default=MAIN_TRAIN["n_envs"],
                     help="copies stepped together (default: the main job's)")
    btr.add_argument("--aggregation", default="secure", choices=("secure", "plain"))
    btr.add_argument("--threads", type=int, default=None,
                     help="torch threads (default: torch's own, as `fedmarl train`)")
    btr.add_argument("--overlap", default="both", choices=("both", "on", "off"),
                     help="F- learners: rounds synchronous, overlapped with training, or both")
    btr.add_argument("--tau-agg", type=int, default=MAIN_TRAIN["tau_agg"],
                     help="F- learners: transitions per agent between rounds (default: the main"
                          " job's)")
    btr.add_argument("--cluster-size", type=int, default=None,
                     help="agents per shared network (learner option cluster_size; default 1:"
                          " a network per agent)")
    btr.add_argument("--json", action="store_true")
    btr.set_defaults(fn=cmd_bench_train)

    bs = bsub.add_parser("secagg", help="one secure-aggregation round (all-pairs and SecAgg+)"
                         " beside plain FedAvg: seconds, critical path, bytes per client")
    from federation.bench import add_arguments as secagg_arguments

    secagg_arguments(bs)
    bs.set_defaults(fn=cmd_bench_secagg)

    t = sub.add_parser("train", help="train a learner (f-/d-/c- maddqn, mappo, drqn) into a run"
                       " directory")
    t.add_argument("--config", help="YAML or TOML file of training options (see docs/training.md)")
    t.add_argument("--scenario", default=None, choices=scenarios,
                   help=f"scenario to train on (default: the config file's, else {DEFAULT_SCENARIO})")
    t.add_argument("--backend", choices=BACKENDS, default=None)
    t.add_argument("--algo", default=None, choices=learner_names())
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--episodes", type=int, default=None)
    t.add_argument("--out", default=None, help="run directory (default runs/ALGO-BACKEND-sSEED)")
    t.add_argument("--resume", metavar="DIR", default=None)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="scenario parameter")
    t.add_argument("--preset", default=None, metavar="NAME",
                   help="named parameter set (`fedmarl params SCENARIO`); --set on top")
    add_engine_arguments(t)
    t.set_defaults(fn=cmd_train)

    rp = sub.add_parser("report", help="Markdown report with PNG plots of one or more runs")
    rp.add_argument("runs", nargs="+", metavar="DIR")
    rp.add_argument("--out", default=None, help="report directory (default: the first run)")
    rp.set_defaults(fn=cmd_report)

    r = sub.add_parser("run", help="the main job: train f-maddqn, evaluate it with the baselines,"
                       " write the report")
    r.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenarios)
    r.add_argument("--out", default="reports/latest")
    r.add_argument("--episodes", type=int, default=20, help="evaluation episodes per policy")
    r.add_argument("--train-episodes", type=int, default=None,
                   help="training episodes (batches of 16 copies); default: a few CPU minutes")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_run)

    from fedmarl.scenarios import study_names

    rr = sub.add_parser("reproduce", help="a scenario's reference study (e.g. its paper's figures)"
                        " on our simulators: a results page with PNGs, tables and the claims"
                        " checked (a benchmark)")
    rr.add_argument("study", choices=study_names())
    rr.add_argument("--quick", action="store_true",
                    help="tiny training budgets: the whole pipeline in minutes")
    rr.add_argument("--out", default=None,
                    help="results directory (default: the study's, e.g. docs/results/edge-offload)")
    rr.add_argument("--work", default=None,
                    help="training runs (default runs/reproduce-STUDY-quick or -full)")
    rr.add_argument("--seed", type=int, default=0)
    rr.add_argument("--jobs", type=int, default=None, help="parallel training runs (default 2;"
                    " with --engine ray: Ray tasks, as many at once as the cluster has CPUs)")
    add_engine_arguments(rr)
    rr.set_defaults(fn=cmd_reproduce)
    return p


class _EpisodesArg(int):
    """--episodes as given on the command line (so --trace can tell it from the default)."""


def _episodes_arg(text: str) -> int:
    return _EpisodesArg(int(text))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.episodes_given = isinstance(getattr(args, "episodes", None), _EpisodesArg)
    try:
        if not hasattr(args, "engine"):
            return args.fn(args)
        from pybridge.engine import use

        with use(_engine(args)):  # a local Ray instance started here is stopped here
            return args.fn(args)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # one line: grep-able
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: every `finally` above has run (envs closed: ns-3 processes stopped, segments
        # unlinked, Ray actors killed; a Ray instance this command started is shut down).
        console.print("[red]interrupted[/red]")
        return 130
    except EngineError as exc:
        # A shard of a distributed batch died or failed (it names its node and copies): every
        # shard is already stopped.
        console.print("[red]engine error:[/red]", end=" ")
        console.print(str(exc), markup=False, highlight=False)
        return 3
    except BridgeError as exc:
        # A crashed or hung ns-3 process: processes and segments are already cleaned up.
        console.print("[red]ns-3 error:[/red]", end=" ")
        console.print(str(exc), markup=False, highlight=False)
        return 3


if __name__ == "__main__":
    sys.exit(main())
