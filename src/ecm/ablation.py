"""Multi-seed ablation studies (SPEC §9; paper Tables 4, 5, 6, 9, 10): plan, train, evaluate.

``ecm ablate`` trains every variant × seed as an ordinary run folder, evaluates each run's **last-epoch**
checkpoint, adds the fusion baselines of two separately trained streams (:mod:`ecm.fusion`), and reports
every number as mean ± spread over seeds, each row under the same data, recipe and post-processing.

The study folder's layout, the paper's reference numbers, aggregation and tables are in
:mod:`ecm.ablation_results`; the paired comparison of two studies in :mod:`ecm.ablation_compare`.

**Protocols.** The main table is the *last epoch*: the honest default, because picking the epoch on the
test split (the paper's protocol) selects on the very numbers it reports. For the selection metric
(``eval.selection``, mAP@0.5 on THUMOS14) the three protocols stand side by side: best on test (paper),
last epoch, validation-selected (needs ``data.val_fraction > 0``, else "—"). Frame accuracy (τ =
``postprocess.tau``) and the error diagnosis at tIoU 0.5 are of the last epoch.

**Resuming.** A run is finished when its summary.json reports the planned last epoch and metrics.jsonl holds
one line per planned epoch: it is skipped. A run with ``checkpoints/last.pt`` is resumed; any other is
(re)started. A run whose config differs from the plan in anything but ``train.epochs`` is an error, never
silently mixed in. Evaluations are cached in the run folder, keyed by epoch.

**Order and parallelism.** Runs go seed-major (every variant of the first seed, then the next seed), so a
study stopped early can already be tabulated for its first seeds (``--seeds 16,``). ``--jobs N`` trains N
runs at once in worker processes and evaluates them afterwards; the runs are the same as one at a time.

**Seeds.** ``--seeds N`` means ``base, base + 1, …, base + N − 1`` with ``base = train.seed`` of the
config (after ``--set``); ``--seeds 16,17,18`` lists them (``16,`` is the single seed 16).

**Statistics.** mean ± sample standard deviation (ddof = 1) over seeds; with fewer than two seeds the
spread is "—" (``null`` in JSON).

Torch is imported only inside the functions that train or run a model.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ecm.ablation_results import (
    DETECTIONS_FILE,
    DIAGNOSIS_TIOU,
    EVALUATION_FILE,
    FUSION_STREAMS,
    PAPER_VARIANTS,
    collect_study,
    format_markdown,
    fusion_path,
    read_history,
    read_json,
    run_path,
)
from ecm.atomic import write_json, write_text
from ecm.errors import InputError
from ecm.fusion import CONCAT, FUSION_WEIGHTS, weighted_sum_name
from ecm.progress import progress_bar

if TYPE_CHECKING:
    from ecm.config import ExperimentConfig
    from ecm.data.folder import SplitData
    from ecm.evaluation import Detection
    from ecm.inference import VideoPrediction

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------- planning


def canonical_variant(name: str) -> str:
    """One spelling per model: the paper row's name when the spec equals one, else sorted modifiers.

    ``"no_c2c+no_a2c"`` → ``"no_a2c+no_c2c"``; raises :class:`InputError` for an unknown variant.
    """
    from ecm.model.variants import MODIFIERS, parse_variant

    spec = parse_variant(name)
    for row in PAPER_VARIANTS:
        if parse_variant(row.key) == spec:
            return row.key
    parts = [part.strip() for part in name.split("+")]
    return "+".join(sorted(parts, key=lambda p: MODIFIERS.index(p) if p in MODIFIERS else -1))


def parse_variants(text: str | None) -> tuple[str, ...]:
    """``--variants a,b,…`` → canonical names, paper rows in the paper's order, then the others as given."""
    if text is None:
        return tuple(row.key for row in PAPER_VARIANTS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InputError(None, "--variants names no variant")
    chosen: list[str] = []
    for name in names:
        canonical = canonical_variant(name)
        if canonical in chosen:
            raise InputError(None, f"--variants names the model {canonical!r} twice")
        chosen.append(canonical)
    paper = [row.key for row in PAPER_VARIANTS if row.key in chosen]
    return (*paper, *(name for name in chosen if name not in paper))


def parse_seeds(text: str, base: int) -> tuple[int, ...]:
    """``"3"`` → ``(base, base + 1, base + 2)``; ``"16,17,18"`` → ``(16, 17, 18)``."""
    try:
        if "," in text:
            seeds = tuple(int(part) for part in text.split(",") if part.strip())
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = tuple(range(base, base + count))
    except ValueError:
        raise InputError(None, f"--seeds {text!r}: give a count (3) or a list of seeds (16,17,18)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise InputError(None, f"--seeds {text!r}: seeds must be distinct, non-negative integers")
    return seeds


@dataclass(frozen=True)
class StudyPlan:
    """What a study trains: one base config, variants (table order), seeds, and whether to fuse streams."""

    config: ExperimentConfig
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    fusion: bool
    config_path: str | None = None
    overrides: tuple[str, ...] = ()

    def run_config(self, variant: str, seed: int) -> ExperimentConfig:
        """The base config with ``model.variant`` and ``train.seed`` set."""
        cfg = self.config
        return dataclasses.replace(
            cfg,
            model=dataclasses.replace(cfg.model, variant=variant),
            train=dataclasses.replace(cfg.train, seed=seed),
        )

    def config_dict(self) -> dict[str, Any]:
        """The base config as nested plain dicts (what ``ecm compare`` diffs between studies)."""
        from ecm.config import config_to_dict

        return config_to_dict(self.config)

    def runs(self) -> list[tuple[str, int]]:
        """Every (variant, seed), seed-major: a study stopped early holds every variant of its first seeds."""
        return [(variant, seed) for seed in self.seeds for variant in self.variants]


def plan_study(
    config_path: str | None,
    overrides: Sequence[str] = (),
    *,
    variants: str | None = None,
    seeds: str = "3",
    epochs: int | None = None,
    fusion: bool | None = None,
) -> StudyPlan:
    """Resolve the command line into a :class:`StudyPlan` (all checks before any training).

    ``fusion=None`` fuses when both ``pre_only`` and ``post_only`` are studied; ``True`` demands them.
    """
    from ecm.config import load_config

    if any(text.split("=", 1)[0].strip() == "model.variant" for text in overrides):
        raise InputError(None, "choose variants with --variants, not --set model.variant")
    extra = [f"train.epochs={epochs}"] if epochs is not None else []
    config = load_config(config_path, [*overrides, *extra])
    if config.train.epochs < 1:
        raise InputError(None, f"train.epochs must be ≥ 1, got {config.train.epochs}")
    chosen = parse_variants(variants)
    possible = all(stream in chosen for stream in FUSION_STREAMS)
    if fusion and not possible:
        raise InputError(None, "--fusion needs both pre_only and post_only in --variants")
    return StudyPlan(
        config=config,
        variants=chosen,
        seeds=parse_seeds(seeds, config.train.seed),
        fusion=possible if fusion is None else fusion,
        config_path=config_path,
        overrides=(*overrides, *extra),
    )


# ------------------------------------------------------------------------------------------------ training


def run_status(run_dir: Path, epochs: int) -> Literal["finished", "resume", "fresh"]:
    """``finished`` (summary of epoch ``epochs`` and that many metric lines), ``resume`` or ``fresh``."""
    lines = len(read_history(run_dir))
    if lines > epochs:
        raise InputError(run_dir, f"run has {lines} epochs, more than the {epochs} planned (--epochs)")
    summary = read_json(run_dir / "summary.json")
    last = summary.get("last") if isinstance(summary, dict) else None
    if lines == epochs and isinstance(last, dict) and last.get("epoch") == epochs:
        return "finished"
    return "resume" if (run_dir / "checkpoints" / "last.pt").exists() else "fresh"


def check_run_config(run_dir: Path, planned: ExperimentConfig) -> None:
    """Raise :class:`InputError` when ``RUN/config.yaml`` differs from ``planned`` (``train.epochs`` aside)."""
    from ecm.config import config_to_dict, load_config

    path = run_dir / "config.yaml"
    if not path.exists():
        return

    def flat(cfg: ExperimentConfig) -> dict[str, Any]:
        values = config_to_dict(cfg)
        values["train"].pop("epochs")
        return {f"{s}.{k}": v for s, block in values.items() for k, v in block.items()}

    saved, wanted = flat(load_config(path)), flat(planned)
    for key, value in wanted.items():
        if saved.get(key) != value:
            raise InputError(
                run_dir,
                f"run was trained with {key}={saved.get(key)!r}, the study plans {value!r}; every run of a "
                "study shares one config (use another --out, or delete this run)",
            )


def train_run(config: ExperimentConfig, run_dir: Path, *, quiet: bool, device: str | None) -> str:
    """Train one run unless finished; resume it from ``last.pt`` when there is one. Returns the status."""
    from ecm.engine import Trainer

    status = run_status(run_dir, config.train.epochs)
    check_run_config(run_dir, config)
    if status == "finished":
        log.info("skip finished run %s", run_dir)
    elif status == "resume":
        log.info("resume run %s", run_dir)
        Trainer(config, run_dir, resume=True, quiet=quiet, device=device).fit()
    else:
        log.info("train run %s", run_dir)
        Trainer(config, run_dir, overwrite=True, quiet=quiet, device=device).fit()
    return status


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def train_runs_in_parallel(
    plan: StudyPlan, study_dir: Path, jobs: int, *, quiet: bool, device: str | None
) -> None:
    """Train the study's unfinished runs in ``jobs`` worker processes, in :meth:`StudyPlan.runs` order.

    Each worker uses ``cpu_count // jobs`` torch threads (at least 1) and trains quietly; every run's
    config is checked against the plan before any training starts. The first failure cancels the runs
    not yet started and is re-raised once the runs already training have finished.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pending = []
    for variant, seed in plan.runs():
        config, folder = plan.run_config(variant, seed), run_path(study_dir, variant, seed)
        check_run_config(folder, config)
        if run_status(folder, config.train.epochs) != "finished":
            pending.append((config, folder))
    if not pending:
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool,
        progress_bar(len(pending), f"train ×{jobs}", quiet=quiet, unit="run") as bar,
    ):
        futures = [pool.submit(train_run, c, f, quiet=True, device=device) for c, f in pending]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# ---------------------------------------------------------------------------------------------- evaluation


def checkpoint_stamp(run_dir: Path) -> str:
    """``"<bytes>:<mtime ns>"`` of ``RUN/checkpoints/last.pt``: what a cached evaluation was computed from."""
    stat = (run_dir / "checkpoints" / "last.pt").stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def predict_run(run_dir: Path, split: SplitData, *, device: str) -> dict[str, VideoPrediction]:
    """The last checkpoint's CAS and video logits on every video of ``split`` (as the trainer evaluates).

    ``device``: ``auto``, ``cpu``, ``cuda``, … (the study passes ``--device`` or the config's ``train.device``).
    """
    from ecm.engine import load_run
    from ecm.inference import predict_split

    run = load_run(run_dir, "last", device=device)
    if tuple(split.class_index.names) != tuple(run.class_names):
        raise InputError(run_dir, "the run's classes differ from the dataset's")
    cfg = run.config
    uniform = cfg.model.train_length if cfg.data.test_sampling == "uniform" else None
    return predict_split(
        run.model, split, device=run.device, batch_size=cfg.train.eval_batch_size, uniform_length=uniform
    )


def measure(
    detections: Mapping[str, Sequence[Detection]],
    predictions: Mapping[str, VideoPrediction] | None,
    split: SplitData,
    config: ExperimentConfig,
) -> dict[str, Any]:
    """Scores of one detection set on ``split``: mAP (``eval.tious``), frame accuracy, error diagnosis.

    Returns ``{"test": DetectionResult JSON, "frame_accuracy": percent or None, "diagnosis": …}``; frame
    accuracy needs ``predictions`` (a CAS), the diagnosis is at tIoU 0.5 on labels of the ground truth.
    """
    from ecm.evaluation import diagnose_errors
    from ecm.inference import frame_accuracy_of, score_detections

    result = score_detections(detections, split, config.eval.tious)
    known = {s.label for annotation in split.ground_truth.values() for s in annotation.segments}
    kept = {video: [d for d in dets if d.label in known] for video, dets in detections.items()}
    diagnosis = diagnose_errors(split.ground_truth, kept, DIAGNOSIS_TIOU)
    frame = None
    if predictions is not None:
        try:
            frame = frame_accuracy_of(predictions, split, config.postprocess.tau)
        except ValueError as exc:
            log.warning("frame accuracy undefined: %s", exc)
    return {"test": result.to_json(), "frame_accuracy": frame, "diagnosis": diagnosis.to_json()}


def evaluate_run(
    run_dir: Path, config: ExperimentConfig, split: SplitData, *, device: str | None
) -> dict[str, VideoPrediction] | None:
    """Evaluate the last checkpoint into ``RUN/evaluation_last.json`` + ``RUN/detections_last.json``.

    Cached: nothing is recomputed when the evaluation of this very ``last.pt`` (:func:`checkpoint_stamp`)
    exists. Returns the predictions when they were computed, else ``None``.
    """
    from ecm.evaluation import write_predictions
    from ecm.inference import localize_predictions

    cached = read_json(run_dir / EVALUATION_FILE)
    stamp = checkpoint_stamp(run_dir)
    if isinstance(cached, dict) and cached.get("stamp") == stamp and (run_dir / DETECTIONS_FILE).exists():
        return None
    predictions = predict_run(run_dir, split, device=device or config.train.device)
    detections = localize_predictions(predictions, split, config.postprocess)
    evaluation = {
        "epoch": config.train.epochs,
        "checkpoint": "last",
        "stamp": stamp,
        **measure(detections, predictions, split, config),
    }
    write_predictions(run_dir / DETECTIONS_FILE, detections)
    write_json(run_dir / EVALUATION_FILE, evaluation, indent=2)
    return predictions


def evaluate_fusion(
    study_dir: Path,
    plan: StudyPlan,
    seed: int,
    split: SplitData,
    streams: Mapping[str, Mapping[str, VideoPrediction] | None],
    *,
    device: str | None,
) -> None:
    """Fusion baselines of ``pre_only`` + ``post_only`` of one seed into ``DIR/fusion/seed<k>/`` (cached).

    ``streams`` may hold the two runs' predictions already computed; missing ones are predicted again.
    """
    from ecm.evaluation import write_predictions
    from ecm.fusion import fusion_baselines

    folder = fusion_path(study_dir, seed)
    stamps = {name: checkpoint_stamp(run_path(study_dir, name, seed)) for name in FUSION_STREAMS}
    wanted = [CONCAT, *(weighted_sum_name(w) for w in FUSION_WEIGHTS)]
    cached = read_json(folder / "evaluation.json")
    if isinstance(cached, dict) and cached.get("stamps") == stamps and set(wanted) <= set(cached["methods"]):
        return
    first, second = (
        streams.get(name)
        or predict_run(run_path(study_dir, name, seed), split, device=device or plan.config.train.device)
        for name in FUSION_STREAMS
    )
    methods = {}
    for output in fusion_baselines(first, second, split, plan.config.postprocess):
        write_predictions(folder / f"{output.name}.json", output.detections)
        methods[output.name] = measure(output.detections, output.predictions, split, plan.config)
    evaluation = {"epoch": plan.config.train.epochs, "stamps": stamps, "methods": methods}
    write_json(folder / "evaluation.json", evaluation)


def run_study(
    plan: StudyPlan,
    study_dir: str | Path,
    *,
    quiet: bool = False,
    device: str | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train (or skip/resume) every run, evaluate, fuse, aggregate; write ablation.json/.md and curves.png.

    ``jobs > 1`` trains that many runs at once in worker processes (:func:`train_runs_in_parallel`)
    before the evaluation; the runs, and so the numbers, are the same as with ``jobs = 1``.
    Returns the study as written to ``ablation.json``.
    """
    from ecm.ablation_plot import plot_curves
    from ecm.engine import prepare_dataset

    study_dir = Path(study_dir)
    dataset = prepare_dataset(plan.config)
    if jobs > 1:
        train_runs_in_parallel(plan, study_dir, jobs, quiet=quiet, device=device)
    split = dataset.open_split(plan.config.data.test_split)
    kept: dict[tuple[str, int], Mapping[str, VideoPrediction] | None] = {}
    runs = plan.runs()
    with progress_bar(len(runs), "ablate", quiet=quiet, unit="run") as bar:
        for variant, seed in runs:
            bar.set_postfix({"run": f"{variant}/seed{seed}"})
            config = plan.run_config(variant, seed)
            folder = run_path(study_dir, variant, seed)
            train_run(config, folder, quiet=quiet, device=device)
            predictions = evaluate_run(folder, config, split, device=device)
            if plan.fusion and variant in FUSION_STREAMS:
                kept[variant, seed] = predictions
            bar.update(1)
    if plan.fusion:
        for seed in plan.seeds:
            streams = {name: kept.get((name, seed)) for name in FUSION_STREAMS}
            evaluate_fusion(study_dir, plan, seed, split, streams, device=device)
    kept.clear()
    study = collect_study(plan, study_dir)
    write_json(study_dir / "ablation.json", study, indent=2)
    write_text(study_dir / "ablation.md", format_markdown(study))
    if plot_curves(study, study_dir / "curves.png"):
        log.info("wrote %s", study_dir / "curves.png")
    return study
