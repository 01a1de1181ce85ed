"""Time the detection evaluator on THUMOS14-shaped inputs (210 test videos of the real gt.json).

Predictions are generated deterministically (seeded): 60 % jittered copies of ground-truth instances (15 %
of them with a wrong label), 40 % random segments on random test videos; scores uniform in (0, 1).

Prints, for 5k, 20k and 60k predictions at tIoU 0.1:0.7:0.1 (7 thresholds), the best of ``--repeat`` runs:

* ``evaluate``: :func:`ecm.evaluation.evaluate_detections` in memory (ground truth already flattened, as
  :class:`ecm.evaluation.DetectionMetric` keeps it), with the official tie order (the default);
* ``stable``: the same with ``ties="stable"``; ``grid Δ``: on the same predictions rounded to a 0.1 s grid
  with two-decimal scores (how result files are usually written, so ties are common), mAP@0.1 with the
  official tie order minus with the stable one;
* ``file``: read + validate the prediction JSON file, then evaluate (what ``ecm evaluate`` does after start-up);
* ``command``: the whole command ``python -m ecm evaluate --gt GT --pred FILE --json`` as a subprocess
  (its report checked equal to the in-memory one; bytecode cached, see :func:`command_env`), which reads
  JSON with orjson; ``no orjson``: the same command with orjson hidden (the standard-library fallback,
  its report checked equal too);
* ``json.load``: a subprocess ``python -c "import json,sys; json.load(open(sys.argv[1]))" FILE`` (bare
  ``json.load`` plus interpreter start-up), and the ratios ``command / json.load`` with and without
  orjson, against the target (``ecm evaluate`` costs at most 2× that).

Usage: ``python benchmarks/bench_evaluate.py [--gt PATH/gt.json] [--sizes 5000,20000,60000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from ecm.data.annotations import VideoAnnotation, load_activitynet_json, select_subset
from ecm.evaluation import (
    DetectionTable,
    GroundTruthTable,
    evaluate_detections,
    read_predictions,
    write_predictions,
)
from ecm.evaluation.result import DetectionResult, parse_tious

DEFAULT_GT = Path(__file__).resolve().parents[2] / "shared" / "data" / "thumos14" / "gt.json"
TARGET_RATIO = 2.0  # whole ``ecm evaluate`` command / (interpreter start-up + bare json.load)
# ``ecm evaluate`` as if orjson were not installed: its standard-library fallback.
WITHOUT_ORJSON = (
    "import sys; sys.modules['orjson'] = None; from ecm.cli import main; sys.exit(main(sys.argv[1:]))"
)
BARE_JSON_LOAD = "import json, sys; json.load(open(sys.argv[1]))"


def make_predictions(videos: dict[str, VideoAnnotation], count: int, seed: int = 0) -> DetectionTable:
    """``count`` predictions around the instances of ``videos`` plus random ones (seeded)."""
    rng = np.random.default_rng(seed)
    vids = list(videos)
    classes = sorted({s.label for v in videos.values() for s in v.segments})
    inst = [
        (i, classes.index(s.label), s.start, s.end) for i, v in enumerate(videos.values()) for s in v.segments
    ]
    gt = np.array(inst)
    ends = np.zeros(len(vids))
    np.maximum.at(ends, gt[:, 0].astype(int), gt[:, 3])
    near = int(count * 0.6)
    pick = rng.integers(0, len(gt), near)
    length = gt[pick, 3] - gt[pick, 2]
    start = gt[pick, 2] + rng.normal(0, 0.3, near) * length
    end = gt[pick, 3] + rng.normal(0, 0.3, near) * length
    label = np.where(rng.random(near) < 0.85, gt[pick, 1], rng.integers(0, len(classes), near))
    video = gt[pick, 0]
    far = count - near
    far_video = rng.integers(0, len(vids), far)
    far_start = rng.random(far) * (ends[far_video] + 10)
    far_end = far_start + rng.lognormal(np.log(4.0), 0.8, far)
    far_label = rng.integers(0, len(classes), far)
    start, end = np.concatenate([start, far_start]), np.concatenate([end, far_end])
    lo, hi = np.minimum(start, end).clip(0), np.maximum(start, end)
    video = np.concatenate([video, far_video]).astype(np.int64)
    order = np.argsort(video, kind="stable")  # grouped by video, as a file is
    return DetectionTable(
        video_ids=tuple(vids),
        labels=tuple(classes),
        video=video[order],
        label=np.concatenate([label, far_label]).astype(np.int64)[order],
        segments=np.stack([lo, hi], axis=1)[order],
        scores=rng.random(count)[order],
    )


def rounded(table: DetectionTable) -> DetectionTable:
    """``table`` with segments on a 0.1 s grid and scores to two decimals."""
    return DetectionTable(
        table.video_ids,
        table.labels,
        table.video,
        table.label,
        np.round(table.segments, 1),
        np.round(table.scores, 2),
    )


def best_time(repeat: int, func: Callable[[], object]) -> float:
    """Fastest of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        tick = time.perf_counter()
        func()
        times.append(time.perf_counter() - tick)
    return min(times)


def evaluate_file(gt: GroundTruthTable, path: Path, tious: tuple[float, ...]) -> DetectionResult:
    """What ``ecm evaluate`` does once the ground truth is loaded: read, validate, score."""
    return evaluate_detections(gt, read_predictions(path), tious)


def command_env(cache: Path) -> dict[str, str]:
    """The subprocesses' environment: bytecode cached under ``cache``, as in an installed package.

    ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes) would make every run recompile ecm from source,
    ~20 ms that no installed copy pays; one untimed run of each command fills the cache.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def run_command(argv: list[str], env: dict[str, str]) -> str:
    """Run ``argv`` as a subprocess; its stdout. A failure is an error (with its stderr), not a timing."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit status {done.returncode}\n{done.stderr}")
    return done.stdout


def command_times(
    gt_path: Path, path: Path, tiou: str, repeat: int, env: dict[str, str], expected: DetectionResult
) -> tuple[float, float, float]:
    """Best wall times of the whole ``ecm evaluate --json`` command, of the same without orjson, and of a
    bare ``json.load`` of ``path``. Both commands' reports must equal ``expected`` (in memory) exactly."""
    options = [
        "evaluate",
        "--gt",
        str(gt_path),
        "--pred",
        str(path),
        "--subset",
        "test",
        "--tiou",
        tiou,
        "--json",
    ]
    evaluate = [sys.executable, "-m", "ecm", *options]
    plain = [sys.executable, "-c", WITHOUT_ORJSON, *options]
    bare = [sys.executable, "-c", BARE_JSON_LOAD, str(path)]
    for command in (evaluate, plain):  # also the untimed warm-up runs
        if json.loads(run_command(command, env)) != expected.to_json():
            raise RuntimeError(f"{path}: ecm evaluate reports another result than the in-memory evaluation")
    run_command(bare, env)
    times = [best_time(repeat, partial(run_command, c, env)) for c in (evaluate, plain, bare)]
    return times[0], times[1], times[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, default=DEFAULT_GT, help="THUMOS14 gt.json (default: %(default)s)")
    parser.add_argument("--sizes", default="5000,20000,60000")
    parser.add_argument("--tiou", default="0.1:0.7:0.1")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.gt.exists():
        print(f"bench_evaluate: {args.gt}: not found (pass --gt)", file=sys.stderr)
        return 2
    videos = select_subset(load_activitynet_json(args.gt), "test")
    gt = GroundTruthTable.from_annotations(videos)
    tious = parse_tious(args.tiou)
    print(
        f"ground truth: {len(gt.video_ids)} test videos, {len(gt.video)} instances, {len(gt.class_names)} classes"
    )
    print(f"tIoUs: {args.tiou} ({len(tious)} thresholds); best of {args.repeat}")
    print(
        f"{'predictions':>12}{'evaluate s':>12}{'stable s':>10}{'grid Δ':>9}{'file s':>10}{'mAP@0.5':>10}"
        f"{'command s':>11}{'no orjson s':>13}{'json.load s':>13}{'ratio':>8}{'no orjson':>11}"
    )
    commands: dict[int, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = command_env(Path(tmp) / "pycache")
        for size in (int(s) for s in args.sizes.split(",")):
            table = make_predictions(videos, size, seed=size)
            path = Path(tmp) / f"pred_{size}.json"
            write_predictions(path, table)
            result = evaluate_detections(gt, table, tious)
            in_memory = best_time(args.repeat, partial(evaluate_detections, gt, table, tious))
            stable = best_time(args.repeat, partial(evaluate_detections, gt, table, tious, ties="stable"))
            grid = rounded(table)
            grid_delta = (
                evaluate_detections(gt, grid, (0.1,)).mAP[0]
                - evaluate_detections(gt, grid, (0.1,), ties="stable").mAP[0]
            )
            from_file = best_time(args.repeat, partial(evaluate_file, gt, path, tious))
            command, plain, bare = command_times(args.gt, path, args.tiou, args.repeat, env, result)
            commands[size] = command, plain, bare
            print(
                f"{size:>12}{in_memory:>12.4f}{stable:>10.4f}{grid_delta:>+9.4f}{from_file:>10.4f}"
                f"{result.map_at(0.5):>10.2f}"
                f"{command:>11.4f}{plain:>13.4f}{bare:>13.4f}{command / bare:>8.2f}{plain / bare:>11.2f}"
            )
    largest = max(commands)
    command, plain, bare = commands[largest]
    verdict = "meets" if command <= TARGET_RATIO * bare else "misses"
    print(
        f"{largest} predictions: ecm evaluate {command:.3f} s = {command / bare:.2f}× start-up + json.load "
        f"({bare:.3f} s): {verdict} the target ≤ {TARGET_RATIO}× ({TARGET_RATIO * bare:.3f} s); without "
        f"orjson {plain:.3f} s = {plain / bare:.2f}×"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
