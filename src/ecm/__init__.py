"""ecm — Equivalent Classification Mapping for weakly supervised temporal action localization.

Importing :mod:`ecm` is cheap: it does not import torch. Model, engine and post-processing
modules import torch themselves; annotations, feature stores, the synthetic generator and the
evaluator are numpy-only so that ``ecm evaluate``, ``ecm diagnose``, ``ecm data check`` and
``ecm synth`` start fast.
"""

from ecm.errors import EcmError, InputError

__version__ = "0.1.0"

__all__ = ["EcmError", "InputError", "__version__"]
