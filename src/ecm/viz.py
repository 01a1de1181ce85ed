"""Plots of one video's localization (paper Fig. 5 style): CAS over time, ground truth, detections.

Three panels share one time axis in **seconds**:

1. the **normalised** CAS (the values the post-processing's thresholds cut) of the classes kept by τ, one
   line per class at snippet centres, dotted lines at the lowest and highest activation threshold θ and
   the ground-truth instances shaded behind the curves; when no class reaches τ, the most probable class
   is drawn dashed (it is not localized). Values below −0.5 are cut off (a normalised CAS can be very
   negative: S / M when its minimum is negative);
2. one row of ground-truth instances;
3. the highest-scoring detections (``max_detections``), packed into as few rows as keep them apart,
   each labelled with its score.

A class has the same colour in every panel. Matplotlib is used through its object API with the Agg
canvas (``Figure`` + ``FigureCanvasAgg``): no ``pyplot``, no global state, no display needed.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from ecm.errors import InputError
from ecm.files import write_with
from ecm.postprocess.proposals import Gate, gate_bar, kept_classes, normalize_cas
from ecm.structures import Detection, Segment

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ecm.data.folder import SplitData, VideoRecord
    from ecm.inference import TrainedRun, VideoPrediction

_PALETTE = "tab10"
_LOWEST = -0.5  # the CAS axis is cut here: a normalised CAS can be very negative (S / M when min S < 0)


def _lanes(spans: Sequence[tuple[float, float]]) -> list[int]:
    """Row of each ``(start, end)`` span, in the given order (best first): the first row it overlaps nothing in."""
    rows: list[list[tuple[float, float]]] = []
    lane = []
    for start, end in spans:
        for number, row in enumerate(rows):
            if all(end <= a or start >= b for a, b in row):
                row.append((start, end))
                lane.append(number)
                break
        else:
            rows.append([(start, end)])
            lane.append(len(rows) - 1)
    return lane


def _class_colours(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps[_PALETTE if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _bars(
    ax: Axes,
    items: Sequence[tuple[float, float, str, str, float]],
    colours: dict[str, tuple[float, float, float, float]],
    duration: float,
) -> int:
    """Draw (start s, end s, class, text, opacity) bars in non-overlapping rows; returns the number of rows."""
    lanes = _lanes([(item[0], item[1]) for item in items])
    for (start, end, name, text, alpha), row in zip(items, lanes, strict=True):
        width = max(end - start, duration * 0.002)
        ax.broken_barh([(start, width)], (row + 0.1, 0.8), color=colours[name], alpha=alpha)
        if text and end - start > duration * 0.0065 * max(4, len(text)):
            ax.text(
                start + width / 2,
                row + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if alpha > 0.7 else "black",
            )
    rows = max(lanes, default=0) + 1
    ax.set_ylim(rows, 0)
    ax.set_yticks([])
    return rows


def plot_video(
    *,
    video_id: str,
    cas: np.ndarray,
    probabilities: np.ndarray,
    duration: float,
    class_names: Sequence[str],
    tau: float,
    thresholds: Sequence[float] = (),
    gate: Gate = "absolute",
    ground_truth: Sequence[Segment] = (),
    detections: Sequence[Detection] = (),
    max_detections: int = 10,
) -> Figure:
    """The localization of one video as a figure (see module docstring).

    Args:
        video_id: title.
        cas: ``(C, T)`` raw CAS logits, one column per snippet (normalised here for display).
        probabilities: ``(C,)`` video-level class probabilities softmax(s_pre).
        duration: seconds spanned by the T snippets (the video's length).
        class_names: the C class names, in CAS row order.
        tau: class-rejection threshold; classes that pass it are drawn.
        gate: ``"absolute"``, ``p ≥ tau``, or ``"relative"``, ``p ≥ tau · max p`` (``postprocess.gate``).
        thresholds: activation thresholds θ of the post-processing (the lowest and highest are drawn).
        ground_truth: the video's annotated instances (seconds).
        detections: its detections (seconds); the ``max_detections`` best are drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.asarray(cas, dtype=np.float64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != len(class_names) or probs.shape != (len(class_names),):
        raise ValueError(
            f"cas {scores.shape} / probabilities {probs.shape} do not fit {len(class_names)} classes"
        )
    kept = [int(c) for c in kept_classes(probs, tau, gate)]
    bar = f"τ = {tau:g}" if gate == "absolute" else f"τ · max p = {gate_bar(probs, tau, gate):.3g}"
    fallback = not kept
    if fallback:
        kept = [int(np.argmax(probs))]
    top = sorted(detections, key=lambda d: -d.score)[: max(0, max_detections)]
    shown = list(
        dict.fromkeys(
            [class_names[c] for c in kept] + [s.label for s in ground_truth] + [d.label for d in top]
        )
    )
    colours = _class_colours(shown)

    det_rows = len(set(_lanes([(d.start, d.end) for d in top]))) if top else 1
    gt_rows = len(set(_lanes([(s.start, s.end) for s in ground_truth]))) if ground_truth else 1
    figure = Figure(figsize=(12.0, 4.2 + 0.28 * (det_rows + gt_rows)), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 1, height_ratios=[4.0, 0.45 * gt_rows + 0.25, 0.45 * det_rows + 0.25])
    ax_cas = figure.add_subplot(grid[0])
    ax_gt = figure.add_subplot(grid[1], sharex=ax_cas)
    ax_det = figure.add_subplot(grid[2], sharex=ax_cas)

    normalised = normalize_cas(scores)  # (C, T)
    steps = scores.shape[1]
    centres = (np.arange(steps) + 0.5) * duration / steps  # (T,) seconds
    for seg in ground_truth:
        ax_cas.axvspan(seg.start, seg.end, color="0.88", zorder=0, lw=0)
    for theta in sorted({min(thresholds), max(thresholds)} if thresholds else ()):
        ax_cas.axhline(theta, color="0.35", lw=0.8, ls=":", zorder=1)
    for c in kept:
        name = class_names[c]
        note = f" — below {bar}, not localized" if fallback else ""
        ax_cas.plot(
            centres,
            normalised[c],
            color=colours[name],
            lw=1.4,
            ls="--" if fallback else "-",
            label=f"{name} (p={probs[c]:.2f}){note}",
        )
    lowest, highest = float(normalised[kept].min()), float(normalised[kept].max())
    low = lowest - 0.05 if highest < _LOWEST + 0.25 else max(_LOWEST, lowest - 0.05)
    ax_cas.set_ylim(low, max(1.08, highest + 0.05))
    ax_cas.set_xlim(0.0, duration)
    ax_cas.set_ylabel("normalised CAS")
    ax_cas.legend(loc="upper right", fontsize=8, framealpha=0.9)
    band = f"dotted: thresholds θ {min(thresholds):g}–{max(thresholds):g}; " if thresholds else ""
    ax_cas.set_title(
        f"{video_id} — normalised CAS of the classes with p ≥ {bar}  ({band}shaded: ground truth)",
        fontsize=10,
    )
    ax_cas.tick_params(labelbottom=False)

    _bars(ax_gt, [(s.start, s.end, s.label, s.label, 1.0) for s in ground_truth], colours, duration)
    ax_gt.set_ylabel("truth", rotation=0, ha="right", va="center")
    ax_gt.tick_params(labelbottom=False)
    if not ground_truth:
        ax_gt.text(0.5, 0.5, "no annotation", transform=ax_gt.transAxes, ha="center", va="center", fontsize=8)

    best = max((d.score for d in top), default=1.0)
    worst = min((d.score for d in top), default=0.0)
    spread = best - worst if best > worst else 1.0
    items = [(d.start, d.end, d.label, f"{d.score:.2f}", 0.4 + 0.6 * (d.score - worst) / spread) for d in top]
    _bars(ax_det, items, colours, duration)
    ax_det.set_ylabel(f"top {len(top)}\ndetections\n(by score)", rotation=0, ha="right", va="center")
    ax_det.set_xlabel("time (seconds)")
    if not top:
        ax_det.text(
            0.5, 0.5, "no detection", transform=ax_det.transAxes, ha="center", va="center", fontsize=8
        )
    return figure


def figure_format(path: str | os.PathLike[str], flag: str = "--out") -> str:
    """The image format matplotlib writes for ``path``'s extension (``png``, ``svg``, ``pdf``, …).

    Raises :class:`InputError` naming ``flag`` for an extension matplotlib cannot write, or none.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    supported = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in supported:
        what = f"'.{suffix}' files" if suffix else "a file name without an extension"
        choices = ", ".join(f".{s}" for s in supported)
        raise InputError(path, f"{flag}: matplotlib cannot write {what}; use one of {choices}")
    return suffix


def figure_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_figure(figure: Figure, path: str | os.PathLike[str], flag: str = "--out") -> None:
    """Render ``figure`` to ``path`` atomically, in the format of its extension (:func:`figure_format`):
    rendered in memory first, then written and renamed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=figure_format(path, flag))
    data = buffer.getvalue()

    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    write_with(path, write)


def video_figure(
    trained: TrainedRun,
    record: VideoRecord,
    prediction: VideoPrediction,
    detections: Sequence[Detection],
    *,
    top: int = 10,
) -> Figure:
    """One localized video as a figure, drawn with the run's post-processing settings (τ, thresholds)."""
    post = trained.config.postprocess
    return plot_video(
        video_id=record.video_id,
        cas=prediction.cas,
        probabilities=prediction.probabilities,
        duration=record.timing.duration,
        class_names=trained.class_names,
        tau=post.tau,
        thresholds=post.thresholds,
        gate=post.gate,
        ground_truth=record.annotation.segments if record.annotation is not None else (),
        detections=detections,
        max_detections=top,
    )


def plot_split_video(
    trained: TrainedRun, split: SplitData, video_id: str, out: str | os.PathLike[str], *, top: int = 10
) -> Path:
    """Localize ``video_id`` of ``split`` with ``trained`` and save its plot to ``out`` (PNG, atomic)."""
    matches = [r for r in split.videos if r.video_id == video_id]
    if not matches:
        examples = ", ".join(r.video_id for r in split.videos[:3])
        raise InputError(None, f"video {video_id!r} is not in split {split.name!r} (it has e.g. {examples})")
    record = matches[0]
    one = dataclasses.replace(
        split,
        videos=(record,),
        ground_truth={k: v for k, v in split.ground_truth.items() if k == video_id},
    )
    from ecm.inference import localize_split

    result = localize_split(trained, one, batch_size=1, quiet=True)
    figure = video_figure(trained, record, result.predictions[video_id], result.detections[video_id], top=top)
    path = Path(out)
    save_figure(figure, path)
    return path
