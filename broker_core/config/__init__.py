"""Configuration dataclasses, one per component, loaded at the edge (CLI, broker.conf)."""
