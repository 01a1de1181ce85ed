"""``ablation.md``: the study's tables for people (mAP, checkpoint selection and dynamics, diagnosis)."""

from __future__ import annotations

from collections.abc import Sequence

from ecm.markdown import markdown_table
from ecm.studies.results import DIAGNOSIS_TIOU, LATE_FRACTION, ONSET_LEVEL, PROTOCOL_TITLES, Spread, Study


def format_value(stats: Spread | None) -> str:
    """``"29.13 ± 0.52"``; ``"29.13 ± —"`` with one seed; ``"—"`` when missing."""
    if stats is None or stats.mean is None:
        return "—"
    return f"{stats.mean:.2f} ± " + ("—" if stats.std is None else f"{stats.std:.2f}")


def _paper(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _epochs(epochs: Sequence[int | None]) -> str:
    return ", ".join("—" if e is None else str(e) for e in epochs) or "—"


def format_markdown(study: Study) -> str:
    """ablation.md: main table (last epoch), checkpoint selection, frame accuracy + error diagnosis."""
    rows = study.rows
    selection = study.selection
    tious = [t for t in study.tious if t <= 0.7 + 1e-9] if min(study.tious) < 0.5 else list(study.tious)
    keys = [f"{t:g}" for t in tious]
    averages = [
        a
        for a in ("0.1:0.5", "0.3:0.7", "0.1:0.7", "0.5:0.95")
        if any(r.metric("last", f"avg@{a}") for r in rows)
    ]
    seeds = ", ".join(map(str, study.seeds))
    out = [
        "# Ablation study",
        "",
        f"Config `{study.config}`"
        + (f" with `{' '.join(study.overrides)}`" if study.overrides else "")
        + f"; {study.epochs} epochs; seeds {seeds}.",
        "Every cell is mean ± sample standard deviation (ddof = 1) over seeds (— with one seed), in percent.",
        "Paper numbers are THUMOS14 (I3D features), best epoch on the test split; on other data they only "
        "show the expected ordering. Paper columns are empty where no published number was available.",
        "",
        "## mAP, last epoch",
        "",
        markdown_table(
            [
                "model",
                f"paper {selection}",
                *(f"mAP@{k}" for k in keys),
                *(f"avg {a}" for a in averages),
                "seeds",
            ],
            [
                [
                    r.label,
                    _paper(r.paper.map50 if r.paper and selection == "mAP@0.5" else None),
                    *(format_value(r.metric("last", f"mAP@{k}")) for k in keys),
                    *(format_value(r.metric("last", f"avg@{a}")) for a in averages),
                    str(max((s.n for s in r.metrics.get("last", {}).values()), default=0)),
                ]
                for r in rows
            ],
        ),
        "",
        f"## Checkpoint selection, {selection}",
        "",
        "Best on test is the paper's protocol (optimistic: it selects on the reported split); validation-"
        "selected needs `data.val_fraction > 0`. "
        f"Onset: the first evaluated epoch where {selection} reached {ONSET_LEVEL:g}, per seed. "
        f"Late gain: its change over the last {LATE_FRACTION:.0%} of the epochs; a large one means the run "
        "was still improving when the schedule ended (the slow start). Best − last: what a run lost after "
        "its best epoch (0 when the last epoch is its best).",
        "",
        markdown_table(
            [
                "model",
                "paper (best on test)",
                *(PROTOCOL_TITLES[p] for p in ("best", "last", "val")),
                "best epochs",
                "onset",
                "late gain",
                "best − last",
            ],
            [
                [
                    r.label,
                    _paper(r.paper.map50 if r.paper and selection == "mAP@0.5" else None),
                    *(format_value(r.metric(p, selection)) for p in ("best", "last", "val")),
                    _epochs(r.epochs.get("best", ())),
                    _epochs(r.onsets),
                    format_value(r.late_gain),
                    format_value(r.decline),
                ]
                for r in rows
            ],
        ),
        "",
        f"## Frame accuracy and error diagnosis at tIoU {DIAGNOSIS_TIOU:g}, last epoch",
        "",
        "Shares of the top-10×G predictions per class (paper Table 6); frame accuracy over action snippets "
        "(paper Table 10).",
        "",
        markdown_table(
            [
                "model",
                "paper frame acc.",
                "frame acc.",
                "true pos.",
                "double det.",
                "wrong label",
                "localization",
                "confusion",
                "background",
            ],
            [
                [
                    r.label,
                    _paper(r.paper.frame_accuracy if r.paper else None),
                    format_value(r.metric("last", "frame_accuracy")),
                    *(
                        format_value(r.metric("last", f"diagnosis/{c}"))
                        for c in (
                            "true_positive",
                            "double_detection",
                            "wrong_label",
                            "localization",
                            "confusion",
                            "background",
                        )
                    ),
                ]
                for r in rows
            ],
        ),
        "",
    ]
    return "\n".join(out)
