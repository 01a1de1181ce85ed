"""Records shared by post-processing, evaluation, data and plots: annotated and detected instances.

Times are in seconds. Plain frozen dataclasses, no dependencies, so every layer can import them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """One annotated action instance: ``[start, end]`` in seconds (``start <= end``) and its class name."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Detection:
    """One detected action instance: class name, confidence, ``[start, end]`` in seconds."""

    label: str
    score: float
    start: float  # seconds
    end: float  # seconds
