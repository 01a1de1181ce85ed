"""What the second stage costs against its teacher: seconds per training epoch and peak memory, on this machine.

Trains, each in its own process, ``thumos14-fast`` (the teacher, ECM) for ``--teacher-epochs`` epochs (enough
for its pseudo labels to cover the training videos, as a finished teacher's do) and then
``thumos14-student`` on that teacher's pseudo labels for ``--epochs`` epochs, on the same data, evaluating
only after the last epoch. Prints per run the median seconds of a training epoch (evaluation excluded),
the time its recipe's schedule would take at that pace (150 epochs for the teacher, 30 for the student),
the process's peak resident memory (``ru_maxrss``: interpreter, torch, data and all), and how many
videos the student trained on. The default data are the synthetic thumos14-lite set, generated into a
temporary folder.

Usage::

    python benchmarks/bench_student.py                         # thumos14-lite (~4 min on 2 cores)
    python benchmarks/bench_student.py --data DIR --epochs 6   # another dataset folder
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys
from ecm.cli import main
status = main(sys.argv[1:])
print("RSS", json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(status)
"""


def run(args: list[str], threads: int) -> tuple[float, int]:
    """Run ``ecm ARGS`` in a child process; its wall time (s) and peak RSS (KiB)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"ecm {' '.join(args)} failed:\n{done.stderr}")
    rss = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("RSS "))
    return wall, rss


def epoch_seconds(run_dir: Path) -> float:
    """Median seconds of the epochs that did not evaluate."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["seconds"] for r in rows if "test" not in r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="dataset folder (default: thumos14-lite generated in a temporary folder)"
    )
    parser.add_argument("--epochs", type=int, default=4, help="student epochs (≥ 2; default 4)")
    parser.add_argument("--teacher-epochs", type=int, default=30, help="teacher epochs (default 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "lite"
        if not args.data:
            run(["synth", str(root), "--preset", "thumos14-lite", "--quiet"], args.threads)
        common = ["--quiet", "--set", f"data.root={root}", "--set", "train.eval_interval=0"]
        teacher, student = Path(tmp) / "teacher", Path(tmp) / "student"
        t_args = ["train", "thumos14-fast", "--out", str(teacher), "--epochs", str(args.teacher_epochs)]
        t_rss = run([*t_args, *common], args.threads)[1]
        s_args = ["train", "thumos14-student", "--out", str(student), "--epochs", str(args.epochs)]
        s_rss = run([*s_args, *common, "--set", f"student.teacher={teacher}"], args.threads)[1]
        t_epoch, s_epoch = epoch_seconds(teacher), epoch_seconds(student)
        labels = json.loads((student / "pseudo_labels.json").read_text())["database"]
        covered = sum(1 for video in labels.values() if video["annotations"])
    data = root if args.data else "thumos14-lite"
    print(f"teacher {args.teacher_epochs} epochs, student {args.epochs} epochs on {covered} of {len(labels)}")
    print(f"training videos (those with pseudo labels), {args.threads} thread(s), data {data}")
    print(f"{'run':<28}{'s / epoch':>10}{'recipe epochs':>15}{'recipe time':>13}{'peak RSS':>11}")
    for name, epoch, epochs, rss in (
        ("teacher (thumos14-fast)", t_epoch, 150, t_rss),
        ("student (thumos14-student)", s_epoch, 30, s_rss),
    ):
        print(f"{name:<28}{epoch:>10.2f}{epochs:>15}{epochs * epoch / 60:>9.1f} min{rss / 1024:>7.0f} MiB")
    print(
        f"student / teacher: {s_epoch / t_epoch:.2f}× per epoch, {30 * s_epoch / (150 * t_epoch):.2f}× per recipe"
    )


if __name__ == "__main__":
    main()
