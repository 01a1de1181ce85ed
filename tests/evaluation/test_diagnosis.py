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
