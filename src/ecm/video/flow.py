"""Optical flow between consecutive frames, as the two-stream I3D's flow input.

* ``tvl1`` — TV-L1 (OpenCV contrib, ``cv2.optflow.DualTVL1OpticalFlow_create``), the flow the released
  THUMOS14 and ActivityNet I3D features were computed with;
* ``farneback`` — Farnebäck's method (core OpenCV): much faster, a documented approximation;
* ``none`` — no flow stream (RGB features only).

Flow is computed on greyscale frames, clipped to ±20 pixels and scaled to [-1, 1]. A video of N frames has
N flow fields: field i is the motion from frame i to frame i + 1, and the last field repeats the one
before it (so both streams cut into the same snippets).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ecm.errors import InputError

FlowMethod = Literal["tvl1", "farneback", "none"]
FLOW_METHODS: tuple[str, ...] = ("tvl1", "farneback", "none")
BOUND = 20.0  # pixels: flow is clipped to ±BOUND, then divided by it


def import_cv2() -> Any:
    """OpenCV (with the contrib modules), or one :class:`InputError` line saying what to install."""
    try:
        import cv2
    except ImportError:
        raise InputError(None, "optical flow needs OpenCV: pip install 'ecm-tal[video]'") from None
    return cv2


class FlowEstimator:
    """Flow of consecutive greyscale frames with one method; keeps the previous frame across chunks.

    Args:
        method: ``tvl1`` or ``farneback``.
    """

    def __init__(self, method: FlowMethod) -> None:
        if method not in ("tvl1", "farneback"):
            raise InputError(None, f"flow method {method!r} computes no flow (choose tvl1 or farneback)")
        self.cv2 = import_cv2()
        self.method = method
        if method == "tvl1":
            if not hasattr(self.cv2, "optflow"):
                raise InputError(
                    None, "TV-L1 flow needs opencv-contrib: pip install opencv-contrib-python-headless"
                )
            self._tvl1 = self.cv2.optflow.DualTVL1OpticalFlow_create()

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from greyscale ``first`` to ``second`` ``(H, W)`` uint8 → ``(H, W, 2)`` float32 pixels (x, y)."""
        if self.method == "tvl1":
            flow = self._tvl1.calc(first, second, None)
        else:
            flow = self.cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return np.asarray(flow, dtype=np.float32)

    def grey(self, frames: np.ndarray) -> list[np.ndarray]:
        """``(n, H, W, 3)`` RGB uint8 → n greyscale ``(H, W)`` uint8 frames."""
        return [self.cv2.cvtColor(frame, self.cv2.COLOR_RGB2GRAY) for frame in frames]


def scale_flow(flow: np.ndarray) -> np.ndarray:
    """Clip to ±:data:`BOUND` pixels and scale to [-1, 1] (float32).

    >>> scale_flow(np.array([-30.0, -10.0, 0.0, 40.0])).tolist()
    [-1.0, -0.5, 0.0, 1.0]
    """
    return (np.clip(flow, -BOUND, BOUND) / BOUND).astype(np.float32)
