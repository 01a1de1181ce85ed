"""The demo pipeline: synth → train → localize → evaluate → ``DIR/report.md`` with CAS plots.

Stages (each timed; the report lists the equivalent ``ecm`` command lines):

1. **data** — ``DIR/data``: the synthetic dataset of the preset, generated once and reused afterwards;
2. **train** — ``DIR/run``: ECM trained with the preset's recipe (``demo`` for ``thumos14-lite``: the
   paper's THUMOS14 recipe plus the fast-start option of ``thumos14-fast``, 80 epochs — not the paper's
   method; ``synthetic-tiny`` for ``tiny``); the run folder is replaced on every demo;
3. **localize** — the last checkpoint (no test-set selection) on every test video →
   ``DIR/predictions.json`` and ``DIR/predictions.csv``;
4. **evaluate** — mAP at tIoU 0.1…0.9 with the THUMOS14 averages, frame accuracy, error diagnosis at 0.5;
5. **report** — CAS plots of the first test videos with ground truth (``DIR/plots/VID.png``), the page of
   ``ecm report`` (``DIR/report.html``: every test video's timeline and errors) and ``DIR/report.md``,
   written last: a ``report.md`` is always that of a complete demo.

``DIR`` must be new, empty, or a folder an earlier demo made (it holds a ``.ecm-demo`` marker): the demo
never deletes anything it did not write.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ecm.config import ExperimentConfig, build_dataset, load_config
from ecm.config.recipes import is_recipe_name
from ecm.data.folder import SplitData
from ecm.demo.report import DemoReport, seconds_text, write_report
from ecm.device import resolve_device
from ecm.errors import InputError
from ecm.evaluation import DetectionResult, DiagnosisResult, diagnose_errors
from ecm.files import read_json
from ecm.inference import (
    Localization,
    TrainedRun,
    frame_accuracy_of,
    localize_split,
    open_split_for_run,
    score_detections,
)
from ecm.inference.outputs import write_outputs
from ecm.report import collect_report, write_page
from ecm.training import Trainer, load_run
from ecm.viz import save_figure, video_figure

log = logging.getLogger(__name__)

MARKER = ".ecm-demo"
# preset → the shipped recipe it trains with
DEMO_RECIPES: dict[str, str] = {"thumos14-lite": "demo", "tiny": "synthetic-tiny"}
PLOTTED_VIDEOS = 4


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for.

    Attributes:
        out: the output folder.
        preset: the synthetic benchmark (a key of :data:`DEMO_RECIPES`).
        epochs: training epochs, ``None`` for the recipe's.
        config: a recipe name or YAML path instead of the preset's recipe.
        device: ``auto``, ``cpu``, ``cuda``, …; ``None`` for the config's.
        quiet: no progress bars.
    """

    out: Path
    preset: str = "thumos14-lite"
    epochs: int | None = None
    config: str | None = None
    device: str | None = None
    quiet: bool = False

    @property
    def recipe_text(self) -> str:
        """The recipe name or config path as a user would type it."""
        if self.config is None:
            return DEMO_RECIPES[self.preset]
        return self.config if is_recipe_name(self.config) else display_path(Path(self.config))


@dataclass(frozen=True)
class DemoResult:
    """A finished demo: its scores, the report's path and the wall time of each stage (seconds)."""

    scored: DetectionResult
    frame_accuracy: float
    report: Path
    stages: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> float:
        """Total wall time."""
        return sum(s for _, s in self.stages)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (for the reproduce commands)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def prepare_out(out: Path) -> None:
    """Create ``out`` (or accept an earlier demo's) and drop a previous demo's report and plots."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out names a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise InputError(
            out, f"exists, is not empty and was not made by `ecm demo` (no {MARKER}); choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "written by `ecm demo`; the demo may replace what it made in this folder\n", encoding="utf-8"
    )
    (out / "report.md").unlink(missing_ok=True)
    if (out / "plots").is_dir():
        shutil.rmtree(out / "plots")


def ensure_data(config: ExperimentConfig, *, quiet: bool) -> str:
    """Generate the config's synthetic dataset unless a matching one is there; returns what was done."""
    root, preset, seed = Path(config.data.root), config.data.synthetic, config.data.synthetic_seed
    if root.exists():
        try:
            meta = read_json(root / "synth.json")
            if not isinstance(meta, dict):
                raise InputError(root / "synth.json", "not an object")
        except InputError:
            raise InputError(
                root, "exists but is not a synthetic dataset (no readable synth.json); delete it"
            ) from None
        if meta.get("preset") != preset or meta.get("seed") != seed:
            raise InputError(
                root,
                f"holds preset {meta.get('preset')!r} seed {meta.get('seed')!r}, the demo needs {preset!r} seed {seed}; "
                "delete it or choose another --out",
            )
        return f"reused {root} ({preset}, seed {seed})"
    build_dataset(config.data, quiet=quiet)
    return f"generated {root} ({preset}, seed {seed})"


@dataclass(frozen=True)
class DemoOutcome:
    """What the localize and evaluate stages produced."""

    trained: TrainedRun
    split: SplitData
    result: Localization
    scored: DetectionResult
    diagnosis: DiagnosisResult
    frame_accuracy: float  # percent


def load_average() -> float:
    """The 1-minute load average, NaN where the system has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def run_demo(options: DemoOptions) -> DemoResult:
    """Run every stage and write the report."""
    if options.preset not in DEMO_RECIPES:
        raise InputError(
            None, f"unknown demo preset {options.preset!r} (choose {', '.join(sorted(DEMO_RECIPES))})"
        )
    if options.epochs is not None and options.epochs < 1:
        raise InputError(None, f"--epochs must be ≥ 1, got {options.epochs}")
    out = options.out
    data_root, run_dir = out / "data", out / "run"
    overrides = [f"data.root={data_root}"]
    if options.epochs is not None:
        overrides.append(f"train.epochs={options.epochs}")
    source = options.config or DEMO_RECIPES[options.preset]
    config = load_config(source, overrides)
    if config.data.synthetic != options.preset:
        raise InputError(
            source, f"data.synthetic is {config.data.synthetic!r}, the demo preset {options.preset!r}"
        )
    resolve_device(options.device or config.train.device)  # an unusable device says so before any work
    prepare_out(out)
    load_before = load_average()
    started = time.perf_counter()
    stages: list[tuple[str, float]] = []

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        stages.append((name, now - since))
        return now

    log.info("[1/5] data: %s", data_root)
    note = ensure_data(config, quiet=options.quiet)
    log.info("      %s", note)
    clock = stage(f"data ({'reused' if note.startswith('reused') else 'generated'})", started)

    log.info("[2/5] train: %s, %d epochs (%s)", run_dir, config.train.epochs, options.recipe_text)
    Trainer(config, run_dir, overwrite=True, quiet=options.quiet, device=options.device).fit()
    clock = stage("train", clock)

    log.info("[3/5] localize the %s split with the last checkpoint", config.data.test_split)
    trained = load_run(run_dir, checkpoint="last", device=options.device or config.train.device)
    split = open_split_for_run(trained, data_root, None)
    result = localize_split(trained, split, batch_size=16, quiet=options.quiet)
    write_outputs(
        result,
        trained.class_names,
        out=out / "predictions.json",
        csv_path=out / "predictions.csv",
        version="ecm demo",
    )
    clock = stage("localize", clock)

    log.info("[4/5] evaluate")
    outcome = DemoOutcome(
        trained,
        split,
        result,
        scored=score_detections(result.detections, split, config.eval.tious),
        diagnosis=diagnose_errors(split.ground_truth, result.detections, 0.5),
        frame_accuracy=frame_accuracy_of(
            result.predictions, split, config.postprocess.tau, config.postprocess.gate
        ),
    )
    clock = stage("evaluate", clock)

    log.info("[5/5] plots and reports")
    plotted = write_plots(out, outcome)
    write_html_report(out / "report.html", data_root, outcome)
    stage("plots + reports", clock)
    report = build_report(options, config, outcome, stages, plotted, load_before)
    write_report(out / "report.md", report)
    return DemoResult(outcome.scored, outcome.frame_accuracy, out / "report.md", tuple(stages))


def write_plots(out: Path, outcome: DemoOutcome) -> list[str]:
    """CAS plots of the first test videos with ground truth → ``out/plots/VID.png``; returns the ids."""
    chosen = [r for r in outcome.split.videos if r.annotation is not None and r.annotation.segments]
    for record in chosen[:PLOTTED_VIDEOS]:
        vid = record.video_id
        result = outcome.result
        figure = video_figure(outcome.trained, record, result.predictions[vid], result.detections[vid])
        save_figure(figure, out / "plots" / f"{vid}.png")
    return [r.video_id for r in chosen[:PLOTTED_VIDEOS]]


def write_html_report(path: Path, data_root: Path, outcome: DemoOutcome) -> None:
    """``report.html`` (``ecm report``'s page) of the localized test split, from the demo's memory."""
    page = collect_report(outcome.trained, outcome.split, outcome.result, data_root=data_root, tiou=0.5)
    write_page(path, page)


def reproduce_commands(
    options: DemoOptions, config: ExperimentConfig, split: str, videos: list[str]
) -> list[list[str]]:
    """The ``ecm`` command lines that redo the demo stage by stage."""
    o = display_path(options.out)
    data, run_dir = display_path(options.out / "data"), display_path(options.out / "run")
    train = ["ecm", "train", options.recipe_text, "--out", run_dir, "--set", f"data.root={data}"]
    if options.epochs is not None:
        train += ["--epochs", str(options.epochs)]
    pred, gt = f"{o}/predictions.json", f"{data}/gt.json"
    return [
        ["ecm", "synth", data, "--preset", options.preset, "--seed", str(config.data.synthetic_seed)],
        train,
        ["ecm", "localize", run_dir, "--checkpoint", "last", "--out", pred, "--csv", f"{o}/predictions.csv"],
        ["ecm", "evaluate", "--gt", gt, "--pred", pred, "--subset", split],
        ["ecm", "diagnose", "--gt", gt, "--pred", pred, "--subset", split, "--tiou", "0.5"],
        *(
            ["ecm", "plot", run_dir, "--checkpoint", "last", "--video", v, "--out", f"{o}/plots/{v}.png"]
            for v in videos
        ),
        ["ecm", "report", run_dir, "--checkpoint", "last", "--out", f"{o}/report.html"],
    ]


_DESCRIBED = {
    "thumos14-lite": "a synthetic dataset with the real THUMOS14 structure (200 training and 210 test videos, "
    "their real instances, labels, durations and frame rates; I3D-like features of width 2 × 128)",
    "tiny": "the tiny synthetic dataset (24 short made-up videos of 4 classes, built to be easy)",
}
# What each preset's training recipe is, for the report.
_RECIPE_NOTE = {
    "thumos14-lite": "The training config is the paper's THUMOS14 recipe plus a named option that is not the "
    "paper's method, the fast start of `thumos14-fast` (weighted-mean aggregation, 30 epochs of L_pre alone), "
    "for 80 epochs instead of 150; the paper's recipe scores mAP@0.5 ≈ 0 for its first tens of epochs.",
    "tiny": "The training config is BUILT TO CONVERGE FAST on a CPU; it is not the paper's recipe (that one runs "
    "150 epochs and scores mAP@0.5 ≈ 0 for its first tens of epochs).",
}


def build_report(
    options: DemoOptions,
    config: ExperimentConfig,
    outcome: DemoOutcome,
    stages: list[tuple[str, float]],
    plotted: list[str],
    load_before: float,
) -> DemoReport:
    """The :class:`~ecm.demo.report.DemoReport` of a finished demo."""
    trained, split, scored = outcome.trained, outcome.split, outcome.scored
    out = options.out
    data = display_path(out / "data")
    train_file = out / "data" / f"split_{config.data.train_split}.txt"
    train_videos = len(train_file.read_text(encoding="utf-8").split()) if train_file.is_file() else 0
    model = config.model
    load_after = load_average()
    total = seconds_text(sum(s for _, s in stages))
    epochs = f", `--epochs {options.epochs}`" if options.epochs is not None else ""
    facts = [
        (
            "data",
            f"synthetic `{options.preset}` in `{data}`: {train_videos} {config.data.train_split} and {len(split)} "
            f"{split.name} videos, D = {trained.feature_dim}",
        ),
        ("training config", f"`{options.recipe_text}`{epochs}"),
        (
            "model",
            f"`{model.variant}`, hidden {model.hidden_dim or trained.feature_dim}, T_train {model.train_length}, "
            f"k = {model.topk}, {len(trained.class_names)} classes",
        ),
        (
            "training",
            f"{config.train.epochs} epochs, batch {config.train.batch_size}, Adam lr {config.optim.lr:g}, "
            f"seed {config.train.seed}",
        ),
        ("checkpoint", f"last (epoch {trained.epoch}) — no test-set selection"),
        (
            "post-processing",
            f"τ {config.postprocess.tau:g}, NMS {config.postprocess.nms_threshold:g}",
        ),
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} on {trained.device} "
            f"({torch.get_num_threads()} threads); load average {load_before:.1f} at the start, "
            f"{load_after:.1f} at the end",
        ),
        ("total wall time", total),
    ]
    headline = ", ".join(
        [f"**mAP@0.5 {scored.map_at(0.5):.2f}**"] * any(abs(t - 0.5) < 1e-9 for t in scored.tious)
        + [f"average mAP 0.1:0.7 {v:.2f}" for k, v in scored.averages.items() if k == "0.1:0.7"]
        + [f"frame accuracy {outcome.frame_accuracy:.1f} %"]
    )
    recipe_note = (
        _RECIPE_NOTE[options.preset]
        if options.config is None
        else f"The training config is `{options.recipe_text}`."
    )
    summary = (
        f"`ecm demo --out {display_path(out)} --preset {options.preset}"
        + (f" --epochs {options.epochs}" if options.epochs is not None else "")
        + f"`: {_DESCRIBED[options.preset]} (`ecm synth`); ECM trained on its training split from video-level "
        "labels only; the test split localized with the last checkpoint and scored with the ActivityNet "
        f"detection protocol. Result: {headline}, in {total} of wall time.\n\n"
        f"{recipe_note} An untrained model keeps no class "
        "(every video probability is near 1/C, below τ) and scores 0. Numbers on synthetic features are not "
        "comparable with published THUMOS14 results."
    )
    plots = []
    for vid in plotted:
        record = next(r for r in split.videos if r.video_id == vid)
        labels = ", ".join(sorted(record.annotation.labels)) if record.annotation is not None else ""
        plots.append((f"{vid} ({labels}; {record.timing.duration:.0f} s)", f"plots/{vid}.png"))
    return DemoReport(
        title=f"ecm demo — {options.preset}",
        summary=summary,
        result=scored,
        frame_accuracy=outcome.frame_accuracy,
        diagnosis=outcome.diagnosis,
        stages=stages,
        commands=reproduce_commands(options, config, split.name, plotted),
        plots=plots,
        facts=facts,
    )
