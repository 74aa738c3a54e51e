"""The Python face of the scenarios: one PettingZoo env API over two backends.

Backends: `twin` (numpy, in-process) and `ns3` (the packet-level ns-3 scenario over shared
memory). Scenarios live in `pybridge.scenarios` (`get`, `names`, `register`). pybridge never
imports torch.
"""

from pybridge import scenarios
from pybridge.config import ConfigError
from pybridge.env import ParallelEnvAdapter, VecEnv, make_config, make_env, make_vec_env

__all__ = ["ConfigError", "ParallelEnvAdapter", "VecEnv", "make_config", "make_env",
           "make_vec_env", "scenarios"]
