"""`ecm plot` and `ecm.viz`: a readable PNG of one video's CAS, ground truth and detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecm.cli import main
from ecm.evaluation import Detection
from ecm.structures import Segment
from ecm.viz import _lanes, figure_png, plot_video, save_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_command_writes_png(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = (tiny_root / "split_test.txt").read_text().split()[0]
    out = tmp_path / "figs" / "one.png"
    assert main(["plot", str(tiny_run), "--video", video, "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    assert main(["plot", str(tiny_run), "--video", video, "--checkpoint", "last"]) == 0
    assert (tiny_run / "plots" / f"{video}.png").read_bytes().startswith(PNG)
    capsys.readouterr()


def test_plot_refuses_unknown_video(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    assert main(["plot", str(tiny_run), "--video", "nope", "--out", str(out)]) == 2
    assert "not in split 'test'" in capsys.readouterr().err
    assert main(["plot", str(tiny_run), "--video", "../evil", "--out", str(out)]) == 2
    assert not out.exists()


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
