"""The student's points, targets and losses against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecm.student import (
    StudentCriterion,
    StudentOutput,
    assign_targets,
    diou_loss_1d,
    point_layout,
    sigmoid_focal_loss,
)


def test_the_points_of_two_levels_over_eight_snippets() -> None:
    layout = point_layout(8, 2)
    assert layout.centres.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 1.0, 3.0, 5.0, 7.0]
    assert layout.strides.tolist() == [1.0] * 8 + [2.0] * 4
    assert layout.lo.tolist() == [0.0] * 8 + [2.0] * 4
    assert layout.hi.tolist() == [2.0] * 8 + [math.inf] * 4
    with pytest.raises(ValueError, match="multiple"):
        point_layout(6, 3)


def test_targets_by_hand() -> None:
    # [2, 5] class 1: level 0 (radius 1.5 around 3.5) keeps 2.5, 3.5, 4.5 inside, of which only 3.5 has its
    # larger distance (1.5) below 2; level 1 keeps 3 (distances 1, 2 → 0.5, 1 strides) and 5 (3, 0).
    # [0, 8] class 2 also claims level-1 point 3; the shorter [2, 5] wins it. Level-1 point 1: distances
    # 1 and 7 → (0.5, 3.5); point 7 (7 and 1 → (3.5, 0.5)) too, though it lies past the real length 7 and
    # only counts as real in the last column.
    # [6.2, 6.4] class 0 reaches no centre: it takes the level-0 point nearest its centre, 6.5, with its
    # distances clamped at 0: (0.3, 0).
    layout = point_layout(8, 2)
    targets = assign_targets(
        layout,
        np.array([2.0, 0.0, 6.2]),
        np.array([5.0, 8.0, 6.4]),
        np.array([1, 2, 0]),
        num_classes=3,
        valid_length=7,
        radius=1.5,
    )
    assert targets.shape == (12, 6)
    rows = np.flatnonzero(targets[:, :3].sum(1))
    assert rows.tolist() == [3, 6, 8, 9, 10, 11]
    assert np.argmax(targets[rows, :3], axis=1).tolist() == [1, 0, 2, 1, 1, 2]
    expected = [[1.5, 1.5], [0.3, 0.0], [0.5, 3.5], [0.5, 1.0], [1.5, 0.0], [3.5, 0.5]]
    np.testing.assert_allclose(targets[rows, 3:5], expected, rtol=1e-6)
    assert targets[:, 5].tolist() == [1.0] * 7 + [0.0] + [1.0] * 3 + [0.0]
    assert (targets[:, :3].sum(1) <= 1).all()


def test_equal_shortest_segments_give_every_class() -> None:
    targets = assign_targets(
        point_layout(4, 1),
        np.array([1.0, 1.0]),
        np.array([3.0, 3.0]),
        np.array([0, 2]),
        num_classes=3,
        valid_length=4,
        radius=1.5,
    )
    assert targets[1, :3].tolist() == [1.0, 0.0, 1.0] and targets[2, :3].tolist() == [1.0, 0.0, 1.0]


def test_focal_loss_by_hand() -> None:
    logits = torch.tensor([0.0, 0.0, math.log(3.0)])
    targets = torch.tensor([1.0, 0.0, 1.0])
    loss = sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0)
    # p = 0.5: 0.25 · 0.5² · ln 2 and 0.75 · 0.5² · ln 2; p = 0.75: 0.25 · 0.25² · ln(4/3)
    expected = [0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2), 0.25 * 0.0625 * math.log(4 / 3)]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)


def test_diou_by_hand() -> None:
    pred = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    target = torch.tensor([[1.0, 1.0], [0.5, 1.5], [0.0, 2.0]])
    # equal: 0; overlap 1.5 of union 2.5, centres 0.5 apart within 2.5: 1 − 0.6 + 0.04;
    # disjoint halves around the point: IoU 0, centres 2 apart within 4: 1 + 0.25
    assert diou_loss_1d(pred, target).tolist() == pytest.approx([0.0, 0.44, 1.25], rel=1e-6)


def test_the_criterion_normalises_by_the_positive_points() -> None:
    logits = torch.zeros(1, 3, 2)
    offsets = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [5.0, 5.0]]])
    targets = torch.tensor(
        [[[1.0, 0.0, 0.5, 1.5, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 9.0, 9.0, 0.0]]]
    )
    terms = StudentCriterion(alpha=0.25, gamma=2.0, reg_weight=2.0)(StudentOutput(logits, offsets), targets)
    # real points 0 and 1; one positive (point 2 is padding, whatever it says)
    focal = 0.25 * 0.25 * math.log(2) + 3 * 0.75 * 0.25 * math.log(2)
    assert terms["cls"].item() == pytest.approx(focal, rel=1e-6)
    assert terms["reg"].item() == pytest.approx(0.44, rel=1e-6)
    assert terms["total"].item() == pytest.approx(focal + 2 * 0.44, rel=1e-6)
