"""Scenario definitions shared by both backends: parameters, defaults, sources."""
