"""Building a study's results from its run folders: each run's files → typed rows (pure file reading)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ecm.studies.fusion import FUSION_STREAMS
from ecm.studies.layout import StudyDir
from ecm.studies.paper import PAPER_FUSIONS, PAPER_VARIANTS
from ecm.studies.plan import StudyPlan
from ecm.studies.results import (
    FUSION_EVALUATION,
    PROTOCOLS,
    Curve,
    FusionEvaluation,
    RunEvaluation,
    Spread,
    Study,
    StudyRow,
    curve_dynamics,
    fusion_methods,
)
from ecm.training.run_dir import RunDir


def _row(
    key: str,
    kind: Literal["variant", "fusion"],
    seeds: Sequence[int],
    per_seed: Sequence[Mapping[str, Mapping[str, float | None]]],
    runs: Sequence[str],
    **extra: Any,
) -> StudyRow:
    """A row from each seed's ``protocol → metric → value`` (rows differ in which metrics each seed has)."""
    metrics: dict[str, dict[str, Spread]] = {}
    for protocol in PROTOCOLS:
        names = list(dict.fromkeys(n for values in per_seed for n in values.get(protocol, {})))
        metrics[protocol] = {
            name: Spread.of([values.get(protocol, {}).get(name) for values in per_seed]) for name in names
        }
    paper = {row.key: row for row in (*PAPER_VARIANTS, *PAPER_FUSIONS)}.get(key)
    title = paper.title if paper else key
    return StudyRow(key, title, kind, paper, tuple(seeds), metrics, tuple(runs), **extra)


def _variant_row(plan: StudyPlan, study: StudyDir, variant: str) -> StudyRow:
    selection = plan.config.eval.selection
    per_seed, epochs, curves, runs = [], [], [], []
    for seed in plan.seeds:
        run = RunDir(study.run(variant, seed))
        summary = run.read_summary()
        evaluation = RunEvaluation.read(run.evaluation_file)
        values: dict[str, Mapping[str, float | None]] = {
            "last": evaluation.measurement.metrics() if evaluation else {}
        }
        chosen: dict[str, int | None] = {"last": evaluation.epoch if evaluation else None}
        for protocol, entry in (
            ("best", summary.best_on_test if summary else None),
            ("val", summary.val_selected if summary else None),
        ):
            values[protocol] = entry.test.metrics() if entry else {}
            chosen[protocol] = entry.epoch if entry else None
        per_seed.append(values)
        epochs.append(chosen)
        curves.append([(h.epoch, h.test.value(selection)) for h in run.read_history() if h.test is not None])
        runs.append(run.path.relative_to(study.path).as_posix())
    dynamics = [curve_dynamics(c) for c in curves]
    return _row(
        variant,
        "variant",
        plan.seeds,
        per_seed,
        runs,
        epochs={p: tuple(e[p] for e in epochs) for p in PROTOCOLS},
        curve=Curve.of(curves),
        onsets=tuple(d.onset for d in dynamics),
        late_gain=Spread.of([d.late_gain for d in dynamics]),
        decline=Spread.of([_decline(values, selection) for values in per_seed]),
    )


def _decline(values: Mapping[str, Mapping[str, float | None]], selection: str) -> float | None:
    """Best on test minus last epoch of one run's selection metric (None without both)."""
    best, last = values.get("best", {}).get(selection), values.get("last", {}).get(selection)
    return None if best is None or last is None else best - last


def _fusion_rows(plan: StudyPlan, study: StudyDir) -> list[StudyRow]:
    evaluations = [FusionEvaluation.read(study.fusion(s) / FUSION_EVALUATION) for s in plan.seeds]
    rows = []
    for method in fusion_methods():
        per_seed = [
            {"last": e.methods[method].metrics() if e and method in e.methods else {}} for e in evaluations
        ]
        runs = [f"fusion/seed{s}/{method}.json" for s in plan.seeds]
        rows.append(_row(f"fusion:{method}", "fusion", plan.seeds, per_seed, runs, streams=FUSION_STREAMS))
    return rows


def collect_study(plan: StudyPlan, study_dir: str | Path) -> Study:
    """Read every run's files and build the study (rows in table order). Pure file reading."""
    study = StudyDir.at(study_dir)
    cfg = plan.config
    rows: list[StudyRow] = []
    for variant in plan.variants:
        rows.append(_variant_row(plan, study, variant))
        if plan.fusion and variant == FUSION_STREAMS[1]:
            rows.extend(_fusion_rows(plan, study))
    return Study(
        config=plan.config_path,
        overrides=tuple(plan.overrides),
        resolved_config=plan.config_dict(),
        variants=tuple(plan.variants),
        seeds=tuple(plan.seeds),
        epochs=cfg.train.epochs,
        selection=cfg.eval.selection,
        tious=tuple(cfg.eval.tious),
        rows=tuple(rows),
    )
