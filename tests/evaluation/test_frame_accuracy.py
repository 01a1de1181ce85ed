"""Frame (snippet) accuracy over action snippets, paper Table 10 — hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from ecm.data.annotations import ClassIndex, VideoAnnotation
from ecm.evaluation import frame_accuracy
from ecm.structures import Segment

CLASSES = ClassIndex(("A", "B", "C"))


def video(vid: str, *segments: tuple[float, float, str]) -> VideoAnnotation:
    return VideoAnnotation(vid, "test", tuple(Segment(*s) for s in segments))


def test_hand_made_case() -> None:
    gt = {
        # 1 s snippets, centres 0.5 1.5 2.5 3.5 4.5: action snippets 0 (A), 1 (A and B), 2 (B)
        "v1": video("v1", (0.0, 2.0, "A"), (1.5, 3.0, "B")),
        # 0.5 s snippets, centres .25 .75 1.25 1.75: two action snippets, but no class passes τ
        "v2": video("v2", (0.0, 1.0, "C")),
        "v3": video("v3"),  # no instances: skipped, needs no CAS
    }
    cas: dict[str, np.ndarray] = {
        "v1": np.array([[5, 0, 0, 9, 0], [1, 3, 0, 0, 0], [9, 9, 9, 9, 9]], dtype=np.float32),
        "v2": np.ones((3, 4)),
    }
    scores = {"v1": np.array([0.9, 0.5, 0.1]), "v2": np.array([0.2, 0.2, 0.2])}
    # v1: snippet 0 → A ✓; 1 → B ✓ (C is rejected by τ); 2 → A/B tie → A ✗ (only B there)
    accuracy = frame_accuracy(cas, scores, gt, CLASSES, {"v1": 1.0, "v2": 0.5}, tau=0.25)
    assert accuracy == pytest.approx(100 * 2 / 5)
    assert frame_accuracy(cas, scores, {"v1": gt["v1"]}, CLASSES, 1.0, tau=0.25) == pytest.approx(100 * 2 / 3)
    # with τ = 0 every class is kept and C wins everywhere
    assert frame_accuracy(cas, scores, {"v1": gt["v1"]}, CLASSES, 1.0, tau=0.0) == 0.0


def test_the_relative_gate_keeps_the_classes_near_the_top_one() -> None:
    gt = {"v": video("v", (0.0, 4.0, "B"))}
    cas = {"v": np.array([[1, 1, 1, 1], [2, 2, 2, 2], [0, 0, 0, 0]], dtype=np.float64)}
    scores = {"v": np.array([0.2, 0.15, 0.1])}  # no class reaches 0.25; all reach 0.25 · 0.2 = 0.05
    assert frame_accuracy(cas, scores, gt, CLASSES, 1.0, tau=0.25) == 0.0
    assert frame_accuracy(cas, scores, gt, CLASSES, 1.0, tau=0.25, gate="relative") == 100.0
    # τ = 0.8: the bar is 0.16, B (0.15) is shut, only A passes, and A is wrong everywhere
    assert frame_accuracy(cas, scores, gt, CLASSES, 1.0, tau=0.8, gate="relative") == 0.0


def test_perfect_cas_is_100() -> None:
    gt = {"v": video("v", (2.0, 5.0, "B"), (8.0, 9.0, "C"))}
    centres = np.arange(12) + 0.5
    cas = np.stack(
        [np.zeros(12), ((centres >= 2) & (centres <= 5)) * 1.0, ((centres >= 8) & (centres <= 9)) * 1.0]
    )
    assert frame_accuracy({"v": cas}, {"v": np.ones(3)}, gt, CLASSES, 1.0, tau=0.5) == 100.0


def test_errors() -> None:
    gt = {"v": video("v", (0.0, 1.0, "A"))}
    good = {"v": np.zeros((3, 4))}
    with pytest.raises(ValueError, match="no CAS"):
        frame_accuracy({}, {}, gt, CLASSES, 1.0, tau=0.25)
    with pytest.raises(ValueError, match="do not match"):
        frame_accuracy({"v": np.zeros((2, 4))}, {"v": np.ones(3)}, gt, CLASSES, 1.0, tau=0.25)
    with pytest.raises(ValueError, match="NaN"):
        frame_accuracy({"v": np.full((3, 4), np.nan)}, {"v": np.ones(3)}, gt, CLASSES, 1.0, tau=0.25)
    with pytest.raises(ValueError, match="not in the class index"):
        frame_accuracy(good, {"v": np.ones(3)}, {"v": video("v", (0.0, 1.0, "Z"))}, CLASSES, 1.0, tau=0.25)
    with pytest.raises(ValueError, match="no action snippet"):
        frame_accuracy(good, {"v": np.ones(3)}, {"v": video("v", (9.0, 9.1, "A"))}, CLASSES, 1.0, tau=0.25)
