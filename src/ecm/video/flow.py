"""Optical flow between consecutive frames, as the two-stream I3D's flow input.

Methods:

* ``tvl1`` — TV-L1, the flow the released THUMOS14 and ActivityNet I3D features were computed with,
  by one of two backends that compute the same flow (OpenCV's CPU algorithm and defaults):
  ``opencv`` (``cv2.optflow.DualTVL1OpticalFlow_create``, one pair at a time on the CPU) or ``torch``
  (:func:`ecm.video.tvl1.tvl1_torch`: batched, on the GPU when there is one);
* ``farneback`` — Farnebäck's method (core OpenCV): much faster, a documented approximation;
* ``none`` — no flow stream (RGB features only).

Flow is computed on greyscale frames, clipped to ±20 pixels and scaled to [-1, 1]. A video of N frames has
N flow fields: field i is the motion from frame i to frame i + 1, and the last field repeats the one
before it (so both streams cut into the same snippets).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Literal

import numpy as np
import torch

from ecm.errors import InputError
from ecm.video.tvl1 import tvl1_torch

log = logging.getLogger(__name__)

FlowMethod = Literal["tvl1", "farneback", "none"]
FLOW_METHODS: tuple[str, ...] = ("tvl1", "farneback", "none")
FlowBackend = Literal["auto", "opencv", "torch"]
FLOW_BACKENDS: tuple[str, ...] = ("auto", "opencv", "torch")
BOUND = 20.0  # pixels: flow is clipped to ±BOUND, then divided by it
# cv2.cvtColor(RGB2GRAY) on uint8: 0.299 R + 0.587 G + 0.114 B in 15-bit fixed point, rounded
# (equal to OpenCV on all 2²⁴ colours).
_GREY_WEIGHTS = (9798, 19235, 3735)
_GREY_SHIFT = 15

__all__ = ["FLOW_BACKENDS", "FLOW_METHODS", "ChunkFlow", "FlowEstimator", "grey", "scale_flow", "tvl1_torch"]


def import_cv2() -> Any:
    """OpenCV (with the contrib modules), or one :class:`InputError` line saying what to install."""
    try:
        import cv2
    except ImportError:
        raise InputError(None, "optical flow needs OpenCV: pip install 'ecm-tal[video]'") from None
    return cv2


def resolve_backend(requested: str, method: str, device: torch.device) -> Literal["opencv", "torch"]:
    """The backend that computes ``method`` for networks on ``device``.

    ``auto`` is torch for TV-L1 on CUDA and OpenCV everywhere else: on the CPU, OpenCV's TV-L1 is as fast
    or faster than torch's, and runs in the decoding processes (``benchmarks/bench_extract.py``). ``torch`` without CUDA runs on the CPU and
    says so in one warning line; ``torch`` with Farnebäck is an :class:`InputError` (TV-L1 only).
    """
    if requested not in FLOW_BACKENDS:
        raise InputError(None, f"unknown flow backend {requested!r} (choose {', '.join(FLOW_BACKENDS)})")
    if method != "tvl1":
        if requested == "torch":
            raise InputError(None, f"--flow-backend torch computes TV-L1 only, not {method}")
        return "opencv"
    if requested == "auto":
        return "torch" if device.type == "cuda" else "opencv"
    if requested == "torch" and device.type != "cuda":
        log.warning("ecm: --flow-backend torch: no CUDA device here, TV-L1 runs on the CPU")
    return "torch" if requested == "torch" else "opencv"


class FlowEstimator:
    """Flow of greyscale frame pairs with one method, by OpenCV.

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


def grey(frames: torch.Tensor) -> torch.Tensor:
    """``(n, H, W, 3)`` RGB uint8 → ``(n, H, W)`` uint8, on the frames' device, equal to ``cv2.cvtColor``'s."""
    pixels = frames.to(torch.int32)
    weighted = (
        pixels[..., 0] * _GREY_WEIGHTS[0]
        + pixels[..., 1] * _GREY_WEIGHTS[1]
        + pixels[..., 2] * _GREY_WEIGHTS[2]
    )
    return ((weighted + (1 << (_GREY_SHIFT - 1))) >> _GREY_SHIFT).to(torch.uint8)


def scale_flow(flow: np.ndarray) -> np.ndarray:
    """Clip to ±:data:`BOUND` pixels and scale to [-1, 1] (float32).

    >>> scale_flow(np.array([-30.0, -10.0, 0.0, 40.0])).tolist()
    [-1.0, -0.5, 0.0, 1.0]
    """
    return (np.clip(flow, -BOUND, BOUND) / BOUND).astype(np.float32)


class ChunkFlow:
    """The flow fields of one video's frames, chunk by chunk, scaled to [-1, 1].

    A chunk's fields are the flow from each frame to the next: the chunk's frames and the frame that
    follows them (``successor``). The video's last frame has no successor and repeats the field before
    it, across chunks if it must (zero flow for a one-frame video).

    Args:
        method: ``tvl1`` or ``farneback``.
        backend: ``opencv`` (numpy in, numpy out, on the CPU) or ``torch`` (tensors in and out, on
            ``device``; TV-L1 only).
    """

    def __init__(self, method: FlowMethod, backend: str, device: torch.device | None = None) -> None:
        self.backend = backend
        self.device = device
        self._opencv = FlowEstimator(method) if backend == "opencv" else None
        self._last: Any = None  # the last field of the previous chunk

    def __call__(self, frames: Any, successor: Any) -> Any:
        """``(k, H, W, 3)`` uint8 frames and the next frame ``(H, W, 3)`` (None at the video's end) →
        ``(k, H, W, 2)`` float32 fields in [-1, 1]: numpy for ``opencv``, a tensor on the device for
        ``torch``."""
        if self._opencv is not None:
            return self._numpy(frames, successor)
        return self._torch(frames, successor)

    def _numpy(self, frames: np.ndarray, successor: np.ndarray | None) -> np.ndarray:
        assert self._opencv is not None
        images = frames if successor is None else np.concatenate([frames, successor[None]])
        greys = self._opencv.grey(images)
        fields = [scale_flow(self._opencv.pair(a, b)) for a, b in itertools.pairwise(greys)]
        if successor is None:
            fields.append(self._repeat(fields, np.zeros((*frames.shape[1:3], 2), np.float32)))
        self._last = fields[-1]
        return np.stack(fields)

    def _torch(self, frames: torch.Tensor, successor: torch.Tensor | None) -> torch.Tensor:
        images = frames if successor is None else torch.cat([frames, successor[None]])
        greys = grey(images.to(self.device, non_blocking=True))
        fields = tvl1_torch(greys[:-1], greys[1:], device=self.device).clamp_(-BOUND, BOUND).div_(BOUND)
        if successor is None:
            zero = torch.zeros((1, *frames.shape[1:3], 2), dtype=torch.float32, device=fields.device)
            fields = torch.cat([fields, self._repeat([fields[i : i + 1] for i in range(len(fields))], zero)])
        self._last = fields[-1:]
        return fields

    def _repeat(self, fields: list[Any], zero: Any) -> Any:
        """The field a video's last frame gets: the one before it (zero flow for a one-frame video)."""
        if fields:
            return fields[-1]
        return self._last if self._last is not None else zero
