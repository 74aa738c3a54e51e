"""edge-offload: mobile users offload URLLC / eMBB / mMTC tasks to edge servers (issue 11).

Modules: config (parameters), twin (numpy core), contract (ns-3 array dims and step data),
ns3_core (the ns-3 core's views), metrics (episode summary), spec (the declarations). Importing
the package registers its spec: `pybridge.scenarios.get("edge-offload")`.
"""

from pybridge.scenarios import register
from pybridge.scenarios.edge_offload.config import EdgeOffloadConfig
from pybridge.scenarios.edge_offload.spec import SPEC, EdgeOffloadSpec

register(SPEC)

__all__ = ["SPEC", "EdgeOffloadConfig", "EdgeOffloadSpec"]
