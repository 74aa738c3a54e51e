"""Orchestration: config, evaluation and training loops, metrics, reports and the `fedmarl` CLI."""
