"""Benchmarks: speed claims live here (ratios against a reference measured in the same run), never in tests.

``benchmarks/timing.py`` is the shared harness (interleaved rounds, min/median/max, machine description).
Run one with ``python -m benchmarks.<name>`` from the repository root, e.g. ``python -m benchmarks.batchnorm``.
"""
