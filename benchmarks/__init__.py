"""Benchmarks: speed claims live here (ratios against a reference measured in the same run), never in tests.

``benchmarks/timing.py`` is the shared harness (interleaved rounds, min/median/max, machine description).
``python -m benchmarks`` runs them all and prints one table of the performance targets (docs/performance.md);
each also runs alone from the repository root: ``python -m benchmarks.<name>`` with ``mlp_step`` (the MLP
training step vs ``reference_mlp.py``, the hand-written numpy step, and PyTorch when installed),
``op_overhead``, ``batchnorm``, ``import_time``, ``dropout_mask``.
"""
