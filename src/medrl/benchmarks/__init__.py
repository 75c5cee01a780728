"""Evaluation benchmarks: the registry of known ones, loaders for their file layouts and the hub, and packs."""
