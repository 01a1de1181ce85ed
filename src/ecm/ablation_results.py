"""Results of an ablation study: the study folder's layout, the paper's numbers, aggregation, tables.

Everything here reads files and builds plain JSON-able objects — no torch, no model — so re-aggregating a
study and ``ecm compare`` are cheap. Study folder (written by :mod:`ecm.ablation`)::

    DIR/runs/<variant>/seed<k>/         an `ecm train` run folder, plus evaluation_last.json (scores of the
                                        last checkpoint) and detections_last.json (ActivityNet format)
    DIR/fusion/seed<k>/<method>.json    detections of a fusion baseline; evaluation.json holds their scores
    DIR/ablation.json                   every row, every metric, per-seed values (:func:`collect_study`)
    DIR/ablation.md                     the tables for people (:func:`format_markdown`)
    DIR/curves.png                      selection metric per evaluated epoch (:mod:`ecm.ablation_plot`)

A row's ``metrics[protocol][name]`` is ``{"mean", "std", "n", "values"}`` with ``values`` aligned with the
row's ``seeds`` (``null`` where missing). Protocols: ``last`` (the last-epoch checkpoint, evaluated by the
study: every mAP, the averages, ``frame_accuracy``, ``diagnosis/<category>`` shares at tIoU 0.5), ``best``
(best epoch on test, the paper's protocol) and ``val`` (validation-selected), both from the run's
summary.json (mAPs and averages). Metric names: ``mAP@0.5``, ``avg@0.1:0.7``, ``average``, …; percent.
std is the sample standard deviation (ddof = 1), ``null`` with fewer than two seeds.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecm.errors import InputError
from ecm.fusion import CONCAT, FUSION_WEIGHTS, weighted_sum_name

if TYPE_CHECKING:
    from ecm.ablation import StudyPlan

FORMAT = "ecm-ablation-1"
PROTOCOLS: tuple[str, ...] = ("last", "best", "val")
PROTOCOL_TITLES: dict[str, str] = {
    "last": "last epoch",
    "best": "best on test (paper protocol)",
    "val": "validation-selected",
}
DIAGNOSIS_TIOU = 0.5
EVALUATION_FILE = "evaluation_last.json"
DETECTIONS_FILE = "detections_last.json"
FUSION_STREAMS: tuple[str, str] = ("pre_only", "post_only")
# Curve dynamics (SPEC §6 slow start): the first evaluated epoch whose selection metric reaches ONSET_LEVEL
# percent, and the change of that metric over the last LATE_FRACTION of the run's epochs.
ONSET_LEVEL = 1.0
LATE_FRACTION = 0.2


@dataclass(frozen=True)
class PaperRow:
    """A row of the paper's ablation tables and what reproduces it (numbers: THUMOS14, percent).

    Attributes:
        key: the model variant (``ecm.model.variants``) or ``fusion:<method>`` of ``pre_only`` + ``post_only``.
        title: the paper's description.
        map50: published mAP@0.5 (best epoch on test), or ``None`` where we have no published number.
        frame_accuracy: published frame accuracy (paper Table 10), if any.
    """

    key: str
    title: str
    map50: float | None
    frame_accuracy: float | None = None


# Paper Tables 4 and 5 (SPEC §9), in the paper's order, each mapped to the variant that expresses it
# (see ecm.model.variants). The paper's "two separate classifiers, results concatenated + NMS" row is no
# single model: it is the concatenation fusion of a pre_only and a post_only run (PAPER_FUSIONS), placed
# after post_only. Frame accuracy: paper Table 10.
PAPER_VARIANTS: tuple[PaperRow, ...] = (
    PaperRow("pre_only", "pre-classification stream only (top-k MIL)", 19.6, 42.7),
    PaperRow("post_only", "post-classification stream only, class-agnostic attention", 17.1, 39.0),
    PaperRow("no_transition+no_a2c+no_c2c", "shared classifier, learned attention", 21.6),
    PaperRow("no_a2c+no_c2c", "shared classifier + weight transition", 22.8),
    PaperRow("no_c2c", "shared classifier + weight transition + L_a2c", 24.2),
    PaperRow("separate_classifiers", "full ECM without classifier sharing", 23.4),
    PaperRow("class_agnostic_weights", "full ECM, class-agnostic aggregation weights", 27.6),
    PaperRow("ecm", "full ECM", 29.1, 54.3),
)
# Supplement Table 9: the weighted-sum numbers were not available to us, so they stay empty.
PAPER_FUSIONS: tuple[PaperRow, ...] = (
    PaperRow(f"fusion:{CONCAT}", "two separate classifiers, detections concatenated + NMS", 21.4),
    *(
        PaperRow(
            f"fusion:{weighted_sum_name(w)}", f"two separate classifiers, weighted-sum CAS, λ = {w:g}", None
        )
        for w in FUSION_WEIGHTS
    ),
)


def run_path(study_dir: Path, variant: str, seed: int) -> Path:
    """``DIR/runs/<variant>/seed<k>``."""
    return study_dir / "runs" / variant / f"seed{seed}"


def fusion_path(study_dir: Path, seed: int) -> Path:
    """``DIR/fusion/seed<k>``: the fusion baselines of the ``pre_only`` and ``post_only`` runs of one seed."""
    return study_dir / "fusion" / f"seed{seed}"


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of ``RUN/metrics.jsonl`` (``[]`` when there is none)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise InputError(path, "not one JSON object per line") from None


def read_json(path: Path) -> Any:
    """The parsed JSON file, ``None`` when it does not exist; :class:`InputError` when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, f"cannot read JSON ({exc})") from None


# --------------------------------------------------------------------------------------------- aggregation


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` over the non-missing values; std is ddof = 1, ``None`` if n < 2."""
    present = [float(v) for v in values if v is not None]
    return {
        "mean": statistics.fmean(present) if present else None,
        "std": statistics.stdev(present) if len(present) >= 2 else None,
        "n": len(present),
        "values": [None if v is None else float(v) for v in values],
    }


def result_metrics(block: Mapping[str, Any] | None) -> dict[str, float]:
    """A ``DetectionResult.to_json()`` block → ``{"mAP@0.5": …, "avg@0.1:0.5": …, "average": …}``."""
    if not block:
        return {}
    out = {f"mAP@{k}": float(v) for k, v in block["mAP"].items()}
    out.update({f"avg@{k}": float(v) for k, v in block.get("averages", {}).items()})
    out["average"] = float(block["average"])
    return out


def evaluation_metrics(evaluation: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Metrics of a cached evaluation: mAPs, averages, ``frame_accuracy``, ``diagnosis/<category>`` shares."""
    if not evaluation:
        return {}
    out: dict[str, float | None] = dict(result_metrics(evaluation["test"]))
    out["frame_accuracy"] = evaluation.get("frame_accuracy")
    out.update({f"diagnosis/{k}": float(v) for k, v in evaluation["diagnosis"]["shares"].items()})
    return out


def selection_of(block: Mapping[str, Any], selection: str) -> float:
    """The value of ``eval.selection`` (``mAP@<tIoU>`` or ``average``) in a test block."""
    return float(block["average"] if selection == "average" else block["mAP"][selection[4:]])


def _row(
    key: str,
    title: str,
    paper: PaperRow | None,
    seeds: Sequence[int],
    per_seed: Sequence[Mapping[str, Mapping[str, float | None]]],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = {}
    for protocol in PROTOCOLS:
        names = list(dict.fromkeys(n for seed_values in per_seed for n in seed_values.get(protocol, {})))
        metrics[protocol] = {
            name: spread([seed_values.get(protocol, {}).get(name) for seed_values in per_seed])
            for name in names
        }
    return {
        "key": key,
        "title": title,
        "paper": {
            "mAP@0.5": paper.map50 if paper else None,
            "frame_accuracy": paper.frame_accuracy if paper else None,
        },
        "seeds": list(seeds),
        "metrics": metrics,
        **extra,
    }


def collect_study(plan: StudyPlan, study_dir: Path) -> dict[str, Any]:
    """Read every run's files and build the study object (rows in table order). Pure file reading."""
    cfg = plan.config
    selection = cfg.eval.selection
    paper_rows = {row.key: row for row in (*PAPER_VARIANTS, *PAPER_FUSIONS)}
    rows = []
    for variant in plan.variants:
        per_seed, epochs, curves, runs = [], [], [], []
        for seed in plan.seeds:
            folder = run_path(study_dir, variant, seed)
            summary = read_json(folder / "summary.json") or {}
            evaluation = read_json(folder / EVALUATION_FILE)
            values: dict[str, Mapping[str, float | None]] = {"last": evaluation_metrics(evaluation)}
            chosen: dict[str, int | None] = {"last": evaluation["epoch"] if evaluation else None}
            for protocol, field in (("best", "best_on_test"), ("val", "val_selected")):
                entry = summary.get(field)
                values[protocol] = result_metrics(entry["test"]) if entry else {}
                chosen[protocol] = entry["epoch"] if entry else None
            per_seed.append(values)
            epochs.append(chosen)
            curves.append(
                [
                    (h["epoch"], selection_of(h["test"], selection))
                    for h in read_history(folder)
                    if "test" in h
                ]
            )
            runs.append(folder.relative_to(study_dir).as_posix())
        paper = paper_rows.get(variant)
        rows.append(
            _row(
                variant,
                paper.title if paper else variant,
                paper,
                plan.seeds,
                per_seed,
                {
                    "kind": "variant",
                    "runs": runs,
                    "epochs": {p: [e[p] for e in epochs] for p in PROTOCOLS},
                    "curve": _curve(curves),
                    "dynamics": _dynamics(curves),
                },
            )
        )
        if plan.fusion and variant == FUSION_STREAMS[1]:
            rows.extend(_fusion_rows(plan, study_dir, paper_rows))
    return {
        "format": FORMAT,
        "config": plan.config_path,
        "overrides": list(plan.overrides),
        "resolved_config": plan.config_dict(),
        "variants": list(plan.variants),
        "seeds": list(plan.seeds),
        "epochs": cfg.train.epochs,
        "selection": selection,
        "tious": list(cfg.eval.tious),
        "protocols": dict(PROTOCOL_TITLES),
        "statistics": "mean and sample standard deviation (ddof=1) over seeds; std null with fewer than 2",
        "rows": rows,
    }


def _fusion_rows(
    plan: StudyPlan, study_dir: Path, paper_rows: Mapping[str, PaperRow]
) -> list[dict[str, Any]]:
    evaluations = [read_json(fusion_path(study_dir, s) / "evaluation.json") or {} for s in plan.seeds]
    rows = []
    for method in (CONCAT, *(weighted_sum_name(w) for w in FUSION_WEIGHTS)):
        key = f"fusion:{method}"
        per_seed = [{"last": evaluation_metrics(e.get("methods", {}).get(method))} for e in evaluations]
        paper = paper_rows.get(key)
        extra = {
            "kind": "fusion",
            "streams": list(FUSION_STREAMS),
            "runs": [f"fusion/seed{s}/{method}.json" for s in plan.seeds],
        }
        rows.append(_row(key, paper.title if paper else key, paper, plan.seeds, per_seed, extra))
    return rows


def curve_dynamics(points: Sequence[tuple[int, float]]) -> dict[str, Any]:
    """Onset and late gain of one run's (epoch, metric in percent) curve, for reading a fixed-budget table.

    Returns:
        ``{"onset": epoch | None, "late_gain": float | None}``: ``onset`` is the first evaluated epoch whose
        value is ≥ :data:`ONSET_LEVEL`; ``late_gain`` is the last value minus the value at the latest
        evaluated epoch ≤ ``last − max(1, round(LATE_FRACTION · last))`` (``None`` without such an epoch).
        A large late gain means the run was still improving when it stopped.
    """
    ordered = sorted(points)
    if not ordered:
        return {"onset": None, "late_gain": None}
    onset = next((e for e, v in ordered if v >= ONSET_LEVEL), None)
    last_epoch, last_value = ordered[-1]
    cutoff = last_epoch - max(1, round(LATE_FRACTION * last_epoch))
    earlier = [v for e, v in ordered if e <= cutoff]
    return {"onset": onset, "late_gain": last_value - earlier[-1] if earlier else None}


def _dynamics(curves: Sequence[Sequence[tuple[int, float]]]) -> dict[str, Any]:
    per_seed = [curve_dynamics(c) for c in curves]
    return {
        "onset": [d["onset"] for d in per_seed],
        "late_gain": spread([d["late_gain"] for d in per_seed]),
    }


def _curve(curves: Sequence[Sequence[tuple[int, float]]]) -> dict[str, Any]:
    """Per-seed (epoch, value) lists → the epochs every seed evaluated and one value list per seed."""
    common = sorted(set.intersection(*(set(e for e, _ in c) for c in curves))) if curves else []
    lookup = [dict(c) for c in curves]
    return {"epochs": common, "values": [[seed_curve[e] for e in common] for seed_curve in lookup]}


# ------------------------------------------------------------------------------------------------ markdown


def format_value(stats: Mapping[str, Any] | None) -> str:
    """``"29.13 ± 0.52"``; ``"29.13 ± —"`` with one seed; ``"—"`` when missing."""
    if not stats or stats.get("mean") is None:
        return "—"
    std = stats.get("std")
    return f"{stats['mean']:.2f} ± " + ("—" if std is None else f"{std:.2f}")


def _paper(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _epochs(epochs: Sequence[int | None]) -> str:
    return ", ".join("—" if e is None else str(e) for e in epochs) or "—"


def _label(row: Mapping[str, Any]) -> str:
    return row["title"] if row["title"] == row["key"] else f"{row['title']} (`{row['key']}`)"


def format_markdown(study: Mapping[str, Any]) -> str:
    """ablation.md: main table (last epoch), checkpoint selection, frame accuracy + error diagnosis."""
    rows = study["rows"]
    selection = study["selection"]
    tious = [t for t in study["tious"] if t <= 0.7 + 1e-9] if min(study["tious"]) < 0.5 else study["tious"]
    keys = [f"{t:g}" for t in tious]
    averages = [
        a
        for a in ("0.1:0.5", "0.3:0.7", "0.1:0.7", "0.5:0.95")
        if any(f"avg@{a}" in r["metrics"]["last"] for r in rows)
    ]
    seeds = ", ".join(map(str, study["seeds"]))
    out = [
        "# Ablation study",
        "",
        f"Config `{study['config']}`"
        + (f" with `{' '.join(study['overrides'])}`" if study["overrides"] else "")
        + f"; {study['epochs']} epochs; seeds {seeds}.",
        "Every cell is mean ± sample standard deviation (ddof = 1) over seeds (— with one seed), in percent.",
        "Paper numbers are THUMOS14 (I3D features), best epoch on the test split; on other data they only "
        "show the expected ordering. Paper columns are empty where no published number was available.",
        "",
        "## mAP, last epoch",
        "",
        _table(
            [
                "model",
                f"paper {selection}",
                *(f"mAP@{k}" for k in keys),
                *(f"avg {a}" for a in averages),
                "seeds",
            ],
            [
                [
                    _label(r),
                    _paper(r["paper"]["mAP@0.5"] if selection == "mAP@0.5" else None),
                    *(format_value(r["metrics"]["last"].get(f"mAP@{k}")) for k in keys),
                    *(format_value(r["metrics"]["last"].get(f"avg@{a}")) for a in averages),
                    str(max((s["n"] for s in r["metrics"]["last"].values()), default=0)),
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
        "was still improving when the schedule ended (SPEC §6's slow start).",
        "",
        _table(
            [
                "model",
                "paper (best on test)",
                *(PROTOCOL_TITLES[p] for p in ("best", "last", "val")),
                "best epochs",
                "onset",
                "late gain",
            ],
            [
                [
                    _label(r),
                    _paper(r["paper"]["mAP@0.5"] if selection == "mAP@0.5" else None),
                    *(format_value(r["metrics"][p].get(selection)) for p in ("best", "last", "val")),
                    _epochs(r.get("epochs", {}).get("best", [])),
                    _epochs(r.get("dynamics", {}).get("onset", [])),
                    format_value(r.get("dynamics", {}).get("late_gain")),
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
        _table(
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
                    _label(r),
                    _paper(r["paper"]["frame_accuracy"]),
                    format_value(r["metrics"]["last"].get("frame_accuracy")),
                    *(
                        format_value(r["metrics"]["last"].get(f"diagnosis/{c}"))
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


def load_study(study_dir: str | Path) -> dict[str, Any]:
    """Read ``DIR/ablation.json`` (written by ``ecm ablate``); :class:`InputError` if missing or foreign."""
    path = Path(study_dir) / "ablation.json"
    if not path.exists():
        raise InputError(path, "no ablation.json (run `ecm ablate` on this folder first)")
    study = read_json(path)
    if (
        not isinstance(study, dict)
        or study.get("format") != FORMAT
        or not isinstance(study.get("rows"), list)
    ):
        raise InputError(path, f"not an ecm ablation study (expected format {FORMAT!r})")
    return study
