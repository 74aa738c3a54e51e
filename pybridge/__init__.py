"""The Python face of the scenarios: one PettingZoo env API over two backends.

Backends: `twin` (numpy, in-process) and `ns3` (the packet-level ns-3 scenario over shared
memory). pybridge never imports torch.
"""

from pybridge.config import ConfigError
from pybridge.env import InxParallelEnv, VecEnv, make_config, make_env, make_vec_env
from pybridge.scenarios.inx_factory import InxFactoryConfig

__all__ = ["ConfigError", "InxFactoryConfig", "InxParallelEnv", "VecEnv", "make_config",
           "make_env", "make_vec_env"]
