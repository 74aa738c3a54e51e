"""The numpy twin: fast vectorised simulators of the scenarios."""
