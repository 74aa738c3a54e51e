"""inx-factory: in-X subnetworks on robots in a factory hall share K channels (DESIGN.md).

Modules: config (parameters), twin (numpy core), contract (ns-3 array dims and step data),
ns3_core (the ns-3 core's scenario methods), metrics (episode summary), replay (trace mode of
`fedmarl validate`), render (the hall picture), spec (the declarations). Importing the package
registers its spec: `pybridge.scenarios.get("inx-factory")`.
"""

from pybridge.scenarios import register
from pybridge.scenarios.inx_factory.config import InxFactoryConfig
from pybridge.scenarios.inx_factory.spec import SPEC, InxFactorySpec

register(SPEC)

__all__ = ["SPEC", "InxFactoryConfig", "InxFactorySpec"]
