"""What the second stage costs against its teacher: seconds per training epoch and peak memory, on this machine.

Trains, each in its own process, ``thumos14-fast`` (the teacher, ECM) and then ``thumos14-student`` on that
teacher's pseudo labels, on the same data for ``--epochs`` epochs with evaluation only after the last,
and prints per run the median seconds of a training epoch (evaluation excluded), the time its recipe's
whole schedule would take at that pace (150 epochs for the teacher, 30 for the student, plus the
student's pseudo-labelling), and the process's peak resident memory (``ru_maxrss``: interpreter, torch,
data and all). The default data are the synthetic thumos14-lite set, generated into a temporary folder.

Usage::

    python benchmarks/bench_student.py                         # thumos14-lite, 4 epochs each (~3 min)
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
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (≥ 2; default 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "lite"
        if not args.data:
            run(["synth", str(root), "--preset", "thumos14-lite", "--quiet"], args.threads)
        common = [
            "--quiet",
            "--epochs",
            str(args.epochs),
            "--set",
            f"data.root={root}",
            "--set",
            "train.eval_interval=0",
        ]
        teacher, student = Path(tmp) / "teacher", Path(tmp) / "student"
        t_wall, t_rss = run(["train", "thumos14-fast", "--out", str(teacher), *common], args.threads)
        s_wall, s_rss = run(
            [
                "train",
                "thumos14-student",
                "--out",
                str(student),
                *common,
                "--set",
                f"student.teacher={teacher}",
            ],
            args.threads,
        )
        t_epoch, s_epoch = epoch_seconds(teacher), epoch_seconds(student)
        # the student's fixed cost (opening the teacher, pseudo labels, the last evaluation) beyond its epochs
        s_fixed = max(0.0, s_wall - t_wall - args.epochs * (s_epoch - t_epoch))
    print(
        f"{args.epochs} epochs each, {args.threads} thread(s), data {root if args.data else 'thumos14-lite'}"
    )
    print(f"{'run':<28}{'s / epoch':>10}{'recipe epochs':>15}{'recipe time':>13}{'peak RSS':>11}")
    print(
        f"{'teacher (thumos14-fast)':<28}{t_epoch:>10.2f}{150:>15}{150 * t_epoch / 60:>10.1f} min{t_rss / 1024:>7.0f} MiB"
    )
    print(
        f"{'student (thumos14-student)':<28}{s_epoch:>10.2f}{30:>15}{(30 * s_epoch + s_fixed) / 60:>10.1f} min"
        f"{s_rss / 1024:>7.0f} MiB"
    )
    print(
        f"student / teacher: {s_epoch / t_epoch:.2f}× per epoch, {(30 * s_epoch + s_fixed) / (150 * t_epoch):.2f}× per recipe"
    )


if __name__ == "__main__":
    main()
