"""Running an ablation study (paper Tables 4, 5, 6, 9 and 10): train every run, evaluate, fuse, tabulate.

``ecm ablate`` trains every variant × seed as an ordinary run folder, evaluates each run's **last-epoch**
checkpoint, adds the fusion baselines of two separately trained streams (:mod:`ecm.studies.fusion`), and
reports every number as mean ± spread over seeds, each row under the same data, recipe and
post-processing.

**Protocols.** The main table is the *last epoch*: the honest default, because picking the epoch on the
test split (the paper's protocol) selects on the very numbers it reports. For the selection metric
(``eval.selection``, mAP@0.5 on THUMOS14) the three protocols stand side by side: best on test (paper),
last epoch, validation-selected (needs ``data.val_fraction > 0``, else "—"). Frame accuracy (τ =
``postprocess.tau``) and the error diagnosis at tIoU 0.5 are of the last epoch.

**Resuming.** A run is finished when its summary reports the planned last epoch and its history holds one
line per planned epoch: it is skipped. A run with ``checkpoints/last.pt`` is resumed; any other is
(re)started. A run whose config differs from the plan in anything but ``train.epochs`` is an error, never
silently mixed in. Evaluations are cached in the run folder, keyed by the checkpoint they came from.

**Parallelism.** ``--jobs N`` trains N runs at once in worker processes and evaluates them afterwards; the
runs are the same as one at a time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TypeVar

import torch

from ecm.config import CONTINUABLE_KEYS, ExperimentConfig, build_dataset, config_differences
from ecm.data.folder import SplitData
from ecm.errors import InputError
from ecm.evaluation import diagnose_errors, write_predictions
from ecm.files import write_json, write_text
from ecm.inference import (
    VideoPrediction,
    frame_accuracy_of,
    localize_predictions,
    predict_split,
    score_detections,
)
from ecm.progress import progress_bar
from ecm.structures import Detection
from ecm.studies.collect import collect_study
from ecm.studies.fusion import FUSION_STREAMS, fusion_baselines
from ecm.studies.layout import StudyDir
from ecm.studies.plan import StudyPlan
from ecm.studies.plot import plot_curves
from ecm.studies.results import (
    DIAGNOSIS_TIOU,
    FUSION_EVALUATION,
    FusionEvaluation,
    Measurement,
    RunEvaluation,
    Study,
    fusion_methods,
)
from ecm.studies.tables import format_markdown
from ecm.training import RunDir, Trainer, load_run

log = logging.getLogger(__name__)
T = TypeVar("T")


def check_run_config(run_dir: Path, planned: ExperimentConfig) -> None:
    """Raise :class:`InputError` when ``RUN/config.yaml`` differs from ``planned`` (:data:`CONTINUABLE_KEYS`
    aside)."""
    run = RunDir(run_dir)
    if not run.config_file.exists():
        return
    changed = config_differences(run.read_config(), planned, ignore=CONTINUABLE_KEYS)
    if changed:
        key, saved, wanted = changed[0]
        raise InputError(
            run_dir,
            f"run was trained with {key}={saved!r}, the study plans {wanted!r}; every run of a "
            "study shares one config (use another --out, or delete this run)",
        )


def train_run(config: ExperimentConfig, run_dir: Path, *, quiet: bool, device: str | None) -> str:
    """Train one run unless finished; resume it from ``last.pt`` when there is one. Returns the status."""
    status = RunDir(run_dir).status(config.train.epochs)
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
    torch.set_num_threads(threads)


def train_runs_in_parallel(
    plan: StudyPlan, study: StudyDir, jobs: int, *, quiet: bool, device: str | None
) -> None:
    """Train the study's unfinished runs in ``jobs`` worker processes, in :meth:`StudyPlan.runs` order.

    Each worker uses ``cpu_count // jobs`` torch threads (at least 1) and trains quietly; every run's
    config is checked against the plan before any training starts. The first failure cancels the runs
    not yet started and is re-raised once the runs already training have finished.
    """
    pending = []
    for variant, seed in plan.runs():
        config, folder = plan.run_config(variant, seed), study.run(variant, seed)
        check_run_config(folder, config)
        if RunDir(folder).status(config.train.epochs) != "finished":
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


def _cached(read: Callable[[Path], T | None], path: Path) -> T | None:
    """A cache file's record; an unreadable or malformed one is a cache miss (recomputed), with a warning."""
    try:
        return read(path)
    except InputError as exc:
        log.warning("recomputing %s: %s", path, exc.problem)
        return None


def checkpoint_stamp(run_dir: Path) -> str:
    """``"<bytes>:<mtime ns>"`` of ``RUN/checkpoints/last.pt``: what a cached evaluation was computed from."""
    stat = RunDir(run_dir).last_checkpoint.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def predict_run(run_dir: Path, split: SplitData, *, device: str) -> dict[str, VideoPrediction]:
    """The last checkpoint's CAS and video logits on every video of ``split`` (as the trainer evaluates)."""
    run = load_run(run_dir, "last", device=device)
    if tuple(split.class_index.names) != tuple(run.class_names):
        raise InputError(run_dir, "the run's classes differ from the dataset's")
    cfg = run.config
    return predict_split(
        run.model,
        split,
        device=run.device,
        batch_size=cfg.train.eval_batch_size,
        uniform_length=cfg.test_length,
    )


def measure(
    detections: Mapping[str, Sequence[Detection]],
    predictions: Mapping[str, VideoPrediction] | None,
    split: SplitData,
    config: ExperimentConfig,
) -> Measurement:
    """Scores of one detection set on ``split``: mAP (``eval.tious``), frame accuracy, error diagnosis.

    Frame accuracy needs ``predictions`` (a CAS); the diagnosis is at tIoU 0.5 on labels of the ground truth.
    """
    result = score_detections(detections, split, config.eval.tious)
    known = {s.label for annotation in split.ground_truth.values() for s in annotation.segments}
    kept = {video: [d for d in dets if d.label in known] for video, dets in detections.items()}
    diagnosis = diagnose_errors(split.ground_truth, kept, DIAGNOSIS_TIOU)
    frame = None
    if predictions is not None:
        try:
            frame = frame_accuracy_of(predictions, split, config.postprocess.tau, config.postprocess.gate)
        except ValueError as exc:
            log.warning("frame accuracy undefined: %s", exc)
    return Measurement(result.summary(), frame, diagnosis.to_json())


def evaluate_run(
    run_dir: Path, config: ExperimentConfig, split: SplitData, *, device: str | None
) -> dict[str, VideoPrediction] | None:
    """Evaluate the last checkpoint into ``RUN/evaluation_last.json`` + ``RUN/detections_last.json``.

    Cached: nothing is recomputed when the evaluation of this very ``last.pt`` (:func:`checkpoint_stamp`)
    exists. Returns the predictions when they were computed, else ``None``.
    """
    run = RunDir(run_dir)
    cached = _cached(RunEvaluation.read, run.evaluation_file)
    stamp = checkpoint_stamp(run_dir)
    if cached is not None and cached.stamp == stamp and run.detections_file.exists():
        return None
    predictions = predict_run(run_dir, split, device=device or config.train.device)
    detections = localize_predictions(predictions, split, config.postprocess)
    evaluation = RunEvaluation(config.train.epochs, stamp, measure(detections, predictions, split, config))
    write_predictions(run.detections_file, detections)
    write_json(run.evaluation_file, evaluation.to_json(), indent=2)
    return predictions


def evaluate_fusion(
    study: StudyDir,
    plan: StudyPlan,
    seed: int,
    split: SplitData,
    streams: Mapping[str, Mapping[str, VideoPrediction] | None],
    *,
    device: str | None,
) -> None:
    """Fusion baselines of the two stream runs of one seed into ``DIR/fusion/seed<k>/`` (cached).

    ``streams`` may hold the two runs' predictions already computed; missing ones are predicted again.
    """
    folder = study.fusion(seed)
    stamps = {name: checkpoint_stamp(study.run(name, seed)) for name in FUSION_STREAMS}
    cached = _cached(FusionEvaluation.read, folder / FUSION_EVALUATION)
    if cached is not None and cached.stamps == stamps and set(fusion_methods()) <= set(cached.methods):
        return
    first, second = (
        streams.get(name)
        or predict_run(study.run(name, seed), split, device=device or plan.config.train.device)
        for name in FUSION_STREAMS
    )
    methods = {}
    for output in fusion_baselines(first, second, split, plan.config.postprocess):
        write_predictions(folder / f"{output.name}.json", output.detections)
        methods[output.name] = measure(output.detections, output.predictions, split, plan.config)
    evaluation = FusionEvaluation(plan.config.train.epochs, stamps, methods)
    write_json(folder / FUSION_EVALUATION, evaluation.to_json())


def run_study(
    plan: StudyPlan,
    study_dir: str | Path,
    *,
    quiet: bool = False,
    device: str | None = None,
    jobs: int = 1,
) -> Study:
    """Train (or skip/resume) every run, evaluate, fuse, aggregate; write ablation.json/.md and curves.png.

    ``jobs > 1`` trains that many runs at once in worker processes (:func:`train_runs_in_parallel`)
    before the evaluation; the runs, and so the numbers, are the same as with ``jobs = 1``.
    """
    study = StudyDir.at(study_dir)
    dataset = build_dataset(plan.config.data)
    if jobs > 1:
        train_runs_in_parallel(plan, study, jobs, quiet=quiet, device=device)
    split = dataset.open_split(plan.config.data.test_split)
    kept: dict[tuple[str, int], Mapping[str, VideoPrediction] | None] = {}
    runs = plan.runs()
    with progress_bar(len(runs), "ablate", quiet=quiet, unit="run") as bar:
        for variant, seed in runs:
            bar.set_postfix({"run": f"{variant}/seed{seed}"})
            config = plan.run_config(variant, seed)
            folder = study.run(variant, seed)
            train_run(config, folder, quiet=quiet, device=device)
            predictions = evaluate_run(folder, config, split, device=device)
            if plan.fusion and variant in FUSION_STREAMS:
                kept[variant, seed] = predictions
            bar.update(1)
    if plan.fusion:
        for seed in plan.seeds:
            streams = {name: kept.get((name, seed)) for name in FUSION_STREAMS}
            evaluate_fusion(study, plan, seed, split, streams, device=device)
    kept.clear()
    result = collect_study(plan, study.path)
    write_json(study.results_json, result.to_json(), indent=2)
    write_text(study.results_markdown, format_markdown(result))
    if plot_curves(result, study.curves):
        log.info("wrote %s", study.curves)
    return result
