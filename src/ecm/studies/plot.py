"""The training curves of an ablation study: selection metric per evaluated epoch, one colour per variant.

For each variant row of a study (:class:`ecm.studies.results.Study`): the mean over seeds as a line and the
min–max over seeds as a shaded band, at the epochs every seed evaluated on the test split. The metric is
the study's ``eval.selection`` (mAP@0.5 on THUMOS14), in percent. Matplotlib through its object API with
the Agg canvas (no ``pyplot``, no global state); the PNG is written atomically.
"""

from __future__ import annotations

import os

import numpy as np

from ecm.studies.results import Study, StudyRow
from ecm.viz import save_figure


def plot_curves(study: Study, path: str | os.PathLike[str]) -> bool:
    """Draw ``study``'s per-epoch curves into the PNG ``path``; returns False (no file) without any curve."""
    rows = [(r.key, r) for r in study.rows if r.kind == "variant" and r.curve.epochs]
    return _draw(rows, study.selection, len(study.seeds), path)


def plot_comparison(
    first: Study, second: Study, labels: tuple[str, str], path: str | os.PathLike[str]
) -> bool:
    """Both studies' curves in one PNG, each row labelled ``"row (label)"``; False (no file) without any."""
    rows = [
        (f"{row.key} ({label})", row)
        for study, label in zip((first, second), labels, strict=True)
        for row in study.rows
        if row.kind == "variant" and row.curve.epochs
    ]
    return _draw(rows, first.selection, max(len(first.seeds), len(second.seeds)), path)


def _draw(rows: list[tuple[str, StudyRow]], selection: str, seeds: int, path: str | os.PathLike[str]) -> bool:
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not rows:
        return False
    figure = Figure(figsize=(8.0, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    cmap = colormaps["tab10" if len(rows) <= 10 else "tab20"]
    for i, (label, row) in enumerate(rows):
        epochs = np.asarray(row.curve.epochs, dtype=np.float64)  # (E,)
        values = np.asarray(row.curve.values, dtype=np.float64)  # (S, E) seeds × epochs, percent
        colour = cmap(i % cmap.N)
        mean, low, high = values.mean(axis=0), values.min(axis=0), values.max(axis=0)
        if len(epochs) == 1:  # a band needs two epochs: draw the min–max range as an error bar
            ax.errorbar(
                epochs,
                mean,
                yerr=[mean - low, high - mean],
                color=colour,
                label=label,
                fmt="o",
                capsize=4,
            )
            continue
        ax.plot(epochs, mean, color=colour, label=label)
        if values.shape[0] > 1:
            ax.fill_between(epochs, low, high, color=colour, alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{selection} on the test split (%)")
    ax.set_title(f"{selection} per epoch: mean over {seeds} seed(s), band = min–max")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")

    save_figure(figure, path, "--plot")
    return True
