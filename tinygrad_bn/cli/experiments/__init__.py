"""Runnable experiments (each also a ``tinygrad-bn`` command; results go to an output folder).

- :mod:`.synthetic`: variance shift closed forms vs measurements on synthetic input (Li et al., CVPR 2019).
- :mod:`.placements`: variance shift and ``recalibrate_bn`` on an MLP with dropout in four placements.
- :mod:`.bn_vs_plain`: test accuracy vs steps with and without BatchNorm (Ioffe & Szegedy 2015, Fig. 1a).

Imported on demand (``from tinygrad_bn.experiments import synthetic``), not by ``import tinygrad_bn``.
"""
