"""Evaluation applications on top of worldmem: benchmarks (``python -m eval bench ...``)."""
