"""Which snippets of a video a training or evaluation example uses.

Training sees exactly ``length`` snippets per video (750 for THUMOS14, 100 for ActivityNet):

* ``random`` (random-perturb, W-TALC/BaSNet style): split ``[0, T)`` into ``length`` equal bins and draw
  one index uniformly inside each bin. A video shorter than ``length`` is stretched: bins narrower than
  one snippet take their left edge, so indices repeat.
* ``uniform``: the left edge of each bin, ``floor(i · T / length)`` — deterministic.

Evaluation uses the full sequence (``full``) or ``uniform`` to the training length (option).
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SamplingMode = Literal["random", "uniform", "full"]


def _bin_edges(num_snippets: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer bin edges ``lo[i] = floor(i·T/n)``, ``hi[i] = floor((i+1)·T/n)``; shapes (n,), (n,)."""
    i = np.arange(length + 1, dtype=np.int64)
    edges = (i * num_snippets) // length
    return edges[:-1], edges[1:]


def uniform_indices(num_snippets: int, length: int) -> np.ndarray:
    """``floor(i · T / length)`` for i < length: int64 (length,) snippet indices in [0, T)."""
    if num_snippets <= 0 or length <= 0:
        raise ValueError("num_snippets and length must be positive")
    return _bin_edges(num_snippets, length)[0]


def random_perturb_indices(num_snippets: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """One uniformly drawn index per equal bin: int64 (length,) sorted snippet indices in [0, T).

    Bin i covers ``[floor(i·T/n), floor((i+1)·T/n))``; an empty bin (T < n) yields its left edge.
    """
    if num_snippets <= 0 or length <= 0:
        raise ValueError("num_snippets and length must be positive")
    lo, hi = _bin_edges(num_snippets, length)
    width = hi - lo
    offsets = np.floor(rng.random(length) * np.maximum(width, 1)).astype(np.int64)
    return np.where(width > 0, lo + offsets, lo)


def sample_indices(
    num_snippets: int, length: int | None, mode: SamplingMode, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Snippet indices for one example: int64 (n,), with n = ``length`` or T for ``full``."""
    if mode == "full" or length is None:
        return np.arange(num_snippets, dtype=np.int64)
    if mode == "uniform":
        return uniform_indices(num_snippets, length)
    if mode == "random":
        if rng is None:
            raise ValueError("random sampling needs a numpy Generator")
        return random_perturb_indices(num_snippets, length, rng)
    raise ValueError(f"unknown sampling mode {mode!r}")
