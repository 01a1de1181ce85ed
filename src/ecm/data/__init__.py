"""Data layer: annotations, feature stores, sampling, dataset folders and their preparation for a run, the
torch dataset and the synthetic benchmark.

Only :mod:`ecm.data.dataset` imports torch; the other modules are numpy-only.
"""

SYNTH_PRESETS: tuple[str, ...] = ("tiny", "thumos14", "thumos14-lite", "activitynet13", "corpus")
"""The synthetic benchmark presets (:mod:`ecm.data.synth_presets`); here so that naming them costs no import."""
