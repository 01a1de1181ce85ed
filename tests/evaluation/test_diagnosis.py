"""Error diagnosis (paper Table 6): categories, shares, the top-10×G limit and the mAP gain of removing each."""

from __future__ import annotations

import pytest

from ecm.data.annotations import VideoAnnotation
from ecm.evaluation import ERROR_TYPES, Detection, diagnose_errors
from ecm.structures import Segment


def gt_of(spec: dict[str, list[tuple[float, float, str]]]) -> dict[str, VideoAnnotation]:
    return {vid: VideoAnnotation(vid, "test", tuple(Segment(*s) for s in segs)) for vid, segs in spec.items()}


GT = gt_of({"v1": [(0, 10, "A"), (20, 30, "B")], "v2": [(0, 10, "A")]})
PREDS = {
    "v1": [
        Detection("A", 0.9, 0, 10),  # true positive
        Detection("A", 0.8, 1, 10),  # tIoU .9 with the matched A: double detection
        Detection("A", 0.7, 20, 30),  # tIoU 1 with B: wrong label
        Detection("B", 0.5, 0, 3),  # tIoU .3 with A: confusion
        Detection("A", 0.4, 50, 60),  # background
    ],
    "v2": [
        Detection("A", 0.6, 0, 3),  # tIoU .3 with A: localization
        Detection("A", 0.35, 0, 10),  # true positive
    ],
    "v9": [Detection("A", 0.3, 0, 10)],  # a video without ground truth: background
}


def test_categories_shares_and_gains() -> None:
    result = diagnose_errors(GT, PREDS, 0.5)
    assert result.counts == {
        "true_positive": 2,
        "double_detection": 1,
        "wrong_label": 1,
        "localization": 1,
        "confusion": 1,
        "background": 2,
    }
    assert result.num_predictions == result.num_given == 8
    assert result.shares["true_positive"] == 25.0 and result.shares["wrong_label"] == 12.5
    # A: TP, DD, WL, LOC, BG, TP (precision 2/6), BG → AP 1/2 + 1/2·1/3; B: no TP → 0
    assert result.base_map == pytest.approx(100 * (0.5 + 0.5 / 3) / 2)
    # removing one of the four A errors ranked before the second TP lifts its precision to 2/5
    for name in ("double_detection", "wrong_label", "localization", "background"):
        assert result.map_gain[name] == pytest.approx(100 * (0.5 + 0.5 * 0.4) / 2 - result.base_map)
    assert result.map_gain["confusion"] == pytest.approx(0.0)
    assert set(result.map_gain) == set(ERROR_TYPES)
    assert "double detection" in result.format_table()
    assert result.to_json()["counts"]["background"] == 2


def test_low_threshold_and_same_label_preference() -> None:
    # at θ = 0.3 the tIoU-.3 predictions become a TP (the v2 one) / a wrong label (B on A's instance)
    result = diagnose_errors(GT, PREDS, 0.3)
    assert result.counts["localization"] == 0 and result.counts["confusion"] == 0
    gt = gt_of({"v": [(0, 10, "A"), (0, 10, "B")]})
    preds = {"v": [Detection("A", 0.9, 0, 10), Detection("A", 0.8, 0, 10)]}
    # equal tIoU with A and B instances: the same-label one decides → double detection, not wrong label
    assert diagnose_errors(gt, preds, 0.5).counts["double_detection"] == 1


def test_top_ten_per_instance_limit() -> None:
    gt = gt_of({"v": [(0, 10, "A")]})
    preds = {
        "v": [Detection("A", 1.0 - i / 100, 100 + i, 101 + i) for i in range(12)]
        + [Detection("A", 0.0, 0, 10)]
    }
    result = diagnose_errors(gt, preds, 0.5)
    assert result.num_given == 13 and result.num_predictions == 10
    assert result.counts["background"] == 10 and result.counts["true_positive"] == 0
    assert result.base_map == 0.0


def test_video_breakdown_categories_and_per_video_ap() -> None:
    from ecm.evaluation import CATEGORIES, DetectionTable, GroundTruthTable, video_breakdown

    table = DetectionTable.from_detections(PREDS)
    result = video_breakdown(GroundTruthTable.from_annotations(GT), table, 0.5)
    names = [CATEGORIES[c] for c in result.categories]  # in the table's row order: v1, v2, v9
    assert names == [
        "true_positive",
        "double_detection",
        "wrong_label",
        "confusion",
        "background",
        "localization",
        "true_positive",
        "background",
    ]
    # v1: A's own ranking TP, DD, WL, BG → AP 1 (its one instance found first); B: its only prediction is
    # no TP → 0; mean 50. v2: LOC then TP → precision 1/2 at recall 1 → AP 50.
    assert result.video_ap == {"v1": pytest.approx(50.0), "v2": pytest.approx(50.0)}


def test_video_breakdown_equals_the_evaluator_on_each_video_alone() -> None:
    """Per-video AP against the whole evaluator run on that one video's ground truth and predictions."""
    import numpy as np

    from ecm.evaluation import DetectionTable, GroundTruthTable, evaluate_detections, video_breakdown

    rng = np.random.default_rng(0)
    spec = {
        f"v{i}": [
            (float(s), float(s + rng.uniform(2, 9)), str(rng.choice(["A", "B", "C"]))) for s in (0, 20, 40)
        ]
        for i in range(6)
    }
    gt = gt_of(spec)
    preds = {
        vid: [
            Detection(
                str(rng.choice(["A", "B", "C"])),
                float(rng.uniform()),
                float(s),
                float(s + rng.uniform(1, 12)),
            )
            for s in rng.uniform(0, 50, size=15)
        ]
        for vid in spec
    }
    result = video_breakdown(
        GroundTruthTable.from_annotations(gt), DetectionTable.from_detections(preds), 0.5
    )
    categories = diagnose_errors(gt, preds, 0.5, top_factor=10**6).counts
    assert np.bincount(result.categories, minlength=6).tolist() == list(categories.values())
    for vid in spec:
        labels = {s.label for s in gt[vid].segments}  # other classes' predictions enter no AP of this video
        alone = evaluate_detections(
            {vid: gt[vid]}, {vid: [d for d in preds[vid] if d.label in labels]}, [0.5]
        )
        assert result.video_ap[vid] == pytest.approx(alone.map_at(0.5), abs=1e-9)
