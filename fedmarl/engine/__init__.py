"""Ray-based orchestration parts: reproduce sweeps as Ray tasks (`sweep`) and federated
clients in their own actors (`fed_actors`). The env engine itself is `pybridge.engine`."""
