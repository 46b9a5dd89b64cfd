"""Scenario replay: deterministic virtual-time workloads against the in-process simulator."""
