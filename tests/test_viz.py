"""`ecm plot` and `ecm.viz`: a readable PNG of one video's CAS, ground truth and detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecm.evaluation import Detection
from ecm.structures import Segment
from ecm.viz import _lanes, figure_png, plot_video, save_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_video_without_kept_class_or_annotation(tmp_path: Path) -> None:
    """No class reaches τ: the most probable one is drawn dashed; no ground truth, no detection."""
    rng = np.random.default_rng(0)
    figure = plot_video(
        video_id="v",
        cas=rng.normal(size=(3, 50)),
        probabilities=np.array([0.3, 0.3, 0.4]),
        duration=32.0,
        class_names=("a", "b", "c"),
        tau=0.5,
    )
    assert figure_png(figure).startswith(PNG)
    legend = figure.axes[0].get_legend().get_texts()[0].get_text()
    assert legend.startswith("c (p=0.40)") and "not localized" in legend


def test_plot_video_draws_every_instance(tmp_path: Path) -> None:
    detections = [Detection("a", 0.9 - 0.1 * i, 2.0 * i, 2.0 * i + 5.0) for i in range(6)]
    figure = plot_video(
        video_id="v",
        cas=np.linspace(-1.0, 2.0, 40).reshape(2, 20),
        probabilities=np.array([0.9, 0.1]),
        duration=20.0,
        class_names=("a", "b"),
        tau=0.25,
        thresholds=(0.01, 0.185),
        ground_truth=[Segment(1.0, 4.0, "a"), Segment(10.0, 12.0, "b")],
        detections=detections,
        max_detections=4,
    )
    _, ax_gt, ax_det = figure.axes
    assert len(ax_gt.collections) == 2 and len(ax_det.collections) == 4  # the 4 best detections
    save_figure(figure, tmp_path / "v.png")
    assert (tmp_path / "v.png").read_bytes().startswith(PNG)


def test_lanes_keep_overlapping_spans_apart() -> None:
    spans = [(0.0, 5.0), (1.0, 2.0), (5.0, 6.0), (1.5, 7.0)]
    lanes = _lanes(spans)
    assert lanes == [0, 1, 0, 2]
    for i, (a, b) in enumerate(spans):
        for j, (c, d) in enumerate(spans):
            if i < j and lanes[i] == lanes[j]:
                assert b <= c or d <= a
