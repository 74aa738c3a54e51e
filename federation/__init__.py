"""Federated averaging and secure aggregation. Never imports agents, pybridge or torch.

Works on `dict[str, np.ndarray]` parameter dicts (a torch state_dict converted by the caller,
e.g. `{k: v.detach().cpu().numpy() for k, v in sd.items()}`); results come back in the same key
order and dtypes.

    fedavg(updates, weights=None) -> dict                      plain weighted FedAvg, in memory
    plain_fedavg_round(updates, weights=None) -> (dict, RoundReport)      the same, as bytes
    run_secure_round(updates, weights=None, *, threshold=None, dropouts=None, curve="x25519",
                     quant=None, round_number=0, identities=None, graph="auto", threat=None,
                     degree=None, graph_seed=None) -> (dict, RoundReport)   secure aggregation
    Authority, make_identities, Pki.from_roster                 the trust root (trust.py)
    ThreatModel, harary_parameters                              SecAgg+ graph parameters
    SecAggClient, SecAggServer                                  the protocol's two parties
    centralised_bytes(n_transitions, obs_dim, action_dim=1) -> int        C- baseline bytes
    federation.bench.bench_secagg / sweep                                 cost measurements
"""

from federation.accounting import RoundReport, StageTiming, centralised_bytes
from federation.errors import (
    AggregationError,
    ConfigError,
    FederationError,
    ImplausibleAggregateError,
    ProtocolError,
    ThresholdError,
)
from federation.fedavg import fedavg
from federation.graph import NeighbourGraph, ThreatModel, harary_parameters
from federation.layout import ParamLayout, TensorSpec, check_same_layout, flatten, unflatten
from federation.plain_round import plain_fedavg_round
from federation.quantise import QuantConfig, quantised_weighted_mean
from federation.secagg_client import SecAggClient
from federation.secagg_params import SecAggParams
from federation.secagg_server import SecAggServer
from federation.secure_round import STAGES, run_secure_round
from federation.trust import Authority, Identities, Pki, make_identities

__all__ = [
    "STAGES",
    "AggregationError",
    "Authority",
    "ConfigError",
    "FederationError",
    "Identities",
    "ImplausibleAggregateError",
    "NeighbourGraph",
    "ParamLayout",
    "Pki",
    "ProtocolError",
    "QuantConfig",
    "RoundReport",
    "SecAggClient",
    "SecAggParams",
    "SecAggServer",
    "StageTiming",
    "TensorSpec",
    "ThreatModel",
    "ThresholdError",
    "centralised_bytes",
    "check_same_layout",
    "fedavg",
    "flatten",
    "harary_parameters",
    "make_identities",
    "plain_fedavg_round",
    "quantised_weighted_mean",
    "run_secure_round",
    "unflatten",
]
