"""`fedmarl bench twin|ns3 --engine ray --copies B`: a benchmark (figures printed, never
asserted as timings; `make bench`), and the one clear error when --copies lacks the Ray engine."""

from __future__ import annotations

import pytest

from fedmarl import cli
from fedmarl.bench import bench_engine, format_engine_table
from pybridge import engine
from tests.ray_support import local_ray


def test_copies_without_the_ray_engine_is_one_clear_error(capsys):
    assert cli.main(["bench", "twin", "--copies", "2", "--n", "20"]) == 2
    assert "--copies measures the Ray engine against the local one" in capsys.readouterr().err


@pytest.mark.benchmark
def test_bench_engine_twin_and_ns3(tmp_path):
    with local_ray(tmp_path), engine.use(engine.Engine("ray")):
        rows = [bench_engine("twin", 2, 20, seconds=3.0),
                bench_engine("ns3", 2, 20, seconds=10.0)]
    for r in rows:
        assert r["ray_shards"] == 2 and r["env_steps_per_s_ray_B"] > 0
        assert 0 < r["us_per_step_inside_actor"] < r["us_per_step_ray"]
    print("\n" + format_engine_table(rows))
