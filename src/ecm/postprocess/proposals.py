"""From a CAS to scored proposals: class probabilities, normalisation, up-sampling, grouping, OIC scores.

Steps 1, 2, 4 and 5 of the pipeline in :mod:`ecm.postprocess.localize`. Everything here is numpy (no
torch) and vectorised over classes, thresholds and frames; the only Python loops run over nothing longer
than a handful of arrays.

Units: the CAS has one column per *snippet*; after :func:`upsample_linear` it has one column per *frame*
of the source video. Proposals are frame index ranges ``[start, end]`` (both inclusive); conversion to
seconds happens in :mod:`ecm.postprocess.localize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
# How the τ gate compares a video's class probabilities: "absolute", p_c ≥ τ (the paper, §3.4);
# "relative", p_c ≥ τ · max_c' p_c' (a class that shares its videos with another, and so learns half of
# the video-level target, is not shut on the edge of τ).
Gate: TypeAlias = Literal["absolute", "relative"]
GATES: tuple[Gate, ...] = ("absolute", "relative")


def video_probabilities(video_logits: npt.ArrayLike) -> FloatArray:
    """Class probabilities p = softmax(s_pre) over the last axis.

    Args:
        video_logits: ``(..., C)`` video-level logits (the pre-classification stream's top-k means).

    Returns:
        ``(..., C)`` float64 probabilities summing to 1 along the last axis.
    """
    logits = np.asarray(video_logits, dtype=np.float64)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"video_logits must have a non-empty class axis, got shape {logits.shape}")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float64)


def gate_bar(video_probs: npt.ArrayLike, tau: float, gate: Gate = "absolute") -> float:
    """The probability a class needs in this video to pass the τ gate: ``tau``, or ``tau · max p``."""
    return float(tau * np.max(video_probs)) if gate == "relative" else float(tau)


def kept_classes(video_probs: npt.ArrayLike, tau: float, gate: Gate = "absolute") -> npt.NDArray[np.intp]:
    """The τ gate (paper §3.4): ``(C,)`` probabilities → the ``(K,)`` ascending class indices with
    p ≥ :func:`gate_bar`, the only classes localized in the video."""
    probs = np.asarray(video_probs)
    return np.flatnonzero(probs >= gate_bar(probs, tau, gate))


def normalize_cas(cas: npt.ArrayLike) -> FloatArray:
    """Per-class CAS normalisation with the reference's clamping.

    ``M = max(0, max_t S)``, ``m = max(0, min_t S)``, ``δ = M − m`` (replaced by 1 where ``δ ≤ 0``),
    ``Ŝ = (S − m) / δ``. When a class's minimum is negative, ``m = 0`` and ``Ŝ = S / M``: negative logits
    stay negative, exactly as the implementation does. A class whose logits are all ≤ 0 keeps ``Ŝ = S``.

    Args:
        cas: ``(C, T)`` class activation sequence (logits), one column per snippet.

    Returns:
        ``(C, T)`` float64 normalised CAS; its maximum per class is 1 when the class has a positive logit.
    """
    scores = np.asarray(cas, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"cas must have shape (C, T) with T ≥ 1, got {scores.shape}")
    high = np.maximum(scores.max(axis=1, keepdims=True), 0.0)  # (C, 1) M
    low = np.maximum(scores.min(axis=1, keepdims=True), 0.0)  # (C, 1) m
    delta = high - low
    delta[delta <= 0] = 1.0
    return np.asarray((scores - low) / delta, dtype=np.float64)


def upsample_linear(values: npt.ArrayLike, length: int) -> FloatArray:
    """Linear interpolation along the last axis to ``length`` samples, half-pixel centres, edges clamped.

    Matches ``torch.nn.functional.interpolate(x[None], size=length, mode="linear", align_corners=False)``
    (and OpenCV's ``cv2.resize(..., interpolation=INTER_LINEAR)``, which the reference uses): output
    sample ``j`` reads the input at ``x = max(0, (j + 0.5)·T/length − 0.5)`` and mixes its two neighbours
    ``floor(x)`` and ``min(floor(x) + 1, T − 1)``. Computed in float64.

    Args:
        values: ``(..., T)`` per-snippet values (e.g. ``(K, T)`` normalised CAS of the kept classes).
        length: number of output samples (the video's frame count), ≥ 1.

    Returns:
        ``(..., length)`` float64 per-frame values.
    """
    src = np.asarray(values, dtype=np.float64)
    if src.ndim == 0 or src.shape[-1] == 0:
        raise ValueError(f"cannot up-sample an empty sequence (shape {src.shape})")
    if length < 1:
        raise ValueError(f"up-sampling length must be ≥ 1, got {length}")
    size = src.shape[-1]
    scale = size / length
    position = np.maximum(scale * (np.arange(length, dtype=np.float64) + 0.5) - 0.5, 0.0)  # (length,)
    left = np.minimum(position.astype(np.int64), size - 1)  # floor, as position ≥ 0
    right = left + (left < size - 1)
    weight_right = np.clip(position - left, 0.0, 1.0)
    weight_left = 1.0 - weight_right
    return np.asarray(weight_left * src[..., left] + weight_right * src[..., right], dtype=np.float64)


def find_runs(mask: npt.ArrayLike) -> tuple[IntArray, IntArray, IntArray]:
    """Maximal runs of ``True`` in every row of a boolean matrix.

    Args:
        mask: ``(R, N)`` booleans.

    Returns:
        ``(rows, starts, ends)``, each ``(P,)`` int64: run ``i`` covers columns ``starts[i] … ends[i]``
        (inclusive) of row ``rows[i]``. Runs are ordered by row, then by start.
    """
    flags = np.asarray(mask, dtype=bool)
    if flags.ndim != 2:
        raise ValueError(f"mask must be 2-D (R, N), got shape {flags.shape}")
    num_rows, num_cols = flags.shape
    padded = np.zeros((num_rows, num_cols + 2), dtype=bool)  # False at both ends of every row
    padded[:, 1:-1] = flags
    # Flat positions j·(N + 1) + i where padded[j, i] != padded[j, i + 1]: a run starts at column i, or the
    # run ending at column i − 1 stops. Every padded row starts and ends False, so changes alternate
    # start, stop, start, stop… across the whole flattened array.
    change = np.flatnonzero(padded[:, 1:] != padded[:, :-1])
    begin, stop = change[0::2], change[1::2]
    width = num_cols + 1
    return (
        (begin // width).astype(np.int64),
        (begin % width).astype(np.int64),
        (stop % width).astype(np.int64) - 1,
    )


def outer_inner_contrast(
    values: npt.ArrayLike,
    rows: npt.ArrayLike,
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    *,
    outer_ratio: float,
) -> FloatArray:
    """Outer-inner contrast ``inner − outer`` of frame runs (the proposal score without its ``γ·p_c`` term).

    For a run ``[s, e]`` of length ``L = e − s + 1`` in a row ``v`` of ``N`` frames:
    ``inner = mean(v[s..e])``; the outer window is ``[max(0, int(s − λL)), s) ∪ [e + 1, min(N, int(e + λL)))``
    with ``int`` truncating toward zero — note the asymmetry of the reference: the right part ends at
    ``int(e + λL)`` (exclusive), so it holds ``floor(λL) − 1`` frames (none when ``λL < 2``), while the
    left part holds up to ``ceil(λL)``. ``outer`` is the mean of ``v`` over both parts, 0 if they are empty.
    Sums come from one cumulative sum per row, so the cost does not grow with run lengths.

    Args:
        values: ``(R, N)`` per-frame values (thresholded CAS, one row per class × threshold).
        rows, starts, ends: ``(P,)`` runs as returned by :func:`find_runs` (frame indices, inclusive).
        outer_ratio: λ.

    Returns:
        ``(P,)`` float64 contrasts.
    """
    table = np.asarray(values, dtype=np.float64)
    row = np.asarray(rows, dtype=np.int64)
    first = np.asarray(starts, dtype=np.int64)
    last = np.asarray(ends, dtype=np.int64)
    num_rows, num_cols = table.shape
    prefix = np.zeros((num_rows, num_cols + 1), dtype=np.float64)  # prefix[r, j] = Σ_{t<j} values[r, t]
    np.cumsum(table, axis=1, out=prefix[:, 1:])

    length = last - first + 1
    inner = (prefix[row, last + 1] - prefix[row, first]) / length

    reach = outer_ratio * length  # λ·L, float64 exactly as the reference computes it
    outer_left = np.maximum(np.trunc(first - reach), 0).astype(np.int64)
    outer_right = np.minimum(np.trunc(last + reach), num_cols).astype(np.int64)
    count_left = first - outer_left
    count_right = np.maximum(outer_right - (last + 1), 0)
    sum_left = prefix[row, first] - prefix[row, outer_left]
    right_stop = np.maximum(outer_right, last + 1)  # empty right part → a zero-width sum
    sum_right = prefix[row, right_stop] - prefix[row, last + 1]
    count = count_left + count_right
    outer = np.where(count > 0, (sum_left + sum_right) / np.maximum(count, 1), 0.0)
    return np.asarray(inner - outer, dtype=np.float64)


@dataclass(frozen=True)
class FrameProposals:
    """Scored proposals of several classes, in frames. All fields are ``(P,)`` arrays.

    Attributes:
        rows: index of the proposal's class within the rows given to :func:`generate_proposals`.
        threshold_index: index of the threshold θ that produced it.
        starts: first frame (inclusive).
        ends: last frame (inclusive).
        contrast: outer-inner contrast ``inner − outer`` (add ``γ·p_c`` for the final score).
    """

    rows: IntArray
    threshold_index: IntArray
    starts: IntArray
    ends: IntArray
    contrast: FloatArray

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def generate_proposals(
    frame_scores: npt.ArrayLike,
    thresholds: npt.ArrayLike,
    *,
    outer_ratio: float,
    index0_quirk: bool = True,
) -> FrameProposals:
    """Multi-threshold grouping and OIC scoring of every row at once.

    For each row ``u`` and threshold θ: ``v = u`` with entries ``< θ`` set to 0; each maximal run of
    ``v > 0`` is a proposal scored by :func:`outer_inner_contrast` on ``v``.

    With ``index0_quirk`` the reference's guard ``if any(position)`` is reproduced: it tests the *frame
    indices* where ``v > 0``, and ``any([0])`` is False, so a threshold whose only frame above it is frame 0
    yields nothing. A run ``[0, 0]`` that is not alone at its threshold is kept, as in the reference.

    Args:
        frame_scores: ``(K, N)`` up-sampled normalised CAS, one row per kept class, one column per frame.
        thresholds: ``(H,)`` θ values.
        outer_ratio: λ.
        index0_quirk: reproduce the frame-0 guard (True) or score that run like any other (False).

    Returns:
        :class:`FrameProposals` ordered by class row, then threshold (in the given order), then start frame
        — the order the reference generates them in.
    """
    scores = np.asarray(frame_scores, dtype=np.float64)
    cuts = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if scores.ndim != 2:
        raise ValueError(f"frame_scores must have shape (K, N), got {scores.shape}")
    num_classes, num_frames = scores.shape
    num_cuts = cuts.shape[0]
    # (K, H, N) → (K·H, N): row k·H + h holds class k cut at threshold h.
    cut = np.where(scores[:, None, :] < cuts[None, :, None], 0.0, scores[:, None, :])
    cut = cut.reshape(num_classes * num_cuts, num_frames)
    rows, starts, ends = find_runs(cut > 0)
    if index0_quirk and rows.size:
        runs_per_row = np.bincount(rows, minlength=num_classes * num_cuts)
        alone_at_zero = (starts == 0) & (ends == 0) & (runs_per_row[rows] == 1)
        rows, starts, ends = rows[~alone_at_zero], starts[~alone_at_zero], ends[~alone_at_zero]
    contrast = outer_inner_contrast(cut, rows, starts, ends, outer_ratio=outer_ratio)
    return FrameProposals(
        rows=rows // num_cuts,
        threshold_index=rows % num_cuts,
        starts=starts,
        ends=ends,
        contrast=contrast,
    )
