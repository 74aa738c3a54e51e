"""A two-node Ray cluster on one machine (`ray.cluster_utils.Cluster`, one CPU each): the ns-3
copies of a batch go one to each node, each started by its actor on the actor's node, and the
numbers are those of the local core. Its own module: a driver joins one Ray instance at a time.
"""

from __future__ import annotations

import numpy as np

from pybridge import engine, make_vec_env
from tests.ray_support import two_node_ray


def test_two_nodes_put_one_ns3_copy_on_each_and_match_local(tmp_path):
    local = make_vec_env("inx-factory", 2, backend="ns3", episode_steps=30)
    with local:
        ref = local.reset(seed=7)[0].copy()
        ref_step = local.step(np.ones((2, 20), dtype=np.int64))[0].copy()
    with two_node_ray(tmp_path) as (_, seen), engine.use(engine.Engine("ray")):
        env = make_vec_env("inx-factory", 2, backend="ns3", episode_steps=30)
        with env:
            seen.extend(env.core.shards.pids())
            nodes = {w["node_id"] for w in env.core.shards.where}
            assert len(nodes) == 2  # one copy per node: SPREAD over the two nodes
            assert np.array_equal(env.reset(seed=7)[0], ref)
            assert np.array_equal(env.step(np.ones((2, 20), dtype=np.int64))[0], ref_step)
