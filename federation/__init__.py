"""Federated averaging and secure aggregation. Never imports agents, pybridge or torch.

Works on `dict[str, np.ndarray]` parameter dicts (a torch state_dict converted by the caller,
e.g. `{k: v.detach().cpu().numpy() for k, v in sd.items()}`); results come back in the same key
order and dtypes.

    fedavg(updates, weights=None) -> dict                      plain weighted FedAvg, in memory
    plain_fedavg_round(updates, weights=None) -> (dict, RoundReport)      the same, as bytes
    centralised_bytes(n_transitions, obs_dim, action_dim=1) -> int        C- baseline bytes
"""

from federation.accounting import RoundReport, StageTiming, centralised_bytes
from federation.errors import (
    AggregationError,
    ConfigError,
    FederationError,
    ProtocolError,
    ThresholdError,
)
from federation.fedavg import fedavg
from federation.layout import ParamLayout, TensorSpec, check_same_layout, flatten, unflatten
from federation.plain_round import plain_fedavg_round

__all__ = [
    "AggregationError",
    "ConfigError",
    "FederationError",
    "ParamLayout",
    "ProtocolError",
    "RoundReport",
    "StageTiming",
    "TensorSpec",
    "ThresholdError",
    "centralised_bytes",
    "check_same_layout",
    "fedavg",
    "flatten",
    "plain_fedavg_round",
    "unflatten",
]
