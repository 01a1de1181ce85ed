"""Fusion baselines of two separately trained streams (paper Table 9): hand-made cases, then inside a study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecm.data.folder import DatasetFolder
from ecm.evaluation import Detection
from ecm.inference import VideoPrediction, localize_predictions
from ecm.postprocess import PostprocessConfig
from ecm.studies.fusion import concatenate_detections, fusion_baselines, weighted_sum_predictions

TINY = "synthetic-tiny"  # a shipped recipe


def test_concatenation_and_nms_remove_a_duplicate() -> None:
    first = {"v1": [Detection("Diving", 0.9, 1.0, 5.0)], "v2": []}
    second = {
        "v1": [
            Detection("Diving", 0.8, 1.1, 5.0),
            Detection("HighJump", 0.7, 1.0, 5.0),
            Detection("Diving", 0.5, 9.0, 12.0),
        ],
        "v3": [Detection("HighJump", 0.4, 0.0, 1.0)],
    }
    for legacy in (True, False):
        fused = concatenate_detections(
            first, second, nms_threshold=0.6, legacy_nms=legacy, class_names=("Diving", "HighJump")
        )
        assert list(fused) == ["v1", "v2", "v3"]
        # The weaker near-copy of the Diving detection is gone; the other class and the far segment stay.
        assert fused["v1"] == [
            Detection("Diving", 0.9, 1.0, 5.0),
            Detection("Diving", 0.5, 9.0, 12.0),
            Detection("HighJump", 0.7, 1.0, 5.0),
        ]
        assert fused["v2"] == [] and fused["v3"] == second["v3"]
    with pytest.raises(ValueError, match="Shotput"):
        concatenate_detections(
            first, {"v1": [Detection("Shotput", 1.0, 0, 1)]}, nms_threshold=0.6, class_names=("Diving",)
        )


def test_weighted_sum_by_hand() -> None:
    a = {"v": VideoPrediction(np.array([[1.0, 3.0], [0.0, -2.0]]), np.array([2.0, 0.0]))}
    b = {"v": VideoPrediction(np.array([[5.0, -1.0], [4.0, 2.0]]), np.array([0.0, 4.0]))}
    fused = weighted_sum_predictions(a, b, 0.25)["v"]
    np.testing.assert_allclose(fused.cas, [[4.0, 0.0], [3.0, 1.0]])
    np.testing.assert_allclose(fused.video_logits, [0.5, 3.0])
    assert np.array_equal(weighted_sum_predictions(a, b, 1.0)["v"].cas, a["v"].cas)
    assert np.array_equal(weighted_sum_predictions(a, b, 0.0)["v"].video_logits, b["v"].video_logits)
    with pytest.raises(ValueError, match="λ"):
        weighted_sum_predictions(a, b, 1.5)
    with pytest.raises(ValueError, match="different videos"):
        weighted_sum_predictions(a, {"w": b["v"]}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        weighted_sum_predictions(a, {"v": VideoPrediction(np.zeros((2, 3)), np.zeros(2))}, 0.5)


def test_lambda_one_is_stream_a_alone(tiny_root: Path) -> None:
    split = DatasetFolder(tiny_root).open_split("test")
    rng = np.random.default_rng(0)
    num_classes = len(split.class_index)

    def random_predictions(scale: float) -> dict[str, VideoPrediction]:
        return {
            v.video_id: VideoPrediction(
                scale * rng.standard_normal((num_classes, v.timing.num_snippets)),  # (C, T) logits
                scale * rng.standard_normal(num_classes),  # (C,)
            )
            for v in split.videos
        }

    a, b = random_predictions(3.0), random_predictions(1.0)
    cfg = PostprocessConfig.preset("thumos14")
    outputs = {o.name: o for o in fusion_baselines(a, b, split, cfg, weights=(1.0, 0.0, 0.5))}
    assert list(outputs) == ["concat", "wsum_1", "wsum_0", "wsum_0.5"]
    assert outputs["wsum_1"].detections == localize_predictions(a, split, cfg)
    assert outputs["wsum_0"].detections == localize_predictions(b, split, cfg)
    assert outputs["concat"].predictions is None
    # Concatenation keeps at most the union and never two same-class segments overlapping by ≥ the threshold.
    alone = localize_predictions(a, split, cfg)
    other = localize_predictions(b, split, cfg)
    for video, dets in outputs["concat"].detections.items():
        assert len(dets) <= len(alone[video]) + len(other[video])
        assert set(dets) <= set(alone[video]) | set(other[video])
