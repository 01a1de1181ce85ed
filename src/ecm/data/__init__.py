"""Data layer: annotations, feature stores, sampling, dataset folders and their preparation for a run, the
torch dataset and the synthetic benchmark.

Only :mod:`ecm.data.dataset` imports torch; the other modules are numpy-only.
"""
