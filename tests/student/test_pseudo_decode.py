"""Pseudo labels (filters, file round trip), soft-NMS and the student's decoding, on hand-made cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ecm.errors import InputError
from ecm.postprocess.nms import soft_nms
from ecm.structures import Detection
from ecm.student import (
    StudentConfig,
    decode_video,
    dump_pseudo_labels,
    point_layout,
    read_pseudo_labels,
    select_pseudo_labels,
    write_pseudo_labels,
)


def _d(label: str, score: float, start: float, end: float) -> Detection:
    return Detection(label, score, start, end)


def test_the_filters_each_do_their_part() -> None:
    proposals = [
        _d("A", 0.9, 10.0, 20.0),  # dense: two neighbours at IoU ≥ 0.5
        _d("A", 0.8, 11.0, 20.0),
        _d("A", 0.7, 10.0, 19.0),
        _d("A", 0.95, 40.0, 41.0),  # alone: dropped by the density prior
        _d("B", 0.6, 50.0, 60.0),  # B is not among the video's labels
        _d("A", 0.1, 70.0, 80.0),  # dense but weak: below 0.2 × 0.9 of its class
        _d("A", 0.09, 70.5, 80.0),
        _d("A", 0.08, 70.0, 79.5),
    ]
    cfg = StudentConfig(pseudo_density=2, pseudo_density_iou=0.5, pseudo_nms_iou=0.4, pseudo_relative=0.2)
    assert select_pseudo_labels(proposals, frozenset({"A"}), cfg) == [proposals[0]]
    relaxed = StudentConfig(pseudo_density=0, pseudo_nms_iou=0.4, pseudo_relative=0.0)
    kept = select_pseudo_labels(proposals, frozenset({"A", "B"}), relaxed)
    assert kept == [proposals[3], proposals[0], proposals[4], proposals[5]]
    assert select_pseudo_labels(proposals, frozenset({"C"}), cfg) == []


def test_pseudo_labels_written_and_read_back_are_equal(tmp_path: Path) -> None:
    labels = {"v1": [_d("A", 0.5, 1.25, 3.0), _d("B", 1 / 3, 0.1, 0.2)], "v2": []}
    data = dump_pseudo_labels(
        labels, {"v1": (10.0, 30.0), "v2": (5.0, 25.0)}, subset="train", teacher="runs/t"
    )
    path = tmp_path / "pseudo.json"
    write_pseudo_labels(path, data)
    assert read_pseudo_labels(path) == labels
    assert json.loads(path.read_text())["database"]["v1"]["duration"] == 10.0
    data["database"]["v1"]["annotations"][0]["segment"] = [3.0, 1.0]
    write_pseudo_labels(path, data)
    with pytest.raises(InputError, match="ends at or before its start"):
        read_pseudo_labels(path)


def test_soft_nms_by_hand() -> None:
    # [0, 10] is taken first; [5, 15] overlaps it by IoU 1/3 and decays to 0.8 · exp(−(1/3)² / 0.5).
    kept, scores = soft_nms([0.0, 5.0, 100.0], [10.0, 15.0, 110.0], [0.9, 0.8, 0.5], sigma=0.5)
    decayed = 0.8 * math.exp(-(1 / 9) / 0.5)
    assert kept.tolist() == [0, 1, 2]
    assert scores.tolist() == pytest.approx([0.9, decayed, 0.5])
    kept, _ = soft_nms([0.0, 5.0, 100.0], [10.0, 15.0, 110.0], [0.9, 0.8, 0.5], sigma=0.5, min_score=0.6)
    assert kept.tolist() == [0, 1]


def test_decoding_one_confident_point() -> None:
    layout = point_layout(8, 2)  # 12 points
    logits = np.full((12, 2), -20.0)
    logits[9, 1] = 0.0  # level-1 point at 3 snippets, class 1, σ = 0.5
    offsets = np.zeros((12, 2))
    offsets[9] = [0.5, 1.0]  # 1 and 2 snippets → [2, 5] snippets
    cfg = StudentConfig(levels=2, min_score=0.01)
    found = decode_video(
        logits,
        offsets,
        layout,
        np.array([0.1, 0.8]),
        num_snippets=7,
        seconds_per_snippet=0.5,
        tau=0.25,
        cfg=cfg,
    )
    assert len(found) == 1
    assert (found[0].class_index, found[0].start, found[0].end) == (1, 1.0, 2.5)
    assert found[0].score == pytest.approx(0.5 * 0.8)
    # a class the teacher does not see in the video gives nothing
    assert (
        decode_video(
            logits,
            offsets,
            layout,
            np.array([0.9, 0.1]),
            num_snippets=7,
            seconds_per_snippet=0.5,
            tau=0.25,
            cfg=cfg,
        )
        == []
    )
